/**
 * Conversations (threads) across INBOX and Sent.
 *
 * Within a folder the server's `THREAD REFERENCES` (RFC 5256) groups messages when advertised;
 * without it the same algorithm's two linking rules are applied by the shared threading module
 * (`src/threading/`): messages linked by Message-ID / In-Reply-To / References are one thread
 * (the first message in UID order owns a duplicate Message-ID, as in RFC 5256), and threads with
 * the same base subject (RFC 5256 §2.1) are merged. Across folders, threads are merged by msg-id
 * links only (a reply kept in Sent joins the received thread it answers). A conversation's key is
 * the message key of its oldest message (ties: folder, then UID).
 */
import type { ImapFlow } from 'imapflow';
import { assembleConversation, groupBy, joinMessages, linkByIds, normalizeMsgId, threadMessages, UnionFind } from '../../threading/index.ts';
import type { ConversationInfo } from '../../domain/mail.ts';
import type { FolderIndex, MessageSummary } from './folder-index.ts';
import type { RawValue } from './raw.ts';
import { atom, execRaw, tokenText } from './raw.ts';

/**
 * Runs `UID THREAD REFERENCES UTF-8 ALL` in the selected folder.
 * @returns one UID list per thread, in the server's order
 */
export async function serverThreads(client: ImapFlow): Promise<number[][]> {
  const threads: number[][] = [];
  // Iterative: a reply chain thousands of messages long nests the answer as deep.
  const flatten = (value: RawValue, into: number[]): void => {
    const stack: RawValue[] = [value];
    while (stack.length > 0) {
      const v = stack.pop()!;
      if (Array.isArray(v)) for (let i = v.length - 1; i >= 0; i--) stack.push(v[i]!);
      else {
        const n = Number(tokenText(v));
        if (Number.isInteger(n) && n > 0) into.push(n);
      }
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

/** Folder, then UID: the stable order of IMAP messages (UIDs ascend with arrival, RFC 3501 §2.3.1.1). */
function byFolderAndUid(a: MessageSummary, b: MessageSummary): number {
  if (a.folder !== b.folder) return a.folder < b.folder ? -1 : 1;
  return a.uid - b.uid;
}

/**
 * Groups the messages of the given folders into conversations (see the module docs).
 * @returns conversations, each with its messages oldest first
 */
export function buildConversations(folders: FolderIndex[]): ConversationInfo[] {
  const uf = new UnionFind();
  const all: MessageSummary[] = [];
  for (const folder of folders) {
    // UID order: the header fallback then picks the same owner of a duplicate Message-ID as THREAD.
    const messages = [...folder.byUid.values()].sort((a, b) => a.uid - b.uid);
    all.push(...messages);
    const groups = folder.threads
      ? folder.threads.map((thread) => thread.map((uid) => folder.byUid.get(uid)?.key).filter((k): k is string => !!k))
      : threadMessages(messages, { mergeSubjects: true }).map((group) => group.map((m) => m.key));
    for (const keys of groups) joinMessages(uf, keys);
  }
  // Across folders (a reply kept in Sent joins the thread it answers): msg-id links only.
  linkByIds(uf, all);
  joinCopiesAcrossFolders(uf, all);
  return groupBy(uf, all).map((group) => assembleConversation(group.sort(byFolderAndUid)));
}

/**
 * The same Message-ID in INBOX and in Sent is one message stored twice (mail to yourself, a Cc to
 * yourself, a mailing list's echo), so its copies share a conversation. Within one folder the
 * first-owner rule of `linkByIds` still keeps unrelated mails with a reused id apart.
 */
function joinCopiesAcrossFolders(uf: UnionFind, messages: readonly MessageSummary[]): void {
  const firstInFolder = new Set<string>();
  const copies = new Map<string, string[]>();
  for (const m of messages) {
    if (!m.messageId || m.messageId.trim() === '') continue;
    const id = normalizeMsgId(m.messageId);
    const perFolder = `${m.folder}\u0000${id}`;
    if (firstInFolder.has(perFolder)) continue;
    firstInFolder.add(perFolder);
    copies.set(id, [...(copies.get(id) ?? []), m.key]);
  }
  for (const keys of copies.values()) if (keys.length > 1) joinMessages(uf, keys);
}
