/**
 * Gmail's HTTP batch format (https://developers.google.com/gmail/api/guides/batch): a POST to
 * `/batch/gmail/v1` with a `multipart/mixed` body whose parts are `Content-Type: application/http`
 * (optional `Content-ID`), each holding one HTTP request with a path-only URL. The outer request's
 * headers apply to every inner request except `Content-*` ones, and an inner header replaces the
 * outer one. At most 100 calls per batch. The answer is `multipart/mixed` with one
 * `application/http` part per call, in order, `Content-ID: <response-ID>` for a request part
 * whose `Content-ID` was `<ID>`, each holding that call's own HTTP status line, headers and body.
 */

/** The most calls Google accepts in one batch. */
export const MAX_BATCH_CALLS = 100;

/** One inner request of a batch. */
export interface BatchPart {
  /** The part's Content-ID without angle brackets, or null. */
  contentId: string | null;
  method: string;
  /** Path and query as written in the request line. */
  target: string;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  body: string;
}

/** A malformed batch; the message is what the 400 says. */
export class BatchFormatError extends Error {}

/** The boundary of a `multipart/mixed` Content-Type, or null. */
export function boundaryOf(contentType: string | undefined): string | null {
  const m = /^\s*multipart\/mixed\s*;(.*)$/is.exec(contentType ?? '');
  if (!m) return null;
  const b = /(?:^|;)\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(m[1]!);
  return b ? (b[1] ?? b[2] ?? null) : null;
}

function readHeaderBlock(lines: string[], start: number): { headers: Record<string, string>; next: number } {
  const headers: Record<string, string> = {};
  let i = start;
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') return { headers, next: i + 1 };
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, next: i };
}

/**
 * Splits a batch body into its inner requests. Linear in the body's length.
 * @throws BatchFormatError when a part is not an HTTP request
 */
export function parseBatch(body: string, boundary: string): BatchPart[] {
  const delimiter = `--${boundary}`;
  const parts: BatchPart[] = [];
  const pieces = body.split(delimiter);
  // pieces[0] is the preamble; a piece starting with "--" is the close delimiter and the epilogue.
  for (const piece of pieces.slice(1)) {
    if (piece.startsWith('--')) break;
    const lines = piece.replace(/^[ \t]*\r?\n/, '').split(/\r?\n/);
    const outer = readHeaderBlock(lines, 0);
    const requestLine = lines[outer.next] ?? '';
    const m = /^([A-Z]+)\s+(\S+)(?:\s+HTTP\/\d(?:\.\d)?)?$/.exec(requestLine.trim());
    if (!m) throw new BatchFormatError(`Failed to parse batch request, error: request line "${requestLine.slice(0, 100)}"`);
    const inner = readHeaderBlock(lines, outer.next + 1);
    // Google wants a path; a full URL is reduced to its path and query, a malformed one refused.
    let target = m[2]!;
    if (!target.startsWith('/')) {
      if (!URL.canParse(target)) throw new BatchFormatError(`Failed to parse batch request, error: bad URL "${target.slice(0, 100)}"`);
      const u = new URL(target);
      target = u.pathname + u.search;
    }
    const cid = outer.headers['content-id'];
    parts.push({
      contentId: cid ? cid.replace(/^<|>$/g, '') : null,
      method: m[1]!,
      target,
      headers: inner.headers,
      body: lines.slice(inner.next).join('\r\n').replace(/\s+$/, ''),
    });
  }
  return parts;
}

const REASONS: Record<number, string> = {
  200: 'OK', 204: 'No Content', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests',
  500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/** The head of one response part (boundary line to the inner blank line); the inner body follows it. */
export function responsePartHead(boundary: string, contentId: string, status: number, headers: Record<string, string>): Buffer {
  const lines = [`--${boundary}`, 'Content-Type: application/http', `Content-ID: <response-${contentId}>`, '', `HTTP/1.1 ${status} ${REASONS[status] ?? 'Unknown'}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k.replace(/(^|-)([a-z])/g, (_, d: string, c: string) => d + c.toUpperCase())}: ${v}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`);
}
