/**
 * mbox reading (RFC 4155; mboxrd and mboxo quoting): a streaming splitter that yields one message
 * at a time with its byte range, and the `>From ` unquoting as a stream and on a buffer.
 *
 * Layout followed (what mutt, Thunderbird and Python's `mailbox` write): each message starts with
 * a `From ` envelope line; the message runs to the next line starting with `From `; the one empty
 * line writers put before the next envelope line is not part of the message. Lines of the message
 * matching `^>*From ` got one more `>` when written (mboxrd); readers remove one. For mboxo files
 * (only `From ` was quoted) this gives the same result except for lines that started `>From `
 * before quoting, which mboxo cannot tell apart anyway.
 */
import fs from 'node:fs';
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';

/** One message of an mbox: where its bytes are (after the envelope line), as stored (still quoted). */
export interface MboxMessage {
  /** Byte offset of the message's first byte (the line after `From `). */
  offset: number;
  /** Stored length in bytes (quoting not undone, separator blank line excluded). */
  length: number;
  /** The message as stored. */
  data: Buffer;
}

/** True when the byte at `i` of `buf` starts a line `From `. */
function isFromLine(buf: Buffer, i: number): boolean {
  return buf[i] === 0x46 && buf[i + 1] === 0x72 && buf[i + 2] === 0x6f && buf[i + 3] === 0x6d && buf[i + 4] === 0x20;
}

/**
 * Reads the mbox at `file` from byte `start` and yields its messages one by one; only the current
 * message (and one read chunk) is in memory. `start` must be 0 or the offset of a `From ` line.
 * @param onBytes progress callback with the absolute file offset read so far (bytes)
 */
export async function* readMbox(file: string, start = 0, onBytes?: (offset: number) => void): AsyncGenerator<MboxMessage> {
  const stream = fs.createReadStream(file, { start, highWaterMark: 1 << 20 });
  // Scanned bytes of the current message are kept as a list of chunks (linear, no re-copying);
  // `tail` holds the bytes from the start of the line not yet examined.
  let done: Buffer[] = [];
  let doneBytes = 0;
  let tail: Buffer = Buffer.alloc(0);
  let tailOffset = start; // file offset of tail[0]
  let msgStart = -1; // file offset of the current message, -1 before the first envelope line
  // True when `tail` continues a line whose start was already seen not to be an envelope line:
  // its bytes are moved out at once instead of waiting for the line end, so a line of hundreds of
  // MiB (a single-line body) is not copied and rescanned with every chunk (n²).
  let midLine = false;

  const finish = (lastPiece: Buffer): MboxMessage | null => {
    if (msgStart < 0) return null;
    let data = Buffer.concat([...done, lastPiece], doneBytes + lastPiece.length);
    // Drop the blank line that separates messages.
    const n = data.length;
    if (n >= 2 && data[n - 1] === 0x0a && data[n - 2] === 0x0a) data = data.subarray(0, n - 1);
    else if (n >= 4 && data[n - 1] === 0x0a && data[n - 2] === 0x0d && data[n - 3] === 0x0a && data[n - 4] === 0x0d) data = data.subarray(0, n - 2);
    return { offset: msgStart, length: data.length, data };
  };

  for await (const chunk of stream as AsyncIterable<Buffer>) {
    tail = tail.length ? Buffer.concat([tail, chunk]) : chunk;
    let line = 0; // start of the line being examined, within tail
    if (midLine) {
      const nl = tail.indexOf(0x0a);
      if (nl < 0) line = tail.length;
      else {
        line = nl + 1;
        midLine = false;
      }
    }
    while (!midLine) {
      const nl = tail.indexOf(0x0a, line);
      if (nl < 0 && tail.length - line < 5) break; // cannot tell yet whether it is an envelope line
      if (nl < 0 && !isFromLine(tail, line)) {
        // An ordinary line that goes on in the next chunk.
        line = tail.length;
        midLine = true;
        break;
      }
      if (isFromLine(tail, line)) {
        if (nl < 0) break; // envelope line not complete yet
        const message = finish(tail.subarray(0, line));
        if (message) yield message;
        done = [];
        doneBytes = 0;
        msgStart = tailOffset + nl + 1;
        tail = tail.subarray(nl + 1);
        tailOffset = msgStart;
        line = 0;
        continue;
      }
      if (nl < 0) break;
      line = nl + 1;
    }
    // Move the examined lines out of the tail.
    if (line > 0) {
      if (msgStart >= 0) {
        done.push(tail.subarray(0, line));
        doneBytes += line;
      }
      tail = tail.subarray(line);
      tailOffset += line;
    }
    onBytes?.(tailOffset + tail.length);
  }
  const last = finish(tail);
  if (last) yield last;
}

/** Undoes mboxrd quoting on a whole buffer that starts at a line start. */
export function unquoteMboxrd(data: Buffer): Buffer {
  if (data.indexOf('>From ') < 0) return data;
  const parts: Buffer[] = [];
  let pos = 0;
  let lineStart = 0;
  while (lineStart < data.length) {
    if (data[lineStart] === 0x3e && isQuotedFrom(data, lineStart)) {
      parts.push(data.subarray(pos, lineStart));
      pos = lineStart + 1;
    }
    const nl = data.indexOf(0x0a, lineStart);
    if (nl < 0) break;
    lineStart = nl + 1;
  }
  parts.push(data.subarray(pos));
  return Buffer.concat(parts);
}

function isQuotedFrom(data: Buffer, i: number): boolean {
  let j = i;
  while (data[j] === 0x3e) j++;
  return j > i && isFromLine(data, j);
}

/**
 * A Transform undoing mboxrd quoting on a byte range that starts at a line start: one `>` is
 * removed from each line matching `^>+From `.
 */
export class MboxrdUnquote extends Transform {
  #carry: Buffer = Buffer.alloc(0);

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const data = this.#carry.length ? Buffer.concat([this.#carry, chunk]) : chunk;
    // Hold back the last partial line: whether it is a quoted From line may depend on bytes to come.
    const lastNl = data.lastIndexOf(0x0a);
    if (lastNl < 0) {
      this.#carry = data;
      return done();
    }
    this.#carry = Buffer.from(data.subarray(lastNl + 1));
    done(null, unquoteMboxrd(data.subarray(0, lastNl + 1)));
  }

  override _flush(done: TransformCallback): void {
    const rest = this.#carry;
    this.#carry = Buffer.alloc(0);
    done(null, rest.length ? unquoteMboxrd(rest) : undefined);
  }
}
