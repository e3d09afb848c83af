/**
 * Conversations (threads) across INBOX and Sent.
 *
 * Within a folder the server's `THREAD REFERENCES` (RFC 5256) groups messages when advertised;
 * without it the same algorithm's two linking rules are applied here: messages linked by
 * Message-ID / In-Reply-To / References are one thread, and thread roots with the same base
 * subject (RFC 5256 §2.1) are merged. Across folders, threads are merged by Message-ID links only
 * (a reply kept in Sent joins the received thread it answers). A conversation's key is the
 * message key of its oldest message.
 */
import type { ImapFlow } from 'imapflow';
import type { ConversationInfo, Address } from '../types.ts';
import type { FolderIndex, MessageSummary } from './folder-index.ts';
import type { RawValue } from './raw.ts';
import { atom, execRaw, tokenText } from './raw.ts';

/**
 * Runs `UID THREAD REFERENCES UTF-8 ALL` in the selected folder.
 * @returns one UID list per thread, in the server's order
 */
export async function serverThreads(client: ImapFlow): Promise<number[][]> {
  const threads: number[][] = [];
  const flatten = (value: RawValue, into: number[]): void => {
    if (Array.isArray(value)) for (const v of value) flatten(v, into);
    else {
      const n = Number(tokenText(value));
      if (Number.isInteger(n) && n > 0) into.push(n);
    }
  };
  await execRaw(client, 'UID THREAD', [atom('REFERENCES'), atom('UTF-8'), atom('ALL')], 'THREAD', (untagged) => {
    for (const thread of untagged.attributes ?? []) {
      const uids: number[] = [];
      flatten(thread, uids);
      if (uids.length) threads.push(uids);
    }
  });
  return threads;
}

/** RFC 5256 §2.1 base subject: reply/forward prefixes, `[blob]`s and `(fwd)` trailers removed. */
export function baseSubject(subject: string | null): string {
  let s = (subject ?? '').replace(/\s+/g, ' ').trim();
  for (;;) {
    const before = s;
    s = s.replace(/(\s*\(fwd\))+$/i, '').trim();
    s = s.replace(/^((\[[^[\]]*\]\s*)*(re|fwd?)\s*(\[[^[\]]*\])?\s*:\s*)+/i, '').trim();
    const blob = /^\[[^[\]]*\]\s*(.+)$/.exec(s);
    if (blob && blob[1]) s = blob[1].trim();
    const fwd = /^\[fwd:\s*(.*)\]$/i.exec(s);
    if (fwd) s = (fwd[1] ?? '').trim();
    if (s === before) return s;
  }
}

class UnionFind {
  readonly #parent = new Map<string, string>();
  find(x: string): string {
    let root = x;
    while (this.#parent.has(root) && this.#parent.get(root) !== root) root = this.#parent.get(root)!;
    let node = x;
    while (node !== root) {
      const next = this.#parent.get(node) ?? root;
      this.#parent.set(node, root);
      node = next;
    }
    if (!this.#parent.has(root)) this.#parent.set(root, root);
    return root;
  }
  union(a: string, b: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.#parent.set(ra, rb);
  }
}

function byDate(a: MessageSummary, b: MessageSummary): number {
  const da = a.date?.getTime() ?? 0;
  const db = b.date?.getTime() ?? 0;
  if (da !== db) return da - db;
  if (a.folder !== b.folder) return a.folder < b.folder ? -1 : 1;
  return a.uid - b.uid;
}

/** Links messages by their msg-ids (own, In-Reply-To, References) within `messages`. */
function linkByIds(uf: UnionFind, messages: MessageSummary[]): void {
  const owner = new Map<string, string>();
  const idNode = (id: string): string => {
    let node = owner.get(id);
    if (!node) {
      node = `id:${id}`;
      owner.set(id, node);
    }
    return node;
  };
  for (const m of messages) {
    const ids = [m.messageId, m.inReplyTo, ...m.references].filter((x): x is string => !!x);
    for (const id of ids) uf.union(m.key, idNode(id));
  }
}

/** Merges thread roots of one folder that share a non-empty base subject (RFC 5256 step 5). */
function mergeBySubject(uf: UnionFind, messages: MessageSummary[]): void {
  const groups = new Map<string, MessageSummary[]>();
  for (const m of messages) {
    const root = uf.find(m.key);
    const list = groups.get(root) ?? [];
    list.push(m);
    groups.set(root, list);
  }
  const bySubject = new Map<string, string>();
  for (const [root, list] of groups) {
    const first = [...list].sort(byDate)[0]!;
    const subject = baseSubject(first.subject);
    if (subject === '') continue;
    const other = bySubject.get(subject);
    if (other) uf.union(root, other);
    else bySubject.set(subject, root);
  }
}

/**
 * Groups the messages of the given folders into conversations (see the module docs).
 * @returns conversations, each with its messages oldest first
 */
export function buildConversations(folders: FolderIndex[]): ConversationInfo[] {
  const uf = new UnionFind();
  const all: MessageSummary[] = [];
  for (const folder of folders) {
    const messages = [...folder.byUid.values()];
    all.push(...messages);
    for (const m of messages) uf.find(m.key);
    if (folder.threads) {
      for (const thread of folder.threads) {
        const keys = thread.map((uid) => folder.byUid.get(uid)?.key).filter((k): k is string => !!k);
        for (let i = 1; i < keys.length; i++) uf.union(keys[0]!, keys[i]!);
      }
    } else {
      const local = new UnionFind();
      linkByIds(local, messages);
      mergeBySubject(local, messages);
      for (const m of messages) uf.union(m.key, local.find(m.key));
    }
  }
  linkByIds(uf, all);
  const groups = new Map<string, MessageSummary[]>();
  for (const m of all) {
    const root = uf.find(m.key);
    const list = groups.get(root) ?? [];
    list.push(m);
    groups.set(root, list);
  }
  const conversations: ConversationInfo[] = [];
  for (const list of groups.values()) {
    list.sort(byDate);
    const participants: Address[] = [];
    const seen = new Set<string>();
    for (const m of list) {
      for (const a of [m.from, ...m.to, ...m.cc]) {
        if (!a) continue;
        const id = (a.address ?? a.name ?? '').toLowerCase();
        if (id === '' || seen.has(id)) continue;
        seen.add(id);
        participants.push(a);
      }
    }
    const dates = list.map((m) => m.date?.getTime()).filter((d): d is number => d !== undefined);
    conversations.push({
      key: list[0]!.key,
      subject: list[0]!.subject,
      participants,
      lastMessageAt: dates.length ? new Date(Math.max(...dates)) : null,
      messageKeys: list.map((m) => m.key),
      hasAttachments: list.some((m) => m.hasAttachments),
    });
  }
  return conversations;
}
