/**
 * A mail index for IMAP providers under test: one migrated SQLite file per test file; each
 * provider gets a fresh mailbox row (so its own, empty index) through {@link ProviderIndex.next}.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { connect } from '../../src/db/connect.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { openMailIndex } from '../../src/mail-index/store.ts';
import type { ImapIndexDeps } from '../../src/providers/imap/indexed.ts';

/** Index deps for providers, and how to close the file. */
export interface ProviderIndex {
  /** A new mailbox id with its row, and the deps that read and write its index. */
  next(): { mailboxId: string; mailIndex: ImapIndexDeps };
  close(): Promise<void>;
}

/** Opens a migrated SQLite index in a temp folder. */
export async function openProviderIndex(): Promise<ProviderIndex> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-imap-index-'));
  const file = path.join(dir, 'gateway.sqlite');
  const connection = connect({ dialect: 'sqlite', file });
  await migrateToLatest(connection);
  const raw = new SqliteDatabase(file);
  const workspaceId = crypto.randomUUID();
  raw.prepare('INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)').run(workspaceId, `ws-${workspaceId.slice(0, 8)}`, new Date().toISOString());
  const store = openMailIndex(connection);
  const owner = crypto.randomUUID();
  return {
    next() {
      const mailboxId = crypto.randomUUID();
      raw.prepare("INSERT INTO mailboxes (id, workspace_id, provider, settings, created_at) VALUES (?, ?, 'IMAP', '{}', ?)").run(mailboxId, workspaceId, new Date().toISOString());
      return { mailboxId, mailIndex: { store, owner } };
    },
    async close() {
      raw.close();
      await connection.db.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
