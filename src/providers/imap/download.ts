/**
 * Streaming one MIME part's decoded bytes from IMAP.
 *
 * Pipeline: partial fetches `UID FETCH uid BODY.PEEK[part]<offset.length>` of {@link CHUNK_BYTES}
 * each (the raw literal arrives far faster than imapflow's `download()` decodes it) → the shared
 * Content-Transfer-Encoding decoder (`src/mime/decode.ts`, Node's native base64) → consumer.
 *
 * The fetches are pipelined: up to {@link MAX_AHEAD} chunks are asked ahead of the consumer (sent
 * or queued in imapflow's command queue, or fetched and waiting), so imapflow writes the next
 * FETCH the moment the previous one completes and the server never waits for our decoding or for
 * the consumer; a chunk is asked only while fewer than {@link MAX_AHEAD} are fetched-but-unread,
 * so memory stays near a few chunks whatever the part's size (back-pressure reaches the server).
 * The pooled connection is held for the stream's life and returned when it ends or is destroyed,
 * after the FETCHes already sent have completed (never mid-literal).
 */
import { Readable, pipeline } from 'node:stream';
import type { Transform } from 'node:stream';
import { createTransferDecoder } from '../../mime/decode.ts';
import type { Lease } from './pool.ts';
import { atom, execRaw, fetchItems, sequence, tokenBuffer } from './raw.ts';
import { mapImapError } from './errors.ts';
import { notFound } from '../../errors.ts';

/**
 * Size of one partial fetch, in bytes of encoded content. With {@link MAX_AHEAD} it was chosen by
 * `npm run bench` (100 MiB part, loopback Dovecot): 2 MiB × 3 ran at ~465 MB/s with ~36 MiB peak
 * RSS growth; 8 MiB × 2 at ~290 MB/s with ~52 MiB (large buffers cost more in GC than they save
 * in round trips).
 */
export const CHUNK_BYTES = 2 * 1024 * 1024;

/** Most chunks asked (in flight or queued) or fetched but not yet read by the consumer. */
export const MAX_AHEAD = 3;

async function fetchChunk(lease: Lease, uid: number, partId: string, offset: number, length: number): Promise<Buffer | null> {
  let body: Buffer | null = null;
  await execRaw(lease.client, 'UID FETCH', [sequence(String(uid)), [atom('UID'), atom('BODY.PEEK', [atom(partId)], [offset, length])]], 'FETCH', (untagged) => {
    for (const [name, value] of fetchItems(untagged)) {
      if (name.startsWith(`BODY[${partId}]`)) body = tokenBuffer(value) ?? Buffer.alloc(0);
    }
  });
  return body;
}

/** One asked chunk, settled in the order asked (one connection answers in order). */
interface Slot {
  settled: boolean;
  data: Buffer | null;
  error: unknown;
}

/**
 * Opens the decoded stream of part `partId` of message `uid` in the folder selected on the lease.
 * The first chunk is fetched before returning, so a message that is gone fails here.
 * @param encoding the part's Content-Transfer-Encoding (null: identity)
 * @throws GatewayError NOT_FOUND when the message does not exist; PROVIDER_* codes
 */
export async function openPartStream(lease: Lease, uid: number, partId: string, encoding: string | null, chunkBytes = CHUNK_BYTES): Promise<Transform> {
  let first: Buffer | null;
  try {
    first = await fetchChunk(lease, uid, partId, 0, chunkBytes);
  } catch (error) {
    lease.release(!lease.client.usable);
    throw mapImapError(error);
  }
  if (first === null) {
    lease.release();
    throw notFound('Attachment');
  }

  let nextOffset = first.length;
  /** The last chunk (shorter than asked) has arrived, or the stream failed: ask nothing more. */
  let finished = first.length < chunkBytes;
  /** Fetched chunks not yet handed to the stream, oldest first. */
  const ready: Buffer[] = first.length ? [first] : [];
  /** Asked chunks, oldest first. */
  const slots: Slot[] = [];
  let wanted = false;
  let ended = false;
  let released = false;
  const release = (broken = false): void => {
    if (released) return;
    released = true;
    lease.release(broken);
  };

  const source = new Readable({
    highWaterMark: 1,
    read() {
      wanted = true;
      flow();
    },
    destroy(error, callback) {
      finished = true;
      ready.length = 0;
      // Return the connection only once the chunks already asked have fully arrived.
      if (slots.length === 0) release(!lease.client.usable);
      callback(error);
    },
  });

  /** Hands ready chunks to a consumer that wants them, ends the stream, asks more chunks. */
  function flow(): void {
    if (source.destroyed) return;
    while (wanted && ready.length > 0) wanted = source.push(ready.shift());
    if (finished && ready.length === 0 && !ended) {
      ended = true;
      source.push(null);
    }
    while (!finished && slots.length + ready.length < MAX_AHEAD) ask();
    if (finished && slots.length === 0) release();
  }

  function ask(): void {
    const slot: Slot = { settled: false, data: null, error: null };
    slots.push(slot);
    const offset = nextOffset;
    nextOffset += chunkBytes;
    fetchChunk(lease, uid, partId, offset, chunkBytes)
      .then(
        (chunk) => {
          slot.data = chunk ?? Buffer.alloc(0);
        },
        (error: unknown) => {
          slot.error = error ?? new Error('IMAP FETCH failed');
        },
      )
      .finally(() => {
        slot.settled = true;
        settle();
      })
      .catch(() => undefined);
  }

  /** Takes the settled chunks at the head of `slots`, in order. */
  function settle(): void {
    while (slots.length > 0 && slots[0]!.settled) {
      const slot = slots.shift()!;
      if (source.destroyed) continue;
      if (slot.error) {
        finished = true;
        ready.length = 0;
        source.destroy(mapImapError(slot.error));
        continue;
      }
      if (finished) continue; // asked past the end
      const data = slot.data!;
      if (data.length > 0) ready.push(data);
      if (data.length < chunkBytes) finished = true;
    }
    if (source.destroyed) {
      if (slots.length === 0) release(!lease.client.usable);
      return;
    }
    flow();
  }

  if (!finished) flow();
  else release();
  const decoder = createTransferDecoder(encoding);
  pipeline(source, decoder, () => {
    // errors reach the consumer through `decoder`; nothing else to do
  });
  return decoder;
}
