/**
 * A migrated mail index for tests, on a SQLite file or a private PostgreSQL database, with one
 * workspace and mailbox rows to hang folders on (`mail_folders` references `mailboxes`).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../../src/config.ts';
import { connect, type Connection } from '../../src/db/connect.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { openMailIndex, type IndexedMessage, type MailIndexStore } from '../../src/mail-index/store.ts';

/** An open, migrated index and how to add mailboxes and close it. */
export interface TestIndex {
  index: MailIndexStore;
  connection: Connection;
  database: Config['database'];
  /** Inserts a mailbox row (LOCAL, no credentials) and returns its id. */
  addMailbox(): Promise<string>;
  /** Another store instance on the same database (another process, as far as the index can tell). */
  another(): Promise<{ index: MailIndexStore; close(): Promise<void> }>;
  close(): Promise<void>;
}

/** Opens a migrated index on `database` (a fresh SQLite file in a temp folder when omitted). */
export async function openTestIndex(database?: Config['database']): Promise<TestIndex> {
  let tmp: string | null = null;
  if (!database) {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-index-'));
    database = { dialect: 'sqlite', file: path.join(tmp, 'gateway.sqlite') };
  }
  const connection = connect(database);
  await migrateToLatest(connection);
  const workspaceId = crypto.randomUUID();
  await connection.db.insertInto('workspaces').values({ id: workspaceId, name: `ws-${workspaceId.slice(0, 8)}`, created_at: new Date().toISOString() }).execute();
  const others: Connection[] = [];
  return {
    index: openMailIndex(connection),
    connection,
    database,
    async addMailbox() {
      const id = crypto.randomUUID();
      await connection.db
        .insertInto('mailboxes')
        .values({ id, workspace_id: workspaceId, provider: 'IMAP', address: null, display_name: null, settings: '{}', credentials: null, created_at: new Date().toISOString(), needs_reconsent_at: null, reconsent_reason: null })
        .execute();
      return id;
    },
    async another() {
      const other = connect(database);
      others.push(other);
      return { index: openMailIndex(other), close: () => other.db.destroy() };
    },
    async close() {
      await connection.db.destroy();
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** A message for the index with defaults for everything not given. */
export function indexedMessage(uid: number, fields: Partial<IndexedMessage> = {}): IndexedMessage {
  return {
    uid,
    messageId: `<m${uid}@example.org>`,
    inReplyTo: null,
    references: [],
    subject: `Message ${uid}`,
    date: new Date(Date.UTC(2024, 0, 1) + uid * 60_000),
    from: { name: 'Alice', address: 'alice@example.org' },
    to: [{ name: null, address: 'bob@example.org' }],
    cc: [],
    flags: [],
    size: 1000 + uid,
    attachments: [],
    attachmentCount: 0,
    attachmentsTruncated: false,
    ...fields,
  };
}
