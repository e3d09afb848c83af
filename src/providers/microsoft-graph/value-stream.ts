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
 */
import { Readable } from 'node:stream';
import { ErrorCode, GatewayError, isGatewayError } from '../../errors.ts';

/** Default of {@link ValueStreamOptions.idleTimeoutMs}. */
export const DEFAULT_VALUE_IDLE_TIMEOUT_MS = 30_000;

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
  #reading = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(body: ReadableStream<Uint8Array>, options: ValueStreamOptions) {
    super({ highWaterMark: 64 * 1024 });
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
    if (this.#reading) return;
    this.#reading = true;
    if (this.#idleMs > 0) {
      this.#timer = setTimeout(() => this.destroy(new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, `Microsoft Graph sent nothing for ${this.#idleMs} ms`)), this.#idleMs);
    }
    this.#reader.read().then(
      ({ done, value }) => {
        clearTimeout(this.#timer);
        this.#reading = false;
        if (this.destroyed) return;
        if (done) {
          if (this.#expected !== null && this.#received !== this.#expected) {
            this.destroy(new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'Microsoft Graph ended the attachment early'));
            return;
          }
          this.push(null);
          return;
        }
        this.#received += value.byteLength;
        if (this.#expected !== null && this.#received > this.#expected) {
          this.destroy(new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'Microsoft Graph sent more bytes than it announced'));
          return;
        }
        if (this.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength))) this._read();
      },
      (error: unknown) => {
        clearTimeout(this.#timer);
        this.#reading = false;
        if (this.destroyed) return;
        this.destroy(isGatewayError(error) ? error : new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'Microsoft Graph cut the attachment transfer', { cause: error }));
      },
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.#timer);
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#reader.cancel().catch(() => {});
    const onClose = this.#onClose;
    this.#onClose = undefined;
    onClose?.();
    callback(error);
  }
}
