/**
 * Incremental threading over the index. Two levels, as the shared module (`src/threading/`)
 * groups:
 * - a *thread* is the messages linked by msg-ids: its own Message-ID when it owns it, In-Reply-To
 *   and References ({@link linkByIds} per folder, UID order: the first message of a folder in UID
 *   order owns a duplicate Message-ID, RFC 5256 §3; across folders the owners share the id, which
 *   is how the IMAP provider joins copies of a message in INBOX and Sent);
 * - a *conversation* is one thread, or the threads whose oldest messages share a non-empty RFC 5256
 *   base subject ({@link mergeBySubject} over the mailbox's threads).
 * The partition equals `linkByIds` per folder + `mergeBySubject` over the whole mailbox (the
 * property test in `test/mail-index-threading.test.ts`). The IMAP provider's in-memory grouping
 * merges subjects per folder before linking across folders; the two differ only when a message of
 * one folder links threads of another whose oldest messages' subjects differ.
 *
 * A reply that joins one thread without being older than its oldest message (the common case)
 * changes one thread and one conversation row. Anything else (a new thread, a merge, an older
 * message, a Message-ID changing owner, an expunge) rebuilds only the conversations involved
 * ({@link rebuildConversations}): links never leave a conversation, and the set is grown to every
 * conversation sharing a duplicate Message-ID or a base subject with it, so it is closed.
 *
 * A conversation's id is the key of its oldest message (by date, undated first, ties by folder and
 * UID: `oldestFirst`), so it only changes when an older message joins it.
 */
import type { Kysely } from 'kysely';
import { baseSubject, groupBy, linkByIds, normalizeMsgId, UnionFind } from '../threading/index.ts';
import { decodeMessageKey, encodeMessageKey } from '../providers/imap/keys.ts';
import { num, numOrNull, UNDATED, type MailIndexTables } from './tables.ts';

type Db = Kysely<MailIndexTables>;

/** What threading reads of a new message (its row is already in `mail_messages`, with thread and conversation = its own key). */
export interface ThreadableMessage {
  key: string;
  folder: string;
  uid: number;
  messageId: string | null;
  inReplyTo: string | null;
  references: readonly string[];
  subject: string | null;
  date: Date | null;
  hasAttachments: boolean;
}

/** Rows per `IN (...)` list, well under SQLite's and PostgreSQL's parameter limits. */
const IN_CHUNK = 500;

function chunks<T>(list: readonly T[], size = IN_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** Normalised msg-id, or null when blank. */
function norm(id: string | null | undefined): string | null {
  if (id == null) return null;
  const n = normalizeMsgId(id);
  return n === '' ? null : n;
}

/** Position of a message key for "oldest" ties: folder, then UID. */
function positionOf(key: string): [string, number] {
  const ref = decodeMessageKey(key);
  return ref ? [ref.folder, ref.uid] : [key, 0];
}

/** Orders (date ms or UNDATED, key) pairs oldest first, ties by folder and UID. */
function olderThan(aMs: number, aKey: string, bMs: number, bKey: string): boolean {
  if (aMs !== bMs) return aMs < bMs;
  const [af, au] = positionOf(aKey);
  const [bf, bu] = positionOf(bKey);
  if (af !== bf) return af < bf;
  return au < bu;
}

function toIso(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : value;
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/**
 * Threads one message whose row was just inserted (thread and conversation = its own key).
 * @returns the id of the conversation it ended in
 */
export async function threadNewMessage(db: Db, mailboxId: string, m: ThreadableMessage): Promise<string> {
  const own = norm(m.messageId);
  let owns = false;
  let tookOver = false;
  if (own) {
    const other = await db
      .selectFrom('mail_messages')
      .select('uid')
      .where('mailbox_id', '=', mailboxId)
      .where('folder', '=', m.folder)
      .where('message_id_norm', '=', own)
      .where('uid', '!=', m.uid)
      .orderBy('uid')
      .limit(1)
      .executeTakeFirst();
    owns = !other || m.uid < num(other.uid);
    tookOver = owns && !!other;
  }
  const ids = [...new Set([...(owns && own ? [own] : []), ...[...m.references, m.inReplyTo].map(norm).filter((x): x is string => x !== null)])];
  const linked = new Set<string>();
  const known = new Set<string>();
  for (const part of chunks(ids)) {
    for (const r of await db.selectFrom('mail_thread_ids').select(['msg_id', 'thread_id']).where('mailbox_id', '=', mailboxId).where('msg_id', 'in', part).execute()) {
      linked.add(r.thread_id);
      known.add(r.msg_id);
    }
  }
  const ms = m.date?.getTime() ?? UNDATED;
  const [only] = linked;
  const thread = !tookOver && linked.size === 1 ? await db.selectFrom('mail_threads').selectAll().where('mailbox_id', '=', mailboxId).where('id', '=', only!).executeTakeFirst() : undefined;
  if (thread && !olderThan(ms, m.key, num(thread.oldest_ms), thread.oldest_key)) {
    // The common case: a reply joins one thread and is not its oldest message, so neither the
    // thread's base subject nor the conversations change; one row of each is updated.
    const conversationId = await joinConversation(db, mailboxId, thread.conversation_id, m);
    await db.updateTable('mail_messages').set({ thread_id: thread.id, conversation_id: conversationId }).where('mailbox_id', '=', mailboxId).where('folder', '=', m.folder).where('uid', '=', m.uid).execute();
    await insertThreadIds(db, mailboxId, thread.id, ids.filter((x) => !known.has(x)));
    return conversationId;
  }
  if (!tookOver && linked.size === 0) {
    // A new thread: a conversation of its own, or it joins the conversation of the threads with
    // its base subject when it is not older than that conversation's oldest message.
    const subject = baseSubject(m.subject);
    const peer = subject === '' ? undefined : await db.selectFrom('mail_threads').select('conversation_id').where('mailbox_id', '=', mailboxId).where('base_subject', '=', subject).limit(1).executeTakeFirst();
    const conversation = peer ? await db.selectFrom('mail_conversations').select(['oldest_ms', 'oldest_key']).where('mailbox_id', '=', mailboxId).where('id', '=', peer.conversation_id).executeTakeFirstOrThrow() : undefined;
    if (!conversation || !olderThan(ms, m.key, num(conversation.oldest_ms), conversation.oldest_key)) {
      let conversationId = m.key;
      if (peer) conversationId = await joinConversation(db, mailboxId, peer.conversation_id, m);
      else {
        await db
          .insertInto('mail_conversations')
          .values({ mailbox_id: mailboxId, id: m.key, subject: m.subject, last_message_at: m.date ? m.date.toISOString() : null, activity: ms, oldest_ms: ms, oldest_key: m.key, message_count: 1, attachment_messages: m.hasAttachments ? 1 : 0 })
          .execute();
      }
      await db.insertInto('mail_threads').values({ mailbox_id: mailboxId, id: m.key, oldest_ms: ms, oldest_key: m.key, base_subject: subject, conversation_id: conversationId }).execute();
      await db.updateTable('mail_messages').set({ thread_id: m.key, conversation_id: conversationId }).where('mailbox_id', '=', mailboxId).where('folder', '=', m.folder).where('uid', '=', m.uid).execute();
      await insertThreadIds(db, mailboxId, m.key, ids);
      return conversationId;
    }
  }
  // Anything else: rebuild the conversations of the threads it links, with it.
  const conversations = new Set<string>([m.key]);
  for (const part of chunks([...linked])) {
    for (const r of await db.selectFrom('mail_threads').select('conversation_id').where('mailbox_id', '=', mailboxId).where('id', 'in', part).execute()) conversations.add(r.conversation_id);
  }
  await rebuildConversations(db, mailboxId, [...conversations]);
  const row = await db.selectFrom('mail_messages').select('conversation_id').where('mailbox_id', '=', mailboxId).where('folder', '=', m.folder).where('uid', '=', m.uid).executeTakeFirstOrThrow();
  return row.conversation_id;
}

/** Counts a message not older than the conversation's oldest into it. @returns the conversation id */
async function joinConversation(db: Db, mailboxId: string, conversationId: string, m: ThreadableMessage): Promise<string> {
  const conversation = await db.selectFrom('mail_conversations').selectAll().where('mailbox_id', '=', mailboxId).where('id', '=', conversationId).executeTakeFirstOrThrow();
  const ms = m.date?.getTime() ?? UNDATED;
  const newer = ms > num(conversation.activity);
  await db
    .updateTable('mail_conversations')
    .set({
      message_count: num(conversation.message_count) + 1,
      attachment_messages: num(conversation.attachment_messages) + (m.hasAttachments ? 1 : 0),
      ...(newer ? { activity: ms, last_message_at: m.date!.toISOString() } : {}),
    })
    .where('mailbox_id', '=', mailboxId)
    .where('id', '=', conversationId)
    .execute();
  return conversationId;
}

async function insertThreadIds(db: Db, mailboxId: string, threadId: string, msgIds: readonly string[]): Promise<void> {
  for (const part of chunks(msgIds)) {
    await db
      .insertInto('mail_thread_ids')
      .values(part.map((msg_id) => ({ mailbox_id: mailboxId, msg_id, thread_id: threadId })))
      .execute();
  }
}

interface MemberRow {
  folder: string;
  uid: number;
  key: string;
  messageIdNorm: string | null;
  inReplyTo: string | null;
  references: string[];
  subject: string | null;
  dateMs: number | null;
  date: string | null;
  hasAttachments: boolean;
}

/** The messages of these conversations, as re-threading reads them. */
async function loadMembers(db: Db, mailboxId: string, conversationIds: readonly string[]): Promise<MemberRow[]> {
  const rows = await db
    .selectFrom('mail_messages')
    .select(['folder', 'uid', 'uid_validity', 'message_id_norm', 'in_reply_to', 'references', 'subject', 'date_ms', 'date', 'attachment_count'])
    .where('mailbox_id', '=', mailboxId)
    .where('conversation_id', 'in', conversationIds)
    .execute();
  return rows.map((r) => {
    const uid = num(r.uid);
    return {
      folder: r.folder,
      uid,
      key: encodeMessageKey({ folder: r.folder, uidValidity: num(r.uid_validity), uid }),
      messageIdNorm: r.message_id_norm,
      inReplyTo: r.in_reply_to,
      references: JSON.parse(r.references) as string[],
      subject: r.subject,
      dateMs: numOrNull(r.date_ms),
      date: r.date === null ? null : toIso(r.date),
      hasAttachments: num(r.attachment_count) > 0,
    };
  });
}

/** The oldest member of a group (undated first, ties by folder and UID). */
function oldestOf(group: readonly MemberRow[]): MemberRow {
  let oldest = group[0]!;
  for (const m of group) if (olderThan(m.dateMs ?? UNDATED, m.key, oldest.dateMs ?? UNDATED, oldest.key)) oldest = m;
  return oldest;
}

/**
 * Rebuilds the given conversations from their members' headers (after an expunge, a merge, a
 * Message-ID changing owner, an older message): threads, conversations and msg-ids are recomputed;
 * the set first grows to every conversation sharing a duplicate Message-ID (ownership is per
 * folder) or a base subject with it. A conversation left without members disappears.
 * @param removed expunged messages: whoever shares their Message-ID in their folder is involved too
 */
export async function rebuildConversations(db: Db, mailboxId: string, conversationIds: readonly string[], removed: readonly { folder: string; messageIdNorm: string | null }[] = []): Promise<void> {
  const ids = new Set(conversationIds);
  const members: MemberRow[] = [];
  const askedIds = new Set<string>();
  const askedSubjects = new Set<string>();
  let pending = [...ids];
  let norms: { folder: string; norm: string }[] = removed.flatMap((r) => (r.messageIdNorm ? [{ folder: r.folder, norm: r.messageIdNorm }] : []));
  let groups: MemberRow[][] = [];
  let owners = new Set<MemberRow>();
  for (;;) {
    for (const part of chunks(pending)) members.push(...(await loadMembers(db, mailboxId, part)));
    for (const m of members) if (m.messageIdNorm) norms.push({ folder: m.folder, norm: m.messageIdNorm });
    pending = [];
    const add = (conversationId: string): void => {
      if (!ids.has(conversationId)) {
        ids.add(conversationId);
        pending.push(conversationId);
      }
    };
    // Every message of the folder sharing a Message-ID: ownership depends on all of them.
    const byFolder = new Map<string, string[]>();
    for (const { folder, norm: n } of norms) {
      const k = `${folder}\u0000${n}`;
      if (askedIds.has(k)) continue;
      askedIds.add(k);
      pushTo(byFolder, folder, n);
    }
    norms = [];
    for (const [folder, list] of byFolder) {
      for (const part of chunks(list)) {
        for (const r of await db.selectFrom('mail_messages').select('conversation_id').distinct().where('mailbox_id', '=', mailboxId).where('folder', '=', folder).where('message_id_norm', 'in', part).execute()) add(r.conversation_id);
      }
    }
    if (pending.length > 0) continue;
    // Every thread outside the set whose base subject one of the rebuilt threads has.
    ({ groups, owners } = linkMembers(members));
    const subjects = [...new Set(groups.map((g) => baseSubject(oldestOf(g).subject)))].filter((b) => b !== '' && !askedSubjects.has(b));
    for (const b of subjects) askedSubjects.add(b);
    for (const part of chunks(subjects)) {
      for (const r of await db.selectFrom('mail_threads').select('conversation_id').distinct().where('mailbox_id', '=', mailboxId).where('base_subject', 'in', part).execute()) add(r.conversation_id);
    }
    if (pending.length === 0) break;
  }
  for (const part of chunks([...ids])) {
    const threads = await db.selectFrom('mail_threads').select('id').where('mailbox_id', '=', mailboxId).where('conversation_id', 'in', part).execute();
    for (const t of chunks(threads.map((x) => x.id))) await db.deleteFrom('mail_thread_ids').where('mailbox_id', '=', mailboxId).where('thread_id', 'in', t).execute();
    await db.deleteFrom('mail_threads').where('mailbox_id', '=', mailboxId).where('conversation_id', 'in', part).execute();
    await db.deleteFrom('mail_conversations').where('mailbox_id', '=', mailboxId).where('id', 'in', part).execute();
  }
  // Conversations: threads grouped by the base subject of their oldest message (none: alone).
  const bySubject = new Map<string, MemberRow[][]>();
  const conversations: MemberRow[][][] = [];
  for (const group of groups) {
    const b = baseSubject(oldestOf(group).subject);
    if (b === '') conversations.push([group]);
    else pushTo(bySubject, b, group);
  }
  conversations.push(...bySubject.values());
  for (const threads of conversations) {
    const all = threads.flat();
    const oldest = oldestOf(all);
    let newest: MemberRow | null = null;
    for (const m of all) if (m.dateMs !== null && (newest === null || m.dateMs > newest.dateMs!)) newest = m;
    const conversationId = oldest.key;
    await db
      .insertInto('mail_conversations')
      .values({
        mailbox_id: mailboxId,
        id: conversationId,
        subject: oldest.subject,
        last_message_at: newest?.date ?? null,
        activity: newest?.dateMs ?? UNDATED,
        oldest_ms: oldest.dateMs ?? UNDATED,
        oldest_key: oldest.key,
        message_count: all.length,
        attachment_messages: all.filter((m) => m.hasAttachments).length,
      })
      .execute();
    for (const group of threads) {
      const first = oldestOf(group);
      await db
        .insertInto('mail_threads')
        .values({ mailbox_id: mailboxId, id: first.key, oldest_ms: first.dateMs ?? UNDATED, oldest_key: first.key, base_subject: baseSubject(first.subject), conversation_id: conversationId })
        .execute();
      const byFolder = new Map<string, number[]>();
      for (const m of group) pushTo(byFolder, m.folder, m.uid);
      for (const [folder, uids] of byFolder) {
        for (const part of chunks(uids)) {
          await db.updateTable('mail_messages').set({ thread_id: first.key, conversation_id: conversationId }).where('mailbox_id', '=', mailboxId).where('folder', '=', folder).where('uid', 'in', part).execute();
        }
      }
      const msgIds = new Set<string>();
      for (const m of group) {
        if (m.messageIdNorm && owners.has(m)) msgIds.add(m.messageIdNorm);
        for (const ref of [...m.references, m.inReplyTo]) {
          const n = norm(ref);
          if (n) msgIds.add(n);
        }
      }
      await insertThreadIds(db, mailboxId, first.key, [...msgIds]);
    }
  }
}

/** Groups members by msg-id links as the shared module does (per folder, UID order); `owners` own their Message-ID. */
function linkMembers(members: readonly MemberRow[]): { groups: MemberRow[][]; owners: Set<MemberRow> } {
  const sorted = [...members].sort((a, b) => (a.folder !== b.folder ? (a.folder < b.folder ? -1 : 1) : a.uid - b.uid));
  const uf = new UnionFind();
  const owners = new Set<MemberRow>();
  const byFolder = new Map<string, MemberRow[]>();
  for (const m of sorted) pushTo(byFolder, m.folder, m);
  for (const list of byFolder.values()) {
    const seen = new Set<string>();
    for (const m of list) {
      if (m.messageIdNorm && !seen.has(m.messageIdNorm)) {
        seen.add(m.messageIdNorm);
        owners.add(m);
      }
    }
    linkByIds(uf, list.map((m) => ({ key: m.key, messageId: m.messageIdNorm, inReplyTo: m.inReplyTo, references: m.references })));
  }
  return { groups: groupBy(uf, sorted), owners };
}
