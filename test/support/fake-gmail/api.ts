/**
 * The Gmail API routes of the fake (https://developers.google.com/gmail/api/reference/rest):
 * `GET /gmail/v1/users/{userId}/` + `profile`, `labels`, `labels/{id}`, `threads`,
 * `threads/{id}`, `messages`, `messages/{id}`, `messages/{messageId}/attachments/{id}`.
 *
 * Every call checks the bearer token (401 `authError`), the per-user quota (`./quota.ts`), the scope (403
 * `insufficientPermissions`; the metadata scope refuses `format=full|raw` and `q`) and the userId
 * (`me` or the token's address, case-insensitive; another one is 403 "Delegation denied").
 * Standard parameters: `fields` (partial response, `./fields.ts`), `prettyPrint` (default true:
 * two-space JSON, as Google), `alt` (only `json`). Lists take `maxResults` (default 100, at most
 * 500), `pageToken`, `q`, `labelIds` (all must be on a message), `includeSpamTrash` (default false).
 */
import { apiError, GmailErrors, type ApiError } from './errors.ts';
import { applyFieldMask, FieldMaskError, parseFieldMask, type FieldMask } from './fields.ts';
import { SYSTEM_LABELS, type FakeMailbox, type StoredMessage } from './mailbox.ts';
import type { Grant } from './oauth.ts';
import { METADATA_SCOPE, READ_SCOPES } from './oauth.ts';
import { compileQuery, QueryError } from './query.ts';
import { unitsOf, type Quota } from './quota.ts';
import { base64urlPadded, findStoredPart, renderMessage, type AttachmentIds, type MessageFormat } from './resources.ts';

/** One API call (outer or inside a batch). */
export interface ApiCall {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
}

/** A body the server can send in pieces: its exact length and the pieces. */
export interface StreamBody {
  length: number;
  chunks: () => Iterable<Buffer>;
}

/** An answer before faults: status, headers and body. */
export interface ApiReply {
  status: number;
  headers: Record<string, string>;
  body: Buffer | StreamBody;
}

/** What the routes need from the server. */
export interface ApiContext {
  mailboxOf(address: string): FakeMailbox | undefined;
  authenticate(authorization: string | undefined): Grant | 'unauthenticated';
  attachmentIds: AttachmentIds;
  quota: Quota;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=UTF-8', vary: 'Origin, X-Origin, Referer' };

/** Serialises a JSON answer with Google's pretty-printing default. */
export function jsonReply(status: number, value: unknown, pretty = true, headers: Record<string, string> = {}): ApiReply {
  return { status, headers: { ...JSON_HEADERS, ...headers }, body: Buffer.from(pretty ? `${JSON.stringify(value, null, 2)}\n` : JSON.stringify(value)) };
}

/** An {@link ApiError} as a reply. */
export function errorReply(e: ApiError, pretty = true): ApiReply {
  return jsonReply(e.status, e.body, pretty, e.headers);
}

class Refusal extends Error {
  constructor(readonly apiError: ApiError) {
    super(apiError.body.error.message);
  }
}

/** A path segment decoded; a malformed escape is a 400, not a crash. */
function decodePath(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new Refusal(GmailErrors.invalidArgument('Invalid path'));
  }
}

const FORMATS = new Set(['full', 'metadata', 'minimal', 'raw']);

/** Answers one Gmail API call. Never throws. */
export function handleApi(call: ApiCall, ctx: ApiContext): ApiReply {
  const pretty = call.query.get('prettyPrint') !== 'false';
  try {
    const alt = call.query.get('alt');
    if (alt != null && alt !== 'json') throw new Refusal(GmailErrors.invalidArgument(`Invalid value for alt: ${alt}`));
    let mask: FieldMask | null = null;
    const fields = call.query.get('fields');
    if (fields) {
      try {
        mask = parseFieldMask(fields);
      } catch (e) {
        if (e instanceof FieldMaskError) throw new Refusal(apiError(400, e.message, 'invalidParameter', { location: 'fields', locationType: 'parameter' }));
        throw e;
      }
    }
    const m = /^\/gmail\/v1\/users\/([^/]+)\/(.+)$/.exec(call.path);
    if (!m || call.method !== 'GET') return notFoundPage(call);
    const grant = ctx.authenticate(call.headers.authorization);
    if (grant === 'unauthenticated') throw new Refusal(GmailErrors.unauthenticated());
    const full = grant.scopes.some((s) => READ_SCOPES.includes(s));
    const metadataOnly = !full && grant.scopes.includes(METADATA_SCOPE);
    if (!full && !metadataOnly) throw new Refusal(GmailErrors.insufficientPermissions());
    const userId = decodePath(m[1]!);
    if (userId !== 'me' && userId.toLowerCase() !== grant.address.toLowerCase()) throw new Refusal(GmailErrors.delegationDenied(userId));
    const mailbox = ctx.mailboxOf(grant.address);
    if (!mailbox) throw new Refusal(GmailErrors.failedPrecondition('Mail service not enabled'));
    const rest = m[2]!.split('/').map(decodePath);
    const refused = ctx.quota.charge(mailbox.address, unitsOf(rest));
    if (refused) throw new Refusal(refused);
    const attachment = rest[0] === 'messages' && rest.length === 4 && rest[2] === 'attachments';
    if (attachment && metadataOnly) throw new Refusal(GmailErrors.insufficientPermissions());
    if (attachment && !/^[0-9a-f]{1,16}$/i.test(rest[1]!)) throw new Refusal(GmailErrors.invalidArgument('Invalid id value'));
    if (attachment && !mask) return attachmentStream(mailbox, rest[1]!, rest[3]!, ctx, pretty);
    const value = route(rest, call.query, mailbox, ctx, metadataOnly);
    return jsonReply(200, mask ? applyFieldMask(value, mask) : value, pretty);
  } catch (e) {
    if (e instanceof Refusal) return errorReply(e.apiError, pretty);
    // A bug of the fake, not a scripted fault: say so loudly, then answer as Google's backend would.
    console.error('fake Gmail: unexpected error', e);
    return errorReply(GmailErrors.backendError(), pretty);
  }
}

function notFoundPage(call: ApiCall): ApiReply {
  return { status: 404, headers: { 'content-type': 'text/html; charset=UTF-8' }, body: Buffer.from(`<!DOCTYPE html><title>Error 404 (Not Found)</title><p>The requested URL <code>${call.path.replace(/[<>&]/g, '')}</code> was not found on this server.</p>\n`) };
}

function route(rest: string[], q: URLSearchParams, mailbox: FakeMailbox, ctx: ApiContext, metadataOnly: boolean): unknown {
  const [collection, id, sub] = rest;
  if (collection === 'profile' && rest.length === 1) {
    return { emailAddress: mailbox.address, messagesTotal: mailbox.allMessages().length, threadsTotal: mailbox.threadIds().length, historyId: mailbox.historyId() };
  }
  if (collection === 'labels' && rest.length <= 2) {
    const labels = [...SYSTEM_LABELS.map((l) => label(l, 'system', mailbox)), ...mailbox.userLabels().map((l) => label(l, 'user', mailbox))];
    if (id === undefined) return { labels: labels.map(({ id: i, name, type, messageListVisibility, labelListVisibility }) => ({ id: i, name, type, ...(messageListVisibility ? { messageListVisibility, labelListVisibility } : {}) })) };
    const hit = labels.find((l) => l.id === id);
    if (!hit) throw new Refusal(GmailErrors.notFound());
    return hit;
  }
  // Gmail ids are hex numbers; anything else is refused before any lookup.
  if ((collection === 'messages' || collection === 'threads') && id !== undefined && !/^[0-9a-f]{1,16}$/i.test(id)) throw new Refusal(GmailErrors.invalidArgument('Invalid id value'));
  const format = readFormat(q, metadataOnly);
  const headers = q.getAll('metadataHeaders').flatMap((h) => h.split(','));
  if ((collection === 'messages' || collection === 'threads') && rest.length === 1) return list(collection, q, mailbox, metadataOnly);
  if (collection === 'messages' && rest.length === 2) {
    const msg = mailbox.message(id!);
    if (!msg) throw new Refusal(GmailErrors.notFound());
    return renderMessage(msg, format, ctx.attachmentIds, headers);
  }
  if (collection === 'threads' && rest.length === 2) {
    // threads.get knows full, metadata and minimal only.
    if (format === 'raw') throw new Refusal(GmailErrors.invalidArgument(`Invalid value at 'format' (TYPE_ENUM), "raw"`));
    const messages = mailbox.thread(id!);
    if (messages.length === 0) throw new Refusal(GmailErrors.notFound());
    return { id, historyId: messages.map((m) => m.historyId).sort().at(-1), messages: messages.map((m) => renderMessage(m, format, ctx.attachmentIds, headers)) };
  }
  if (collection === 'messages' && sub === 'attachments' && rest.length === 4) {
    const { size, bytes } = resolveAttachment(mailbox, id!, rest[3]!, ctx);
    return { size, data: base64urlPadded(bytes) };
  }
  throw new Refusal(apiError(404, 'Method not found.', 'notFound'));
}

function label(id: string, type: 'system' | 'user', mailbox: FakeMailbox) {
  const msgs = mailbox.allMessages().filter((m) => m.labelIds.includes(id));
  const threads = new Set(msgs.map((m) => m.threadId));
  const unreadMsgs = msgs.filter((m) => m.labelIds.includes('UNREAD'));
  const hidden = id === 'SENT' || id === 'UNREAD' || id.startsWith('CATEGORY_') || id === 'DRAFT' || id === 'CHAT';
  return {
    id: type === 'user' ? `Label_${id}` : id,
    name: id,
    type,
    ...(type === 'user' || !hidden ? { messageListVisibility: 'show', labelListVisibility: 'labelShow' } : {}),
    messagesTotal: msgs.length,
    messagesUnread: unreadMsgs.length,
    threadsTotal: threads.size,
    threadsUnread: new Set(unreadMsgs.map((m) => m.threadId)).size,
  };
}

function readFormat(q: URLSearchParams, metadataOnly: boolean): MessageFormat {
  const format = q.get('format') ?? 'full';
  if (!FORMATS.has(format)) throw new Refusal(GmailErrors.invalidArgument(`Invalid value at 'format' (TYPE_ENUM), "${format}"`));
  if (metadataOnly && (format === 'full' || format === 'raw')) throw new Refusal(apiError(403, `Metadata scope doesn't allow format ${format.toUpperCase()}`, 'forbidden'));
  return format as MessageFormat;
}

function list(collection: 'messages' | 'threads', q: URLSearchParams, mailbox: FakeMailbox, metadataOnly: boolean): unknown {
  const rawMax = q.get('maxResults');
  let max = 100;
  if (rawMax != null) {
    if (!/^\d+$/.test(rawMax)) throw new Refusal(GmailErrors.invalidArgument(`Invalid value at 'max_results' (TYPE_UINT32), "${rawMax}"`));
    max = Math.min(500, Math.max(1, Number(rawMax)));
  }
  const query = q.get('q') ?? '';
  if (query && metadataOnly) throw new Refusal(apiError(403, "Metadata scope does not support 'q' parameter", 'forbidden'));
  let predicate: (m: StoredMessage) => boolean;
  try {
    predicate = compileQuery(query);
  } catch (e) {
    if (e instanceof QueryError) throw new Refusal(GmailErrors.invalidArgument(e.message));
    throw e;
  }
  const labelIds = q.getAll('labelIds').flatMap((l) => l.split(','));
  const spamTrash = q.get('includeSpamTrash') === 'true' || /\bin:(spam|trash)\b/i.test(query);
  const matching = mailbox
    .allMessages()
    .filter((m) => (spamTrash || !m.labelIds.some((l) => l === 'SPAM' || l === 'TRASH')) && labelIds.every((l) => m.labelIds.includes(l) || m.labelIds.includes(l.replace(/^Label_/, ''))) && predicate(m));
  const fingerprint = hash(`${collection}\n${query}\n${labelIds.join(',')}\n${spamTrash}`);
  let offset = 0;
  const token = q.get('pageToken');
  if (token) {
    const m = /^(\d+)-([0-9a-f]{8})$/.exec(Buffer.from(token, 'base64url').toString('latin1'));
    if (!m || m[2] !== fingerprint) throw new Refusal(GmailErrors.invalidArgument('Invalid pageToken'));
    offset = Number(m[1]);
  }
  const items =
    collection === 'messages'
      ? matching.map((m) => ({ id: m.id, threadId: m.threadId }))
      : mailbox.threadIds(matching).map((id) => {
          const latest = mailbox.thread(id).at(-1)!;
          return { id, snippet: latest.snippet, historyId: latest.historyId };
        });
  const page = items.slice(offset, offset + max);
  const out: Record<string, unknown> = {};
  if (page.length > 0) out[collection] = page;
  if (offset + max < items.length) out.nextPageToken = Buffer.from(`${offset + max}-${fingerprint}`).toString('base64url');
  out.resultSizeEstimate = items.length;
  return out;
}

function hash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

function resolveAttachment(mailbox: FakeMailbox, messageId: string, attachmentId: string, ctx: ApiContext): { size: number; bytes: Buffer } {
  const msg = mailbox.message(messageId);
  if (!msg) throw new Refusal(GmailErrors.notFound());
  const partId = ctx.attachmentIds.resolve(messageId, attachmentId);
  const part = partId == null ? null : findStoredPart(msg.payload, partId);
  if (!part) throw new Refusal(GmailErrors.invalidAttachmentToken());
  return { size: part.bytes.length, bytes: part.bytes };
}

/** attachments.get without a mask: the JSON streamed in pieces, so big bodies are never one string. */
function attachmentStream(mailbox: FakeMailbox, messageId: string, attachmentId: string, ctx: ApiContext, pretty: boolean): ApiReply {
  const { size, bytes } = resolveAttachment(mailbox, messageId, attachmentId, ctx);
  const head = Buffer.from(pretty ? `{\n  "size": ${size},\n  "data": "` : `{"size":${size},"data":"`);
  const tail = Buffer.from(pretty ? '"\n}\n' : '"}');
  const dataLength = Math.ceil(size / 3) * 4;
  const STEP = 3 * 64 * 1024;
  return {
    status: 200,
    headers: { ...JSON_HEADERS },
    body: {
      length: head.length + dataLength + tail.length,
      *chunks() {
        yield head;
        for (let i = 0; i < size; i += STEP) yield Buffer.from(base64urlPadded(bytes.subarray(i, Math.min(size, i + STEP))));
        yield tail;
      },
    },
  };
}
