/**
 * Opens the kysely instance for the configured database: better-sqlite3 for a SQLite file (the
 * default, `DATA_DIR/gateway.sqlite`) or a `pg` pool for a `postgres://` DATABASE_URL.
 */
import fs from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { Kysely, PostgresDialect, SqliteAdapter, SqliteDialect, type DialectAdapter } from 'kysely';
import type { Config } from '../config.ts';
import type { Database } from './schema.ts';

/** Which SQL dialect a kysely instance speaks; migrations branch on it for column types. */
export type Dialect = Config['database']['dialect'];

/** How long (milliseconds) a SQLite writer waits for a lock held by another process (the CLI beside a running server). */
const SQLITE_BUSY_TIMEOUT_MS = 5000;

/**
 * SQLite runs DDL inside transactions, but kysely's adapter says it does not, so its Migrator would
 * run each migration statement by statement with no lock (kysely relies on SQLite having one
 * connection, which is false when the CLI and the server start at once). Claiming transactional
 * DDL makes every migration atomic; `src/db/migrate.ts` retries the loser of a race (SQLITE_BUSY).
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class GatewaySqliteDialect extends SqliteDialect {
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

/** A kysely instance with the dialect it speaks. */
export interface Connection {
  db: Kysely<Database>;
  dialect: Dialect;
}

/**
 * Connects to the database named by `database`. Creates the folder of a SQLite file. Does not
 * migrate (see `src/db/migrate.ts`).
 */
export function connect(database: Config['database']): Connection {
  if (database.dialect === 'postgres') {
    // Keep the pool small: the gateway's work is streaming from mail providers, not SQL.
    const pool = new pg.Pool({ connectionString: database.url, max: 10 });
    // An idle client can lose its connection (server restart); without a listener the pool's
    // 'error' event would end the process. The next query reconnects.
    pool.on('error', (error) => process.emitWarning(`PostgreSQL idle connection error: ${error.message}`));
    return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), dialect: 'postgres' };
  }
  const isNew = database.file !== ':memory:' && !fs.existsSync(database.file);
  if (database.file !== ':memory:') fs.mkdirSync(path.dirname(database.file), { recursive: true, mode: 0o700 });
  const sqlite = new SqliteDatabase(database.file, { timeout: SQLITE_BUSY_TIMEOUT_MS });
  // The file holds key hashes and encrypted credentials: readable by the owner only. SQLite gives
  // its -wal and -shm files the same mode.
  if (isNew) fs.chmodSync(database.file, 0o600);
  // WAL lets the CLI write while a server reads; foreign keys are off by default in SQLite.
  if (database.file !== ':memory:') sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  return { db: new Kysely<Database>({ dialect: new GatewaySqliteDialect({ database: sqlite }) }), dialect: 'sqlite' };
}
