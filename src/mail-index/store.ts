/**
 * The mail index store: folders with their sync state and lease, messages with their attachments,
 * conversations with keyset paging (migration `0004_mail_index`). One instance per process is
 * enough; several processes and gateway instances share one database and so one index.
 *
 * Message keys are IMAP message keys (`src/providers/imap/keys.ts`: folder, UIDVALIDITY, UID); a
 * conversation id is the key of its oldest message (`./threader.ts`). Writes that touch threading
 * run in one transaction holding the mailbox's write lock (`./write-lock.ts`).
 */
import type { Kysely } from 'kysely';
import type { Address, AttachmentInfo, ConversationInfo, MessageDirection, MessageInfo } from '../domain/mail.ts';
import type { Connection, Dialect } from '../db/connect.ts';
import { toDate } from '../db/schema.ts';
import { encodeMessageKey } from '../providers/imap/keys.ts';
import { assembleConversation, normalizeMsgId } from '../threading/index.ts';
import { bool, num, numOrNull, UNDATED, type MailIndexTables, type SyncState } from './tables.ts';
import { rebuildConversations, threadNewMessage } from './threader.ts';
import { inWriteTransaction } from './write-lock.ts';

type Db = Kysely<MailIndexTables>;

/** The indexed state of one folder. */
export interface FolderState {
  mailboxId: string;
  folder: string;
  direction: MessageDirection;
  uidValidity: number;
  uidNext: number;
  messages: number;
  highestModseq: bigint | null;
  syncState: SyncState;
  /** Messages of the folder in the index. */
  syncedMessages: number;
  /** During a newest-first first sync: every UID ≥ this one is indexed; null otherwise. */
  resumeBelowUid: number | null;
  error: string | null;
  checkedAt: Date | null;
  syncedAt: Date | null;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
}

/** Fields of {@link FolderState} a sync may set. */
export type FolderUpdate = Partial<Pick<FolderState, 'uidNext' | 'messages' | 'highestModseq' | 'syncState' | 'resumeBelowUid' | 'error' | 'checkedAt' | 'syncedAt'>>;

/** One attachment as indexed: the listing facts plus the Content-Transfer-Encoding a download undoes. */
export interface IndexedAttachment extends Omit<AttachmentInfo, 'providerRef' | 'linkUrl'> {
  encoding: string | null;
}

/** One message as the sync hands it to the index (never its bytes). */
export interface IndexedMessage {
  uid: number;
  messageId: string | null;
  inReplyTo: string | null;
  /** msg-ids of References, oldest first (already bounded to `MAX_REFERENCES`). */
  references: string[];
  subject: string | null;
  date: Date | null;
  from: Address | null;
  to: Address[];
  cc: Address[];
  flags: string[];
  /** RFC822.SIZE in bytes, null when unknown. */
  size: number | null;
  attachments: IndexedAttachment[];
  attachmentCount: number;
  attachmentsTruncated: boolean;
}

/** A stored message with its keys and flags. */
export interface StoredMessage extends MessageInfo {
  folder: string;
  uid: number;
  flags: string[];
  size: number | null;
  attachments: IndexedAttachment[];
}

/** A position in the conversation listing (newest activity first, ties by id). */
export interface ConversationPosition {
  /** `activity` of the conversation: epoch ms of its newest message, {@link UNDATED} when none is dated. */
  activity: number;
  id: string;
}

/** A row of the conversation listing. */
export interface ConversationRow {
  id: string;
  subject: string | null;
  lastMessageAt: Date | null;
  messageCount: number;
  hasAttachments: boolean;
  position: ConversationPosition;
}

/** Arguments of {@link MailIndexStore.listConversations}. */
export interface ConversationQuery {
  /** Page size, 1..1000. */
  first: number;
  /** Resume strictly after this position. */
  after?: ConversationPosition | null;
  hasAttachments?: boolean | null;
  /** Only conversations with a message dated at or after this instant. */
  since?: Date | null;
}

/** Opens the index on an open connection (migrated by `Store.migrate`, which runs `0004_mail_index`). */
export function openMailIndex(connection: Pick<Connection, 'db' | 'dialect'>): MailIndexStore {
  // The index reads only its own tables.
  return new MailIndexStore(connection.db as unknown as Db, connection.dialect);
}

const IN_CHUNK = 500;

/** Kysely-backed mail index of SQLite or PostgreSQL. */
export class MailIndexStore {
  readonly #db: Db;
  readonly #dialect: Dialect;

  constructor(db: Db, dialect: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  /** The folder's indexed state, or null when it was never indexed. */
  async folder(mailboxId: string, folder: string): Promise<FolderState | null> {
    const row = await this.#db.selectFrom('mail_folders').selectAll().where('mailbox_id', '=', mailboxId).where('folder', '=', folder).executeTakeFirst();
    if (!row) return null;
    return {
      mailboxId: row.mailbox_id,
      folder: row.folder,
      direction: row.direction as MessageDirection,
      uidValidity: num(row.uid_validity),
      uidNext: num(row.uid_next),
      messages: num(row.messages),
      highestModseq: row.highest_modseq === null ? null : BigInt(row.highest_modseq),
      syncState: row.sync_state,
      syncedMessages: num(row.synced_messages),
      resumeBelowUid: numOrNull(row.resume_below_uid),
      error: row.error,
      checkedAt: row.checked_at === null ? null : toDate(row.checked_at),
      syncedAt: row.synced_at === null ? null : toDate(row.synced_at),
      leaseOwner: row.lease_owner,
      leaseExpiresAt: row.lease_expires_at === null ? null : toDate(row.lease_expires_at),
    };
  }

  /** Every indexed folder of a mailbox, by folder name. */
  async folders(mailboxId: string): Promise<FolderState[]> {
    const rows = await this.#db.selectFrom('mail_folders').select('folder').where('mailbox_id', '=', mailboxId).orderBy('folder').execute();
    const out: FolderState[] = [];
    for (const r of rows) {
      const state = await this.folder(mailboxId, r.folder);
      if (state) out.push(state);
    }
    return out;
  }

  /** Creates the folder's row (state `initial`, nothing indexed) unless it exists. */
  async ensureFolder(mailboxId: string, folder: string, direction: MessageDirection): Promise<void> {
    await this.#db
      .insertInto('mail_folders')
      .values({
        mailbox_id: mailboxId,
        folder,
        direction,
        uid_validity: 0,
        uid_next: 1,
        messages: 0,
        highest_modseq: null,
        sync_state: 'initial',
        synced_messages: 0,
        resume_below_uid: null,
        error: null,
        checked_at: null,
        synced_at: null,
        lease_owner: null,
        lease_expires_at: null,
      })
      .onConflict((oc) => oc.columns(['mailbox_id', 'folder']).doNothing())
      .execute();
  }

  /** Sets sync fields of a folder. */
  async updateFolder(mailboxId: string, folder: string, update: FolderUpdate): Promise<void> {
    const set: Record<string, unknown> = {};
    if (update.uidNext !== undefined) set.uid_next = update.uidNext;
    if (update.messages !== undefined) set.messages = update.messages;
    if (update.highestModseq !== undefined) set.highest_modseq = update.highestModseq === null ? null : update.highestModseq.toString();
    if (update.syncState !== undefined) set.sync_state = update.syncState;
    if (update.resumeBelowUid !== undefined) set.resume_below_uid = update.resumeBelowUid;
    if (update.error !== undefined) set.error = update.error === null ? null : update.error.slice(0, 500);
    if (update.checkedAt !== undefined) set.checked_at = update.checkedAt === null ? null : update.checkedAt.toISOString();
    if (update.syncedAt !== undefined) set.synced_at = update.syncedAt === null ? null : update.syncedAt.toISOString();
    if (Object.keys(set).length === 0) return;
    await this.#db.updateTable('mail_folders').set(set).where('mailbox_id', '=', mailboxId).where('folder', '=', folder).execute();
  }

  /**
   * Forgets every message of the folder (their conversations are re-threaded without them) and
   * records a new UIDVALIDITY: state `initial`, nothing synced. Keys minted under the old
   * UIDVALIDITY then find nothing.
   */
  async resetFolder(mailboxId: string, folder: string, uidValidity: number): Promise<void> {
    await inWriteTransaction(this.#db, this.#dialect, mailboxId, async (trx) => {
      const conversations = await trx.selectFrom('mail_messages').select('conversation_id').distinct().where('mailbox_id', '=', mailboxId).where('folder', '=', folder).execute();
      await trx.deleteFrom('mail_attachments').where('mailbox_id', '=', mailboxId).where('folder', '=', folder).execute();
      await trx.deleteFrom('mail_messages').where('mailbox_id', '=', mailboxId).where('folder', '=', folder).execute();
      await rebuildConversations(trx, mailboxId, conversations.map((c) => c.conversation_id));
      await trx
        .updateTable('mail_folders')
        .set({ uid_validity: uidValidity, uid_next: 1, messages: 0, highest_modseq: null, sync_state: 'initial', synced_messages: 0, resume_below_uid: null })
        .where('mailbox_id', '=', mailboxId)
        .where('folder', '=', folder)
        .execute();
    });
  }

  /**
   * Adds messages of one folder (UIDs already indexed are skipped) and threads them, in one
   * transaction. Oldest first by date inside the batch, so a conversation's id changes at most once per batch.
   * @returns how many were added
   */
  async putMessages(mailboxId: string, folder: string, uidValidity: number, direction: MessageDirection, messages: readonly IndexedMessage[]): Promise<number> {
    if (messages.length === 0) return 0;
    return inWriteTransaction(this.#db, this.#dialect, mailboxId, async (trx) => {
      const existing = new Set<number>();
      for (let i = 0; i < messages.length; i += IN_CHUNK) {
        const uids = messages.slice(i, i + IN_CHUNK).map((m) => m.uid);
        for (const r of await trx.selectFrom('mail_messages').select('uid').where('mailbox_id', '=', mailboxId).where('folder', '=', folder).where('uid', 'in', uids).execute()) existing.add(num(r.uid));
      }
      const fresh = messages.filter((m) => !existing.has(m.uid) && (existing.add(m.uid), true));
      fresh.sort((a, b) => (a.date?.getTime() ?? UNDATED) - (b.date?.getTime() ?? UNDATED) || a.uid - b.uid);
      for (const m of fresh) {
        const key = encodeMessageKey({ folder, uidValidity, uid: m.uid });
        const messageIdNorm = m.messageId ? normalizeMsgId(m.messageId) : '';
        await trx
          .insertInto('mail_messages')
          .values({
            mailbox_id: mailboxId,
            folder,
            uid: m.uid,
            uid_validity: uidValidity,
            message_id: m.messageId,
            message_id_norm: messageIdNorm === '' ? null : messageIdNorm,
            in_reply_to: m.inReplyTo,
            references: JSON.stringify(m.references),
            subject: m.subject,
            date: m.date ? m.date.toISOString() : null,
            date_ms: m.date ? m.date.getTime() : null,
            from_json: m.from ? JSON.stringify(m.from) : null,
            to_json: JSON.stringify(m.to),
            cc_json: JSON.stringify(m.cc),
            flags: JSON.stringify(m.flags),
            direction,
            size: m.size,
            thread_id: key,
            conversation_id: key,
            attachment_count: m.attachmentCount,
            attachments_truncated: m.attachmentsTruncated ? 1 : 0,
          })
          .execute();
        for (let i = 0; i < m.attachments.length; i += IN_CHUNK) {
          await trx
            .insertInto('mail_attachments')
            .values(
              m.attachments.slice(i, i + IN_CHUNK).map((a, j) => ({
                mailbox_id: mailboxId,
                folder,
                uid: m.uid,
                ordinal: i + j,
                part_id: a.partId,
                filename: a.filename,
                content_type: a.contentType,
                encoding: a.encoding,
                size: a.size,
                size_exact: a.sizeExact ? 1 : 0,
                content_id: a.contentId,
                disposition: a.disposition,
                kind: a.kind,
                downloadable: a.downloadable ? 1 : 0,
              })),
            )
            .execute();
        }
        await threadNewMessage(trx, mailboxId, {
          key,
          folder,
          uid: m.uid,
          messageId: m.messageId,
          inReplyTo: m.inReplyTo,
          references: m.references,
          subject: m.subject,
          date: m.date,
          hasAttachments: m.attachmentCount > 0,
        });
      }
      await this.#countSynced(trx, mailboxId, folder);
      return fresh.length;
    });
  }

  /** Drops expunged messages and re-threads their conversations. @returns how many were indexed */
  async removeMessages(mailboxId: string, folder: string, uids: readonly number[]): Promise<number> {
    if (uids.length === 0) return 0;
    return inWriteTransaction(this.#db, this.#dialect, mailboxId, async (trx) => {
      let removed = 0;
      const conversations = new Set<string>();
      const gone: { folder: string; messageIdNorm: string | null }[] = [];
      for (let i = 0; i < uids.length; i += IN_CHUNK) {
        const part = uids.slice(i, i + IN_CHUNK);
        const rows = await trx.selectFrom('mail_messages').select(['conversation_id', 'message_id_norm']).where('mailbox_id', '=', mailboxId).where('folder', '=', folder).where('uid', 'in', part).execute();
        removed += rows.length;
        for (const r of rows) {
          conversations.add(r.conversation_id);
          gone.push({ folder, messageIdNorm: r.message_id_norm });
        }
        await trx.deleteFrom('mail_attachments').where('mailbox_id', '=', mailboxId).where('folder', '=', folder).where('uid', 'in', part).execute();
        await trx.deleteFrom('mail_messages').where('mailbox_id', '=', mailboxId).where('folder', '=', folder).where('uid', 'in', part).execute();
      }
      // A removed owner of a Message-ID hands it to the next duplicate, which may join another conversation.
      await rebuildConversations(trx, mailboxId, [...conversations], gone);
      await this.#countSynced(trx, mailboxId, folder);
      return removed;
    });
  }

  async #countSynced(trx: Db, mailboxId: string, folder: string): Promise<void> {
    const { n } = await trx.selectFrom('mail_messages').select((eb) => eb.fn.countAll<number | string>().as('n')).where('mailbox_id', '=', mailboxId).where('folder', '=', folder).executeTakeFirstOrThrow();
    await trx.updateTable('mail_folders').set({ synced_messages: num(n) }).where('mailbox_id', '=', mailboxId).where('folder', '=', folder).execute();
  }

  /** Replaces the flags of indexed messages (unknown UIDs are ignored). */
  async setFlags(mailboxId: string, folder: string, changes: readonly { uid: number; flags: string[] }[]): Promise<void> {
    for (const c of changes) {
      await this.#db.updateTable('mail_messages').set({ flags: JSON.stringify(c.flags) }).where('mailbox_id', '=', mailboxId).where('folder', '=', folder).where('uid', '=', c.uid).execute();
    }
  }

  /** Records a size measured later (e.g. on the first download), exact or not. */
  async setAttachmentSize(mailboxId: string, folder: string, uid: number, partId: string, size: number, exact: boolean): Promise<void> {
    await this.#db
      .updateTable('mail_attachments')
      .set({ size, size_exact: exact ? 1 : 0 })
      .where('mailbox_id', '=', mailboxId)
      .where('folder', '=', folder)
      .where('uid', '=', uid)
      .where('part_id', '=', partId)
      .execute();
  }

  /** The indexed UIDs of a folder, ascending (for finding expunges by a UID SEARCH difference). */
  async uids(mailboxId: string, folder: string): Promise<number[]> {
    const rows = await this.#db.selectFrom('mail_messages').select('uid').where('mailbox_id', '=', mailboxId).where('folder', '=', folder).orderBy('uid').execute();
    return rows.map((r) => num(r.uid));
  }

  /**
   * One page of conversations, newest activity first (undated last), ties by id: a keyset query
   * on `mail_conversations_activity_idx`, so its cost does not grow with the mailbox.
   * @returns the page and whether more follow
   */
  async listConversations(mailboxId: string, query: ConversationQuery): Promise<{ items: ConversationRow[]; hasNextPage: boolean }> {
    const first = Math.max(1, Math.min(1000, Math.floor(query.first)));
    let q = this.#db
      .selectFrom('mail_conversations')
      .select(['id', 'subject', 'last_message_at', 'activity', 'message_count', 'attachment_messages'])
      .where('mailbox_id', '=', mailboxId);
    if (query.hasAttachments === true) q = q.where('attachment_messages', '>', 0);
    if (query.hasAttachments === false) q = q.where('attachment_messages', '=', 0);
    if (query.since) q = q.where('activity', '>=', query.since.getTime());
    const after = query.after;
    if (after) q = q.where((eb) => eb.or([eb('activity', '<', after.activity), eb.and([eb('activity', '=', after.activity), eb('id', '>', after.id)])]));
    const rows = await q.orderBy('activity', 'desc').orderBy('id').limit(first + 1).execute();
    const items = rows.slice(0, first).map((r) => ({
      id: r.id,
      subject: r.subject,
      lastMessageAt: r.last_message_at === null ? null : toDate(r.last_message_at),
      messageCount: num(r.message_count),
      hasAttachments: num(r.attachment_messages) > 0,
      position: { activity: num(r.activity), id: r.id },
    }));
    return { items, hasNextPage: rows.length > first };
  }

  /**
   * The conversations with these ids, assembled by the shared module (`assembleConversation`: the
   * messages oldest first, participants, newest date); null for an id not in the index.
   */
  async loadConversations(mailboxId: string, ids: readonly string[]): Promise<(ConversationInfo | null)[]> {
    const groups = new Map<string, Parameters<typeof assembleConversation>[0][number][]>();
    const wanted = [...new Set(ids)];
    for (let i = 0; i < wanted.length; i += IN_CHUNK) {
      const rows = await this.#db
        .selectFrom('mail_messages')
        .select(['folder', 'uid', 'uid_validity', 'conversation_id', 'subject', 'from_json', 'to_json', 'cc_json', 'date', 'attachment_count'])
        .where('mailbox_id', '=', mailboxId)
        .where('conversation_id', 'in', wanted.slice(i, i + IN_CHUNK))
        .orderBy('folder')
        .orderBy('uid')
        .execute();
      for (const r of rows) {
        const list = groups.get(r.conversation_id) ?? [];
        list.push({
          key: encodeMessageKey({ folder: r.folder, uidValidity: num(r.uid_validity), uid: num(r.uid) }),
          subject: r.subject,
          from: r.from_json === null ? null : (JSON.parse(r.from_json) as Address),
          to: JSON.parse(r.to_json) as Address[],
          cc: JSON.parse(r.cc_json) as Address[],
          date: r.date === null ? null : toDate(r.date),
          hasAttachments: num(r.attachment_count) > 0,
        });
        groups.set(r.conversation_id, list);
      }
    }
    return ids.map((id) => {
      const group = groups.get(id);
      return group ? assembleConversation(group, { key: id }) : null;
    });
  }

  /** The messages at these (folder, UIDVALIDITY, UID) positions with their attachments; null where none is indexed under that UIDVALIDITY. */
  async loadMessages(mailboxId: string, refs: readonly { folder: string; uidValidity: number; uid: number }[]): Promise<(StoredMessage | null)[]> {
    const byFolder = new Map<string, number[]>();
    for (const r of refs) {
      const list = byFolder.get(r.folder);
      if (list) list.push(r.uid);
      else byFolder.set(r.folder, [r.uid]);
    }
    const found = new Map<string, StoredMessage>();
    for (const [folder, uids] of byFolder) {
      for (let i = 0; i < uids.length; i += IN_CHUNK) {
        const part = uids.slice(i, i + IN_CHUNK);
        const rows = await this.#db.selectFrom('mail_messages').selectAll().where('mailbox_id', '=', mailboxId).where('folder', '=', folder).where('uid', 'in', part).execute();
        const attachments = await this.#db
          .selectFrom('mail_attachments')
          .selectAll()
          .where('mailbox_id', '=', mailboxId)
          .where('folder', '=', folder)
          .where('uid', 'in', part)
          .orderBy('uid')
          .orderBy('ordinal')
          .execute();
        const perUid = new Map<number, IndexedAttachment[]>();
        for (const a of attachments) {
          const list = perUid.get(num(a.uid)) ?? [];
          list.push({
            partId: a.part_id,
            filename: a.filename,
            contentType: a.content_type,
            encoding: a.encoding,
            size: numOrNull(a.size),
            sizeExact: bool(a.size_exact),
            contentId: a.content_id,
            disposition: a.disposition as IndexedAttachment['disposition'],
            kind: a.kind as IndexedAttachment['kind'],
            downloadable: bool(a.downloadable),
          });
          perUid.set(num(a.uid), list);
        }
        for (const r of rows) {
          const uid = num(r.uid);
          const uidValidity = num(r.uid_validity);
          const key = encodeMessageKey({ folder, uidValidity, uid });
          const list = perUid.get(uid) ?? [];
          found.set(key, {
            key,
            folder,
            uid,
            conversationKey: r.conversation_id,
            subject: r.subject,
            from: r.from_json === null ? null : (JSON.parse(r.from_json) as Address),
            to: JSON.parse(r.to_json) as Address[],
            cc: JSON.parse(r.cc_json) as Address[],
            date: r.date === null ? null : toDate(r.date),
            messageId: r.message_id,
            inReplyTo: r.in_reply_to,
            references: JSON.parse(r.references) as string[],
            direction: r.direction as MessageDirection,
            flags: JSON.parse(r.flags) as string[],
            size: numOrNull(r.size),
            attachments: list,
            attachmentCount: num(r.attachment_count),
            attachmentsTruncated: bool(r.attachments_truncated),
          });
        }
      }
    }
    return refs.map((r) => found.get(encodeMessageKey(r)) ?? null);
  }

  /**
   * Takes (or renews) the folder's sync lease for `owner` until now + `ttlMs`: succeeds when the
   * lease is free, expired, or already `owner`'s. One conditional UPDATE, so two processes never
   * both succeed. The folder row must exist ({@link ensureFolder}).
   * @returns true when `owner` holds the lease now
   */
  async takeLease(mailboxId: string, folder: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = new Date();
    const result = await this.#db
      .updateTable('mail_folders')
      .set({ lease_owner: owner, lease_expires_at: new Date(now.getTime() + ttlMs).toISOString() })
      .where('mailbox_id', '=', mailboxId)
      .where('folder', '=', folder)
      .where((eb) => eb.or([eb('lease_owner', 'is', null), eb('lease_owner', '=', owner), eb('lease_expires_at', '<', now.toISOString())]))
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }

  /** Frees the lease if `owner` holds it. */
  async releaseLease(mailboxId: string, folder: string, owner: string): Promise<void> {
    await this.#db
      .updateTable('mail_folders')
      .set({ lease_owner: null, lease_expires_at: null })
      .where('mailbox_id', '=', mailboxId)
      .where('folder', '=', folder)
      .where('lease_owner', '=', owner)
      .execute();
  }
}
