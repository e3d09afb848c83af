/**
 * A streaming scanner for the JSON body of Gmail's `users.messages.attachments.get`: a
 * `MessagePartBody` `{ "attachmentId": string, "size": integer, "data": string }` whose `data` is
 * the attachment as base64url
 * (https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages.attachments/get,
 * https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages.attachments#MessagePartBody).
 *
 * It is fed the body in pieces of any size and hands out the decoded bytes of `data` as they
 * arrive, never holding the string: the content of `data` goes in whole runs (found with
 * `Buffer#indexOf`) into the strict base64url decoder ({@link Base64UrlDecoding}); every other
 * byte goes through a small JSON state machine in one pass, so time is linear in the body and
 * memory is bounded (no value is kept except a key of up to 16 characters, the digits of `size`
 * and an error object of up to {@link MAX_ERROR_BYTES}).
 *
 * What it accepts: one JSON object (RFC 8259) with keys in any order and whitespace wherever JSON
 * allows it; `size` (a number, or a string of digits) before or after `data`, or absent; other
 * members (`attachmentId`, anything new) of any JSON type, skipped with full syntax checks up to
 * {@link MAX_DEPTH} levels of nesting; keys with escapes (`"d\u0061ta"` is `data`). A body
 * without `data` is an empty attachment (proto3 JSON omits empty bytes fields).
 *
 * What it refuses, with a GatewayError that ends the bytes uncleanly: more than
 * `maxOverheadBytes` (1 MiB) outside the content of `data`, an escape inside `data`
 * (base64url has none), a `data` that is not a string, `data` or `size` twice, any JSON syntax
 * error, text after the object, a body that ends before the object closes, a decoded length
 * other than `size` or the caller's expected size (checked as soon as it is exceeded, else at
 * the end), and a top-level `error` member (`{"error":{...}}`), which is read whole (bounded) and
 * mapped by {@link mapGmailAnswer}. Malformed bodies are PROVIDER_UNAVAILABLE.
 */
import { ErrorCode, GatewayError } from '../../errors.ts';
import { Base64UrlDecoding } from '../../mime/base64url.ts';
import { mapGmailAnswer } from './errors.ts';

/** Nesting depth allowed in skipped values (Gmail's error objects use 3). */
export const MAX_DEPTH = 64;
/** Largest `error` object read, in bytes (Gmail's are well under 2 KiB). */
export const MAX_ERROR_BYTES = 64 * 1024;
/** Default of {@link AttachmentJsonScannerOptions.maxOverheadBytes}. */
export const DEFAULT_MAX_OVERHEAD_BYTES = 1024 * 1024;
/** Characters of a top-level key kept for matching (the known keys are shorter). */
const MAX_KEY = 16;

// Top-level states.
const BEFORE = 0; // whitespace, then "{"
const FIRST_KEY = 1; // after "{": a key or "}"
const NEXT_KEY = 2; // after ",": a key
const COLON = 3;
const VALUE = 4; // a member's value, dispatched on its key
const DATA = 5; // inside the data string
const SKIP_ARRAY_FIRST = 6; // after "[" in a skipped value: a value or "]"
const SIZE_STRING = 7;
const AFTER_VALUE = 8; // "," or "}"
const AFTER = 9; // after the object: whitespace only
const STRING = 10; // inside a string (a key, or a skipped value)
const STRING_ESCAPE = 11;
const STRING_HEX = 12;
const NUMBER = 13;
const LITERAL = 14;
const SKIP_VALUE = 15; // a value in a skipped container (or the top-level value being skipped)
const SKIP_OBJECT_FIRST = 16; // after "{" in a skipped value: a key or "}"
const SKIP_OBJECT_KEY = 17; // after "," in a skipped object: a key
const SKIP_COLON = 18;
const SKIP_AFTER = 19; // after a value in a skipped container: "," or the closer

// What a string is.
const TOP_KEY = 0;
const NESTED_KEY = 1;
const VALUE_STRING = 2;

// Number grammar (RFC 8259 §6).
const N_MINUS = 0; // after "-": a digit
const N_ZERO = 1; // a leading 0: ".", "e" or the end
const N_INT = 2;
const N_DOT = 3; // after ".": a digit
const N_FRACTION = 4;
const N_E = 5; // after "e": sign or digit
const N_E_SIGN = 6; // after the sign: a digit
const N_EXPONENT = 7;

const OBJECT = 1;
const ARRAY = 2;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}

function show(c: number): string {
  return c >= 0x21 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `0x${c.toString(16).padStart(2, '0')}`;
}

/** A malformed attachments.get body (PROVIDER_UNAVAILABLE) at byte `offset` of the body. */
export function malformedBody(what: string, offset: number): GatewayError {
  return new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, `Gmail sent a malformed attachment body: ${what} at byte ${offset}`);
}

/** Options of an {@link AttachmentJsonScanner}. */
export interface AttachmentJsonScannerOptions {
  /** The decoded size the caller expects (the part's `body.size` from messages.get), in bytes. */
  expectedSize?: number | null;
  /** The HTTP status of the answer, for mapping an error body (default 200). */
  status?: number;
  /** The answer's `Retry-After` header, for mapping an error body. */
  retryAfter?: string | null;
  /**
   * Most bytes of the body outside the content of `data` (keys, other members, whitespace),
   * default {@link DEFAULT_MAX_OVERHEAD_BYTES}; Gmail sends about a hundred. Bounds the work an
   * answer that never gets to its data can cost.
   */
  maxOverheadBytes?: number;
}

/**
 * The scanner of the module docs. {@link write} returns the decoded bytes each piece completes
 * (fresh buffers the caller may keep; the last ones come with the closing quote of `data`);
 * {@link write} and {@link end} throw a GatewayError for a refused body, after which the scanner
 * must not be used again.
 */
export class AttachmentJsonScanner {
  readonly #expected: number | null;
  readonly #status: number;
  readonly #retryAfter: string | null;
  readonly #maxOverhead: number;
  /** Bytes of the body outside the content of `data` so far. */
  #overhead = 0;
  /** Bytes of the current chunk inside `data`. */
  #dataInChunk = 0;
  #decoding: Base64UrlDecoding | null = null;
  #state = BEFORE;
  /** Bytes of the body seen before the current chunk. */
  #offset = 0;
  #sawData = false;
  #dataDone = false;
  #declared: number | null = null;
  #sizeText = '';
  #key = '';
  #keyLong = false;
  #stringKind = VALUE_STRING;
  #hexLeft = 0;
  #hexValue = 0;
  #number = N_INT;
  #numberIsSize = false;
  #literal = '';
  #literalAt = 0;
  readonly #stack = new Uint8Array(MAX_DEPTH);
  #depth = 0;
  /** While the top-level `error` value is read: its bytes so far. */
  #error: Buffer[] | null = null;
  #errorBytes = 0;

  constructor(options: AttachmentJsonScannerOptions = {}) {
    this.#expected = options.expectedSize ?? null;
    this.#status = options.status ?? 200;
    this.#retryAfter = options.retryAfter ?? null;
    this.#maxOverhead = options.maxOverheadBytes ?? DEFAULT_MAX_OVERHEAD_BYTES;
  }

  /** True once the `data` string has begun, or the object ended without one. */
  get dataStarted(): boolean {
    return this.#sawData || this.#state === AFTER;
  }

  /** The `size` member, once read; null before or when absent. */
  get declaredSize(): number | null {
    return this.#declared;
  }

  /** Decoded bytes handed out so far. */
  get decodedBytes(): number {
    return this.#decoding?.decodedBytes ?? 0;
  }

  /** Scans the next piece of the body; returns the decoded bytes it completes. */
  write(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    const errorFrom = this.#error ? 0 : -1;
    this.#dataInChunk = 0;
    this.#scan(chunk, out, errorFrom);
    this.#offset += chunk.length;
    this.#overhead += chunk.length - this.#dataInChunk;
    if (this.#overhead > this.#maxOverhead) throw malformedBody(`more than ${this.#maxOverhead} bytes outside "data"`, this.#offset);
    return out;
  }

  /** Ends the body; throws unless it was one whole, valid object whose sizes agree. */
  end(): void {
    if (this.#state !== AFTER) throw malformedBody(this.#sawData && !this.#dataDone ? 'the body ended inside "data"' : 'the body ended before the object closed', this.#offset);
    const decoded = this.decodedBytes;
    if (this.#expected !== null && decoded !== this.#expected) throw this.#sizeError(`${decoded} bytes decoded, ${this.#expected} expected`);
    if (this.#declared !== null && decoded !== this.#declared) throw this.#sizeError(`${decoded} bytes decoded, "size" says ${this.#declared}`);
  }

  #sizeError(what: string): GatewayError {
    return new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, `Gmail sent an attachment of another size than announced: ${what}`);
  }

  #scan(buf: Buffer, out: Buffer[], errorFromInit: number): void {
    const n = buf.length;
    let errorFrom = errorFromInit;
    let i = 0;
    while (i < n) {
      const c = buf[i]!;
      switch (this.#state) {
        case BEFORE:
          if (isSpace(c)) i++;
          else if (c === 0x7b /* { */) {
            this.#state = FIRST_KEY;
            i++;
          } else throw malformedBody(`${show(c)} where the object should begin`, this.#offset + i);
          break;
        case FIRST_KEY:
        case NEXT_KEY:
          if (isSpace(c)) i++;
          else if (c === 0x22 /* " */) {
            this.#key = '';
            this.#keyLong = false;
            this.#stringKind = TOP_KEY;
            this.#state = STRING;
            i++;
          } else if (c === 0x7d /* } */ && this.#state === FIRST_KEY) {
            this.#state = AFTER;
            i++;
          } else throw malformedBody(`${show(c)} where a key should be`, this.#offset + i);
          break;
        case COLON:
          if (isSpace(c)) i++;
          else if (c === 0x3a /* : */) {
            this.#state = VALUE;
            i++;
          } else throw malformedBody(`${show(c)} where ':' should be`, this.#offset + i);
          break;
        case VALUE:
          if (isSpace(c)) {
            i++;
            break;
          }
          if (this.#keyLong) this.#skipValueStart();
          else if (this.#key === 'data') {
            if (this.#sawData) throw malformedBody('a second "data"', this.#offset + i);
            if (c !== 0x22) throw malformedBody(`"data" is not a string (${show(c)})`, this.#offset + i);
            this.#sawData = true;
            this.#decoding = new Base64UrlDecoding();
            this.#state = DATA;
            i++;
            break;
          } else if (this.#key === 'size') {
            if (this.#declared !== null) throw malformedBody('a second "size"', this.#offset + i);
            this.#sizeText = '';
            if (c === 0x22) {
              this.#state = SIZE_STRING;
              i++;
              break;
            }
            this.#numberIsSize = true;
            this.#startNumber(c, this.#offset + i);
            i++;
            break;
          } else if (this.#key === 'error') {
            this.#error = [];
            this.#errorBytes = 0;
            errorFrom = i;
            this.#skipValueStart();
          } else this.#skipValueStart();
          break;
        case DATA: {
          const quote = buf.indexOf(0x22, i);
          const end = quote < 0 ? n : quote;
          const backslash = buf.indexOf(0x5c, i);
          if (backslash >= 0 && backslash < end) throw malformedBody('an escape inside "data"', this.#offset + backslash);
          if (end > i) this.#decoded(this.#decoding!.write(i === 0 && end === n ? buf : buf.subarray(i, end)), out);
          this.#dataInChunk += end - i;
          if (quote < 0) {
            i = n;
            break;
          }
          this.#decoded(this.#decoding!.end(), out);
          this.#dataDone = true;
          this.#state = AFTER_VALUE;
          i = quote + 1;
          break;
        }
        case SIZE_STRING:
          if (c === 0x22) {
            this.#setSize(this.#offset + i);
            this.#state = AFTER_VALUE;
          } else if (c >= 0x30 && c <= 0x39 && this.#sizeText.length < 16) this.#sizeText += String.fromCharCode(c);
          else throw malformedBody(`${show(c)} in "size"`, this.#offset + i);
          i++;
          break;
        case AFTER_VALUE:
          if (isSpace(c)) i++;
          else if (c === 0x2c /* , */) {
            this.#state = NEXT_KEY;
            i++;
          } else if (c === 0x7d /* } */) {
            this.#state = AFTER;
            i++;
          } else throw malformedBody(`${show(c)} where ',' or '}' should be`, this.#offset + i);
          break;
        case AFTER:
          if (isSpace(c)) i++;
          else throw malformedBody(`${show(c)} after the object`, this.#offset + i);
          break;
        case STRING:
          if (c === 0x22) {
            i++;
            this.#stringEnd(buf, i, errorFrom);
          } else if (c === 0x5c /* \ */) {
            this.#state = STRING_ESCAPE;
            i++;
          } else if (c < 0x20) throw malformedBody(`a control character (${show(c)}) in a string`, this.#offset + i);
          else {
            if (this.#stringKind === TOP_KEY) this.#keyChar(c);
            i++;
          }
          break;
        case STRING_ESCAPE: {
          const simple = c === 0x22 || c === 0x5c || c === 0x2f ? c : c === 0x62 ? 8 : c === 0x66 ? 12 : c === 0x6e ? 10 : c === 0x72 ? 13 : c === 0x74 ? 9 : -1;
          if (c === 0x75 /* u */) {
            this.#hexLeft = 4;
            this.#hexValue = 0;
            this.#state = STRING_HEX;
          } else if (simple >= 0) {
            if (this.#stringKind === TOP_KEY) this.#keyChar(simple);
            this.#state = STRING;
          } else throw malformedBody(`the escape \\${String.fromCharCode(c)}`, this.#offset + i);
          i++;
          break;
        }
        case STRING_HEX:
          if (!isHex(c)) throw malformedBody(`${show(c)} in a \\u escape`, this.#offset + i);
          this.#hexValue = this.#hexValue * 16 + parseInt(String.fromCharCode(c), 16);
          if (--this.#hexLeft === 0) {
            if (this.#stringKind === TOP_KEY) this.#keyChar(this.#hexValue);
            this.#state = STRING;
          }
          i++;
          break;
        case NUMBER:
          if (this.#numberStep(c, this.#offset + i)) i++;
          else this.#valueEnd(buf, i, errorFrom); // the byte that ended the number is scanned again
          break;
        case LITERAL:
          if (c !== this.#literal.charCodeAt(this.#literalAt)) throw malformedBody(`${show(c)} in the literal ${this.#literal}`, this.#offset + i);
          i++;
          if (++this.#literalAt === this.#literal.length) this.#valueEnd(buf, i, errorFrom);
          break;
        case SKIP_VALUE:
        case SKIP_ARRAY_FIRST:
          if (isSpace(c)) i++;
          else if (c === 0x5d /* ] */ && this.#state === SKIP_ARRAY_FIRST) {
            i++;
            this.#close(buf, i, errorFrom);
          } else {
            this.#valueStart(c, this.#offset + i);
            i++;
          }
          break;
        case SKIP_OBJECT_FIRST:
        case SKIP_OBJECT_KEY:
          if (isSpace(c)) i++;
          else if (c === 0x22) {
            this.#stringKind = NESTED_KEY;
            this.#state = STRING;
            i++;
          } else if (c === 0x7d && this.#state === SKIP_OBJECT_FIRST) {
            i++;
            this.#close(buf, i, errorFrom);
          } else throw malformedBody(`${show(c)} where a key should be`, this.#offset + i);
          break;
        case SKIP_COLON:
          if (isSpace(c)) i++;
          else if (c === 0x3a) {
            this.#state = SKIP_VALUE;
            i++;
          } else throw malformedBody(`${show(c)} where ':' should be`, this.#offset + i);
          break;
        case SKIP_AFTER: {
          if (isSpace(c)) {
            i++;
            break;
          }
          const container = this.#stack[this.#depth - 1];
          if (c === 0x2c) {
            this.#state = container === OBJECT ? SKIP_OBJECT_KEY : SKIP_VALUE;
            i++;
          } else if ((c === 0x7d && container === OBJECT) || (c === 0x5d && container === ARRAY)) {
            i++;
            this.#close(buf, i, errorFrom);
          } else throw malformedBody(`${show(c)} where ',' or a closing bracket should be`, this.#offset + i);
          break;
        }
        default:
          throw new Error(`unreachable scanner state ${this.#state}`);
      }
    }
    if (this.#error && errorFrom >= 0) this.#keepError(buf.subarray(errorFrom, n));
  }

  /** Hands out decoded bytes, refusing more than the expected or declared size as soon as they exceed it. */
  #decoded(bytes: Buffer, out: Buffer[]): void {
    if (bytes.length === 0) return;
    const limit = this.#expected ?? this.#declared;
    if (limit !== null && this.decodedBytes > limit) throw this.#sizeError(`more than ${limit} bytes decoded`);
    out.push(bytes);
  }

  #keyChar(code: number): void {
    if (this.#key.length < MAX_KEY) this.#key += String.fromCharCode(code);
    else this.#keyLong = true;
  }

  /** The top-level value of an unknown key (or `error`) begins: skip it. */
  #skipValueStart(): void {
    this.#state = SKIP_VALUE;
  }

  /** A skipped value begins with `c` (not whitespace). */
  #valueStart(c: number, at: number): void {
    if (c === 0x22) {
      this.#stringKind = VALUE_STRING;
      this.#state = STRING;
    } else if (c === 0x7b || c === 0x5b) {
      if (this.#depth === MAX_DEPTH) throw malformedBody(`nesting deeper than ${MAX_DEPTH}`, at);
      this.#stack[this.#depth++] = c === 0x7b ? OBJECT : ARRAY;
      this.#state = c === 0x7b ? SKIP_OBJECT_FIRST : SKIP_ARRAY_FIRST;
    } else if (c === 0x74 || c === 0x66 || c === 0x6e) {
      this.#literal = c === 0x74 ? 'true' : c === 0x66 ? 'false' : 'null';
      this.#literalAt = 1;
      this.#state = LITERAL;
    } else {
      this.#numberIsSize = false;
      this.#startNumber(c, at);
    }
  }

  #startNumber(c: number, at: number): void {
    if (c === 0x2d) this.#number = N_MINUS;
    else if (c === 0x30) this.#number = N_ZERO;
    else if (c > 0x30 && c <= 0x39) this.#number = N_INT;
    else throw malformedBody(`${show(c)} where a value should be`, at);
    if (this.#numberIsSize) this.#sizeText = String.fromCharCode(c);
    this.#state = NUMBER;
  }

  /** Advances the number grammar by `c`; false when `c` ends the number (it is not part of it). */
  #numberStep(c: number, at: number): boolean {
    const digit = c >= 0x30 && c <= 0x39;
    let next = -1;
    switch (this.#number) {
      case N_MINUS:
        next = c === 0x30 ? N_ZERO : digit ? N_INT : -1;
        break;
      case N_ZERO:
      case N_INT:
        if (digit && this.#number === N_INT) next = N_INT;
        else if (c === 0x2e) next = N_DOT;
        else if (c === 0x65 || c === 0x45) next = N_E;
        else if (digit) throw malformedBody('a number with a leading zero', at);
        else return false;
        break;
      case N_DOT:
        next = digit ? N_FRACTION : -1;
        break;
      case N_FRACTION:
        if (digit) next = N_FRACTION;
        else if (c === 0x65 || c === 0x45) next = N_E;
        else return false;
        break;
      case N_E:
        next = digit ? N_EXPONENT : c === 0x2b || c === 0x2d ? N_E_SIGN : -1;
        break;
      case N_E_SIGN:
        next = digit ? N_EXPONENT : -1;
        break;
      case N_EXPONENT:
        if (digit) next = N_EXPONENT;
        else return false;
        break;
    }
    if (next < 0) throw malformedBody(`${show(c)} in a number`, at);
    this.#number = next;
    if (this.#numberIsSize) {
      if (this.#sizeText.length >= 16) throw malformedBody('a "size" too long', at);
      this.#sizeText += String.fromCharCode(c);
    }
    return true;
  }

  /** A string ended (`i` is just after its closing quote). */
  #stringEnd(buf: Buffer, i: number, errorFrom: number): void {
    if (this.#stringKind === TOP_KEY) this.#state = COLON;
    else if (this.#stringKind === NESTED_KEY) this.#state = SKIP_COLON;
    else this.#valueEnd(buf, i, errorFrom);
  }

  /** A container of a skipped value closed (`i` is just after its closer). */
  #close(buf: Buffer, i: number, errorFrom: number): void {
    this.#depth--;
    this.#valueEnd(buf, i, errorFrom);
  }

  /** A value other than `data` ended just before `buf[i]`. */
  #valueEnd(buf: Buffer, i: number, errorFrom: number): void {
    if (this.#depth > 0) {
      this.#state = SKIP_AFTER;
      return;
    }
    if (this.#state === NUMBER && this.#numberIsSize) {
      this.#numberIsSize = false;
      this.#setSize(this.#offset + i);
    } else if (this.#error && errorFrom >= 0) {
      this.#keepError(buf.subarray(errorFrom, i));
      throw this.#errorBody();
    }
    this.#state = AFTER_VALUE;
  }

  #setSize(at: number): void {
    const size = /^\d{1,15}$/.test(this.#sizeText) ? Number(this.#sizeText) : NaN;
    if (!Number.isSafeInteger(size)) throw malformedBody(`"size" ${JSON.stringify(this.#sizeText)} is not a whole number of bytes`, at);
    if (this.#expected !== null && size !== this.#expected) throw this.#sizeError(`"size" says ${size}, ${this.#expected} expected`);
    if (this.decodedBytes > size) throw this.#sizeError(`${this.decodedBytes} bytes decoded, "size" says ${size}`);
    this.#declared = size;
  }

  #keepError(bytes: Buffer): void {
    this.#errorBytes += bytes.length;
    if (this.#errorBytes > MAX_ERROR_BYTES) throw mapGmailAnswer({ status: this.#status >= 400 ? this.#status : 502, body: null, headers: { 'retry-after': this.#retryAfter ?? undefined } });
    this.#error!.push(Buffer.from(bytes));
  }

  /** The mapped error of a top-level `error` member read whole. */
  #errorBody(): GatewayError {
    let value: unknown = null;
    try {
      value = JSON.parse(Buffer.concat(this.#error!).toString('utf8'));
    } catch {
      // Checked by the scanner already; a value JSON.parse refuses (lone surrogates) maps by status alone.
    }
    // An error object inside a 2xx answer is mapped by its own `code` (Google's error body carries the status there).
    const embedded = (value as { code?: unknown } | null)?.code;
    const status = this.#status >= 400 ? this.#status : typeof embedded === 'number' && embedded >= 400 && embedded <= 599 ? embedded : 502;
    return mapGmailAnswer({ status, body: { error: value }, headers: { 'retry-after': this.#retryAfter ?? undefined } });
  }
}
