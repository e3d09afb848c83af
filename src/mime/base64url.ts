/**
 * Streaming base64url decoding (RFC 4648 §5, "Base 64 Encoding with URL and Filename Safe
 * Alphabet"), beside the RFC 2045 base64 decoder of `decode.ts`.
 *
 * Base64url is not a mail transfer encoding: it is what JSON APIs put in strings, e.g. the
 * `data` of Gmail's `MessagePartBody` ("a base64url encoded string", with `=` padding:
 * https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages.attachments).
 * Unlike RFC 2045 base64, where junk is ignored, RFC 4648 §3.3 has decoders reject characters
 * outside the alphabet, and this decoder does, because the base64 reading of base64url data is
 * silently wrong (the base64 decoder skips `-` and `_` as junk: 3,000 base64url bytes came out as
 * 2,913 wrong bytes). The rules:
 *
 * - Alphabet `A-Z a-z 0-9 - _`. Nothing is junk: whitespace, line breaks, `+` and `/` (the other
 *   alphabet: data that mixes both is not base64url) and every other byte are errors.
 * - `=` padding may be present or absent. When present it must complete the last group (`xx==`,
 *   `xxx=`) and end the data: `=` after a whole group or after one character, an incomplete
 *   padding at the end, or any byte after the padding is an error.
 * - A last group of one character (6 bits, no whole byte) is an error.
 * - The unused low bits of a last group of 2 or 3 characters are not checked (RFC 4648 §3.5
 *   lets decoders ignore them; Node's `Buffer.from(s, 'base64url')` does).
 *
 * Errors are {@link MalformedBase64UrlError} (a `GatewayError` PROVIDER_UNAVAILABLE: the data
 * comes from a provider) thrown by {@link Base64UrlDecoding} and emitted by
 * {@link Base64UrlDecoder}, which cuts the stream: a consumer never sees a clean end.
 *
 * Speed: no JS loop touches every byte. Each chunk's whole 4-character groups go through Node's
 * native decoder in 64 KiB windows; a window of 4k characters must decode to exactly 3k bytes
 * (Node skips bytes outside both alphabets and stops at `=`, so any such byte makes it shorter),
 * and `+`, `/` and `=` (which Node would accept or stop at) are found with `Buffer#indexOf`.
 * Only the error path scans bytes one by one, to report the offset of the first bad byte.
 */
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { ErrorCode, GatewayError } from '../errors.ts';

/** The 6-bit value of each base64url alphabet byte, -1 for the others. */
const BASE64URL_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) BASE64URL_VALUE['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.charCodeAt(i)] = i;

const EQUALS = 0x3d;
const PLUS = 0x2b;
const SLASH = 0x2f;
const EMPTY = Buffer.alloc(0);

/**
 * Input bytes turned into one string for the native decoder at a time (a multiple of 4). Small
 * strings live in V8's young generation and die cheaply; a multi-MiB chunk as one string would
 * become an external string whose memory only a full GC returns (see `decode.ts`).
 */
const WINDOW_BYTES = 64 * 1024;

/**
 * Base64url data that breaks the rules of the module docs. `offset` is the position of the
 * offending byte in the whole encoded input (0-based, bytes), or of its end for data that stops
 * too early. Code PROVIDER_UNAVAILABLE: the provider sent bytes that are not what it promised.
 */
export class MalformedBase64UrlError extends GatewayError {
  /** Offset of the offending byte in the encoded input, in bytes. */
  readonly offset: number;

  constructor(reason: string, offset: number) {
    super(ErrorCode.PROVIDER_UNAVAILABLE, `The provider sent malformed base64url data: ${reason} at byte ${offset}`);
    this.offset = offset;
  }
}

function show(byte: number): string {
  return byte >= 0x21 && byte < 0x7f ? `'${String.fromCharCode(byte)}'` : `0x${byte.toString(16).padStart(2, '0')}`;
}

/**
 * The decoding state of one base64url input, fed in pieces of any size. Synchronous, so that a
 * stream that finds base64url inside a larger format (Gmail's JSON) can decode without a second
 * stream; {@link Base64UrlDecoder} wraps it as a Transform.
 */
export class Base64UrlDecoding {
  /** Up to 3 characters of an incomplete group, carried to the next write. */
  readonly #carry = Buffer.alloc(4);
  #carried = 0;
  /** `=` still required to complete the padding; -1 until the padding begins. */
  #padsNeeded = -1;
  /** Encoded bytes consumed so far (for error offsets). */
  #offset = 0;
  #decoded = 0;

  /** Decoded bytes produced so far. */
  get decodedBytes(): number {
    return this.#decoded;
  }

  /**
   * Decodes the next piece of input. Returns the bytes it completes (possibly none; a fresh
   * buffer the caller may keep).
   * @throws MalformedBase64UrlError when the input breaks the rules of the module docs
   */
  write(input: Buffer): Buffer {
    const base = this.#offset;
    this.#offset += input.length;
    if (input.length === 0) return EMPTY;
    if (this.#padsNeeded >= 0) {
      this.#padding(input, 0, base);
      return EMPTY;
    }
    const equals = input.indexOf(EQUALS);
    const dataEnd = equals < 0 ? input.length : equals;
    const data = dataEnd === input.length ? input : input.subarray(0, dataEnd);
    // Node decodes "+" and "/" like "-" and "_": they must be found here.
    for (const other of [PLUS, SLASH]) {
      const at = data.indexOf(other);
      if (at >= 0) throw new MalformedBase64UrlError(`${show(other)} (base64, not base64url)`, base + at);
    }
    // Room for every whole group plus the 1 or 2 bytes of a padded last group.
    const out = Buffer.allocUnsafe(((this.#carried + dataEnd) >>> 2) * 3 + 2);
    let at = 0;
    let from = 0;
    if (this.#carried > 0) {
      const take = Math.min(4 - this.#carried, dataEnd);
      input.copy(this.#carry, this.#carried, 0, take);
      this.#carried += take;
      from = take;
      if (this.#carried === 4) {
        at += this.#decodeCarry(out, at, base - (4 - take));
        this.#carried = 0;
      }
    }
    const wholeEnd = from + ((dataEnd - from) & ~3);
    for (let w = from; w < wholeEnd; w += WINDOW_BYTES) {
      const end = Math.min(wholeEnd, w + WINDOW_BYTES);
      const written = out.write(input.toString('latin1', w, end), at, 'base64url');
      if (written !== ((end - w) >>> 2) * 3) this.#invalid(input, w, end, base);
      at += written;
    }
    if (wholeEnd < dataEnd) {
      input.copy(this.#carry, 0, wholeEnd, dataEnd);
      this.#carried = dataEnd - wholeEnd;
    }
    if (equals >= 0) {
      at += this.#finalGroup(out, at, base + equals);
      this.#padsNeeded = 4 - this.#carried;
      this.#carried = 0;
      this.#padding(input, equals, base);
    }
    this.#decoded += at;
    return at === 0 ? EMPTY : out.subarray(0, at);
  }

  /**
   * Ends the input. Returns the bytes of an unpadded last group (possibly none).
   * @throws MalformedBase64UrlError for a lone last character or an incomplete padding
   */
  end(): Buffer {
    if (this.#padsNeeded > 0) throw new MalformedBase64UrlError('incomplete padding', this.#offset);
    if (this.#padsNeeded === 0 || this.#carried === 0) return EMPTY;
    const out = Buffer.allocUnsafe(2);
    const n = this.#finalGroup(out, 0, this.#offset);
    this.#carried = 0;
    this.#decoded += n;
    return out.subarray(0, n);
  }

  /** Decodes the 4 carried characters, which began at input offset `offset`. */
  #decodeCarry(out: Buffer, at: number, offset: number): number {
    const written = out.write(this.#carry.toString('latin1', 0, 4), at, 'base64url');
    if (written !== 3) this.#invalid(this.#carry.subarray(0, 4), 0, 4, offset);
    return written;
  }

  /** Decodes the carried last group of 2 or 3 characters; `offset` is where the data ended. */
  #finalGroup(out: Buffer, at: number, offset: number): number {
    const n = this.#carried;
    if (n === 0) throw new MalformedBase64UrlError("'=' after a whole group", offset);
    if (n === 1) throw new MalformedBase64UrlError('a lone last character (no whole byte)', offset - 1);
    const written = out.write(this.#carry.toString('latin1', 0, n), at, 'base64url');
    if (written !== n - 1) this.#invalid(this.#carry.subarray(0, n), 0, n, offset - n);
    return written;
  }

  /** Consumes padding bytes of `input` from `from`: only the `=` still needed may follow. */
  #padding(input: Buffer, from: number, base: number): void {
    for (let i = from; i < input.length; i++) {
      if (this.#padsNeeded > 0 && input[i] === EQUALS) this.#padsNeeded--;
      else throw new MalformedBase64UrlError(this.#padsNeeded > 0 ? `${show(input[i]!)} inside the padding` : `${show(input[i]!)} after the padding`, base + i);
    }
  }

  /** Throws for the first byte of `bytes[from..to)` outside the alphabet (the slow path of errors only). */
  #invalid(bytes: Buffer, from: number, to: number, base: number): never {
    for (let i = from; i < to; i++) {
      if (BASE64URL_VALUE[bytes[i]!]! < 0) throw new MalformedBase64UrlError(`${show(bytes[i]!)} is not in the base64url alphabet`, base + i);
    }
    // Unreachable with Node's decoder as documented; kept so that another decoder fails loudly.
    throw new MalformedBase64UrlError('data the native decoder refused', base + from);
  }
}

/**
 * A Transform from base64url text (RFC 4648 §5) to its decoded bytes, with the strict rules of
 * the module docs. A rule broken emits a {@link MalformedBase64UrlError} and ends nothing cleanly.
 */
export class Base64UrlDecoder extends Transform {
  readonly #decoding = new Base64UrlDecoding();

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let out: Buffer;
    try {
      out = this.#decoding.write(chunk);
    } catch (error) {
      return done(error as Error);
    }
    if (out.length > 0) this.push(out);
    done();
  }

  override _flush(done: TransformCallback): void {
    let out: Buffer;
    try {
      out = this.#decoding.end();
    } catch (error) {
      return done(error as Error);
    }
    if (out.length > 0) this.push(out);
    done();
  }
}

/**
 * Decodes a whole in-memory base64url text with the same rules as {@link Base64UrlDecoder}.
 * @throws MalformedBase64UrlError
 */
export function decodeBase64Url(text: Buffer | string): Buffer {
  const decoding = new Base64UrlDecoding();
  // UTF-8, not latin1: a character above U+00FF must not be truncated into an alphabet byte.
  const head = decoding.write(typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
  const tail = decoding.end();
  return tail.length === 0 ? head : Buffer.concat([head, tail]);
}
