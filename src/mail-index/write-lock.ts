/**
 * Write transactions of the mail index, serialised per mailbox: threading reads the conversation
 * rows it then rewrites, so two writers on one mailbox (INBOX and Sent synced at once, two gateway
 * instances) must not interleave. PostgreSQL takes a transaction-scoped advisory lock on the
 * mailbox; SQLite starts with `BEGIN IMMEDIATE`, which takes the database's write lock before the
 * first read (a deferred transaction that read first could not upgrade once another process wrote,
 * SQLITE_BUSY_SNAPSHOT in WAL mode). The SQLite busy timeout (`src/db/connect.ts`) bounds the wait.
 */
import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../db/connect.ts';

/**
 * Runs `fn` in one transaction holding the mailbox's write lock; commits when it resolves, rolls
 * back when it throws (and rethrows).
 */
export async function inWriteTransaction<DB, T>(db: Kysely<DB>, dialect: Dialect, mailboxId: string, fn: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
  return db.connection().execute(async (conn) => {
    await sql`${sql.raw(dialect === 'sqlite' ? 'begin immediate' : 'begin')}`.execute(conn);
    try {
      if (dialect === 'postgres') await sql`select pg_advisory_xact_lock(hashtext(${`mail-index:${mailboxId}`}))`.execute(conn);
      const result = await fn(conn);
      await sql`commit`.execute(conn);
      return result;
    } catch (error) {
      await sql`rollback`.execute(conn).catch(() => undefined);
      throw error;
    }
  });
}
