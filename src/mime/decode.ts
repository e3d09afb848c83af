/**
 * Streaming Content-Transfer-Encoding decoders (RFC 2045 §6) shared by every provider.
 *
 * `createTransferDecoder(encoding)` returns a Transform that turns the encoded body of one MIME
 * part into its decoded bytes, chunk by chunk, never holding the whole part:
 *
 * - `base64` (RFC 2045 §6.8): tolerant of line breaks, whitespace and junk characters, which are
 *   dropped; decoding runs on 4-character-aligned runs with Node's native decoder (5-10x faster
 *   than a JS decoder; the download speed target depends on it). `=` padding is dropped as junk so
 *   a truncated or padded-in-the-middle body still yields every whole byte it carries; a trailing
 *   lone character carries no whole byte and is dropped (mailparser does the same).
 * - `quoted-printable` (RFC 2045 §6.7): `=XX` escapes, soft line breaks `=` + optional whitespace
 *   + line end; a malformed escape is kept literally (as Python's binascii and libqp do).
 * - `x-uuencode`, `uuencode`, `x-uue`, `uue`: the classic `begin` / length-prefixed lines / `end`
 *   format (POSIX uuencode). Text before `begin` and after `end` is dropped.
 * - anything else (`7bit`, `8bit`, `binary`, unknown tokens, absent): identity.
 */
import { PassThrough, Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';

/** The canonical form of a Content-Transfer-Encoding value: trimmed, unquoted, lower-cased; null when empty. */
export function normalizeTransferEncoding(encoding: string | null | undefined): string | null {
  if (encoding == null) return null;
  // Some mailers quote the token or add whitespace (`"base64"`, `base64 `); mailparser decodes
  // those, and so do we (see README of the corpus: mime4j-twopart-path-filename).
  const value = encoding.trim().replace(/^["']+|["']+$/g, '').trim().toLowerCase();
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

/** 1 for the 64 base64 alphabet bytes (RFC 4648 §4), else 0. */
const BASE64_ALPHABET = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') BASE64_ALPHABET[c.charCodeAt(0)] = 1;

/** Base64 (RFC 2045 §6.8) decoding Transform; see the module docs for its tolerance. */
export class Base64Decoder extends Transform {
  /** Valid characters (fewer than 4) carried to the next chunk to keep 4-character alignment. */
  #rest = '';

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (chunk.indexOf(0x3d /* = */) >= 0) {
      // Slow path: Node's decoder stops at "=", so padding (usually only in the last chunk) is
      // stripped with the junk first.
      const clean = this.#rest + chunk.toString('latin1').replace(NOT_BASE64, '');
      const usable = clean.length - (clean.length % 4);
      this.#rest = clean.slice(usable);
      if (usable > 0) this.push(Buffer.from(clean.slice(0, usable), 'base64'));
      return done();
    }
    // Fast path: Node's native decoder skips line breaks and junk itself; we only find the cut
    // after which the valid characters do not fill a 4-character group, and carry those.
    let valid = 0;
    for (let i = 0; i < chunk.length; i++) valid += BASE64_ALPHABET[chunk[i]!]!;
    let carry = (this.#rest.length + valid) % 4;
    let cut = chunk.length;
    let tail = '';
    while (carry > 0 && cut > 0) {
      cut--;
      const b = chunk[cut]!;
      if (BASE64_ALPHABET[b]) {
        tail = String.fromCharCode(b) + tail;
        carry--;
      }
    }
    // Too few valid characters in this chunk: the carried ones come from the previous rest.
    const keep = this.#rest.length - carry;
    const head = this.#rest.slice(0, keep) + chunk.toString('latin1', 0, cut);
    this.#rest = this.#rest.slice(keep) + tail;
    if (head.length > 0) this.push(Buffer.from(head, 'base64'));
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.#rest.length >= 2) this.push(Buffer.from(this.#rest, 'base64'));
    this.#rest = '';
    done();
  }
}

const HEX: Record<number, number> = {};
for (let i = 0; i < 16; i++) {
  HEX['0123456789ABCDEF'.charCodeAt(i)] = i;
  HEX['0123456789abcdef'.charCodeAt(i)] = i;
}

/** Quoted-Printable (RFC 2045 §6.7) decoding Transform that works line by line. */
export class QuotedPrintableDecoder extends Transform {
  #pending: Buffer = Buffer.alloc(0);

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const data = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    // Decode up to the last line end; the partial last line waits for more input so that an
    // escape or a soft break split across chunks is seen whole.
    const lastLf = data.lastIndexOf(0x0a);
    if (lastLf < 0) {
      this.#pending = data;
      return done();
    }
    this.#pending = Buffer.from(data.subarray(lastLf + 1));
    this.push(decodeQuotedPrintable(data.subarray(0, lastLf + 1)));
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
    while (j < n && (input[j] === 0x20 || input[j] === 0x09)) j++;
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

/** uudecode (POSIX `uuencode` format, Content-Transfer-Encoding x-uuencode) as a Transform. */
export class UudecodeStream extends Transform {
  #line = '';
  #state: 'before' | 'data' | 'done' = 'before';

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const text = this.#line + chunk.toString('latin1');
    const lines = text.split('\n');
    this.#line = lines.pop() ?? '';
    const out: Buffer[] = [];
    for (const line of lines) this.#handle(line, out);
    if (out.length) this.push(out.length === 1 ? out[0] : Buffer.concat(out));
    done();
  }

  override _flush(done: TransformCallback): void {
    const out: Buffer[] = [];
    if (this.#line) this.#handle(this.#line, out);
    this.#line = '';
    if (out.length) this.push(Buffer.concat(out));
    done();
  }

  /** Decodes whole lines (without their LF) into `out`; used by {@link uudecode}. */
  decodeLines(lines: readonly string[], out: Buffer[]): void {
    for (const line of lines) this.#handle(line, out);
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
