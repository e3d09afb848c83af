/**
 * Google's partial response: the `fields` query parameter
 * (https://developers.google.com/gmail/api/guides/performance#partial-response).
 *
 * Syntax: a comma-separated list of selections; `a/b` selects `b` inside `a`; `a(b,c)` selects
 * `b` and `c` inside `a`; `*` selects everything at its level. A selection inside an array applies
 * to every element. Google refuses a name that the resource does not have with a 400; the fake
 * does the same against {@link KNOWN_FIELDS}, the field names of the Gmail resources it serves.
 */

/** A parsed mask: for each selected name, `true` (whole value) or the mask of its insides. */
export type FieldMask = Map<string, FieldMask | true>;

/** Every field name of the resources the fake serves (Message, MessagePart, Thread, lists, Label, Profile). */
export const KNOWN_FIELDS = new Set([
  'id', 'threadId', 'labelIds', 'snippet', 'historyId', 'internalDate', 'sizeEstimate', 'payload', 'raw',
  'partId', 'mimeType', 'filename', 'headers', 'name', 'value', 'body', 'attachmentId', 'size', 'data', 'parts',
  'messages', 'threads', 'nextPageToken', 'resultSizeEstimate',
  'labels', 'type', 'messageListVisibility', 'labelListVisibility', 'messagesTotal', 'messagesUnread', 'threadsTotal', 'threadsUnread', 'color',
  'emailAddress',
]);

const MAX_DEPTH = 32;

/** A malformed mask or an unknown field; `message` is what Google's 400 says. */
export class FieldMaskError extends Error {}

/**
 * Parses a mask. Linear in its length.
 * @throws FieldMaskError on a syntax error or an unknown field name
 */
export function parseFieldMask(text: string): FieldMask {
  let pos = 0;
  const fail = (why: string): never => {
    throw new FieldMaskError(`Invalid field selection ${text}${why ? `: ${why}` : ''}`);
  };
  const parseName = (): string => {
    const start = pos;
    if (text[pos] === '*') {
      pos++;
      return '*';
    }
    while (pos < text.length && /[A-Za-z0-9_]/.test(text[pos]!)) pos++;
    if (pos === start) fail(`unexpected '${text[pos] ?? 'end'}' at ${pos}`);
    const name = text.slice(start, pos);
    if (!KNOWN_FIELDS.has(name)) throw new FieldMaskError(`Invalid field selection ${name}`);
    return name;
  };
  const merge = (mask: FieldMask, name: string, sub: FieldMask | true): void => {
    const prev = mask.get(name);
    if (prev === true || sub === true) mask.set(name, true);
    else if (prev === undefined) mask.set(name, sub);
    else for (const [k, v] of sub) merge(prev, k, v);
  };
  const parseList = (closing: string | null, depth = 0): FieldMask => {
    // Bounded nesting: a hostile mask of a million '(' must not overflow the stack.
    if (depth > MAX_DEPTH) fail('nested too deeply');
    const mask: FieldMask = new Map();
    for (;;) {
      // One selection: name(/name)* with an optional (sub-list) at its end.
      const path = [parseName()];
      while (text[pos] === '/') {
        pos++;
        path.push(parseName());
        if (path.length > MAX_DEPTH) fail('nested too deeply');
      }
      let leaf: FieldMask | true = true;
      if (text[pos] === '(') {
        pos++;
        leaf = parseList(')', depth + 1);
      }
      let value: FieldMask | true = leaf;
      for (let i = path.length - 1; i >= 1; i--) value = new Map([[path[i]!, value]]);
      merge(mask, path[0]!, value);
      if (text[pos] === ',') {
        pos++;
        continue;
      }
      if (closing && text[pos] === closing) {
        pos++;
        return mask;
      }
      if (!closing && pos === text.length) return mask;
      return fail(`unexpected '${text[pos] ?? 'end'}' at ${pos}`);
    }
  };
  return parseList(null);
}

/** Applies a mask to a JSON value: objects keep the selected keys, arrays mask each element. */
export function applyFieldMask(value: unknown, mask: FieldMask): unknown {
  if (Array.isArray(value)) return value.map((v) => applyFieldMask(v, mask));
  if (value === null || typeof value !== 'object') return value;
  const all = mask.get('*');
  if (all === true) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const sub = mask.get(key) ?? all;
    if (sub === undefined) continue;
    out[key] = sub === true ? v : applyFieldMask(v, sub);
  }
  return out;
}
