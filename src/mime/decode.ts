/**
 * Streaming Content-Transfer-Encoding decoders (RFC 2045 §6) shared by every provider.
 *
 * `createTransferDecoder(encoding)` returns a Transform that turns the encoded body of one MIME
 * part into its decoded bytes, chunk by chunk, never holding the whole part:
 *
 * - `base64` (RFC 2045 §6.8): tolerant of line breaks, whitespace and junk characters, which are
 *   dropped; each chunk goes whole through Node's native decoder (GB/s on Node 20, which skips
 *   line breaks and junk itself), only a partial 4-character group is carried to the next chunk
 *   (see {@link Base64Decoder}); the download speed target depends on it. `=` padding is dropped as junk so
 *   a truncated or padded-in-the-middle body still yields every whole byte it carries; a trailing
 *   lone character carries no whole byte and is dropped (mailparser does the same).
 * - `quoted-printable` (RFC 2045 §6.7): `=XX` escapes, soft line breaks `=` + optional whitespace
 *   + line end; a malformed escape is kept literally (as Python's binascii and libqp do).
 * - `x-uuencode`, `uuencode`, `x-uue`, `uue`: the classic `begin` / length-prefixed lines / `end`
 *   format (POSIX uuencode). Text before `begin` and after `end` is dropped.
 * - anything else (`7bit`, `8bit`, `binary`, unknown tokens, absent): identity.
 *
 * Base64url (RFC 4648 §5, the `data` of JSON APIs such as Gmail's) is not a transfer encoding and
 * must not go through the base64 decoder, which skips its `-` and `_` as junk: use the strict
 * decoder of `base64url.ts`.
 */
import { PassThrough, Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { trimChars } from './text.ts';

/** The canonical form of a Content-Transfer-Encoding value: trimmed, unquoted, lower-cased; null when empty. */
export function normalizeTransferEncoding(encoding: string | null | undefined): string | null {
  if (encoding == null) return null;
  // Some mailers quote the token or add whitespace (`"base64"`, `base64 `); mailparser decodes
  // those, and so do we (see README of the corpus: mime4j-twopart-path-filename).
  const value = trimChars(encoding.trim(), `"'`).trim().toLowerCase();
  return value === '' ? null : value;
}

/** The decoding family of an encoding, after {@link normalizeTransferEncoding}. */
export type TransferEncodingFamily = 'base64' | 'quoted-printable' | 'uuencode' | 'identity';

/** Which decoder serves `encoding` (any spelling). */
export function transferEncodingFamily(encoding: string | null | undefined): TransferEncodingFamily {
  const value = normalizeTransferEncoding(encoding);
  if (value === 'base64') return 'base64';
  if (value === 'quoted-printable') return 'quoted-printable';
  if (value === 'x-uuencode' || value === 'uuencode' || value === 'x-uue' || value === 'uue') return 'uuencode';
  return 'identity';
}

/**
 * A streaming decoder for a Content-Transfer-Encoding (RFC 2045 §6). Unknown encodings and the
 * identity ones (7bit, 8bit, binary) give a PassThrough. Never throws on malformed input: bad
 * characters are skipped as described in the module docs.
 */
export function createTransferDecoder(encoding: string | null): Transform {
  switch (transferEncodingFamily(encoding)) {
    case 'base64':
      return new Base64Decoder();
    case 'quoted-printable':
      return new QuotedPrintableDecoder();
    case 'uuencode':
      return new UudecodeStream();
    default:
      return new PassThrough();
  }
}

const NOT_BASE64 = /[^A-Za-z0-9+/]+/g;

/**
 * Whether Node's native base64 decoder has the semantics the fast path relies on: every byte
 * outside the alphabet (line breaks, spaces, junk) is skipped, a trailing group of 2 or 3
 * characters yields its 1 or 2 whole bytes, and a trailing lone character yields nothing. (It
 * also reads `-` and `_` as base64url digits and stops at `=`: chunks holding those bytes take the
 * slow path.) Checked once at load so that a Node with other semantics only loses speed.
 */
const NATIVE_FORGIVING = (() => {
  try {
    const check = (s: string, want: string) => Buffer.from(s, 'base64').toString('latin1') === want;
    const long = Buffer.alloc(300, 0xa5).toString('base64');
    return (
      check('QU!J\r\nD\x00 R\xff', 'ABC') &&
      check('QUJD\tRA\r\n', 'ABCD') &&
      check('QUJD RE U', 'ABCDE') &&
      Buffer.from(`${long.slice(0, 150)}\r\n*${long.slice(150)}\x80X`, 'base64').equals(Buffer.alloc(300, 0xa5))
    );
  } catch {
    return false;
  }
})();

/** The 6-bit value of each base64 alphabet byte, -1 for the others. */
const BASE64_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) BASE64_VALUE['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;

/**
 * Input bytes turned into one string for the native decoder at a time. Strings this small live
 * in V8's young generation and die cheaply; a whole multi-MiB chunk would become an external
 * string, whose malloc'd memory only a full GC returns (RSS growth, GC time).
 */
const WINDOW_BYTES = 64 * 1024;

/**
 * Base64 (RFC 2045 §6.8) decoding Transform; see the module docs for its tolerance.
 *
 * Fast path: each input chunk goes through Node's native decoder (in {@link WINDOW_BYTES}
 * windows), which skips line breaks and junk itself; no JS loop touches every byte. Characters
 * carried from the previous window are completed to a 4-character group with its first valid
 * characters; the number N of valid characters in the rest of a window is needed only modulo 4
 * (its trailing partial group is carried, not decoded), and it follows from the decoded length:
 * 3k+1 bytes mean N = 4k+2, 3k+2 mean N = 4k+3, and 3k mean N = 4k or 4k+1 (a lone character
 * yields nothing). That last case is settled by decoding the last 4 valid characters alone: they
 * give the last 3 decoded bytes only when N = 4k (unless the last 5 valid characters are all the
 * same; then one more decode without the last character decides).
 */
export class Base64Decoder extends Transform {
  /** Valid characters (fewer than 4) carried to the next chunk to keep 4-character alignment. */
  #rest = '';

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    // Node's decoder stops at "=" and reads "-" and "_" as base64url digits: a chunk with those
    // has the junk stripped first (slow path), except for padding followed by junk only (the
    // usual end of a body), which is simply cut off.
    let end = chunk.length;
    let fast = NATIVE_FORGIVING && chunk.indexOf(0x2d /* - */) < 0 && chunk.indexOf(0x5f /* _ */) < 0;
    const padding = fast ? chunk.indexOf(0x3d /* = */) : -1;
    if (padding >= 0) {
      end = padding;
      for (let i = padding; i < chunk.length && fast; i++) if (BASE64_VALUE[chunk[i]!]! >= 0) fast = false;
    }
    if (!fast) {
      this.#slow(chunk);
      return done();
    }
    // Room for every whole byte plus the up to 2 bytes of a trailing partial group.
    const out = Buffer.allocUnsafe(((this.#rest.length + end) >>> 2) * 3 + 8);
    let at = 0;
    for (let from = 0; from < end; from += WINDOW_BYTES) at = this.#window(chunk, from, Math.min(end, from + WINDOW_BYTES), out, at);
    if (at > 0) this.push(out.subarray(0, at));
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.#rest.length >= 2) this.push(Buffer.from(this.#rest, 'base64'));
    this.#rest = '';
    done();
  }

  #slow(chunk: Buffer): void {
    const clean = this.#rest + chunk.toString('latin1').replace(NOT_BASE64, '');
    const usable = clean.length - (clean.length % 4);
    this.#rest = clean.slice(usable);
    if (usable > 0) this.push(Buffer.from(clean.slice(0, usable), 'base64'));
  }

  /** Decodes `chunk[from..to)` (no "=", "-", "_") into `out` at `at`; returns the new end of `out`. */
  #window(chunk: Buffer, from: number, to: number, out: Buffer, at: number): number {
    let start = from;
    if (this.#rest.length > 0) {
      let group = this.#rest;
      while (group.length < 4 && start < to) {
        const b = chunk[start++]!;
        if (BASE64_VALUE[b]! >= 0) group += String.fromCharCode(b);
      }
      if (group.length < 4) {
        this.#rest = group;
        return at;
      }
      this.#rest = '';
      at += out.write(group, at, 'base64');
    }
    if (start >= to) return at;
    const text = chunk.toString('latin1', start, to);
    const decoded = out.write(text, at, 'base64');
    const r = decoded % 3;
    const carry = r === 1 ? 2 : r === 2 ? 3 : this.#loneCharacter(chunk, start, to, out, at + decoded, text) ? 1 : 0;
    if (carry > 0) {
      let tail = '';
      for (let i = to - 1; tail.length < carry; i--) {
        const b = chunk[i]!;
        if (BASE64_VALUE[b]! >= 0) tail = String.fromCharCode(b) + tail;
      }
      this.#rest = tail;
    }
    // A trailing group of 2 or 3 characters was decoded to 1 or 2 bytes; they are decoded again
    // with the carried characters, so they are dropped here (overwritten by the next window).
    return at + decoded - (carry === 0 ? 0 : carry - 1);
  }

  /**
   * Whether the valid characters of `chunk[start..to)`, whose decoded bytes (a multiple of 3) end
   * at `out[end]`, number 4k+1 rather than 4k.
   */
  #loneCharacter(chunk: Buffer, start: number, to: number, out: Buffer, end: number, text: string): boolean {
    // The last 5 valid characters' values, last first, and the position of the last one.
    const last: number[] = [];
    let lastAt = -1;
    for (let i = to - 1; i >= start && last.length < 5; i--) {
      const v = BASE64_VALUE[chunk[i]!]!;
      if (v >= 0) {
        if (lastAt < 0) lastAt = i;
        last.push(v);
      }
    }
    if (last.length === 0) return false; // N = 0
    if (last.length < 4) return true; // N = 1 (2 or 3 would have decoded to 1 or 2 bytes)
    if (last.length === 4) return false; // N = 4
    if (last.some((v) => v !== last[0])) {
      const bits = (last[3]! << 18) | (last[2]! << 12) | (last[1]! << 6) | last[0]!;
      return out[end - 3] !== bits >>> 16 || out[end - 2] !== ((bits >>> 8) & 0xff) || out[end - 1] !== (bits & 0xff);
    }
    // The same 5 characters (a run of zero bytes, say): decode once more without the last one;
    // 4k characters then leave 4k-1 (3k-1 bytes), 4k+1 leave 4k (3k bytes).
    return Buffer.from(text.slice(0, lastAt - start), 'base64').length % 3 === 0;
  }
}

const HEX: Record<number, number> = {};
for (let i = 0; i < 16; i++) {
  HEX['0123456789ABCDEF'.charCodeAt(i)] = i;
  HEX['0123456789abcdef'.charCodeAt(i)] = i;
}

/**
 * Longest transport padding (spaces and tabs) read after the `=` of a soft line break; a longer
 * run makes the `=` literal. RFC 2045 lines have at most 76 characters, so real padding is far
 * shorter; the bound lets the stream decoder hold back only a short tail of each chunk.
 */
const MAX_QP_PADDING = 1024;

/** Bytes at the end of a chunk that may hold an escape or soft line break continued by the next one. */
const QP_OPEN_TAIL = MAX_QP_PADDING + 3;

/**
 * Quoted-Printable (RFC 2045 §6.7) decoding Transform. Each chunk is decoded up to the first `=`
 * of its last {@link QP_OPEN_TAIL} bytes (an escape or soft break that may go on in the next
 * chunk), which is held back: linear however long the lines are (it used to hold a whole line, so
 * a 32 MiB single-line body was copied with every chunk and took 5 s).
 */
export class QuotedPrintableDecoder extends Transform {
  #pending: Buffer = Buffer.alloc(0);

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const data = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    let keep = data.indexOf(0x3d /* = */, Math.max(0, data.length - QP_OPEN_TAIL));
    if (keep < 0) keep = data.length;
    this.#pending = Buffer.from(data.subarray(keep));
    if (keep > 0) this.push(decodeQuotedPrintable(data.subarray(0, keep)));
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.#pending.length) this.push(decodeQuotedPrintable(this.#pending));
    this.#pending = Buffer.alloc(0);
    done();
  }
}

/** Decodes a whole Quoted-Printable buffer (RFC 2045 §6.7); malformed escapes are kept literally. */
export function decodeQuotedPrintable(input: Buffer): Buffer {
  const out = Buffer.allocUnsafe(input.length);
  let o = 0;
  const n = input.length;
  for (let i = 0; i < n; i++) {
    const c = input[i]!;
    if (c !== 0x3d /* = */) {
      out[o++] = c;
      continue;
    }
    const h = HEX[input[i + 1] ?? -1];
    const l = HEX[input[i + 2] ?? -1];
    if (h !== undefined && l !== undefined) {
      out[o++] = (h << 4) | l;
      i += 2;
      continue;
    }
    // Soft line break: "=" then optional transport padding, then CRLF / LF (or end of input).
    let j = i + 1;
    while (j < n && j - i - 1 < MAX_QP_PADDING && (input[j] === 0x20 || input[j] === 0x09)) j++;
    if (j < n && (input[j] === 0x20 || input[j] === 0x09)) {
      // More padding than MAX_QP_PADDING: not a soft line break.
      out[o++] = c;
      continue;
    }
    if (j >= n) {
      i = j - 1;
      continue;
    }
    if (input[j] === 0x0a) {
      i = j;
      continue;
    }
    if (input[j] === 0x0d && (j + 1 >= n || input[j + 1] === 0x0a)) {
      i = j + 1 >= n ? j : j + 1;
      continue;
    }
    out[o++] = c;
  }
  return out.subarray(0, o);
}

/**
 * The characters of a uuencoded line that are read: a data line carries at most 63 bytes in 85
 * characters, and `begin` / `end` lines are recognised by their start. The rest of a longer line
 * is skipped, so a line of hundreds of MiB is not carried from chunk to chunk.
 */
const UU_MAX_LINE = 1024;

/** uudecode (POSIX `uuencode` format, Content-Transfer-Encoding x-uuencode) as a Transform. */
export class UudecodeStream extends Transform {
  /** The start (at most {@link UU_MAX_LINE} characters) of the line not ended yet. */
  #line = '';
  #state: 'before' | 'data' | 'done' = 'before';

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const pieces = chunk.toString('latin1').split('\n');
    const out: Buffer[] = [];
    for (let i = 0; i < pieces.length - 1; i++) {
      this.#take(pieces[i]!);
      this.#handle(this.#line, out);
      this.#line = '';
    }
    this.#take(pieces[pieces.length - 1]!);
    if (out.length) this.push(out.length === 1 ? out[0] : Buffer.concat(out));
    done();
  }

  /** Appends a piece of the current line, up to {@link UU_MAX_LINE} characters in all. */
  #take(piece: string): void {
    if (this.#line.length < UU_MAX_LINE) this.#line += piece.slice(0, UU_MAX_LINE - this.#line.length);
  }

  override _flush(done: TransformCallback): void {
    const out: Buffer[] = [];
    if (this.#line) this.#handle(this.#line, out);
    this.#line = '';
    if (out.length) this.push(Buffer.concat(out));
    done();
  }

  /** Decodes whole lines (without their LF) into `out`; used by {@link uudecode}. Each line is read up to {@link UU_MAX_LINE} characters, as the stream reads it. */
  decodeLines(lines: readonly string[], out: Buffer[]): void {
    for (const line of lines) this.#handle(line.slice(0, UU_MAX_LINE), out);
  }

  #handle(rawLine: string, out: Buffer[]): void {
    const line = rawLine.replace(/\r$/, '');
    if (this.#state === 'done') return;
    if (this.#state === 'before') {
      if (/^begin(-base64)?\s+[0-7]{1,4}\s/.test(line) || /^begin\s+[0-7]{1,4}$/.test(line)) this.#state = 'data';
      return;
    }
    if (/^end\s*$/.test(line)) {
      this.#state = 'done';
      return;
    }
    if (line.length === 0) return;
    const length = (line.charCodeAt(0) - 32) & 63;
    if (length === 0) return; // the "`" line before "end"
    const bytes = Buffer.allocUnsafe(length);
    let o = 0;
    // Characters decode as (c - 32) & 63, so both " " and "`" mean 0; missing trailing
    // characters (stripped trailing spaces) count as 0 as well.
    const v = (k: number) => ((line.charCodeAt(k) || 32) - 32) & 63;
    for (let k = 1; o < length; k += 4) {
      const a = v(k);
      const b = v(k + 1);
      const c = v(k + 2);
      const d = v(k + 3);
      bytes[o++] = (a << 2) | (b >> 4);
      if (o < length) bytes[o++] = ((b << 4) | (c >> 2)) & 0xff;
      if (o < length) bytes[o++] = ((c << 6) | d) & 0xff;
    }
    out.push(bytes);
  }
}

/** A PassThrough that counts the bytes flowing through it in {@link ByteCounter.bytes}. */
export class ByteCounter extends Transform {
  /** Bytes seen so far. */
  bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

/** Decodes a whole in-memory base64 body with the same tolerance as {@link Base64Decoder}. */
export function decodeBase64(body: Buffer): Buffer {
  // Same fast path as the stream: Node's decoder skips junk and drops a trailing lone character.
  if (NATIVE_FORGIVING && body.indexOf(0x3d) < 0 && body.indexOf(0x2d) < 0 && body.indexOf(0x5f) < 0) return Buffer.from(body.toString('latin1'), 'base64');
  const clean = body.toString('latin1').replace(NOT_BASE64, '');
  const usable = clean.length % 4 === 1 ? clean.length - 1 : clean.length;
  return Buffer.from(clean.slice(0, usable), 'base64');
}

/** Decodes a whole in-memory uuencoded body, like {@link UudecodeStream}. */
export function uudecode(body: Buffer): Buffer {
  const stream = new UudecodeStream();
  const out: Buffer[] = [];
  stream.decodeLines(body.toString('latin1').split('\n'), out);
  return Buffer.concat(out);
}

/** Decodes a whole in-memory body (small parts, tests) with the same rules as the streams. */
export function decodeTransferEncodingSync(body: Buffer, encoding: string | null): Buffer {
  switch (transferEncodingFamily(encoding)) {
    case 'base64':
      return decodeBase64(body);
    case 'quoted-printable':
      return decodeQuotedPrintable(body);
    case 'uuencode':
      return uudecode(body);
    default:
      return body;
  }
}
