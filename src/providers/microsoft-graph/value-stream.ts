/**
 * The bytes of an attachment's `$value` answer as a Node Readable, passed straight through: the
 * upstream body is read only as fast as the consumer reads (back-pressure by pull), nothing is
 * kept beyond the chunk in hand, so memory stays flat at any size.
 *
 * - It ends cleanly only when the upstream body ended and, when the answer had a
 *   `Content-Length`, exactly that many bytes came: a body cut upstream (or short) destroys the
 *   stream with PROVIDER_UNAVAILABLE, so the client's transfer is cut too, never a short file that
 *   looks complete.
 * - Destroying it (the client went away) cancels the upstream body, which releases its
 *   connection; the request's `signal` destroys it with the signal's reason; an upstream silent
 *   for `idleTimeoutMs` while bytes are wanted fails it.
 * - `onClose` runs once when the stream is done either way (the mailbox slot is released there).
 *
 * Why it coalesces: fetch hands a TLS body over in 16 KiB chunks (one TLS record each), and
 * passing each on alone costs a socket write (and a wake-up of the client) per 16 KiB — on
 * loopback that halved the gateway's MB/s against a direct `$value` read. Chunks that are already
 * waiting are joined into one push of up to {@link COALESCE_BYTES}; what arrived is pushed as soon
 * as the next chunk is not already there (a `setImmediate`, after the pending I/O callbacks), so
 * a slow upstream's bytes are never held back.
 */
import { Readable } from 'node:stream';
import { ErrorCode, GatewayError, isGatewayError } from '../../errors.ts';

/** Default of {@link ValueStreamOptions.idleTimeoutMs}. */
export const DEFAULT_VALUE_IDLE_TIMEOUT_MS = 30_000;
/** Most bytes joined into one push, bytes. */
export const COALESCE_BYTES = 256 * 1024;
/** Bytes buffered ahead of the consumer before reading upstream pauses. */
const HIGH_WATER_MARK = 512 * 1024;

/** Options of {@link GraphValueStream}. */
export interface ValueStreamOptions {
  /** The answer's Content-Length, bytes; null when it sent none (chunked). */
  expectedSize: number | null;
  /** The request's signal: aborting it destroys the stream with its reason. */
  signal?: AbortSignal;
  /** Fail when the upstream sends nothing for this long while bytes are wanted, ms; 0 = never. Default 30,000. */
  idleTimeoutMs?: number;
  /** Called once when the stream ends, fails or is destroyed. */
  onClose?: () => void;
}

/** A pull-based Readable over a fetch `Response.body`. */
export class GraphValueStream extends Readable {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #expected: number | null;
  readonly #idleMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: () => void;
  #onClose: (() => void) | undefined;
  #received = 0;
  /** A `read()` of the upstream body is outstanding. */
  #reading = false;
  /** The consumer wants more (false once a push answered false, until `_read` again). */
  #wanted = false;
  /** The upstream body ended (its last read answered `done`). */
  #ended = false;
  readonly #held: Buffer[] = [];
  #heldBytes = 0;
  #flushSoon: NodeJS.Immediate | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(body: ReadableStream<Uint8Array>, options: ValueStreamOptions) {
    super({ highWaterMark: HIGH_WATER_MARK });
    this.#reader = body.getReader();
    this.#expected = options.expectedSize;
    this.#idleMs = options.idleTimeoutMs ?? DEFAULT_VALUE_IDLE_TIMEOUT_MS;
    this.#signal = options.signal;
    this.#onClose = options.onClose;
    this.#onAbort = () => this.destroy(this.#signal?.reason instanceof Error ? this.#signal.reason : new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'The download was stopped'));
    if (this.#signal?.aborted) queueMicrotask(this.#onAbort);
    else this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  override _read(): void {
    this.#wanted = true;
    if (!this.#reading && !this.#ended) this.#pull();
  }

  /** One read of the upstream body, under the idle timer (one timer, refreshed, not one per chunk). */
  #pull(): void {
    this.#reading = true;
    if (this.#idleMs > 0) {
      if (this.#timer) this.#timer.refresh();
      else this.#timer = setTimeout(() => this.destroy(new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, `Microsoft Graph sent nothing for ${this.#idleMs} ms`)), this.#idleMs);
    }
    this.#reader.read().then(
      (result) => this.#onChunk(result),
      (error: unknown) => {
        this.#reading = false;
        this.#stopTimer();
        if (this.destroyed) return;
        this.destroy(isGatewayError(error) ? error : new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'Microsoft Graph cut the attachment transfer', { cause: error }));
      },
    );
  }

  #onChunk({ done, value }: ReadableStreamReadResult<Uint8Array>): void {
    this.#reading = false;
    if (this.destroyed) return;
    if (done) {
      this.#ended = true;
      this.#stopTimer();
      if (this.#expected !== null && this.#received !== this.#expected) {
        this.destroy(new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'Microsoft Graph ended the attachment early'));
        return;
      }
      this.#flush();
      this.push(null);
      return;
    }
    this.#received += value.byteLength;
    if (this.#expected !== null && this.#received > this.#expected) {
      this.destroy(new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'Microsoft Graph sent more bytes than it announced'));
      return;
    }
    this.#held.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    this.#heldBytes += value.byteLength;
    if (this.#heldBytes >= COALESCE_BYTES) this.#flush();
    else this.#flushSoon ??= setImmediate(() => this.#flush());
    if (this.destroyed || this.#reading) return;
    if (this.#wanted) this.#pull();
    else this.#stopTimer();
  }

  /** Pushes the held chunks as one Buffer. */
  #flush(): void {
    if (this.#flushSoon) clearImmediate(this.#flushSoon);
    this.#flushSoon = undefined;
    if (this.#heldBytes === 0 || this.destroyed) return;
    const chunk = this.#held.length === 1 ? this.#held[0]! : Buffer.concat(this.#held, this.#heldBytes);
    this.#held.length = 0;
    this.#heldBytes = 0;
    this.#wanted = this.push(chunk);
    // Reading stopped for back-pressure while bytes were held: resume if the consumer still wants more.
    if (this.#wanted && !this.#reading && !this.#ended) this.#pull();
  }

  #stopTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#stopTimer();
    if (this.#flushSoon) clearImmediate(this.#flushSoon);
    this.#flushSoon = undefined;
    this.#held.length = 0;
    this.#heldBytes = 0;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#reader.cancel().catch(() => {});
    const onClose = this.#onClose;
    this.#onClose = undefined;
    onClose?.();
    callback(error);
  }
}
