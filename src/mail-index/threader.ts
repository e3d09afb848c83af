/**
 * Incremental threading over the index: a new message joins the conversation of any msg-id it
 * shares (its own Message-ID when it owns it, its In-Reply-To and References), merging the
 * conversations it links, without re-threading the folder. The partition equals what the shared
 * module (`src/threading/`) computes for the whole mailbox when each folder's messages are linked in
 * UID order ({@link linkByIds} per folder into one union-find, which is also how the IMAP provider
 * joins copies of a message across INBOX and Sent): the first message of a folder in UID order
 * owns a duplicate Message-ID (RFC 5256 §3).
 *
 * Two events cannot be answered by merging: a message that takes a Message-ID over from a later
 * duplicate (it arrived out of UID order, as in a newest-first first sync), and an expunge (the
 * removed message may have been the only link). Both re-thread only the conversations involved
 * ({@link rethreadConversations}): links never leave a conversation, so its members are a closed set.
 *
 * A conversation's id is the key of its oldest message (by date, undated first, ties by folder and
 * UID: `oldestFirst` of `src/threading/`), so it only changes when an older message joins it.
 * Subject merging (RFC 5256 step 5) is not applied.
 */
import type { Kysely } from 'kysely';
import { groupBy, linkByIds, normalizeMsgId, UnionFind, type LinkableMessage } from '../threading/index.ts';
import { decodeMessageKey, encodeMessageKey } from '../providers/imap/keys.ts';
import { num, numOrNull, UNDATED, type MailIndexTables } from './tables.ts';

type Db = Kysely<MailIndexTables>;

/** What threading reads of a new message (its row is already in `mail_messages`, with `conversation_id` = its own key). */
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

/**
 * Threads one message whose row was just inserted with `conversation_id` = its key: joins the one
 * conversation it links to (the common case), or creates its own and merges every conversation it
 * links to; records its msg-ids.
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
    const rows = await db.selectFrom('mail_thread_ids').select(['msg_id', 'conversation_id']).where('mailbox_id', '=', mailboxId).where('msg_id', 'in', part).execute();
    for (const r of rows) {
      linked.add(r.conversation_id);
      known.add(r.msg_id);
    }
  }
  const ms = m.date?.getTime() ?? UNDATED;
  let id: string;
  const [only] = linked;
  const joined = linked.size === 1 ? await db.selectFrom('mail_conversations').selectAll().where('mailbox_id', '=', mailboxId).where('id', '=', only!).executeTakeFirst() : undefined;
  if (joined && !olderThan(ms, m.key, num(joined.oldest_ms), joined.oldest_key)) {
    // The common case, a reply joining one conversation it is not older than: its id stays.
    id = joined.id;
    const newer = ms > num(joined.activity);
    await db
      .updateTable('mail_conversations')
      .set({
        message_count: num(joined.message_count) + 1,
        attachment_messages: num(joined.attachment_messages) + (m.hasAttachments ? 1 : 0),
        ...(newer ? { activity: ms, last_message_at: m.date!.toISOString() } : {}),
      })
      .where('mailbox_id', '=', mailboxId)
      .where('id', '=', id)
      .execute();
    await db.updateTable('mail_messages').set({ conversation_id: id }).where('mailbox_id', '=', mailboxId).where('folder', '=', m.folder).where('uid', '=', m.uid).execute();
  } else {
    // The message's own conversation (its row already names it), merged with every one it links.
    await db
      .insertInto('mail_conversations')
      .values({
        mailbox_id: mailboxId,
        id: m.key,
        subject: m.subject,
        last_message_at: m.date ? m.date.toISOString() : null,
        activity: ms,
        oldest_ms: ms,
        oldest_key: m.key,
        message_count: 1,
        attachment_messages: m.hasAttachments ? 1 : 0,
      })
      .execute();
    id = await mergeConversations(db, mailboxId, [m.key, ...linked]);
  }
  const missing = ids.filter((x) => !known.has(x));
  for (const part of chunks(missing)) {
    await db
      .insertInto('mail_thread_ids')
      .values(part.map((msg_id) => ({ mailbox_id: mailboxId, msg_id, conversation_id: id })))
      .execute();
  }
  if (tookOver) {
    // The former owner loses its Message-ID link: the conversation may split.
    await rethreadConversations(db, mailboxId, [id]);
    const row = await db.selectFrom('mail_messages').select('conversation_id').where('mailbox_id', '=', mailboxId).where('folder', '=', m.folder).where('uid', '=', m.uid).executeTakeFirstOrThrow();
    return row.conversation_id;
  }
  return id;
}

/**
 * Merges conversations into the one whose oldest message is oldest (its id stays; the others'
 * members and msg-ids move to it).
 * @returns the surviving id
 */
async function mergeConversations(db: Db, mailboxId: string, ids: readonly string[]): Promise<string> {
  const distinct = [...new Set(ids)];
  if (distinct.length === 1) return distinct[0]!;
  const rows = await db.selectFrom('mail_conversations').selectAll().where('mailbox_id', '=', mailboxId).where('id', 'in', distinct).execute();
  let survivor = rows[0]!;
  let newest = rows[0]!;
  let count = 0;
  let withAttachments = 0;
  for (const r of rows) {
    if (olderThan(num(r.oldest_ms), r.oldest_key, num(survivor.oldest_ms), survivor.oldest_key)) survivor = r;
    if (num(r.activity) > num(newest.activity)) newest = r;
    count += num(r.message_count);
    withAttachments += num(r.attachment_messages);
  }
  const others = rows.filter((r) => r.id !== survivor.id).map((r) => r.id);
  await db.updateTable('mail_messages').set({ conversation_id: survivor.id }).where('mailbox_id', '=', mailboxId).where('conversation_id', 'in', others).execute();
  await db.updateTable('mail_thread_ids').set({ conversation_id: survivor.id }).where('mailbox_id', '=', mailboxId).where('conversation_id', 'in', others).execute();
  await db.deleteFrom('mail_conversations').where('mailbox_id', '=', mailboxId).where('id', 'in', others).execute();
  await db
    .updateTable('mail_conversations')
    .set({ activity: num(newest.activity), last_message_at: newest.last_message_at === null ? null : toIso(newest.last_message_at), message_count: count, attachment_messages: withAttachments })
    .where('mailbox_id', '=', mailboxId)
    .where('id', '=', survivor.id)
    .execute();
  return survivor.id;
}

function toIso(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : value;
}

interface MemberRow {
  folder: string;
  uid: number;
  uidValidity: number;
  key: string;
  messageIdNorm: string | null;
  inReplyTo: string | null;
  references: string[];
  subject: string | null;
  dateMs: number | null;
  date: string | null;
  hasAttachments: boolean;
}

/**
 * Re-threads the members of the given conversations from their headers (after an expunge, or when
 * a Message-ID changed owner): their conversation rows and msg-ids are rebuilt; each resulting
 * group's id is the key of its oldest message. A conversation left without members disappears.
 */
export async function rethreadConversations(db: Db, mailboxId: string, conversationIds: readonly string[], removed: readonly { folder: string; messageIdNorm: string | null }[] = []): Promise<void> {
  const ids = new Set(conversationIds);
  // Ownership of a duplicate Message-ID depends on every message of the folder with that id, so
  // the set grows until it holds all of them (usually at once: duplicates are rare).
  const byFolderNorm = new Map<string, Set<string>>();
  const addNorm = (folder: string, n: string | null): void => {
    if (!n) return;
    const set = byFolderNorm.get(folder) ?? new Set<string>();
    set.add(n);
    byFolderNorm.set(folder, set);
  };
  for (const r of removed) addNorm(r.folder, r.messageIdNorm);
  const members: MemberRow[] = [];
  let pending = [...ids];
  const asked = new Set<string>();
  while (pending.length > 0 || byFolderNorm.size > 0) {
    for (const part of chunks(pending)) members.push(...(await loadMembers(db, mailboxId, part)));
    for (const m of members) if (!asked.has(`${m.folder}\u0000${m.messageIdNorm}`)) addNorm(m.folder, m.messageIdNorm);
    pending = [];
    for (const [folder, norms] of byFolderNorm) {
      const fresh = [...norms].filter((n) => !asked.has(`${folder}\u0000${n}`));
      for (const n of fresh) asked.add(`${folder}\u0000${n}`);
      for (const part of chunks(fresh)) {
        const rows = await db.selectFrom('mail_messages').select('conversation_id').distinct().where('mailbox_id', '=', mailboxId).where('folder', '=', folder).where('message_id_norm', 'in', part).execute();
        for (const r of rows) {
          if (!ids.has(r.conversation_id)) {
            ids.add(r.conversation_id);
            pending.push(r.conversation_id);
          }
        }
      }
    }
    byFolderNorm.clear();
  }
  if (ids.size === 0) return;
  members.sort((a, b) => (a.folder !== b.folder ? (a.folder < b.folder ? -1 : 1) : a.uid - b.uid));
  for (const part of chunks([...ids])) {
    await db.deleteFrom('mail_thread_ids').where('mailbox_id', '=', mailboxId).where('conversation_id', 'in', part).execute();
    await db.deleteFrom('mail_conversations').where('mailbox_id', '=', mailboxId).where('id', 'in', part).execute();
  }
  const { groups, owners } = linkMembers(members);
  for (const group of groups) {
    let oldest = group[0]!;
    let newest: MemberRow | null = null;
    for (const m of group) {
      if (olderThan(m.dateMs ?? UNDATED, m.key, oldest.dateMs ?? UNDATED, oldest.key)) oldest = m;
      if (m.dateMs !== null && (newest === null || m.dateMs > (newest.dateMs ?? UNDATED))) newest = m;
    }
    const id = oldest.key;
    await db
      .insertInto('mail_conversations')
      .values({
        mailbox_id: mailboxId,
        id,
        subject: oldest.subject,
        last_message_at: newest?.date ?? null,
        activity: newest?.dateMs ?? UNDATED,
        oldest_ms: oldest.dateMs ?? UNDATED,
        oldest_key: oldest.key,
        message_count: group.length,
        attachment_messages: group.filter((m) => m.hasAttachments).length,
      })
      .execute();
    const byFolder = new Map<string, number[]>();
    for (const m of group) pushTo(byFolder, m.folder, m.uid);
    for (const [folder, uids] of byFolder) {
      for (const part of chunks(uids)) {
        await db.updateTable('mail_messages').set({ conversation_id: id }).where('mailbox_id', '=', mailboxId).where('folder', '=', folder).where('uid', 'in', part).execute();
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
    for (const part of chunks([...msgIds])) {
      await db
        .insertInto('mail_thread_ids')
        .values(part.map((msg_id) => ({ mailbox_id: mailboxId, msg_id, conversation_id: id })))
        .execute();
    }
  }
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
    const uidValidity = num(r.uid_validity);
    return {
      folder: r.folder,
      uid,
      uidValidity,
      key: encodeMessageKey({ folder: r.folder, uidValidity, uid }),
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

/** Groups members (sorted by folder and UID) as the shared module does; `owners` are the messages owning their Message-ID. */
function linkMembers(members: readonly MemberRow[]): { groups: MemberRow[][]; owners: Set<MemberRow> } {
  const uf = new UnionFind();
  const owners = new Set<MemberRow>();
  const byFolder = new Map<string, MemberRow[]>();
  for (const m of members) pushTo(byFolder, m.folder, m);
  for (const list of byFolder.values()) {
    const seen = new Set<string>();
    for (const m of list) {
      if (m.messageIdNorm && !seen.has(m.messageIdNorm)) {
        seen.add(m.messageIdNorm);
        owners.add(m);
      }
    }
    linkByIds(uf, list.map((m): LinkableMessage & { row: MemberRow } => ({ key: m.key, messageId: m.messageIdNorm, inReplyTo: m.inReplyTo, references: m.references, row: m })));
  }
  return { groups: groupBy(uf, members), owners };
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
