/**
 * Streaming one MIME part's decoded bytes from IMAP.
 *
 * Pipeline: partial fetches `UID FETCH uid BODY.PEEK[part]<offset.length>` of {@link CHUNK_BYTES}
 * each (the raw literal arrives far faster than imapflow's `download()` decodes it) → the shared
 * Content-Transfer-Encoding decoder (`src/mime/decode.ts`, Node's native base64) → consumer. The
 * next chunk is asked only when the consumer has drained the previous one (Readable `_read`), so
 * memory stays near two chunks whatever the part's size. The pooled connection is held for the
 * stream's life and returned when it ends or is destroyed (after an in-flight chunk completes, so
 * the connection is never returned mid-literal).
 */
import { Readable, pipeline } from 'node:stream';
import type { Transform } from 'node:stream';
import { createTransferDecoder } from '../../mime/decode.ts';
import type { Lease } from './pool.ts';
import { atom, execRaw, fetchItems, sequence, tokenBuffer } from './raw.ts';
import { mapImapError } from './errors.ts';
import { notFound } from '../../errors.ts';

/** Size of one partial fetch, in bytes of encoded content. */
export const CHUNK_BYTES = 8 * 1024 * 1024;

async function fetchChunk(lease: Lease, uid: number, partId: string, offset: number, length: number): Promise<Buffer | null> {
  let body: Buffer | null = null;
  await execRaw(lease.client, 'UID FETCH', [sequence(String(uid)), [atom('UID'), atom('BODY.PEEK', [atom(partId)], [offset, length])]], 'FETCH', (untagged) => {
    for (const [name, value] of fetchItems(untagged)) {
      if (name.startsWith(`BODY[${partId}]`)) body = tokenBuffer(value) ?? Buffer.alloc(0);
    }
  });
  return body;
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
  let offset = first.length;
  let done = first.length < chunkBytes;
  let pending: Buffer | null = first;
  let inFlight: Promise<unknown> | null = null;
  let released = false;
  const release = (broken = false): void => {
    if (released) return;
    released = true;
    lease.release(broken);
  };
  if (done) release();

  const source = new Readable({
    highWaterMark: 1,
    read() {
      if (pending) {
        const chunk = pending;
        pending = null;
        this.push(chunk);
        if (done) this.push(null);
        return;
      }
      if (done) {
        this.push(null);
        return;
      }
      const request = fetchChunk(lease, uid, partId, offset, chunkBytes);
      inFlight = request;
      request.then(
        (chunk) => {
          inFlight = null;
          if (this.destroyed) {
            release();
            return;
          }
          const data = chunk ?? Buffer.alloc(0);
          offset += data.length;
          if (data.length < chunkBytes) {
            done = true;
            release();
          }
          if (data.length) this.push(data);
          if (done) this.push(null);
        },
        (error: unknown) => {
          inFlight = null;
          release(!lease.client.usable);
          this.destroy(mapImapError(error));
        },
      );
    },
    destroy(error, callback) {
      // Return the connection only once the chunk being read has fully arrived.
      if (inFlight) inFlight.finally(() => release(!lease.client.usable)).catch(() => undefined);
      else release();
      callback(error);
    },
  });
  const decoder = createTransferDecoder(encoding);
  pipeline(source, decoder, () => {
    // errors reach the consumer through `decoder`; nothing else to do
  });
  return decoder;
}
