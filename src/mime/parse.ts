/**
 * A MIME parser (RFC 2045/2046, RFC 5322 headers) over one raw message held in a Buffer, giving a
 * BODYSTRUCTURE-shaped {@link MimePart} tree plus the byte range of each part's encoded body, so
 * that a part can later be streamed straight from its file range. The local store uses it while
 * indexing (one message at a time); nothing here decodes bodies.
 *
 * Rules follow Python's `email` parser where the RFCs leave room (the corpus manifest's reference):
 * a boundary line is `--boundary` followed only by an optional `--` and spaces/tabs (RFC 2046
 * §5.1.1); the line end before a boundary belongs to the boundary; a leading mbox `From ` line is
 * skipped; a header section ends at the first empty line or at the first line that is not a header
 * field; a missing or unparsable Content-Type is text/plain, inside multipart/digest
 * message/rfc822 (RFC 2046 §5.1.5). message/* parts are leaves (their body is the raw enclosed
 * message). Header values are read as `latin1` so raw 8-bit bytes survive to the decoders.
 *
 * Bounded (`./limits.ts`): at most `maxParts` parts are built, in document order, and multiparts
 * are split down to `maxDepth`; a multipart whose children were not all read is marked
 * `truncated`. Each level scans its own body once for its delimiter, so the work is linear in the
 * message size times the (bounded) depth.
 */
import type { MimePart } from './structure.ts';
import { normalizeTransferEncoding } from './decode.ts';
import { parseStructuredHeader } from './filename.ts';
import { MIME_LIMITS, partBudget, type MimeLimits, type PartBudget } from './limits.ts';
import { stripAngles } from './text.ts';

/** A parsed part: the {@link MimePart} node plus byte offsets within the parsed buffer. */
export interface ParsedPart extends MimePart {
  /** Offset of the first header byte. */
  headerStart: number;
  /** Offset of the first body byte (after the empty line). */
  bodyStart: number;
  /** Offset just past the last body byte (the line end before the next boundary excluded). */
  bodyEnd: number;
  childNodes?: ParsedPart[];
}

/** One header field: lower-cased name and unfolded value as latin1 text (raw bytes kept). */
export interface HeaderField {
  name: string;
  value: string;
}

/** The result of {@link parseMessage}. */
export interface ParsedMessage {
  /** Header fields of the top-level message, in order. */
  headers: HeaderField[];
  root: ParsedPart;
}

const MEDIA_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/;

/**
 * Parses one message. Never throws on malformed input: whatever cannot be read as MIME is kept as
 * a text/plain leaf.
 * @param raw the message bytes (without mbox escaping undone: offsets are into `raw`)
 * @param limits the MIME limits (part count, depth); default {@link MIME_LIMITS}
 */
export function parseMessage(raw: Buffer, limits: Readonly<MimeLimits> = MIME_LIMITS): ParsedMessage {
  // Past maxParsedBytes the message is not read; parts that reach the cut are marked truncated.
  const cut = raw.length > limits.maxParsedBytes;
  const text = raw.toString('latin1', 0, cut ? limits.maxParsedBytes : raw.length);
  let start = 0;
  // A leading mbox envelope line ("From sender date") is not a header (7 corpus files carry one).
  if (text.startsWith('From ')) {
    const nl = text.indexOf('\n');
    start = nl < 0 ? text.length : nl + 1;
  }
  const { headers, bodyStart } = readHeaders(text, start, text.length);
  const walk: Walk = { budget: partBudget(limits), maxDepth: limits.maxDepth, cutAt: cut ? text.length : null };
  const root = buildPart(text, headers, start, bodyStart, text.length, '', 'text/plain', 0, true, walk);
  return { headers, root };
}

/** Reads a header section starting at `start`; returns the fields and where the body starts. */
export function readHeaders(text: string, start: number, end: number): { headers: HeaderField[]; bodyStart: number } {
  const headers: HeaderField[] = [];
  let pos = start;
  let current: HeaderField | null = null;
  while (pos < end) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0 || nl >= end) nl = end;
    const lineEnd = nl > pos && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    const line = text.slice(pos, lineEnd);
    const next = Math.min(nl + 1, end);
    if (line.length === 0) return { headers, bodyStart: next };
    const c0 = line.charCodeAt(0);
    if (c0 === 32 || c0 === 9) {
      // Continuation (RFC 5322 §2.2.3). Before any field it is junk (a line of spaces), skipped.
      if (current) current.value += line;
      pos = next;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0 || /[\s]/.test(line.slice(0, colon).trimEnd()) ) {
      // Not a header field: the body starts here (Python: MissingHeaderBodySeparatorDefect).
      return { headers, bodyStart: pos };
    }
    current = { name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1) };
    headers.push(current);
    pos = next;
  }
  for (const h of headers) h.value = h.value.trim();
  return { headers, bodyStart: end };
}

function headerValue(headers: HeaderField[], name: string): string | null {
  const field = headers.find((h) => h.name === name);
  return field ? field.value.trim() : null;
}

/** The {@link MimePart} fields that a part's own header fields define. */
export type MimeHeaderFields = Pick<MimePart, 'type' | 'parameters' | 'disposition' | 'dispositionParameters' | 'contentId' | 'encoding'>;

/**
 * Reads a part's header fields into {@link MimePart} fields: Content-Type (type and decoded
 * parameters; missing: `defaultType`, unparsable: text/plain), Content-Disposition,
 * Content-ID (angle brackets removed) and Content-Transfer-Encoding (normalized). THE reading of
 * a part header shared by every provider (the local store's parse, IMAP's `BODY[part.MIME]`).
 * Values are trimmed in place.
 */
export function mimeHeaderFields(headers: HeaderField[], defaultType = 'text/plain'): MimeHeaderFields {
  for (const h of headers) h.value = h.value.trim();
  const ctRaw = headerValue(headers, 'content-type');
  const ct = ctRaw == null ? null : parseStructuredHeader(ctRaw);
  let type = defaultType;
  if (ct) type = MEDIA_TYPE.test(ct.value) ? ct.value : 'text/plain';
  const cdRaw = headerValue(headers, 'content-disposition');
  const cd = cdRaw == null ? null : parseStructuredHeader(cdRaw);
  const cidRaw = headerValue(headers, 'content-id');
  const contentId = stripAngles(cidRaw);
  return {
    type,
    parameters: ct?.params ?? {},
    disposition: cd ? cd.value || null : null,
    dispositionParameters: cd?.params ?? {},
    contentId,
    encoding: normalizeTransferEncoding(headerValue(headers, 'content-transfer-encoding')),
  };
}

/**
 * Reads one header block (a part's `BODY[n.MIME]`, a message's header) as {@link mimeHeaderFields}.
 * @param raw the header bytes; the block ends at the first empty line
 */
export function parseMimeHeader(raw: Buffer, defaultType = 'text/plain'): MimeHeaderFields {
  const text = raw.toString('latin1');
  return mimeHeaderFields(readHeaders(text, 0, text.length).headers, defaultType);
}

/** The limits of one message's walk. */
interface Walk {
  budget: PartBudget;
  maxDepth: number;
  /** Where the parsed text was cut (maxParsedBytes), or null when the whole message was read. */
  cutAt: number | null;
}

function buildPart(
  text: string,
  headers: HeaderField[],
  headerStart: number,
  bodyStart: number,
  bodyEnd: number,
  partId: string,
  defaultType: string,
  depth: number,
  isMessageRoot: boolean,
  walk: Walk,
): ParsedPart {
  const fields = mimeHeaderFields(headers, defaultType);
  const type = fields.type;
  const part: ParsedPart = {
    partId: isMessageRoot && !type.startsWith('multipart/') && partId === '' ? '1' : partId,
    ...fields,
    size: bodyEnd - bodyStart,
    headerStart,
    bodyStart,
    bodyEnd,
  };
  // Its bytes may go on past the cut: not read whole.
  if (walk.cutAt !== null && bodyEnd >= walk.cutAt) part.truncated = true;
  const boundary = part.parameters.boundary;
  if (!type.startsWith('multipart/') || !boundary) return part;
  if (depth >= walk.maxDepth) {
    // Nested deeper than the limit: kept as a multipart without children, and said so.
    part.size = null;
    part.truncated = true;
    return part;
  }
  // One range more than the budget allows tells whether children are left out.
  const ranges = splitMultipart(text, bodyStart, bodyEnd, boundary, walk.budget.remaining + 1);
  if (ranges.length === 0) return part;
  part.size = null;
  const childDefault = type === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
  const children: ParsedPart[] = [];
  for (const [s, e] of ranges) {
    // Checked per child: the children's own children spend the same budget (document order).
    if (walk.budget.remaining <= 0) {
      part.truncated = true;
      break;
    }
    walk.budget.remaining--;
    const childId = partId === '' ? String(children.length + 1) : `${partId}.${children.length + 1}`;
    const { headers: h, bodyStart: bs } = readHeaders(text, s, e);
    children.push(buildPart(text, h, s, Math.min(bs, e), e, childId, childDefault, depth + 1, false, walk));
  }
  part.childNodes = children;
  return part;
}

/**
 * Splits a multipart body into its parts' [start, end) ranges (RFC 2046 §5.1.1). Without a
 * closing delimiter the last part runs to the end of the body (Python does the same).
 * @param maxRanges stop after this many ranges (the last one then ends at its next delimiter)
 */
export function splitMultipart(text: string, start: number, end: number, boundary: string, maxRanges = Number.POSITIVE_INFINITY): [number, number][] {
  const delimiter = `--${boundary}`;
  const ranges: [number, number][] = [];
  let partStart = -1;
  let pos = start;
  while (pos < end) {
    const hit = text.indexOf(delimiter, pos);
    if (hit < 0 || hit + delimiter.length > end) break;
    // Only a hit at a line start is looked at further: scanning to the line end for every hit
    // would read a long line full of "--boundary" once per hit (n²).
    if (hit !== start && text.charCodeAt(hit - 1) !== 10) {
      pos = hit + delimiter.length;
      continue;
    }
    let nl = text.indexOf('\n', hit);
    if (nl < 0 || nl > end) nl = end;
    const rest = text.slice(hit + delimiter.length, nl).replace(/\r$/, '');
    const match = /^(--)?[ \t]*$/.exec(rest);
    if (!match) {
      pos = hit + delimiter.length;
      continue;
    }
    if (partStart >= 0) {
      // The line end before the delimiter belongs to the delimiter.
      let partEnd = hit;
      if (partEnd > partStart && text.charCodeAt(partEnd - 1) === 10) partEnd--;
      if (partEnd > partStart && text.charCodeAt(partEnd - 1) === 13) partEnd--;
      ranges.push([partStart, Math.max(partStart, partEnd)]);
      if (ranges.length >= maxRanges) return ranges;
    }
    if (match[1] === '--') return ranges;
    partStart = Math.min(nl + 1, end);
    pos = partStart;
  }
  if (partStart >= 0) ranges.push([partStart, end]);
  return ranges;
}
