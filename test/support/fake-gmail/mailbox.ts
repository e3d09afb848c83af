/**
 * The mailbox model of the fake Gmail server: raw RFC 5322 messages turned into what Gmail stores
 * about them (https://developers.google.com/gmail/api/reference/rest/v1/users.messages#Message,
 * #MessagePart), grouped into threads the way Gmail does.
 *
 * - Part ids as Gmail numbers them: the payload is `""`, its children `"0"`, `"1"`, theirs `"1.0"`.
 *   An enclosed message/rfc822 part keeps its own bytes (served by attachmentId) and has ONE child,
 *   the enclosed message's top part, numbered `<id>.0` (so IMAP part `2.1.2` is Gmail `1.0.0.1`).
 * - Headers are each part's own, names as written, values unfolded (8-bit bytes as UTF-8 when
 *   valid, else windows-1252; encoded words left as they are, as Gmail does).
 * - Bodies are decoded with the gateway's transfer decoders (`src/mime/decode.ts`: base64,
 *   quoted-printable, x-uuencode), so the bytes are those the corpus manifest records. This checks
 *   nothing in a circle: Gmail undoes transfer encodings itself, a Gmail provider never runs them.
 *   Whether real Gmail decodes x-uuencode bodies is not documented; the fake does.
 * - Text parts without a name carry their body inline (`data`); named, non-text and message/rfc822
 *   parts, and text bodies over 1 MiB (the fake's choice), get an attachmentId.
 * - Threads: a message joins the thread of a message it names in References/In-Reply-To when the
 *   normalised subjects (reply prefixes stripped, case folded) are equal; else it starts a thread
 *   whose id is its own id.
 */
import { parseMessage, type ParsedPart } from '../../../src/mime/parse.ts';
import { decodeTransferEncodingSync } from '../../../src/mime/decode.ts';
import { decodeRawHeaderBytes } from '../../../src/mime/filename.ts';

/** A `{name, value}` header as Gmail lists it. */
export interface GmailHeader {
  name: string;
  value: string;
}

/** One MIME part as stored (attachment ids are issued when a message is rendered). */
export interface StoredPart {
  partId: string;
  mimeType: string;
  filename: string;
  headers: GmailHeader[];
  /** Decoded body bytes; empty for multiparts. */
  bytes: Buffer;
  /** True when Gmail serves the body through an attachmentId rather than inline `data`. */
  external: boolean;
  parts: StoredPart[];
}

/** One stored message. */
export interface StoredMessage {
  id: string;
  threadId: string;
  labelIds: string[];
  snippet: string;
  historyId: string;
  /** Epoch milliseconds. */
  internalDate: number;
  raw: Buffer;
  payload: StoredPart;
  /** Lower-cased text free words match: subject, address headers, text bodies, filenames. */
  searchText: string;
  subject: string;
  filenames: string[];
  hasAttachment: boolean;
}

/** What a test gives for one message. */
export interface MessageInput {
  /** The raw message (CRLF or LF). */
  raw: Buffer;
  /** Labels; default `['INBOX', 'UNREAD']`, or `['SENT']` when {@link sent}. */
  labelIds?: string[];
  /** Marks the message as sent by the mailbox owner (label SENT). */
  sent?: boolean;
  /** Gmail's internalDate in epoch ms; default the Date header, else the time of adding. */
  internalDate?: number;
}

/** System labels Gmail lists for every account. */
export const SYSTEM_LABELS = ['INBOX', 'SENT', 'UNREAD', 'STARRED', 'IMPORTANT', 'TRASH', 'SPAM', 'DRAFT', 'CHAT', 'CATEGORY_PERSONAL', 'CATEGORY_SOCIAL', 'CATEGORY_PROMOTIONS', 'CATEGORY_UPDATES', 'CATEGORY_FORUMS'];

/** Bytes of the raw message above which a text body is served by attachmentId (Gmail does this for big bodies). */
const INLINE_LIMIT = 1 << 20;

let idSeed = 0x18c2f0a000000000n;

/** One mailbox: its owner's address and messages, newest first by internalDate. */
export class FakeMailbox {
  readonly address: string;
  private readonly messages: StoredMessage[] = [];
  private readonly byId = new Map<string, StoredMessage>();
  private readonly threadOfMessageId = new Map<string, { threadId: string; subject: string }>();
  private history = 1000;

  constructor(address: string) {
    this.address = address;
  }

  /** Adds one message and returns its stored form (ids assigned, thread joined). */
  add(input: MessageInput): StoredMessage {
    const parsed = parseMessage(input.raw);
    const payload = buildPart(input.raw, parsed.root, '', 0);
    const topHeaders = payload.headers;
    const header = (name: string) => topHeaders.find((h) => h.name.toLowerCase() === name)?.value ?? null;
    const subject = header('subject') ?? '';
    const dateHeader = Date.parse(header('date') ?? '');
    idSeed += BigInt(1 + (this.messages.length % 7));
    const id = idSeed.toString(16);
    const norm = normaliseSubject(subject);
    const refs = [...(header('references') ?? '').matchAll(/<[^>]*>/g), ...(header('in-reply-to') ?? '').matchAll(/<[^>]*>/g)].map((m) => m[0]);
    let threadId = id;
    for (const ref of refs) {
      const hit = this.threadOfMessageId.get(ref);
      if (hit && hit.subject === norm) threadId = hit.threadId;
    }
    const own = header('message-id')?.match(/<[^>]*>/)?.[0];
    if (own && !this.threadOfMessageId.has(own)) this.threadOfMessageId.set(own, { threadId, subject: norm });
    const leaves = flatten(payload);
    const filenames = leaves.map((p) => p.filename).filter((f) => f !== '');
    const textBodies = leaves.filter((p) => p.mimeType === 'text/plain' && p.filename === '').map((p) => p.bytes.toString('utf8'));
    const snippetSource = (textBodies[0] ?? leaves.filter((p) => p.mimeType === 'text/html').map((p) => p.bytes.toString('utf8').replace(/<[^>]*>/g, ' '))[0] ?? '').replace(/\s+/g, ' ').trim();
    const message: StoredMessage = {
      id,
      threadId,
      labelIds: input.labelIds ?? (input.sent ? ['SENT'] : ['INBOX', 'UNREAD']),
      snippet: escapeSnippet(snippetSource.slice(0, 200)),
      historyId: String(++this.history),
      internalDate: input.internalDate ?? (Number.isNaN(dateHeader) ? Date.now() : dateHeader),
      raw: input.raw,
      payload,
      searchText: [subject, header('from'), header('to'), header('cc'), ...textBodies, ...filenames].join('\n').toLowerCase(),
      subject,
      filenames,
      hasAttachment: leaves.some((p) => p.filename !== '' || p.mimeType === 'message/rfc822'),
    };
    if (input.sent && !message.labelIds.includes('SENT')) message.labelIds.push('SENT');
    this.messages.push(message);
    this.messages.sort((a, b) => b.internalDate - a.internalDate || (a.id < b.id ? 1 : -1));
    this.byId.set(id, message);
    return message;
  }

  /** The message with this id, or undefined. */
  message(id: string): StoredMessage | undefined {
    return this.byId.get(id);
  }

  /** All messages, newest first. */
  allMessages(): readonly StoredMessage[] {
    return this.messages;
  }

  /** The messages of a thread, oldest first (as threads.get lists them); empty when unknown. */
  thread(threadId: string): StoredMessage[] {
    return this.messages.filter((m) => m.threadId === threadId).reverse();
  }

  /** Thread ids, newest activity first. */
  threadIds(messages: readonly StoredMessage[] = this.messages): string[] {
    const seen = new Set<string>();
    for (const m of messages) seen.add(m.threadId);
    return [...seen];
  }

  /** The current history id of the mailbox. */
  historyId(): string {
    return String(this.history);
  }

  /** Labels used by the messages that are not system labels (listed as user labels). */
  userLabels(): string[] {
    const set = new Set<string>();
    for (const m of this.messages) for (const l of m.labelIds) if (!SYSTEM_LABELS.includes(l)) set.add(l);
    return [...set].sort();
  }
}

/** Subject with reply/forward prefixes removed and case folded, as thread matching compares it. */
export function normaliseSubject(subject: string): string {
  return subject.replace(/^(\s*(re|fwd?|aw|wg|sv|vs)\s*(\[\d+\])?\s*:\s*)+/i, '').trim().toLowerCase();
}

function escapeSnippet(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function flatten(part: StoredPart): StoredPart[] {
  const out: StoredPart[] = [];
  const walk = (p: StoredPart) => {
    if (!p.mimeType.startsWith('multipart/')) out.push(p);
    if (p.mimeType !== 'message/rfc822') for (const c of p.parts) walk(c);
  };
  walk(part);
  return out;
}

/** Headers of one header block (`raw[start, end)`), names as written, values unfolded; 8-bit bytes decoded. */
function readRawHeaders(raw: Buffer, start: number, end: number): GmailHeader[] {
  // Only the header block becomes a string: a body of any size is never copied here.
  const text = raw.toString('latin1', start, end);
  const headers: GmailHeader[] = [];
  let pos = 0;
  let current: { name: string; pieces: [number, number][] } | null = null;
  const flush = () => {
    if (!current) return;
    const bytes = Buffer.concat(current.pieces.map(([s, e]) => raw.subarray(start + s, start + e)));
    headers.push({ name: current.name, value: decodeRawHeaderBytes(bytes).trim() });
    current = null;
  };
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    const lineEnd = nl > pos && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    if (lineEnd === pos) break;
    const c0 = text.charCodeAt(pos);
    if (c0 === 32 || c0 === 9) {
      if (current) (current as { pieces: [number, number][] }).pieces.push([pos, lineEnd]);
    } else {
      const colon = text.indexOf(':', pos);
      if (colon < 0 || colon >= lineEnd) break;
      flush();
      current = { name: text.slice(pos, colon).trim(), pieces: [[colon + 1, lineEnd]] };
    }
    pos = nl + 1;
  }
  flush();
  return headers;
}

function buildPart(raw: Buffer, node: ParsedPart, partId: string, depth: number): StoredPart {
  const headers = readRawHeaders(raw, node.headerStart, node.bodyStart);
  const filename = node.dispositionParameters.filename ?? node.parameters.name ?? '';
  const multipart = !!node.childNodes;
  const part: StoredPart = {
    partId,
    mimeType: node.type,
    filename,
    headers,
    bytes: multipart ? Buffer.alloc(0) : decodeTransferEncodingSync(raw.subarray(node.bodyStart, node.bodyEnd), node.encoding),
    external: false,
    parts: [],
  };
  if (node.childNodes) {
    part.parts = node.childNodes.map((c, i) => buildPart(raw, c, partId === '' ? String(i) : `${partId}.${i}`, depth + 1));
  } else if (node.type === 'message/rfc822' && depth < 50 && part.bytes.length > 0) {
    const inner = parseMessage(part.bytes);
    part.parts = [buildPart(part.bytes, inner.root, partId === '' ? '0' : `${partId}.0`, depth + 1)];
  }
  part.external = !multipart && part.bytes.length > 0 && (filename !== '' || !node.type.startsWith('text/') || part.bytes.length > INLINE_LIMIT);
  return part;
}
