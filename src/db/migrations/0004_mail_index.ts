/**
 * The mail index (issue 17): what the gateway knows of the messages of IMAP (later local) mailboxes,
 * so that listing, filtering, threading and paging are indexed queries instead of per-process
 * copies. Nothing of the bytes is stored: headers, flags, the attachment listing and the threading
 * state. Same tables on SQLite and PostgreSQL; timestamps as in 0001 (text / timestamptz); UIDs,
 * UIDVALIDITY and sort keys as `bigint` (UIDs are unsigned 32-bit, RFC 3501 §2.3.1.1; PostgreSQL's
 * `integer` is signed); HIGHESTMODSEQ as text (an unsigned 63-bit value, RFC 7162 §7, past the
 * exact range of a JavaScript number).
 *
 * Everything of a mailbox cascades from `mail_folders`, which cascades from `mailboxes`.
 */
import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../connect.ts';

/** Creates the index tables and their indexes. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on the evolving Database type
export async function up(db: Kysely<any>, dialect: Dialect): Promise<void> {
  const ts = dialect === 'postgres' ? 'timestamptz' : 'text';
  const bool = dialect === 'postgres' ? 'boolean' : 'integer';

  await db.schema
    .createTable('mail_folders')
    .addColumn('mailbox_id', 'text', (c) => c.notNull().references('mailboxes.id').onDelete('cascade'))
    .addColumn('folder', 'text', (c) => c.notNull())
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('uid_validity', 'bigint', (c) => c.notNull())
    .addColumn('uid_next', 'bigint', (c) => c.notNull())
    .addColumn('messages', 'bigint', (c) => c.notNull())
    .addColumn('highest_modseq', 'text')
    .addColumn('sync_state', 'text', (c) => c.notNull())
    .addColumn('synced_messages', 'bigint', (c) => c.notNull())
    .addColumn('resume_below_uid', 'bigint')
    .addColumn('error', 'text')
    .addColumn('checked_at', ts)
    .addColumn('synced_at', ts)
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', ts)
    .addPrimaryKeyConstraint('mail_folders_pk', ['mailbox_id', 'folder'])
    .execute();

  await db.schema
    .createTable('mail_messages')
    .addColumn('mailbox_id', 'text', (c) => c.notNull())
    .addColumn('folder', 'text', (c) => c.notNull())
    .addColumn('uid', 'bigint', (c) => c.notNull())
    .addColumn('uid_validity', 'bigint', (c) => c.notNull())
    .addColumn('message_id', 'text')
    .addColumn('message_id_norm', 'text')
    .addColumn('in_reply_to', 'text')
    .addColumn('references', 'text', (c) => c.notNull())
    .addColumn('subject', 'text')
    .addColumn('date', ts)
    .addColumn('date_ms', 'bigint')
    .addColumn('from_json', 'text')
    .addColumn('to_json', 'text', (c) => c.notNull())
    .addColumn('cc_json', 'text', (c) => c.notNull())
    .addColumn('flags', 'text', (c) => c.notNull())
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint')
    .addColumn('thread_id', 'text', (c) => c.notNull())
    .addColumn('conversation_id', 'text', (c) => c.notNull())
    .addColumn('attachment_count', 'bigint', (c) => c.notNull())
    .addColumn('attachments_truncated', bool, (c) => c.notNull())
    .addPrimaryKeyConstraint('mail_messages_pk', ['mailbox_id', 'folder', 'uid'])
    .addForeignKeyConstraint('mail_messages_folder_fk', ['mailbox_id', 'folder'], 'mail_folders', ['mailbox_id', 'folder'], (c) => c.onDelete('cascade'))
    .execute();
  await db.schema.createIndex('mail_messages_conversation_idx').on('mail_messages').columns(['mailbox_id', 'conversation_id']).execute();
  await db.schema.createIndex('mail_messages_thread_idx').on('mail_messages').columns(['mailbox_id', 'thread_id']).execute();
  // Who owns a duplicate Message-ID: the first message in UID order of its folder (RFC 5256 §3).
  await db.schema.createIndex('mail_messages_message_id_idx').on('mail_messages').columns(['mailbox_id', 'folder', 'message_id_norm', 'uid']).execute();

  await db.schema
    .createTable('mail_attachments')
    .addColumn('mailbox_id', 'text', (c) => c.notNull())
    .addColumn('folder', 'text', (c) => c.notNull())
    .addColumn('uid', 'bigint', (c) => c.notNull())
    .addColumn('ordinal', 'bigint', (c) => c.notNull())
    .addColumn('part_id', 'text', (c) => c.notNull())
    .addColumn('filename', 'text')
    .addColumn('content_type', 'text', (c) => c.notNull())
    .addColumn('encoding', 'text')
    .addColumn('size', 'bigint')
    .addColumn('size_exact', bool, (c) => c.notNull())
    .addColumn('content_id', 'text')
    .addColumn('disposition', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('downloadable', bool, (c) => c.notNull())
    .addPrimaryKeyConstraint('mail_attachments_pk', ['mailbox_id', 'folder', 'uid', 'part_id'])
    .addForeignKeyConstraint('mail_attachments_message_fk', ['mailbox_id', 'folder', 'uid'], 'mail_messages', ['mailbox_id', 'folder', 'uid'], (c) => c.onDelete('cascade'))
    .execute();

  await db.schema
    .createTable('mail_conversations')
    .addColumn('mailbox_id', 'text', (c) => c.notNull().references('mailboxes.id').onDelete('cascade'))
    // Ties of the keyset order compare ids byte-wise on both dialects (SQLite's BINARY is the
    // default; PostgreSQL's default collation depends on the server's locale).
    .addColumn('id', 'text', (c) => (dialect === 'postgres' ? c.notNull().modifyEnd(sql`collate "C"`) : c.notNull()))
    .addColumn('subject', 'text')
    .addColumn('last_message_at', ts)
    .addColumn('activity', 'bigint', (c) => c.notNull())
    .addColumn('oldest_ms', 'bigint', (c) => c.notNull())
    .addColumn('oldest_key', 'text', (c) => c.notNull())
    .addColumn('message_count', 'bigint', (c) => c.notNull())
    .addColumn('attachment_messages', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('mail_conversations_pk', ['mailbox_id', 'id'])
    .execute();
  // Keyset paging by newest activity (ties by id): `activity` is never null (undated sorts last).
  await sql`create index mail_conversations_activity_idx on mail_conversations (mailbox_id, activity desc, id)`.execute(db);

  // Threads: the messages linked by msg-ids; a conversation is one thread, or the threads whose
  // oldest messages share a non-empty base subject (RFC 5256 §2.1).
  await db.schema
    .createTable('mail_threads')
    .addColumn('mailbox_id', 'text', (c) => c.notNull().references('mailboxes.id').onDelete('cascade'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('oldest_ms', 'bigint', (c) => c.notNull())
    .addColumn('oldest_key', 'text', (c) => c.notNull())
    .addColumn('base_subject', 'text', (c) => c.notNull())
    .addColumn('conversation_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('mail_threads_pk', ['mailbox_id', 'id'])
    .execute();
  await db.schema.createIndex('mail_threads_subject_idx').on('mail_threads').columns(['mailbox_id', 'base_subject']).execute();
  await db.schema.createIndex('mail_threads_conversation_idx').on('mail_threads').columns(['mailbox_id', 'conversation_id']).execute();

  await db.schema
    .createTable('mail_thread_ids')
    .addColumn('mailbox_id', 'text', (c) => c.notNull().references('mailboxes.id').onDelete('cascade'))
    .addColumn('msg_id', 'text', (c) => c.notNull())
    .addColumn('thread_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('mail_thread_ids_pk', ['mailbox_id', 'msg_id'])
    .execute();
  await db.schema.createIndex('mail_thread_ids_thread_idx').on('mail_thread_ids').columns(['mailbox_id', 'thread_id']).execute();
}

/** Drops the index tables. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['mail_thread_ids', 'mail_threads', 'mail_conversations', 'mail_attachments', 'mail_messages', 'mail_folders']) {
    await db.schema.dropTable(table).execute();
  }
}
