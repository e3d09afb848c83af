/**
 * `$search` on message collections: a small subset of KQL as Graph applies it to mail.
 *
 * Followed: https://learn.microsoft.com/en-us/graph/search-query-parameter (the value is a quoted
 * string; words without a property match the default properties from, subject and body; property
 * restrictions `from:`, `to:`, `cc:`, `subject:`, `body:`, `attachment:` (attachment names),
 * `hasAttachments:true|false`, `received`/`sent` with `>=`, `<=`, `>`, `<`, `=` and a date; results
 * sorted by sent date, newest first, at most 1,000), and Microsoft's answers that `/messages` does
 * not combine `$search` with `$filter` or `$orderby`. Terms are and-ed (`AND` may be written);
 * `OR`, `NOT` and parentheses are refused with a 400 naming the fake. Matching is a
 * case-insensitive substring test, coarser than Exchange's word and prefix matching.
 */
import { GraphErrors, type GraphError } from './errors.ts';
import type { StoredMessage } from './mailbox.ts';

/** One and-ed term of a search. */
type Term = { kind: 'text'; field: 'default' | 'from' | 'to' | 'cc' | 'subject' | 'body' | 'attachment'; value: string } | { kind: 'has'; value: boolean } | { kind: 'date'; field: 'received' | 'sent'; op: string; value: number };

/** At most this many messages answer a `$search`. */
export const MAX_SEARCH_RESULTS = 1000;

/**
 * Parses a `$search` value (with its double quotes).
 * @returns a predicate over messages, or the 400 to answer
 */
export function parseSearch(raw: string): ((m: StoredMessage) => boolean) | GraphError {
  const quoted = /^"(.*)"$/s.exec(raw.trim());
  if (!quoted) return GraphErrors.badRequest('Syntax error: the $search value must be enclosed in double quotes.');
  const terms: Term[] = [];
  for (const token of quoted[1]!.match(/\S+:'[^']*'|\S+/g) ?? []) {
    if (token === 'AND') continue;
    if (token === 'OR' || token === 'NOT' || /^[()]/.test(token)) return GraphErrors.badRequest(`The fake Graph server supports only and-ed terms in $search: '${raw}'.`);
    const date = /^(received|sent)(>=|<=|>|<|=|:)(.+)$/i.exec(token);
    if (date) {
      const t = Date.parse(date[3]!);
      if (Number.isNaN(t)) return GraphErrors.badRequest(`Syntax error: '${date[3]!}' is not a date in $search.`);
      terms.push({ kind: 'date', field: date[1]!.toLowerCase() as 'received' | 'sent', op: date[2] === ':' ? '=' : date[2]!, value: t });
      continue;
    }
    const prop = /^([A-Za-z]+):(.*)$/.exec(token);
    if (prop) {
      const name = prop[1]!.toLowerCase();
      const value = prop[2]!.replace(/^'(.*)'$/, '$1').toLowerCase();
      if (name === 'hasattachments' || name === 'hasattachment') {
        if (value !== 'true' && value !== 'false') return GraphErrors.badRequest(`Syntax error: hasAttachments takes true or false in $search.`);
        terms.push({ kind: 'has', value: value === 'true' });
      } else if (['from', 'to', 'cc', 'subject', 'body', 'attachment'].includes(name)) {
        terms.push({ kind: 'text', field: name as 'from', value });
      } else {
        return GraphErrors.badRequest(`The fake Graph server does not search the property '${prop[1]!}'.`);
      }
      continue;
    }
    terms.push({ kind: 'text', field: 'default', value: token.toLowerCase() });
  }
  return (m) => terms.every((t) => matches(m, t));
}

function matches(m: StoredMessage, t: Term): boolean {
  if (t.kind === 'has') return m.hasAttachments === t.value;
  if (t.kind === 'date') {
    const v = Date.parse(t.field === 'received' ? m.receivedDateTime : m.sentDateTime);
    // A bare date means that whole day.
    const day = 86_400_000;
    switch (t.op) {
      case '>=':
        return v >= t.value;
      case '>':
        return v >= t.value + day;
      case '<=':
        return v < t.value + day;
      case '<':
        return v < t.value;
      default:
        return v >= t.value && v < t.value + day;
    }
  }
  const s = m.search;
  const fields = t.field === 'default' ? [s.from, s.subject, s.body] : [s[t.field]];
  return fields.some((f) => f.includes(t.value));
}
