/**
 * The subset of Gmail's search syntax (`q`, https://support.google.com/mail/answer/7190) the fake
 * understands: `has:attachment`, `after:`/`before:` (`YYYY/MM/DD`, `YYYY-MM-DD`, `MM/DD/YYYY`, or
 * epoch seconds; dates are midnight Pacific time as Gmail reads them, fixed at UTC−8 here),
 * `newer:`/`older:` (same values), `in:inbox`, `in:sent`, `in:anywhere`, `label:`, `filename:`
 * (a name or an extension), `subject:` (a word, `"a phrase"` or `(a b)`), `from:`, `to:`, and free
 * words or quoted phrases (case-insensitive substring of subject, addresses, text and filenames).
 * Terms are ANDed. Anything else (other operators, `OR`, `-`, `{}`) throws {@link QueryError}: the
 * fake answers 400 rather than silently give other results than Gmail would.
 */
import type { StoredMessage } from './mailbox.ts';

/** A `q` the fake does not understand; the message names the term. */
export class QueryError extends Error {}

/** A compiled query: true when a message matches. */
export type MessagePredicate = (m: StoredMessage) => boolean;

const PST_OFFSET_MS = 8 * 3600_000;

function parseTime(value: string, term: string): number {
  if (/^\d+$/.test(value) && value.length >= 9) return Number(value) * 1000;
  let m = /^(\d{4})[/-](\d{1,2})[/-](\d{1,2})$/.exec(value);
  if (m) return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) + PST_OFFSET_MS;
  m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(value);
  if (m) return Date.UTC(Number(m[3]), Number(m[1]) - 1, Number(m[2])) + PST_OFFSET_MS;
  throw new QueryError(`Invalid date in search term ${term}`);
}

/** Splits `q` into terms, keeping quoted phrases and `op:(a b)` groups whole. Linear time. */
function tokenize(q: string): string[] {
  const terms: string[] = [];
  let i = 0;
  while (i < q.length) {
    while (i < q.length && /\s/.test(q[i]!)) i++;
    if (i >= q.length) break;
    const start = i;
    while (i < q.length && !/\s/.test(q[i]!)) {
      if (q[i] === '"') {
        const close = q.indexOf('"', i + 1);
        i = close < 0 ? q.length : close + 1;
      } else if (q[i] === '(') {
        const close = q.indexOf(')', i + 1);
        i = close < 0 ? q.length : close + 1;
      } else i++;
    }
    terms.push(q.slice(start, i));
  }
  return terms;
}

const unquote = (s: string) => s.replace(/^"(.*)"$/s, '$1').replace(/^\((.*)\)$/s, '$1').toLowerCase();

/**
 * Compiles `q` into a predicate.
 * @throws QueryError for an operator or construct the fake does not implement
 */
export function compileQuery(q: string): MessagePredicate {
  const preds: MessagePredicate[] = [];
  for (const term of tokenize(q)) {
    const op = /^([a-z_]+):(.*)$/is.exec(term);
    if (!op) {
      if (term === 'OR' || term === 'AND' || /^[-{}+~]/.test(term) || term.startsWith('(')) throw new QueryError(`Unsupported search syntax: ${term}`);
      const word = unquote(term);
      preds.push((m) => m.searchText.includes(word));
      continue;
    }
    const name = op[1]!.toLowerCase();
    const value = op[2]!;
    const v = unquote(value);
    switch (name) {
      case 'has':
        if (v !== 'attachment') throw new QueryError(`Unsupported search operator: ${term}`);
        preds.push((m) => m.hasAttachment);
        break;
      case 'after':
      case 'newer': {
        const t = parseTime(value, term);
        preds.push((m) => m.internalDate >= t);
        break;
      }
      case 'before':
      case 'older': {
        const t = parseTime(value, term);
        preds.push((m) => m.internalDate < t);
        break;
      }
      case 'in':
        if (v === 'anywhere') break;
        if (v !== 'inbox' && v !== 'sent' && v !== 'spam' && v !== 'trash') throw new QueryError(`Unsupported search operator: ${term}`);
        preds.push((m) => m.labelIds.includes(v.toUpperCase()));
        break;
      case 'label':
        preds.push((m) => m.labelIds.some((l) => l.toLowerCase() === v));
        break;
      case 'filename':
        preds.push((m) => m.filenames.some((f) => f.toLowerCase() === v || f.toLowerCase().includes(v)));
        break;
      case 'subject': {
        const words = v.split(/\s+/).filter(Boolean);
        preds.push((m) => words.every((w) => m.subject.toLowerCase().includes(w)));
        break;
      }
      case 'from':
      case 'to': {
        preds.push((m) => (m.payload.headers.find((h) => h.name.toLowerCase() === name)?.value ?? '').toLowerCase().includes(v));
        break;
      }
      default:
        throw new QueryError(`Unsupported search operator: ${term}`);
    }
  }
  return (m) => preds.every((p) => p(m));
}
