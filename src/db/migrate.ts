/**
 * Runs the pending migrations with kysely's Migrator. PostgreSQL serialises concurrent starts with
 * an advisory lock; SQLite runs each migration in a transaction, and a process that loses the race
 * for the write lock (SQLITE_BUSY) retries until the winner has committed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Migrator } from 'kysely';
import { GatewayError } from '../errors.ts';
import type { Connection } from './connect.ts';
import { migrationProvider } from './migrations/index.ts';

/**
 * Brings the schema to the latest version; a no-op when it is current.
 * @returns the names of the migrations applied by this call
 * @throws GatewayError INTERNAL naming the failed migration (the cause is kept for logs)
 */
export async function migrateToLatest({ db, dialect }: Connection): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider(dialect) });
  const deadline = Date.now() + RETRY_FOR_MS;
  let { error, results } = await migrator.migrateToLatest();
  while (error && dialect === 'sqlite' && isSqliteBusy(error) && Date.now() < deadline) {
    await sleep(25 + Math.random() * 75);
    ({ error, results } = await migrator.migrateToLatest());
  }
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    const detail = error instanceof Error ? error.message : String(error);
    throw new GatewayError('INTERNAL', `Database migration ${failed} failed: ${detail}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** How long (milliseconds) a SQLite start keeps retrying while another process migrates. */
const RETRY_FOR_MS = 15_000;

function isSqliteBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}
