/**
 * Table types of the mail index (migration `0004_mail_index`), as kysely sees them. Integer columns
 * are `bigint`: PostgreSQL's driver reads them as decimal strings, SQLite as numbers, so readers go
 * through {@link num}. Booleans are written as 1/0 (better-sqlite3 binds no booleans; PostgreSQL
 * accepts '1'/'0' for boolean) and read through {@link bool}.
 */
import type { ColumnType } from 'kysely';
import type { Timestamp } from '../db/schema.ts';

/** A bigint column: read as string (PostgreSQL) or number (SQLite), written as number. */
export type BigIntColumn = ColumnType<number | string, number, number>;
/** A boolean column: read as boolean (PostgreSQL) or 0/1 (SQLite), written as 0/1. */
export type BoolColumn = ColumnType<boolean | number, number, number>;

/** Sync state of a folder: `initial` until the first sync has fetched every message, then `current`; `failed` after an error. */
export type SyncState = 'initial' | 'current' | 'failed';

/** `mail_folders`: one row per indexed folder of a mailbox, with its IMAP state and the sync lease. */
export interface MailFolderTable {
  mailbox_id: string;
  folder: string;
  /** `RECEIVED` or `SENT`. */
  direction: string;
  uid_validity: BigIntColumn;
  /** UIDNEXT as of the last completed sync; new mail is fetched from here. */
  uid_next: BigIntColumn;
  /** MESSAGES as of the last completed sync. */
  messages: BigIntColumn;
  /** HIGHESTMODSEQ (RFC 7162) as decimal text, null without CONDSTORE. */
  highest_modseq: string | null;
  sync_state: SyncState;
  /** Messages of the folder in the index (the progress of an initial sync against `messages`). */
  synced_messages: BigIntColumn;
  /** While the first sync runs newest first: every UID at or above this one is indexed. Null when none or done. */
  resume_below_uid: BigIntColumn | null;
  /** Why the last sync failed, for operators; null after a success. */
  error: string | null;
  checked_at: Timestamp | null;
  synced_at: Timestamp | null;
  /** Who holds the sync lease (a random id per process), null when free. */
  lease_owner: string | null;
  lease_expires_at: Timestamp | null;
}

/** `mail_messages`: header facts, flags and attachment summary of one message (never its bytes). */
export interface MailMessageTable {
  mailbox_id: string;
  folder: string;
  uid: BigIntColumn;
  uid_validity: BigIntColumn;
  /** Message-ID as written (angle brackets kept). */
  message_id: string | null;
  /** `message_id` as threading compares it (`normalizeMsgId`), null when absent or blank. */
  message_id_norm: string | null;
  in_reply_to: string | null;
  /** JSON array of msg-ids, oldest first, at most `MAX_REFERENCES`. */
  references: string;
  subject: string | null;
  date: Timestamp | null;
  /** Epoch milliseconds of `date`, null when undated. */
  date_ms: BigIntColumn | null;
  /** JSON `Address` or null. */
  from_json: string | null;
  /** JSON `Address[]`. */
  to_json: string;
  cc_json: string;
  /** JSON array of IMAP flags (`\Seen`, ...). */
  flags: string;
  direction: string;
  /** RFC822.SIZE in bytes, null when unknown. */
  size: BigIntColumn | null;
  /** The thread (msg-id linked messages) it belongs to. */
  thread_id: string;
  conversation_id: string;
  attachment_count: BigIntColumn;
  attachments_truncated: BoolColumn;
}

/** `mail_attachments`: one attachment part of an indexed message. */
export interface MailAttachmentTable {
  mailbox_id: string;
  folder: string;
  uid: BigIntColumn;
  /** Position in MIME order, from 0. */
  ordinal: BigIntColumn;
  part_id: string;
  filename: string | null;
  content_type: string;
  /** Content-Transfer-Encoding, lower-cased (a download decodes it), or null. */
  encoding: string | null;
  size: BigIntColumn | null;
  size_exact: BoolColumn;
  content_id: string | null;
  disposition: string;
  kind: string;
  downloadable: BoolColumn;
}

/** `mail_conversations`: one thread of a mailbox; its id is the key of its oldest message. */
export interface MailConversationTable {
  mailbox_id: string;
  id: string;
  /** Subject of the oldest message. */
  subject: string | null;
  last_message_at: Timestamp | null;
  /** Epoch ms of the newest message; {@link UNDATED} when no message is dated (sorts last). */
  activity: BigIntColumn;
  /** Epoch ms of the oldest message; {@link UNDATED} when it is undated (undated sorts first, as `oldestFirst`). */
  oldest_ms: BigIntColumn;
  /** Key of the oldest message (equals `id`). */
  oldest_key: string;
  message_count: BigIntColumn;
  /** How many of its messages have an attachment. */
  attachment_messages: BigIntColumn;
}

/** `mail_threads`: messages linked by msg-ids; grouped into conversations by base subject. */
export interface MailThreadTable {
  mailbox_id: string;
  /** The key of its oldest message. */
  id: string;
  oldest_ms: BigIntColumn;
  oldest_key: string;
  /** RFC 5256 base subject of its oldest message; '' when empty (then it is a conversation alone). */
  base_subject: string;
  conversation_id: string;
}

/** `mail_thread_ids`: which thread each known msg-id (normalised) belongs to. */
export interface MailThreadIdTable {
  mailbox_id: string;
  msg_id: string;
  thread_id: string;
}

/** The index tables. */
export interface MailIndexTables {
  mail_folders: MailFolderTable;
  mail_messages: MailMessageTable;
  mail_attachments: MailAttachmentTable;
  mail_conversations: MailConversationTable;
  mail_threads: MailThreadTable;
  mail_thread_ids: MailThreadIdTable;
}

/** Sort key of "no date": below every real Date (whose range ends at ±8.64e15 ms). */
export const UNDATED = -9_000_000_000_000_000;

/** A bigint column's value as a number (exact up to 2^53). */
export function num(value: number | string): number {
  return typeof value === 'number' ? value : Number(value);
}

/** A nullable bigint column's value. */
export function numOrNull(value: number | string | null): number | null {
  return value === null ? null : num(value);
}

/** A boolean column's value. */
export function bool(value: boolean | number): boolean {
  return value === true || value === 1;
}
