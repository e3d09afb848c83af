/**
 * Conversations of the local store by message headers (the linking step of JWZ threading,
 * https://www.jwz.org/doc/threading.html, and RFC 5256 REFERENCES): messages that share a msg-id
 * through Message-ID, In-Reply-To or References are one conversation (union-find). No subject
 * merging: two unrelated mails both called "Re: hello" stay apart.
 *
 * Duplicate Message-IDs (two different mails with one id, as in the corpus): only the first
 * message in store order owns the id; a later one with the same id is linked through its own
 * In-Reply-To/References only, so two unrelated mails never merge because of a shared id.
 *
 * A conversation's key is the key of its first message in store order, which stays stable while
 * the store only grows.
 */
import type { Address, ConversationInfo } from '../types.ts';
import type { IndexedMessage } from './indexer.ts';

/** The threading result. */
export interface Threads {
  conversations: Map<string, ConversationInfo>;
  conversationOf: Map<string, string>;
  /** Conversations, newest activity first (ties by key), for listing. */
  ordered: ConversationInfo[];
}

function normalizeId(id: string): string {
  return id.trim().toLowerCase();
}

/** Groups messages (in store order) into conversations. */
export function buildThreads(messages: readonly IndexedMessage[]): Threads {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let root = x;
    while (parent.get(root) !== root) root = parent.get(root) ?? root;
    // Path compression keeps later lookups flat.
    let cur = x;
    while (parent.get(cur) !== root) {
      const next = parent.get(cur)!;
      parent.set(cur, root);
      cur = next;
    }
    return root;
  };
  const node = (x: string) => {
    if (!parent.has(x)) parent.set(x, x);
    return x;
  };
  const union = (a: string, b: string) => {
    const ra = find(node(a));
    const rb = find(node(b));
    if (ra !== rb) parent.set(rb, ra);
  };

  const owner = new Map<string, string>();
  for (const m of messages) {
    node(`m:${m.key}`);
    if (m.messageId) {
      const id = normalizeId(m.messageId);
      if (!owner.has(id)) {
        owner.set(id, m.key);
        union(`m:${m.key}`, `id:${id}`);
      }
    }
  }
  for (const m of messages) {
    const linked = [...m.references, ...(m.inReplyTo ? [m.inReplyTo] : [])];
    for (const ref of linked) union(`m:${m.key}`, `id:${normalizeId(ref)}`);
  }

  const groups = new Map<string, IndexedMessage[]>();
  for (const m of messages) {
    const root = find(`m:${m.key}`);
    const list = groups.get(root) ?? [];
    list.push(m);
    groups.set(root, list);
  }

  const conversations = new Map<string, ConversationInfo>();
  const conversationOf = new Map<string, string>();
  for (const list of groups.values()) {
    const key = list[0]!.key;
    // Oldest first by Date; undated messages keep their store order among themselves, first.
    const order = list.map((m, i) => ({ m, i })).sort((a, b) => (a.m.date ?? -Infinity) - (b.m.date ?? -Infinity) || a.i - b.i);
    const participants: Address[] = [];
    const seen = new Set<string>();
    for (const { m } of order) {
      for (const a of [...(m.from ? [m.from] : []), ...m.to, ...m.cc]) {
        const id = (a.address ?? a.name ?? '').toLowerCase();
        if (!id || seen.has(id)) continue;
        seen.add(id);
        participants.push(a);
      }
    }
    const dates = list.map((m) => m.date).filter((d): d is number => d != null);
    const info: ConversationInfo = {
      key,
      subject: order[0]!.m.subject,
      participants,
      lastMessageAt: dates.length ? new Date(Math.max(...dates)) : null,
      messageKeys: order.map(({ m }) => m.key),
      hasAttachments: list.some((m) => m.attachments.length > 0),
    };
    conversations.set(key, info);
    for (const m of list) conversationOf.set(m.key, key);
  }
  const ordered = [...conversations.values()].sort(compareConversations);
  return { conversations, conversationOf, ordered };
}

/** Newest activity first; undated last; ties by key (a total order, needed by cursors). */
export function compareConversations(a: ConversationInfo, b: ConversationInfo): number {
  const ta = a.lastMessageAt?.getTime() ?? -Infinity;
  const tb = b.lastMessageAt?.getTime() ?? -Infinity;
  if (ta !== tb) return tb - ta;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}
