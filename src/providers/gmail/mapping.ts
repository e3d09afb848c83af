/**
 * Gmail resources → the gateway's domain types: a thread is a {@link ConversationInfo}, a message a
 * {@link MessageInfo}, and its attachments come from the payload's MIME tree, named and classified
 * by THE shared policy (`src/mime/attachments.ts`) exactly as IMAP and the local store do.
 *
 * Followed: the `Message` and `MessagePart` resources
 * (https://developers.google.com/gmail/api/reference/rest/v1/users.messages#Message,
 * #MessagePart: `partId` "" for the payload, `mimeType`, `filename`, `headers[{name, value}]`,
 * `body{attachmentId, size, data}`, `parts`; `internalDate` epoch ms as a string; `labelIds`) and
 * `Thread` (https://developers.google.com/gmail/api/reference/rest/v1/users.threads#Thread:
 * `id`, `messages`). Checked facts (FIELD-NOTES "Gmail API"): `body.size` is the decoded size; a
 * zero-byte part has `{size: 0}` and no `attachmentId`; the children of message/rfc822 describe the
 * enclosed message (not listed separately, the policy treats message/* as leaves).
 *
 * - Part headers are read by the shared `mimeHeaderFields` (RFC 2231 / 2047 names, disposition,
 *   Content-ID): Gmail gives header values as Unicode text, so they are handed over as the UTF-8
 *   bytes a raw parse would see. A part without a Content-Type header takes Gmail's `mimeType`,
 *   a part without any name takes Gmail's `filename`.
 * - The key of an attachment is Gmail's `partId` (stable for a message); Gmail's root part ""
 *   (an attachment that is the whole message) is keyed {@link ROOT_PART_KEY}. `providerRef`
 *   carries the message id, the partId and the `attachmentId` seen, a hint only (it expires).
 * - `downloadHint` is `[attachmentId, size, contentType, filename]` ({@link GmailDownloadHint}):
 *   all a download needs to call attachments.get at once and answer with its headers (a Gmail
 *   message never changes, so only the id can go stale; the provider then looks it up again).
 * - The MIME limits (`src/mime/limits.ts`) apply: parts past the part budget or the depth limit
 *   are not read and the listing says it is truncated. The walk is iterative and linear.
 * - SENT label → direction SENT.
 */
import type { AttachmentInfo, ConversationInfo, MessageInfo } from '../../domain/mail.ts';
import { attachmentListing, describeAttachment } from '../../mime/attachments.ts';
import { readHeaderFacts } from '../../mime/headers.ts';
import { MIME_LIMITS, type MimeLimits } from '../../mime/limits.ts';
import { mimeHeaderFields, type HeaderField } from '../../mime/parse.ts';
import type { MimePart } from '../../mime/structure.ts';
import { assembleConversation } from '../../threading/index.ts';

/** A `MessagePartBody` as far as the gateway reads it. */
export interface GmailPartBody {
  attachmentId?: string | null;
  /** Decoded size in bytes. */
  size?: number | null;
  /** base64url of small parts Gmail inlines. */
  data?: string | null;
}

/** A `MessagePart` as far as the gateway reads it. */
export interface GmailPart {
  partId?: string | null;
  mimeType?: string | null;
  filename?: string | null;
  headers?: { name?: string | null; value?: string | null }[] | null;
  body?: GmailPartBody | null;
  parts?: GmailPart[] | null;
}

/** A `Message` as far as the gateway reads it. */
export interface GmailMessage {
  id?: string | null;
  threadId?: string | null;
  labelIds?: string[] | null;
  /** Epoch ms, as a decimal string. */
  internalDate?: string | null;
  payload?: GmailPart | null;
}

/** A `Thread` as far as the gateway reads it. */
export interface GmailThread {
  id?: string | null;
  messages?: GmailMessage[] | null;
}

/** The attachment key of Gmail's payload part "" (a single-part message that is itself an attachment). */
export const ROOT_PART_KEY = 'root';

/** Deepest `parts` level the `fields` masks spell out part by part (below it a level is asked whole). */
const MASK_DEPTH = 12;

function partMask(depth: number): string {
  return depth === 0 ? 'parts' : `partId,mimeType,filename,headers,body(size,attachmentId),parts(${partMask(depth - 1)})`;
}

/**
 * The `fields` mask of a message read for listing (partial response,
 * https://developers.google.com/gmail/api/guides/performance#partial): ids, labels, date, headers
 * and the part tree without inline `data`.
 */
export const MESSAGE_FIELDS = `id,threadId,labelIds,internalDate,payload(${partMask(MASK_DEPTH)})`;
/** The `fields` mask of a thread read for listing: {@link MESSAGE_FIELDS} of each message. */
export const THREAD_FIELDS = `id,messages(${MESSAGE_FIELDS})`;

/** The attachment key of a Gmail partId. */
export function partKeyOf(gmailPartId: string): string {
  return gmailPartId === '' ? ROOT_PART_KEY : gmailPartId;
}

/** The Gmail partId of an attachment key, or null for a key this provider never issues. */
export function gmailPartIdOf(key: string): string | null {
  if (key === ROOT_PART_KEY) return '';
  return /^\d{1,6}(?:\.\d{1,6}){0,63}$/.test(key) ? key : null;
}

/** Finds a part of a payload by Gmail partId (iterative; null when absent). */
export function findGmailPart(root: GmailPart | null | undefined, partId: string): GmailPart | null {
  const stack: GmailPart[] = root ? [root] : [];
  while (stack.length > 0) {
    const part = stack.pop()!;
    const id = part.partId ?? '';
    if (id === partId) return part;
    if (id === '' || partId.startsWith(`${id}.`)) for (const child of part.parts ?? []) stack.push(child);
  }
  return null;
}

/** Gmail's Unicode header values as the latin1 view of their UTF-8 bytes, what the shared parsers read. */
function rawHeaders(headers: GmailPart['headers']): HeaderField[] {
  const out: HeaderField[] = [];
  for (const h of headers ?? []) {
    if (typeof h?.name !== 'string' || typeof h.value !== 'string') continue;
    out.push({ name: h.name.toLowerCase(), value: Buffer.from(h.value, 'utf8').toString('latin1') });
  }
  return out;
}

/** A node built from a Gmail part, with the Gmail part it came from. */
const sourceOf = new WeakMap<MimePart, GmailPart>();

/**
 * The MIME tree of a payload in the shape the attachment policy reads, within the MIME limits.
 * `partId` of each node is Gmail's.
 */
export function mimeTreeOf(payload: GmailPart, limits: Readonly<MimeLimits> = MIME_LIMITS): MimePart {
  const toNode = (part: GmailPart): MimePart => {
    const headers = rawHeaders(part.headers);
    const gmailType = typeof part.mimeType === 'string' && part.mimeType !== '' ? part.mimeType.toLowerCase() : 'text/plain';
    const fields = mimeHeaderFields(headers, gmailType);
    const node: MimePart = { partId: part.partId ?? '', ...fields, size: part.body?.size ?? null };
    if (!headers.some((h) => h.name === 'content-type')) node.type = gmailType;
    if (node.parameters.name === undefined && node.dispositionParameters.filename === undefined && part.filename) {
      node.dispositionParameters = { ...node.dispositionParameters, filename: Buffer.from(part.filename, 'utf8').toString('latin1') };
    }
    sourceOf.set(node, part);
    return node;
  };
  const root = toNode(payload);
  let budget = limits.maxParts;
  const stack: { node: MimePart; part: GmailPart; depth: number }[] = [{ node: root, part: payload, depth: 0 }];
  while (stack.length > 0) {
    const { node, part, depth } = stack.pop()!;
    // An enclosed message is a leaf of the policy: its inner parts are not walked.
    if (!node.type.startsWith('multipart/')) continue;
    const children = Array.isArray(part.parts) ? part.parts : [];
    if (children.length === 0) continue;
    if (depth >= limits.maxDepth) {
      node.truncated = true;
      continue;
    }
    node.childNodes = [];
    for (const child of children) {
      if (budget <= 0) {
        node.truncated = true;
        break;
      }
      budget--;
      const childNode = toNode(child ?? {});
      node.childNodes.push(childNode);
      stack.push({ node: childNode, part: child ?? {}, depth: depth + 1 });
    }
  }
  return root;
}

/**
 * The attachments of a message payload, in MIME order, with their count and truncation flag.
 * Sizes are Gmail's `body.size` (exact, decoded); a zero-byte part is listed with size 0.
 */
export function attachmentsOf(messageId: string, payload: GmailPart | null | undefined, limits: Readonly<MimeLimits> = MIME_LIMITS): { attachments: AttachmentInfo[]; count: number; truncated: boolean } {
  if (!payload) return { attachments: [], count: 0, truncated: false };
  const listing = attachmentListing(mimeTreeOf(payload, limits), limits);
  const attachments = listing.parts.map((node): AttachmentInfo => {
    const source = sourceOf.get(node);
    const size = typeof source?.body?.size === 'number' && source.body.size >= 0 ? source.body.size : null;
    const attachmentId = typeof source?.body?.attachmentId === 'string' ? source.body.attachmentId : null;
    const description = describeAttachment(node);
    return {
      ...description,
      partId: partKeyOf(node.partId),
      size,
      sizeExact: size !== null,
      providerRef: { messageId, partId: node.partId, ...(attachmentId ? { attachmentId } : {}) },
      ...(attachmentId && size !== null ? { downloadHint: [attachmentId, size, description.contentType, description.filename] satisfies GmailDownloadHint } : {}),
    };
  });
  return { attachments, count: listing.count, truncated: listing.truncated };
}

/** What a Gmail attachment's `downloadHint` holds: the listed attachmentId, the exact size in bytes, the content type and the file name as listed. */
export type GmailDownloadHint = [attachmentId: string, size: number, contentType: string, filename: string | null];

/** Longest content type and file name a hint is believed with, characters (the MIME policy's are shorter). */
const MAX_HINT_TEXT = 1024;

/** A download hint read back from a token (the gateway minted it, but the shape is checked anyway); null when it is not one. */
export function gmailDownloadHintOf(hint: unknown): { attachmentId: string; size: number; contentType: string; filename: string | null } | null {
  if (!Array.isArray(hint) || hint.length !== 4) return null;
  const [attachmentId, size, contentType, filename] = hint as unknown[];
  if (typeof attachmentId !== 'string' || !/^[A-Za-z0-9_-]{1,4096}$/.test(attachmentId)) return null;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return null;
  if (typeof contentType !== 'string' || contentType === '' || contentType.length > MAX_HINT_TEXT) return null;
  if (filename !== null && (typeof filename !== 'string' || filename.length > MAX_HINT_TEXT)) return null;
  return { attachmentId, size, contentType, filename };
}

/**
 * A Gmail message as a {@link MessageInfo}, or null when it lacks an id or a thread id.
 * Headers come from the payload's top-level headers; an absent Date falls back to `internalDate`.
 */
export function messageInfoOf(message: GmailMessage, limits: Readonly<MimeLimits> = MIME_LIMITS): MessageInfo | null {
  if (!message.id || !message.threadId) return null;
  const facts = readHeaderFacts(rawHeaders(message.payload?.headers));
  const internal = Number(message.internalDate);
  const date = facts.date ?? (Number.isFinite(internal) && internal > 0 ? new Date(internal) : null);
  const { attachments, count, truncated } = attachmentsOf(message.id, message.payload, limits);
  return {
    ...facts,
    date,
    key: message.id,
    conversationKey: message.threadId,
    direction: message.labelIds?.includes('SENT') ? 'SENT' : 'RECEIVED',
    attachments,
    attachmentCount: count,
    attachmentsTruncated: truncated,
  };
}

/**
 * A Gmail thread as a {@link ConversationInfo} (keyed by the thread id) with its messages, or
 * null when it has no readable message.
 */
export function conversationOf(thread: GmailThread, limits: Readonly<MimeLimits> = MIME_LIMITS): { conversation: ConversationInfo; messages: MessageInfo[] } | null {
  if (!thread.id) return null;
  const messages = (thread.messages ?? []).map((m) => messageInfoOf(m, limits)).filter((m): m is MessageInfo => m !== null);
  if (messages.length === 0) return null;
  const conversation = assembleConversation(
    messages.map((m) => ({ ...m, hasAttachments: m.attachmentCount > 0 })),
    { key: thread.id },
  );
  return { conversation, messages };
}
