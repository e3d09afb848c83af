/**
 * Decoding of MIME parameter values (filenames above all) from whatever a provider hands over:
 *
 * - RFC 2231 extended parameters (`name*=charset'lang'%XX..`, continuations `name*0*=`, `name*1=`),
 *   decoded with the WHATWG decoder of the charset. A byte the charset cannot hold becomes U+FFFD
 *   (Python's view; mailparser drops it silently, which hides that the name was damaged).
 * - RFC 2047 encoded words, also inside quoted strings (RFC 2047 §5 forbids them there, but
 *   Outlook and others write them; mailparser decodes them, and a user wants the decoded name).
 * - raw 8-bit bytes (RFC 6532 allows UTF-8): UTF-8 when valid; a UTF-8 name cut in the middle of a
 *   character keeps UTF-8 with one U+FFFD at the end; anything else is windows-1252 (the superset
 *   of Latin-1 that mailers actually send).
 *
 * Inputs are JavaScript strings in which each char below U+0100 may stand for one raw byte (a
 * header read as `latin1`), or already-decoded Unicode (imapflow decodes some BODYSTRUCTURE
 * values). {@link decodeParameterValue} is idempotent on its own output.
 */
import libmime from 'libmime';

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });
const utf8Lenient = new TextDecoder('utf-8');
const windows1252 = new TextDecoder('windows-1252');

/**
 * Decodes raw 8-bit bytes of a header value: UTF-8 when valid, UTF-8 with a trailing U+FFFD when
 * only the last character is cut, else windows-1252.
 */
export function decodeRawHeaderBytes(bytes: Uint8Array): string {
  try {
    return utf8Fatal.decode(bytes);
  } catch {
    // fall through
  }
  // A name cut mid-character (a length limit applied to bytes): the head is valid UTF-8 and the
  // tail is the start of a multi-byte sequence.
  for (let cut = 1; cut <= 3 && cut < bytes.length; cut++) {
    const lead = bytes[bytes.length - cut]!;
    if (lead >= 0xc2 && lead <= 0xf4) {
      const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
      const tailOk = bytes.subarray(bytes.length - cut + 1).every((b) => b >= 0x80 && b <= 0xbf);
      if (need > cut && tailOk) {
        try {
          utf8Fatal.decode(bytes.subarray(0, bytes.length - cut));
          return utf8Lenient.decode(bytes);
        } catch {
          break;
        }
      }
      break;
    }
    if (lead < 0x80 || lead > 0xbf) break;
  }
  return windows1252.decode(bytes);
}

/**
 * Decodes one parameter value (filename, name): raw 8-bit bytes, then RFC 2047 encoded words.
 * Idempotent: already-decoded Unicode comes back unchanged (unless it still holds encoded words).
 */
export function decodeParameterValue(value: string): string {
  let text = value;
  // eslint-disable-next-line no-control-regex
  if (/[\u0080-\u00ff]/.test(text) && !/[^\u0000-\u00ff]/.test(text)) {
    text = decodeRawHeaderBytes(Buffer.from(text, 'latin1'));
  }
  if (text.includes('=?')) text = decodeEncodedWords(text);
  return text;
}

/** Decodes RFC 2047 encoded words in `text` (charsets libmime knows); other text is kept. */
export function decodeEncodedWords(text: string): string {
  try {
    return libmime.decodeWords(text);
  } catch {
    return text;
  }
}

/**
 * Decodes an unstructured header value (Subject, display names) read as `latin1`: raw 8-bit
 * bytes first, then RFC 2047 encoded words. Raw bytes inside an encoded word (Eudora writes
 * `=?iso-8859-1?Q?Fr\xf6sche?=`) are taken in the word's charset, as Python does.
 */
export function decodeHeaderText(raw: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0080-\u00ff]/.test(raw) && !/[^\u0000-\u00ff]/.test(raw)) {
    // Raw bytes inside a Q encoded word: decode that word's bytes with its own charset. One class
    // per quantifier, each ending at a "?" or whitespace: a start scans at most to the next "?",
    // so a long run of raw bytes or of "=?" is read in linear time.
    const fixed = raw.replace(/=\?([^?\s]+)\?([Qq])\?([^?\s]*)\?=/g, (word, charset: string, _enc: string, data: string) => {
      if (!/[\u0080-\u00ff]/.test(data)) return word;
      const bytes = Buffer.from(data.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
      return decodeCharset(bytes, charset) ?? word;
    });
    return decodeParameterValue(fixed);
  }
  return decodeParameterValue(raw);
}

/** Decodes bytes in a named charset (WHATWG labels, RFC 2231 language suffix stripped); null when unknown. */
export function decodeCharset(bytes: Uint8Array, charset: string): string | null {
  // RFC 2231 §5: `charset*language`; the language is not needed to decode.
  const star = charset.indexOf('*');
  const label = (star < 0 ? charset : charset.slice(0, star)).trim().toLowerCase();
  try {
    return new TextDecoder(label || 'us-ascii').decode(bytes);
  } catch {
    return null;
  }
}

/** A structured header value split into its main token and decoded parameters (names lower-cased). */
export interface StructuredHeader {
  /** The value before the first `;`, lower-cased and trimmed (`attachment`, `image/png`, or `` when absent). */
  value: string;
  params: Record<string, string>;
}

const EXTENDED_PARAM = /;\s*([A-Za-z0-9!#$&+.^_`{|}~-]+)\*(?:(\d+)(\*)?|)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/g;

/**
 * Parses Content-Type / Content-Disposition (RFC 2045 §5.1, RFC 2183, RFC 2231) tolerantly:
 * unquoted values with spaces keep the whole value up to `;` (what the sender meant), a missing
 * type (`Content-Type: ; name=x`) gives value ``, duplicate parameters keep the first.
 * @param raw the header value, each char below U+0100 standing for one byte when read raw
 */
export function parseStructuredHeader(raw: string): StructuredHeader {
  let parsed: { value: string; params: Record<string, string> };
  try {
    parsed = libmime.parseHeaderValue(raw);
  } catch {
    parsed = { value: raw.split(';')[0] ?? '', params: {} };
  }
  const params: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed.params)) {
    params[key.toLowerCase()] = decodeParameterValue(String(value));
  }
  // RFC 2231 extended values are decoded here rather than by libmime, so that a byte the charset
  // cannot hold shows as U+FFFD instead of vanishing.
  const extended = decodeExtendedParams(raw);
  for (const [key, value] of Object.entries(extended)) params[key] = value;
  return { value: parsed.value.trim().toLowerCase(), params };
}

function unquote(value: string): string {
  const v = value.trim();
  if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) return v.slice(1, -1).replace(/\\(.)/g, '$1');
  return v;
}

function percentBytes(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x25 && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (ch <= 0xff) bytes.push(ch);
    else bytes.push(...Buffer.from(text[i]!, 'utf8'));
  }
  return Buffer.from(bytes);
}

/** RFC 2231 §3-4: collects `name*`, `name*0*`, `name*1` ... and decodes them; keys lower-cased. */
function decodeExtendedParams(raw: string): Record<string, string> {
  const sections = new Map<string, { index: number; encoded: boolean; value: string }[]>();
  EXTENDED_PARAM.lastIndex = 0;
  const header = raw.replace(/\r?\n[ \t]*/g, ' ');
  for (const m of header.matchAll(EXTENDED_PARAM)) {
    const name = m[1]!.toLowerCase();
    const index = m[2] === undefined ? 0 : Number(m[2]);
    const encoded = m[2] === undefined || m[3] === '*';
    const list = sections.get(name) ?? [];
    list.push({ index, encoded, value: unquote(m[4] ?? '') });
    sections.set(name, list);
  }
  const out: Record<string, string> = {};
  for (const [name, list] of sections) {
    list.sort((a, b) => a.index - b.index);
    if (!list.some((s) => s.encoded)) continue; // plain continuations: libmime joins them well
    let charset = 'us-ascii';
    const first = list[0]!;
    if (first.encoded) {
      const q = /^([^']*)'([^']*)'([\s\S]*)$/.exec(first.value);
      if (q) {
        charset = q[1] || 'us-ascii';
        first.value = q[3] ?? '';
      }
    }
    const bytes = Buffer.concat(list.map((s) => (s.encoded ? percentBytes(s.value) : Buffer.from(s.value, 'latin1'))));
    const decoded = decodeCharset(bytes, charset) ?? decodeRawHeaderBytes(bytes);
    out[name] = decodeParameterValue(decoded);
  }
  return out;
}
