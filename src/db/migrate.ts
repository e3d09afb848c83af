/**
 * Runs the pending migrations with kysely's Migrator. PostgreSQL serialises concurrent starts with
 * an advisory lock; SQLite runs each migration in a transaction, and a process that loses the race
 * for the write lock (SQLITE_BUSY) retries until the winner has committed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Migrator, sql, type Kysely } from 'kysely';
import { GatewayError } from '../errors.ts';
import type { Connection } from './connect.ts';
import type { Database } from './schema.ts';
import { migrationProvider } from './migrations/index.ts';

/**
 * Brings the schema to the latest version; a no-op when it is current.
 * @returns the names of the migrations applied by this call
 * @throws GatewayError INTERNAL "Cannot connect to the database ..." when the database cannot be
 *   reached or refuses the login; "Database migration NAME failed" naming the failed migration (the
 *   cause is kept for logs)
 */
export async function migrateToLatest({ db, dialect, target }: Connection): Promise<string[]> {
  await checkConnection(db, target);
  const migrator = new Migrator({ db, provider: migrationProvider(dialect) });
  const deadline = Date.now() + RETRY_FOR_MS;
  let { error, results } = await migrator.migrateToLatest();
  while (error && dialect === 'sqlite' && isSqliteBusy(error) && Date.now() < deadline) {
    await sleep(25 + Math.random() * 75);
    ({ error, results } = await migrator.migrateToLatest());
  }
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    // kysely gives no results when it failed before running any migration: while creating its own
    // bookkeeping tables or taking its lock.
    const what = failed ? `Database migration ${failed} failed` : `Preparing the migrations of ${target} failed`;
    throw new GatewayError('INTERNAL', `${what}: ${errorText(error)}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** A first query, so that an unreachable server or a refused login is reported as such. */
async function checkConnection(db: Kysely<Database>, target: string): Promise<void> {
  try {
    await sql`select 1`.execute(db);
  } catch (error) {
    throw new GatewayError('INTERNAL', `Cannot connect to the database ${target}: ${errorText(error)}`, { cause: error });
  }
}

/** The message of an error; Node's AggregateError (one per address tried) has an empty one. */
function errorText(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(errorText).join('; ');
  if (error instanceof Error) return error.message || (error as NodeJS.ErrnoException).code || error.name;
  return String(error);
}

/** How long (milliseconds) a SQLite start keeps retrying while another process migrates. */
const RETRY_FOR_MS = 15_000;

function isSqliteBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}
