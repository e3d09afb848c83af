/**
 * The Gmail batch codec: many API calls in one `multipart/mixed` request to `/batch/gmail/v1`, and
 * their answers read back from the `multipart/mixed` response as a stream.
 *
 * Followed: "Batching Requests" (https://developers.google.com/gmail/api/guides/batch): at most 100
 * calls per batch, more than 50 not advised; each part is `Content-Type: application/http` with an
 * optional `Content-ID` and holds a whole HTTP request with the path only (no scheme, no host); the
 * answer's parts each hold a whole HTTP response (status line, headers, body) and carry the
 * request's Content-ID prefixed with `response-`; the server may run the calls in any order, so
 * answers are matched by Content-ID, by position only for a part without one. Multipart syntax:
 * RFC 2046 §5.1.1 (delimiter = CRLF "--" boundary, transport padding, close delimiter "--",
 * preamble and epilogue ignored; boundary 1..70 characters, maybe quoted in the Content-Type).
 *
 * Lenient where Google's own example is loose: LF as well as CRLF line ends, a header line without a
 * colon (the guide's `Content-Type application/json`) is skipped, a non-numeric Content-Length (the
 * guide's `response_part_1_content_length`) is never trusted: parts end at the delimiter.
 *
 * Bounded: one part at most `maxPartBytes` (default 16 MiB: a format=full thread can be large; a
 * larger part becomes a per-item error, the others are still read), the whole answer at most
 * `maxTotalBytes` (default 128 MiB), part headers at most 64 KiB. The scan for the delimiter is
 * linear in the bytes received, whatever the chunking (a delimiter split across chunks is found).
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { GatewayError } from '../../errors.ts';
import { malformedAnswer, mapGmailAnswer, mapGmailError } from './errors.ts';

/** Google's advised largest batch. */
export const GMAIL_BATCH_ADVISED = 50;
/** Google's hard limit of calls per batch. */
export const GMAIL_BATCH_MAX = 100;

/** Size bounds of {@link parseBatchResponse}, bytes. */
export const BATCH_PARSE_DEFAULTS = {
  maxPartBytes: 16 * 1024 * 1024,
  maxTotalBytes: 128 * 1024 * 1024,
} as const;

const MAX_HEAD_BYTES = 64 * 1024;
/** RFC 2046 allows any amount of transport padding after a delimiter; more than this is no delimiter. */
const MAX_PADDING = 64;

/** One call inside a batch: a GET of the Gmail API. */
export interface BatchRequest {
  /** Absolute path of the Gmail API, e.g. `/gmail/v1/users/me/threads/18c0ffee` (see {@link gmailPath}). */
  path: string;
  /** Query parameters (`format`, `fields`, `metadataHeaders`, ...); arrays repeat the name; undefined is left out. */
  query?: Record<string, string | number | boolean | readonly string[] | undefined>;
  /** Extra headers of this call only. */
  headers?: Record<string, string>;
}

/** A batch request body ready to POST. */
export interface EncodedBatch {
  /** `multipart/mixed; boundary=...` */
  contentType: string;
  body: string;
  /** The Content-ID of each call, in request order (`item-1`, ...), to match the answers. */
  contentIds: string[];
}

/** One part of a batch answer, as read from the stream. */
export interface BatchPart {
  /** The part's Content-ID without angle brackets (e.g. `response-item-3`), or null. */
  contentId: string | null;
  /** Status of the inner HTTP response; 0 when the part could not be read (see {@link failure}). */
  status: number;
  /** Headers of the inner HTTP response, names in lower case (repeated ones joined by ", "). */
  headers: Record<string, string>;
  /** The inner body: parsed JSON, else its text; null when empty. */
  body: unknown;
  /** Set when the part could not be read (too large, no status line). */
  failure?: GatewayError;
}

/** The answer to one call, in request order. */
export type BatchItemResult =
  | { ok: true; status: number; headers: Record<string, string>; body: unknown }
  | { ok: false; error: GatewayError; status?: number };

/** Options of {@link parseBatchResponse}. */
export interface BatchParseOptions {
  /** Largest part accepted, bytes; default 16 MiB. */
  maxPartBytes?: number;
  /** Largest whole answer, bytes; default 128 MiB. */
  maxTotalBytes?: number;
  signal?: AbortSignal;
}

/** A response body as node's fetch (`ReadableStream`), node streams or tests give it. */
export type BatchBody = Readable | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string>;

/**
 * A Gmail API path from raw segments, each percent-encoded: `gmailPath('users', 'me', 'threads', id)`
 * → `/gmail/v1/users/me/threads/<id>`.
 */
export function gmailPath(...segments: string[]): string {
  return `/gmail/v1/${segments.map((s) => encodeURIComponent(s)).join('/')}`;
}

const PATH = /^\/gmail\/v1\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Encodes calls as one batch request body (guide, "Format of a batch request"): one
 * `application/http` part per call, `Content-ID: <item-N>` (N from 1), the request line
 * `GET <path>?<query> HTTP/1.1`, CRLF line ends and a fresh random boundary.
 * @param limit most calls accepted (1..100; default 50)
 * @throws RangeError for no calls, more than `limit`, a limit over 100, a path outside `/gmail/v1/`
 *   or with characters a URL path cannot hold, a header name or value that would break the framing
 */
export function encodeBatch(requests: readonly BatchRequest[], options: { limit?: number; boundary?: string } = {}): EncodedBatch {
  const limit = options.limit ?? GMAIL_BATCH_ADVISED;
  if (!Number.isInteger(limit) || limit < 1 || limit > GMAIL_BATCH_MAX) throw new RangeError(`batch limit must be an integer from 1 to ${GMAIL_BATCH_MAX}`);
  if (requests.length === 0) throw new RangeError('a batch needs at least one call');
  if (requests.length > limit) throw new RangeError(`a batch holds at most ${limit} calls, got ${requests.length}`);
  const contentIds = requests.map((_, i) => `item-${i + 1}`);
  const parts = requests.map((request, i) => {
    if (!PATH.test(request.path)) throw new RangeError(`not a Gmail API path: ${JSON.stringify(request.path.slice(0, 100))}`);
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) query.append(name, String(v));
    }
    const target = query.size > 0 ? `${request.path}?${query.toString()}` : request.path;
    const headers = Object.entries(request.headers ?? {}).map(([name, value]) => {
      if (!TOKEN.test(name) || /[\r\n]/.test(value)) throw new RangeError(`header ${JSON.stringify(name)} cannot be sent in a batch part`);
      return `${name}: ${value}\r\n`;
    });
    return `Content-Type: application/http\r\nContent-ID: <${contentIds[i]}>\r\n\r\nGET ${target} HTTP/1.1\r\n${headers.join('')}\r\n`;
  });
  let boundary = options.boundary ?? newBoundary();
  if (!/^[0-9A-Za-z'()+_,\-./:=?]{1,70}$/.test(boundary)) throw new RangeError('invalid multipart boundary');
  // A random boundary never occurs in paths and ids; a caller-chosen one might.
  while (parts.some((part) => part.includes(`--${boundary}`))) boundary = newBoundary();
  const body = `${parts.map((part) => `--${boundary}\r\n${part}`).join('\r\n')}\r\n--${boundary}--\r\n`;
  return { contentType: `multipart/mixed; boundary=${boundary}`, body, contentIds };
}

function newBoundary(): string {
  return `batch_${randomBytes(18).toString('base64url')}`;
}

/**
 * The boundary of a `multipart/*` Content-Type (quoted or not, quoted-pairs undone, other
 * parameters skipped), or null when the type is not multipart or the boundary is absent or invalid.
 */
export function boundaryOf(contentType: string | null | undefined): string | null {
  if (!contentType) return null;
  const text = contentType.replace(/\r?\n[ \t]/g, ' ');
  const semi = text.indexOf(';');
  if (!/^\s*multipart\/[A-Za-z0-9!#$&^_.+-]+\s*$/i.test(semi < 0 ? text : text.slice(0, semi))) return null;
  let i = semi;
  while (i >= 0 && i < text.length) {
    // At a ';': read one `name=value` parameter.
    const m = /^;\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*=\s*/.exec(text.slice(i, i + 200));
    if (!m) return null;
    i += m[0].length;
    let value = '';
    if (text[i] === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        value += text[i];
        i++;
      }
      if (text[i] !== '"') return null;
      i++;
    } else {
      const start = i;
      while (i < text.length && !/[;\s]/.test(text[i]!)) i++;
      value = text.slice(start, i);
    }
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (m[1]!.toLowerCase() === 'boundary') {
      return /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/.test(value) ? value : null;
    }
    if (i < text.length && text[i] !== ';') return null;
  }
  return null;
}

/** Bytes of one part, copied once into a buffer that doubles (a flood of tiny chunks stays linear). */
class PartSink {
  #buf = Buffer.allocUnsafe(4096);
  length = 0;
  /** Bytes offered, kept or not. */
  offered = 0;

  constructor(private readonly keepAtMost: number) {}

  push(bytes: Buffer): void {
    this.offered += bytes.length;
    const room = this.keepAtMost - this.length;
    if (room <= 0 || bytes.length === 0) return;
    const take = Math.min(room, bytes.length);
    if (this.length + take > this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(Math.max(this.#buf.length * 2, this.length + take), this.keepAtMost));
      this.#buf.copy(grown, 0, 0, this.length);
      this.#buf = grown;
    }
    bytes.copy(this.#buf, this.length, 0, take);
    this.length += take;
  }

  /** The bytes kept, without the CR that belongs to the next delimiter. */
  take(): Buffer {
    let end = this.length;
    if (end > 0 && this.#buf[end - 1] === 0x0d && this.offered === this.length) end--;
    const out = Buffer.from(this.#buf.subarray(0, end));
    this.reset();
    return out;
  }

  reset(): void {
    this.length = 0;
    this.offered = 0;
    if (this.#buf.length > 1024 * 1024) this.#buf = Buffer.allocUnsafe(4096);
  }
}

type Verdict = { kind: 'close' } | { kind: 'open'; lineEnd: number } | { kind: 'no' } | { kind: 'more' };

/** What follows `--boundary` at `at`: a close delimiter, an open one (ending at `lineEnd`), none, or not known yet. */
function classify(data: Buffer, at: number): Verdict {
  if (at + 2 > data.length) return { kind: 'more' };
  if (data[at] === 0x2d && data[at + 1] === 0x2d) return { kind: 'close' };
  let j = at;
  while (j < data.length && (data[j] === 0x20 || data[j] === 0x09)) {
    if (j - at >= MAX_PADDING) return { kind: 'no' };
    j++;
  }
  if (j >= data.length) return { kind: 'more' };
  if (data[j] === 0x0a) return { kind: 'open', lineEnd: j };
  if (data[j] === 0x0d) {
    if (j + 1 >= data.length) return { kind: 'more' };
    return data[j + 1] === 0x0a ? { kind: 'open', lineEnd: j + 1 } : { kind: 'no' };
  }
  return { kind: 'no' };
}

/** Releases a body that will not be read (its connection is freed instead of waiting for GC). */
function discard(body: BatchBody): void {
  const b = body as { cancel?: () => Promise<void>; destroy?: () => void };
  if (typeof b.cancel === 'function') b.cancel().catch(() => {});
  else if (typeof b.destroy === 'function') b.destroy();
}

async function* chunksOf(body: BatchBody): AsyncGenerator<Buffer> {
  for await (const chunk of body as AsyncIterable<Uint8Array | string>) {
    yield typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
}

/**
 * Reads a batch answer as a stream and yields each part as soon as its delimiter has arrived,
 * holding at most one part in memory. Stops reading at the close delimiter (the epilogue is
 * ignored). A part that is too large or has no status line is yielded with `failure` set.
 * @param contentType the response's Content-Type (its boundary)
 * @throws GatewayError PROVIDER_UNAVAILABLE (kind `malformed`): not multipart or no boundary, no
 *   part at all, the answer ends before its close delimiter (after the complete parts), the whole
 *   answer over `maxTotalBytes`; the signal's reason when it aborts; the body's own stream error
 */
export async function* parseBatchResponse(contentType: string | null, body: BatchBody, options: BatchParseOptions = {}): AsyncGenerator<BatchPart> {
  const boundary = boundaryOf(contentType);
  if (boundary === null) {
    discard(body);
    throw malformedAnswer('Gmail answered a batch with something other than a multipart body', true);
  }
  const maxPart = options.maxPartBytes ?? BATCH_PARSE_DEFAULTS.maxPartBytes;
  const maxTotal = options.maxTotalBytes ?? BATCH_PARSE_DEFAULTS.maxTotalBytes;
  const delimiter = Buffer.from(`\n--${boundary}`, 'latin1');
  const sink = new PartSink(maxPart + 1);
  let state: 'preamble' | 'part' = 'preamble';
  let parts = 0;
  let total = 0;
  // The first delimiter may open the body with no line break before it.
  let tail = Buffer.from('\n');
  let carry = 0;
  let ended = false;
  const source = chunksOf(body);
  try {
    while (!ended) {
      // By hand, not throwIfAborted(): a ponyfill signal may lack it.
      if (options.signal?.aborted) throw options.signal.reason;
      const next = await source.next();
      if (options.signal?.aborted) throw options.signal.reason;
      let chunk: Buffer;
      if (next.done) {
        ended = true;
        // A close delimiter may end the body with no line break after it.
        chunk = Buffer.from('\n');
      } else {
        chunk = next.value;
        total += chunk.length;
        if (total > maxTotal) throw malformedAnswer(`Gmail's batch answer is larger than ${maxTotal} bytes`, false);
      }
      const data = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk;
      // Bytes before `pos` are consumed; the search starts at `from`, which may be one byte earlier
      // (the LF that ends a delimiter line may begin the next delimiter).
      let pos = carry;
      let from = 0;
      carry = 0;
      for (;;) {
        const i = data.indexOf(delimiter, from);
        if (i < 0) {
          // Keep what may be the start of a delimiter split across chunks.
          const t = Math.max(from, data.length - (delimiter.length - 1));
          if (state === 'part' && t > pos) sink.push(data.subarray(pos, t));
          tail = Buffer.from(data.subarray(t));
          carry = Math.max(0, pos - t);
          break;
        }
        const verdict = classify(data, i + delimiter.length);
        if (verdict.kind === 'no') {
          from = i + 1;
          continue;
        }
        if (state === 'part' && i > pos) sink.push(data.subarray(pos, i));
        if (verdict.kind === 'more') {
          tail = Buffer.from(data.subarray(i));
          carry = Math.max(0, pos - i);
          break;
        }
        if (state === 'part') {
          parts++;
          yield readPart(sink, maxPart);
        }
        if (verdict.kind === 'close') return;
        state = 'part';
        sink.reset();
        pos = verdict.lineEnd + 1;
        from = verdict.lineEnd;
      }
    }
  } finally {
    // Stop the body when the reader stops early (close delimiter, an error, a consumer that breaks).
    await source.return(undefined);
  }
  throw parts === 0
    ? malformedAnswer("Gmail's batch answer holds no part", true)
    : malformedAnswer("Gmail's batch answer was cut before its end", true);
}

/** Parses the bytes of one complete part (its MIME headers, then the inner HTTP response). */
function readPart(sink: PartSink, maxPart: number): BatchPart {
  const tooLarge = sink.offered > maxPart;
  const bytes = sink.take();
  let at = 0;
  let mime: Record<string, string> = {};
  // Lenient: a part that starts right with the status line has no MIME headers.
  if (!bytes.subarray(0, 5).equals(Buffer.from('HTTP/'))) {
    const head = readHead(bytes, 0);
    if (!head) return unreadable(null, 'A part of Gmail\'s batch answer has unreadable headers');
    mime = headerRecord(head.lines);
    at = head.next;
  }
  const contentId = mime['content-id'] ? mime['content-id'].trim().replace(/^<(.*)>$/, '$1') : null;
  if (tooLarge) return unreadable(contentId, `A part of Gmail's batch answer is larger than ${maxPart} bytes`, false);
  const http = readHead(bytes, at);
  const status = http ? /^HTTP\/\d+(?:\.\d+)?[ \t]+(\d{3})(?:[ \t]|$)/.exec(http.lines[0] ?? '') : null;
  if (!http || !status) return unreadable(contentId, "A part of Gmail's batch answer has no HTTP status line");
  const headers = headerRecord(http.lines.slice(1));
  const text = bytes.toString('utf8', http.next);
  return { contentId, status: Number(status[1]), headers, body: readBody(text, headers['content-type']) };
}

function unreadable(contentId: string | null, message: string, retryable = true): BatchPart {
  return { contentId, status: 0, headers: {}, body: null, failure: malformedAnswer(message, retryable) };
}

/** Header lines from `start` up to the first empty line (LF or CRLF), within 64 KiB; null when there is none. */
function readHead(bytes: Buffer, start: number): { lines: string[]; next: number } | null {
  const lines: string[] = [];
  let at = start;
  const limit = Math.min(bytes.length, start + MAX_HEAD_BYTES);
  while (at < limit) {
    const nl = bytes.indexOf(0x0a, at);
    if (nl < 0 || nl >= limit) {
      // The part may end with its head (e.g. "HTTP/1.1 304 Not Modified" and nothing after).
      if (bytes.length > limit) return null;
      lines.push(bytes.toString('latin1', at));
      return { lines, next: bytes.length };
    }
    const end = nl > at && bytes[nl - 1] === 0x0d ? nl - 1 : nl;
    if (end === at) return { lines, next: nl + 1 };
    lines.push(bytes.toString('latin1', at, end));
    at = nl + 1;
  }
  return at >= bytes.length ? { lines, next: bytes.length } : null;
}

/** Header lines to a record with lower-case names; folded lines joined, lines without a colon skipped. */
function headerRecord(lines: readonly string[]): Record<string, string> {
  const record: Record<string, string> = Object.create(null) as Record<string, string>;
  let last: string | null = null;
  for (const line of lines) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && last !== null) {
      record[last] = `${record[last]} ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) {
      last = null;
      continue;
    }
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    record[name] = name in record ? `${record[name]}, ${value}` : value;
    last = name;
  }
  return record;
}

function readBody(text: string, contentType: string | undefined): unknown {
  if (text.trim() === '') return null;
  if ((contentType && /json/i.test(contentType)) || /^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

/**
 * Reads a whole batch answer into one result per call, in request order, matched by Content-ID
 * (`response-item-N` answers `item-N`; a part without Content-ID fills its own position). A part
 * with status >= 400 becomes that item's error through the Gmail mapping (`errors.ts`: a 429 part
 * is PROVIDER_THROTTLED, a 5xx part PROVIDER_UNAVAILABLE, ...); a call with no answer, an unreadable
 * part, or an answer cut before the call's part, becomes PROVIDER_UNAVAILABLE (kind `malformed`,
 * retryable). Unknown or repeated Content-IDs are ignored.
 * @param contentIds the `contentIds` of {@link encodeBatch}
 * @throws the signal's reason when it aborts; a malformed answer of {@link parseBatchResponse} is
 *   put on every unanswered item instead of thrown
 */
export async function collectBatchResponse(
  contentType: string | null,
  body: BatchBody,
  contentIds: readonly string[],
  options: BatchParseOptions = {},
): Promise<BatchItemResult[]> {
  const index = new Map(contentIds.map((id, i) => [id, i]));
  const results: (BatchItemResult | undefined)[] = new Array<BatchItemResult | undefined>(contentIds.length);
  let ordinal = 0;
  let unanswered: GatewayError = malformedAnswer("Gmail's batch answer has no part for this call", true);
  try {
    for await (const part of parseBatchResponse(contentType, body, options)) {
      const position = ordinal++;
      let i: number | undefined;
      if (part.contentId === null) i = position < results.length ? position : undefined;
      else i = index.get(part.contentId.replace(/^response-/, ''));
      if (i === undefined || results[i] !== undefined) continue;
      if (part.failure) results[i] = { ok: false, error: part.failure };
      else if (part.status >= 200 && part.status < 300) results[i] = { ok: true, status: part.status, headers: part.headers, body: part.body };
      else results[i] = { ok: false, status: part.status, error: mapGmailAnswer({ status: part.status, body: part.body, headers: part.headers }) };
    }
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    // A cut or refused stream (ECONNRESET, undici "terminated") fails only the calls not yet answered.
    unanswered = mapGmailError(error);
  }
  return Array.from(results, (result) => result ?? { ok: false, error: unanswered });
}
