/**
 * Linking messages into threads by their headers: the grouping steps of JWZ threading
 * (https://www.jwz.org/doc/threading.html) and of RFC 5256 `THREAD=REFERENCES` (§2.1 base
 * subject, the REFERENCES algorithm's steps 1 and 5), without the parent/child tree: a
 * conversation is a flat set of messages, so only "which messages belong together" is computed.
 *
 * Rules:
 * - Messages that share a msg-id through Message-ID, In-Reply-To or References are one thread
 *   (a union-find over message nodes and msg-id nodes; a reply to a message that is not there,
 *   a "missing parent", still joins every other message that names the same id).
 * - msg-ids are compared after {@link normalizeMsgId} (trimmed, lower-cased).
 * - Duplicate Message-IDs: only the first message in input order owns an id; a later message
 *   with the same Message-ID is linked through its own In-Reply-To / References only. Two
 *   unrelated mails that share an id (broken generators, re-sent copies, test corpora) therefore
 *   never merge because of it, while a duplicate that replies into a thread still joins it. This
 *   is RFC 5256 §3 REFERENCES step 1's rule ("only use that Message ID in the first (lowest
 *   sequence number) message"), so a header fallback groups like the server's THREAD: give the
 *   messages of an IMAP folder in UID order.
 * - Subject merge (optional, {@link mergeBySubject}): threads whose oldest messages have the same
 *   non-empty {@link baseSubject} are merged, as RFC 5256 step 5 does; off by default, so two
 *   unrelated mails both called "Re: hello" stay apart.
 *
 * Node names inside the {@link UnionFind} are `m:<message key>` and `id:<normalized msg-id>`;
 * use {@link joinMessages} and {@link groupBy} rather than building them by hand.
 */
import type { MessageHeaders } from '../domain/mail.ts';
import { oldestFirst } from './assemble.ts';
import { UnionFind } from './union-find.ts';

/** What linking reads of a message. Any object with these fields will do (it is passed through). */
export interface LinkableMessage extends Pick<MessageHeaders, 'messageId' | 'inReplyTo'> {
  /** Provider-native message key, unique among the messages linked together. */
  key: string;
  /** The msg-ids of References, oldest first (read-only view of {@link MessageHeaders.references}). */
  references: readonly string[];
  /** Read only by the subject merge. */
  subject?: string | null;
  /** Date (a Date or epoch milliseconds); read only by the subject merge to find a thread's oldest message. */
  date?: Date | number | null;
}

/** Options of {@link threadMessages}. */
export interface ThreadOptions {
  /** Also merge threads by RFC 5256 base subject ({@link mergeBySubject}); default false. */
  mergeSubjects?: boolean;
}

/** The form in which msg-ids are compared: trimmed and lower-cased (angle brackets kept). */
export function normalizeMsgId(id: string): string {
  return id.trim().toLowerCase();
}

const messageNode = (key: string): string => `m:${key}`;
const idNode = (id: string): string => `id:${normalizeMsgId(id)}`;

/** Puts the messages with these keys into one thread (e.g. one group of a server THREAD answer). */
export function joinMessages(uf: UnionFind, keys: readonly string[]): void {
  const [first, ...rest] = keys;
  if (first === undefined) return;
  uf.add(messageNode(first));
  for (const key of rest) uf.union(messageNode(first), messageNode(key));
}

/**
 * Links `messages` by msg-ids: each message joins the id it owns (the first message in input
 * order with a given Message-ID owns it) and every id of its In-Reply-To and References.
 * Ids owned by messages outside `messages` are not known here; link all together in one call.
 */
export function linkByIds(uf: UnionFind, messages: readonly LinkableMessage[]): void {
  const owned = new Set<string>();
  for (const m of messages) {
    uf.add(messageNode(m.key));
    if (!m.messageId || m.messageId.trim() === '') continue;
    const node = idNode(m.messageId);
    if (owned.has(node)) continue;
    owned.add(node);
    uf.union(messageNode(m.key), node);
  }
  for (const m of messages) {
    for (const ref of [...m.references, ...(m.inReplyTo ? [m.inReplyTo] : [])]) {
      if (ref.trim() !== '') uf.union(messageNode(m.key), idNode(ref));
    }
  }
}

/**
 * The threads of `messages` as found in `uf`: groups in the order of their first message in
 * `messages`, each group's messages in input order. Messages unknown to `uf` are threads of their own.
 */
export function groupBy<T extends { key: string }>(uf: UnionFind, messages: readonly T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const m of messages) {
    const root = uf.find(messageNode(m.key));
    const group = groups.get(root);
    if (group) group.push(m);
    else groups.set(root, [m]);
  }
  return [...groups.values()];
}

/**
 * Merges the threads (in `uf`) of `messages` whose oldest messages share a non-empty RFC 5256 base
 * subject (REFERENCES step 5, simplified: any two such roots merge, replies or not).
 */
export function mergeBySubject(uf: UnionFind, messages: readonly LinkableMessage[]): void {
  const bySubject = new Map<string, string>();
  for (const group of groupBy(uf, messages)) {
    const oldest = oldestFirst(group)[0]!;
    const subject = baseSubject(oldest.subject ?? null);
    if (subject === '') continue;
    const other = bySubject.get(subject);
    if (other) uf.union(messageNode(other), messageNode(oldest.key));
    else bySubject.set(subject, oldest.key);
  }
}

/**
 * Threads `messages` by their headers (see the module docs); input order decides which duplicate
 * owns a Message-ID and the order of the result.
 * @returns the threads, in the order of their first message; each thread's messages in input order
 */
export function threadMessages<T extends LinkableMessage>(messages: readonly T[], options: ThreadOptions = {}): T[][] {
  const uf = new UnionFind();
  linkByIds(uf, messages);
  if (options.mergeSubjects) mergeBySubject(uf, messages);
  return groupBy(uf, messages);
}

/** Longest subject read for the base subject, in characters (a real one has well under 1,000). */
const MAX_SUBJECT_LENGTH = 2000;

const isWsp = (c: string | undefined): boolean => c === ' ';

/** Index just past a `[blob]` (no `[` or `]` inside) starting at `i`, or -1. */
function blobEnd(s: string, i: number, end: number): number {
  if (s[i] !== '[') return -1;
  for (let j = i + 1; j < end; j++) {
    if (s[j] === ']') return j + 1;
    if (s[j] === '[') return -1;
  }
  return -1;
}

/** Index just past `re` / `fw` / `fwd`, optional spaces, an optional `[blob]`, spaces and `:` at `i` (subj-refwd), or -1. */
function refwdEnd(s: string, i: number, end: number): number {
  const lower = s.slice(i, i + 3).toLowerCase();
  let j: number;
  if (lower.startsWith('re')) j = i + 2;
  else if (lower === 'fwd') j = i + 3;
  else if (lower.startsWith('fw')) j = i + 2;
  else return -1;
  while (j < end && isWsp(s[j])) j++;
  const blob = blobEnd(s, j, end);
  if (blob > 0) j = blob;
  while (j < end && isWsp(s[j])) j++;
  return s[j] === ':' ? j + 1 : -1;
}

/**
 * RFC 5256 §2.1 base subject: whitespace runs folded to one space; `Re:` / `Fw:` / `Fwd:`
 * prefixes (with `[blob]`s before or within them), leading `[blob]`s, `(fwd)` trailers and the
 * `[Fwd: ...]` wrapper removed, repeatedly. The empty string when nothing is left.
 * (The subject is expected decoded already: RFC 2047 words undone.) One pass over the first
 * {@link MAX_SUBJECT_LENGTH} characters: each step removes what it looked at or ends the loop,
 * so a subject of a million `[x]` or `(fwd)` costs linear time.
 */
export function baseSubject(subject: string | null): string {
  const s = (subject ?? '').slice(0, MAX_SUBJECT_LENGTH).replace(/\s+/g, ' ');
  let start = 0;
  let end = s.length;
  const trim = (): void => {
    while (start < end && isWsp(s[start])) start++;
    while (end > start && isWsp(s[end - 1])) end--;
  };
  trim();
  for (;;) {
    const before = end - start;
    // subj-trailer: "(fwd)" at the end, repeatedly.
    while (end - start >= 5 && s.slice(end - 5, end).toLowerCase() === '(fwd)') {
      end -= 5;
      trim();
    }
    // subj-leader: blobs followed by re/fwd, or a blob with text after it, repeatedly.
    for (;;) {
      const refwd = refwdEnd(s, start, end);
      if (refwd > 0) {
        start = refwd;
        trim();
        continue;
      }
      const blob = blobEnd(s, start, end);
      if (blob > 0) {
        let rest = blob;
        while (rest < end && isWsp(s[rest])) rest++;
        if (rest < end) {
          start = rest;
          continue;
        }
      }
      break;
    }
    // subj-fwd: "[fwd:" ... "]" around the whole subject.
    if (end - start >= 6 && s.slice(start, start + 5).toLowerCase() === '[fwd:' && s[end - 1] === ']') {
      start += 5;
      end -= 1;
      trim();
    }
    if (end - start === before) return s.slice(start, end);
  }
}
