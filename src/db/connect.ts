/**
 * Opens the kysely instance for the configured database: better-sqlite3 for a SQLite file (the
 * default, `DATA_DIR/gateway.sqlite`) or a `pg` pool for a `postgres://` DATABASE_URL.
 */
import fs from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { Kysely, PostgresDialect, SqliteAdapter, SqliteDialect, type DialectAdapter } from 'kysely';
import { describeDatabase, type Config } from '../config.ts';
import { GatewayError } from '../errors.ts';
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
  /** The database as messages may name it, without credentials (see `describeDatabase`). */
  target: string;
}

/**
 * Connects to the database named by `database`. Creates the folder of a SQLite file. Does not
 * migrate (see `src/db/migrate.ts`); a PostgreSQL server is first contacted there.
 * @throws GatewayError INTERNAL when the SQLite file cannot be opened (e.g. it is not a database)
 */
export function connect(database: Config['database']): Connection {
  const target = describeDatabase(database);
  if (database.dialect === 'postgres') {
    // Keep the pool small: the gateway's work is streaming from mail providers, not SQL.
    const pool = new pg.Pool({ connectionString: database.url, max: 10 });
    // An idle client can lose its connection (server restart); without a listener the pool's
    // 'error' event would end the process. The next query reconnects.
    pool.on('error', (error) => process.emitWarning(`PostgreSQL idle connection error: ${error.message}`));
    return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), dialect: 'postgres', target };
  }
  try {
    return { db: openSqlite(database.file), dialect: 'sqlite', target };
  } catch (error) {
    throw new GatewayError('INTERNAL', `Cannot open the database ${target}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

function openSqlite(file: string): Kysely<Database> {
  const inMemory = file === ':memory:';
  const isNew = !inMemory && !fs.existsSync(file);
  if (!inMemory) fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const sqlite = new SqliteDatabase(file, { timeout: SQLITE_BUSY_TIMEOUT_MS });
  try {
    // The file holds key hashes and encrypted credentials: readable by the owner only. SQLite gives
    // its -wal and -shm files the same mode.
    if (isNew) fs.chmodSync(file, 0o600);
    // WAL lets the CLI write while a server reads; foreign keys are off by default in SQLite.
    // The first pragma is also where a file that is not a database is refused.
    if (!inMemory) sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('foreign_keys = ON');
  } catch (error) {
    sqlite.close();
    throw error;
  }
  return new Kysely<Database>({ dialect: new GatewaySqliteDialect({ database: sqlite }) });
}
