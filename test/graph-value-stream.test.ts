/**
 * The Readable over a Graph `$value` body (`GraphValueStream`): chunks already waiting are joined
 * into fewer, larger pushes (one socket write each downstream), bytes of a slow upstream are
 * passed on at once, the upstream is read only as fast as the consumer reads, and a silent,
 * short or long upstream fails the stream with PROVIDER_UNAVAILABLE.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { COALESCE_BYTES, GraphValueStream } from '../src/providers/microsoft-graph/value-stream.ts';

const KIB = 1024;

/** A body that hands out `chunks` on demand (as fetch does, one per pull), counting the pulls. */
function body(chunks: Uint8Array[]): { stream: ReadableStream<Uint8Array>; pulls: () => number; cancelled: () => boolean } {
  let at = 0;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (at < chunks.length) controller.enqueue(chunks[at++]!);
        else controller.close();
      },
      cancel() {
        cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulls: () => at, cancelled: () => cancelled };
}

/** The stream's pushes as they came ('data' events of a flowing stream: one per push). */
function readAll(stream: GraphValueStream): Promise<Buffer[]> {
  const out: Buffer[] = [];
  return new Promise((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => out.push(chunk));
    stream.once('end', () => resolve(out));
    stream.once('error', reject);
  });
}

describe('GraphValueStream', () => {
  it('joins 16 KiB chunks into pushes of up to COALESCE_BYTES, byte-exact', async () => {
    const bytes = randomBytes(4 * 1024 * KIB + 123);
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < bytes.length; at += 16 * KIB) chunks.push(bytes.subarray(at, at + 16 * KIB));
    let closed = 0;
    const stream = new GraphValueStream(body(chunks).stream, { expectedSize: bytes.length, onClose: () => closed++ });
    const out = await readAll(stream);
    expect(Buffer.concat(out).equals(bytes)).toBe(true);
    expect(Math.max(...out.map((c) => c.length))).toBe(COALESCE_BYTES);
    expect(out.length).toBeLessThanOrEqual(Math.ceil(bytes.length / COALESCE_BYTES) + 2);
    expect(closed).toBe(1);
  });

  it('passes on the bytes of a slow upstream at once instead of holding them for a fuller push', async () => {
    let next: ((chunk: Uint8Array) => void) | undefined;
    const upstream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(Buffer.from('first'));
        next = (chunk) => controller.enqueue(chunk);
      },
    });
    const stream = new GraphValueStream(upstream, { expectedSize: null });
    const first = await new Promise<Buffer>((resolve) => stream.once('data', resolve));
    expect(first.toString()).toBe('first');
    const second = new Promise<Buffer>((resolve) => stream.once('data', resolve));
    next!(Buffer.from('second'));
    expect((await second).toString()).toBe('second');
    stream.destroy();
  });

  it('reads the upstream only as far as the consumer takes (a bounded read-ahead), and a destroy cancels it', async () => {
    const chunks = Array.from({ length: 1024 }, () => new Uint8Array(16 * KIB));
    const source = body(chunks);
    const stream = new GraphValueStream(source.stream, { expectedSize: 1024 * 16 * KIB });
    stream.pause();
    stream.read(0);
    await new Promise((r) => setTimeout(r, 200));
    // 16 MiB are there to read; what was read ahead stays within the buffer and one held push.
    expect(source.pulls() * 16 * KIB).toBeLessThanOrEqual(stream.readableHighWaterMark + 2 * COALESCE_BYTES);
    expect(source.pulls()).toBeGreaterThan(0);
    stream.destroy();
    await new Promise((r) => setImmediate(r));
    expect(source.cancelled()).toBe(true);
  });

  it('fails with PROVIDER_UNAVAILABLE when the upstream is silent for idleTimeoutMs, short of its length, or longer', async () => {
    const silent = new GraphValueStream(new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(Buffer.from('a')) }), { expectedSize: 10, idleTimeoutMs: 150 });
    await expect(readAll(silent)).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE', message: expect.stringContaining('sent nothing for 150 ms') });
    const short = new GraphValueStream(body([Buffer.from('abc')]).stream, { expectedSize: 4 });
    await expect(readAll(short)).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE', message: expect.stringContaining('ended the attachment early') });
    const long = new GraphValueStream(body([Buffer.from('abcde')]).stream, { expectedSize: 4 });
    await expect(readAll(long)).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE', message: expect.stringContaining('more bytes') });
  });

  it('keeps reading while bytes keep coming: the idle timer counts silence, not the whole transfer', async () => {
    let sent = 0;
    const upstream = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          await new Promise((r) => setTimeout(r, 40));
          if (sent++ < 8) controller.enqueue(Buffer.from('x'));
          else controller.close();
        },
      },
      { highWaterMark: 0 },
    );
    // 8 bytes 40 ms apart: 320 ms in all, longer than the 150 ms idle timeout.
    const out = await readAll(new GraphValueStream(upstream, { expectedSize: 8, idleTimeoutMs: 150 }));
    expect(Buffer.concat(out).toString()).toBe('xxxxxxxx');
  });
});
