/**
 * The decoded bytes of a Gmail attachment, streamed from the answer of
 * `users.messages.attachments.get` (`GET /gmail/v1/users/{userId}/messages/{messageId}/attachments/{id}`,
 * https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages.attachments/get)
 * as its body arrives: the JSON `MessagePartBody` is scanned by {@link AttachmentJsonScanner} and
 * the base64url of its `data` decoded on the fly, so memory stays flat at any size and the first
 * bytes leave before the upstream answer has ended.
 *
 * - {@link openAttachmentBody} takes the whole answer (status, headers, body): an error status is
 *   read (at most {@link MAX_ERROR_BODY_BYTES}) and mapped by `mapGmailAnswer` (errors.ts), and
 *   it resolves only once the `data` string has begun, so a provider can still answer a clean
 *   404/503 (and re-read an expired `attachmentId`) before the download route sends headers.
 * - {@link AttachmentBodyStream} is the Readable of decoded bytes. It pulls the upstream body only
 *   as fast as it is read (a consumer that stops reading stops the upstream reads: back-pressure
 *   by pull), destroying it cancels the upstream body (the socket is released), the request's
 *   `signal` destroys it with the signal's reason, and an upstream silent for `idleTimeoutMs`
 *   fails it. Every failure is a GatewayError (upstream errors become PROVIDER_UNAVAILABLE).
 * - It never ends cleanly unless the whole JSON object arrived and the sizes agree: the last
 *   decoded piece is held back until then, so a body cut after the `data` string (or with a
 *   wrong `size`) cuts the client's transfer before its last byte instead of looking complete.
 *
 * With googleapis, ask for the raw answer so that one retry policy and one error mapping apply:
 * `gmail.users.messages.attachments.get({ userId, messageId, id }, { responseType: 'stream',
 * validateStatus: () => true, retry: false, signal })` gives `{ status, headers, data }` with
 * `headers` a `Headers` and `data` a Node PassThrough (gaxios 7 uses node-fetch on Node, which
 * also undoes gzip; destroying `data` closes the connection); pass `{ status, headers, body: data }`.
 * Without `validateStatus`, gaxios reads a whole error body itself, unbounded.
 */
import { MAX_ERROR_BODY_BYTES } from '../../upstream/body.ts';
import { Readable } from 'node:stream';
import { ErrorCode, GatewayError, isGatewayError } from '../../errors.ts';
import { AttachmentJsonScanner } from './attachment-json.ts';
import { headerValue, mapGmailAnswer, type HeadersLike } from './errors.ts';

/** The upstream body: a web ReadableStream (fetch's `Response.body`, gaxios' stream) or a Node Readable. */
export type UpstreamBody = ReadableStream<Uint8Array> | Readable;

/** Header values as fetch's `Headers` or Node's incoming headers. */
export type UpstreamHeaders = HeadersLike;


/** Default of {@link AttachmentBodyOptions.idleTimeoutMs}. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

/** Options of {@link AttachmentBodyStream} and {@link openAttachmentBody}. */
export interface AttachmentBodyOptions {
  /** The decoded size expected (the part's `body.size` from messages.get), bytes; checked exactly. */
  expectedSize?: number | null;
  /** The request's signal: aborting it destroys the stream with `signal.reason` and cancels the upstream body. */
  signal?: AbortSignal;
  /** Fail (PROVIDER_UNAVAILABLE) when the upstream sends nothing for this long while bytes are wanted, ms; 0 = never. */
  idleTimeoutMs?: number;
  /** The HTTP status of the answer, to map a JSON error body (default 200). */
  status?: number;
  /** The answer's `Retry-After` header, to map a JSON error body. */
  retryAfter?: string | null;
  /** Most bytes of the body outside the content of `data`, default 1 MiB (see `AttachmentJsonScanner`). */
  maxOverheadBytes?: number;
}

/** A `users.messages.attachments.get` answer, as fetch or gaxios hand it over. */
export interface AttachmentResponse {
  status: number;
  headers?: UpstreamHeaders | null;
  body: UpstreamBody | null;
}

/** A pull-based reader over either kind of body. */
interface Source {
  /** The next chunk, or null at the end; rejects when the body fails. */
  next(): Promise<Buffer | null>;
  /** Stops the body and releases its connection; a pending `next` settles. */
  cancel(): void;
}

function sourceOf(body: UpstreamBody): Source {
  if (body instanceof Readable) {
    const iterator = body[Symbol.asyncIterator]();
    return {
      async next() {
        const { done, value } = (await iterator.next()) as IteratorResult<Buffer | string>;
        if (done) return null;
        return typeof value === 'string' ? Buffer.from(value) : value;
      },
      cancel() {
        body.destroy();
      },
    };
  }
  const reader = body.getReader();
  return {
    async next() {
      const { done, value } = await reader.read();
      if (done) return null;
      return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    },
    cancel() {
      reader.cancel().catch(() => {});
    },
  };
}

function upstreamFailure(error: unknown): GatewayError {
  if (isGatewayError(error)) return error;
  return new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'The Gmail attachment download broke off upstream', { cause: error });
}

/** `source.next()`, failing with PROVIDER_UNAVAILABLE after `idleMs` without a chunk (0 = no limit). */
async function nextWithin(source: Source, idleMs: number): Promise<Buffer | null> {
  if (idleMs <= 0) return source.next();
  let timer: NodeJS.Timeout | undefined;
  const idle = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, `Gmail sent nothing for ${idleMs} ms during an attachment download`)), idleMs);
  });
  try {
    return await Promise.race([source.next(), idle]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The decoded bytes of one attachments.get body (see the module docs). Reading starts with the
 * first `read` (or {@link ready}); errors are GatewayErrors, or the signal's reason.
 */
export class AttachmentBodyStream extends Readable {
  readonly #source: Source;
  readonly #scanner: AttachmentJsonScanner;
  readonly #idleMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: () => void;
  #pulling = false;
  /** The last decoded piece, held back until the body is known to be whole. */
  #pending: Buffer | null = null;
  #full = false;
  #ready: { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void; settled: boolean };

  constructor(body: UpstreamBody, options: AttachmentBodyOptions = {}) {
    super({ highWaterMark: 64 * 1024 });
    this.#source = sourceOf(body);
    this.#scanner = new AttachmentJsonScanner({
      expectedSize: options.expectedSize ?? null,
      status: options.status ?? 200,
      retryAfter: options.retryAfter ?? null,
      ...(options.maxOverheadBytes === undefined ? {} : { maxOverheadBytes: options.maxOverheadBytes }),
    });
    this.#idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {}); // the stream's 'error' event reports it too
    this.#ready = { promise, resolve, reject, settled: false };
    this.#signal = options.signal;
    this.#onAbort = () => this.destroy(this.#signal!.reason instanceof Error ? this.#signal!.reason : new Error('aborted'));
    if (this.#signal?.aborted) this.#onAbort();
    else this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** The body's `size` member once read (null before, or when absent), bytes. */
  get declaredSize(): number | null {
    return this.#scanner.declaredSize;
  }

  /**
   * Starts reading and resolves once the `data` string has begun (or the body ended without
   * one); rejects with the stream's error (mapped error body, malformed prefix, upstream failure).
   */
  ready(): Promise<void> {
    if (!this.#pulling && !this.destroyed && !this.#ready.settled) void this.#pull();
    return this.#ready.promise;
  }

  override _read(): void {
    if (!this.#pulling) void this.#pull();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#source.cancel();
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#settle(error ?? new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'The Gmail attachment download was stopped'));
    callback(error);
  }

  #settle(error?: Error): void {
    if (this.#ready.settled) return;
    this.#ready.settled = true;
    if (error) this.#ready.reject(error);
    else this.#ready.resolve();
  }

  async #pull(): Promise<void> {
    this.#pulling = true;
    try {
      while (!this.destroyed) {
        const chunk = await nextWithin(this.#source, this.#idleMs);
        if (this.destroyed) return;
        if (chunk === null) {
          this.#scanner.end();
          if (this.#pending) this.push(this.#pending);
          this.#pending = null;
          this.#settle();
          this.push(null);
          return;
        }
        for (const piece of this.#scanner.write(chunk)) this.#hand(piece);
        if (this.#scanner.dataStarted) this.#settle();
        if (this.#full) {
          this.#full = false;
          return;
        }
      }
    } catch (error) {
      if (!this.destroyed) this.destroy(this.#signal?.aborted && this.#signal.reason instanceof Error ? this.#signal.reason : upstreamFailure(error));
    } finally {
      this.#pulling = false;
    }
  }

  /** Pushes the piece held back and holds this one; notes when the consumer's buffer is full. */
  #hand(piece: Buffer): void {
    if (this.#pending && !this.push(this.#pending)) this.#full = true;
    this.#pending = piece;
  }
}

/** Reads at most `max` bytes of `source` as text; null when there were more (then the body is cancelled). */
async function readBounded(source: Source, max: number, idleMs: number): Promise<string | null> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = await nextWithin(source, idleMs);
    if (chunk === null) return Buffer.concat(chunks).toString('utf8');
    total += chunk.length;
    if (total > max) {
      source.cancel();
      return null;
    }
    chunks.push(Buffer.from(chunk));
  }
}

/**
 * Opens the decoded bytes of an attachments.get answer: resolves with the stream once the
 * `data` string has begun.
 * @throws GmailApiError (a GatewayError) for an error status or an `{"error":...}` body, mapped
 *   as in errors.ts (NOT_FOUND with `invalidAttachmentId` for an expired id, PROVIDER_THROTTLED
 *   with `retryAfter`, PROVIDER_AUTH_FAILED, PROVIDER_UNAVAILABLE); GatewayError
 *   PROVIDER_UNAVAILABLE for a malformed or cut body; the signal's reason when it aborts
 */
export async function openAttachmentBody(response: AttachmentResponse, options: AttachmentBodyOptions = {}): Promise<AttachmentBodyStream> {
  const { signal } = options;
  const retryAfter = headerValue(response.headers, 'retry-after');
  const idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  if (response.status < 200 || response.status >= 300) {
    const source = response.body ? sourceOf(response.body) : null;
    const onAbort = () => source?.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    let text: string | null = null;
    try {
      signal?.throwIfAborted();
      text = source ? await readBounded(source, MAX_ERROR_BODY_BYTES, idleMs) : null;
    } catch (error) {
      source?.cancel();
      if (signal?.aborted) throw signal.reason;
      if (isGatewayError(error)) throw error;
      // An error body that broke off still has its status to map.
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    let body: unknown = null;
    try {
      body = text === null ? null : JSON.parse(text);
    } catch {
      // Not JSON (a proxy's HTML page): the status decides.
    }
    throw mapGmailAnswer({ status: response.status, body, headers: response.headers });
  }
  if (!response.body) throw new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'Gmail sent an attachment answer without a body');
  const stream = new AttachmentBodyStream(response.body, { ...options, status: response.status, retryAfter });
  // Until it is handed over, a failure is this function's rejection, not an unheard 'error'
  // event (emitted on a later tick, so the listener stays on a stream that failed).
  const unheard = (): void => {};
  stream.on('error', unheard);
  await stream.ready();
  stream.off('error', unheard);
  return stream;
}
