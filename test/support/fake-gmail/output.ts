/**
 * How the fake's answers leave: gzip-compressed when the client asks as googleapis does
 * (`Accept-Encoding: gzip` and a User-Agent containing `gzip`, per
 * https://developers.google.com/gmail/api/guides/performance#gzip), written with backpressure,
 * and cut or withheld when a fault says so.
 */
import type http from 'node:http';
import zlib from 'node:zlib';
import type { ApiReply, StreamBody } from './api.ts';

/** An answer with the faults that apply to its delivery. */
export type Reply = ApiReply & { cutAfter?: number; hang?: boolean };

/** True when Google would gzip the answer to a request with these (lower-cased) headers. */
export function wantsGzip(headers: Record<string, string>): boolean {
  return /\bgzip\b/i.test(headers['accept-encoding'] ?? '') && /gzip/i.test(headers['user-agent'] ?? '');
}

/**
 * The bytes of one answer on their way to the socket: gzip-compressed when chosen, written with
 * backpressure, and cut (socket destroyed) on demand.
 */
export class Out {
  private readonly gz: zlib.Gzip | null;
  readonly gzip: boolean;

  constructor(
    private readonly res: http.ServerResponse,
    level: number | null,
  ) {
    this.gzip = level !== null;
    this.gz = level === null ? null : zlib.createGzip({ level, chunkSize: 128 * 1024 });
    this.gz?.on('error', () => res.destroy());
  }

  /** Sends the status line and headers; Content-Length only when the bytes go uncompressed. */
  head(status: number, headers: Record<string, string>, length: number | null): void {
    const h: Record<string, string> = { ...headers };
    if (this.gz) h['content-encoding'] = 'gzip';
    else if (length !== null) h['content-length'] = String(length);
    this.res.writeHead(status, h);
    if (this.gz) this.gz.pipe(this.res);
  }

  /** Writes one chunk; false when the connection is gone. */
  write(chunk: Buffer): Promise<boolean> {
    const target = this.gz ?? this.res;
    if (this.res.destroyed) return Promise.resolve(false);
    if (target.write(chunk)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        target.off('drain', onDrain);
        this.res.off('close', onClose);
        resolve(ok);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      target.on('drain', onDrain);
      this.res.on('close', onClose);
    });
  }

  /** Ends the answer. */
  async end(): Promise<void> {
    if (this.gz) this.gz.end();
    else this.res.end();
  }

  /** Lets the bytes written so far leave, then destroys the socket: the client sees a short body. */
  async cut(): Promise<void> {
    if (this.gz) await new Promise<void>((resolve) => this.gz!.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    await new Promise((resolve) => setTimeout(resolve, 20));
    this.res.destroy();
  }
}

/** Writes a body, cutting the connection after `cutAfter` body bytes (before compression) when set. False when cut or gone. */
export async function writeBody(out: Out, body: Buffer | StreamBody, cutAfter?: number): Promise<boolean> {
  let left = cutAfter ?? Infinity;
  const chunks = Buffer.isBuffer(body) ? [body] : body.chunks();
  for (const chunk of chunks) {
    const piece = chunk.length > left ? chunk.subarray(0, left) : chunk;
    if (piece.length > 0 && !(await out.write(piece))) return false;
    left -= piece.length;
    if (left <= 0) break;
  }
  if (cutAfter !== undefined) {
    await out.cut();
    return false;
  }
  return true;
}

/** Sends a whole answer (nothing for a hang). */
export async function send(out: Out, reply: Reply): Promise<void> {
  if (reply.hang) return; // never answered; the client's deadline or close() ends it
  const length = Buffer.isBuffer(reply.body) ? reply.body.length : reply.body.length;
  out.head(reply.status, reply.headers, length);
  if (await writeBody(out, reply.body, reply.cutAfter)) await out.end();
}
