/**
 * Linear-time string helpers for text that comes from a mail (header values, parameters,
 * filenames). Regular expressions such as `/\s*>$/` or `/["']+$/` look harmless but are tried
 * from every start position, so a value of a million spaces or quotes that does not end as the
 * pattern wants costs n² steps (seconds per header); these scans look at each character once.
 */

/** True for the characters `String.prototype.trim` removes that a mail header can carry (SP, HTAB, CR, LF, FF, VT). */
function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d || code === 0x0c || code === 0x0b;
}

/** `value` without leading and trailing characters of `chars` (each a single UTF-16 unit). */
export function trimChars(value: string, chars: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && chars.includes(value[start]!)) start++;
  while (end > start && chars.includes(value[end - 1]!)) end--;
  return value.slice(start, end);
}

/**
 * A msg-id or Content-ID without its angle brackets (RFC 5322 §3.6.4, RFC 2392): trimmed, one
 * leading `<` and one trailing `>` removed together with the whitespace inside them; null when
 * nothing is left or the value is absent.
 */
export function stripAngles(value: string | null | undefined): string | null {
  if (value == null) return null;
  let start = 0;
  let end = value.length;
  while (start < end && isSpace(value.charCodeAt(start))) start++;
  while (end > start && isSpace(value.charCodeAt(end - 1))) end--;
  if (start < end && value[start] === '<') {
    start++;
    while (start < end && isSpace(value.charCodeAt(start))) start++;
  }
  if (end > start && value[end - 1] === '>') {
    end--;
    while (end > start && isSpace(value.charCodeAt(end - 1))) end--;
  }
  return start < end ? value.slice(start, end) : null;
}

/**
 * The msg-ids (`<...>` without whitespace or angle brackets inside) of a header value, in order,
 * angle brackets kept (RFC 5322 §3.6.4). At most `limit` are returned: the first one (the root of
 * a References chain) and the last `limit - 1` (the closest ancestors).
 */
export function msgIds(value: string | null | undefined, limit = Number.POSITIVE_INFINITY): string[] {
  if (!value) return [];
  const ids: string[] = [];
  // A single-class quantifier between two literals: each start scans to the next "<" at most.
  for (const m of value.matchAll(/<[^<>\s]+>/g)) ids.push(m[0]);
  if (ids.length <= limit) return ids;
  if (limit <= 0) return [];
  return [ids[0]!, ...ids.slice(ids.length - (limit - 1))];
}
