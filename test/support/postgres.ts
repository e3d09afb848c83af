/**
 * A private PostgreSQL database per test file: `agw_test_<random>` is created through the
 * maintenance database and dropped afterwards. The server defaults to 127.0.0.1:5432, user
 * postgres, trust auth; `TEST_POSTGRES_ADMIN_URL` points elsewhere.
 */
import crypto from 'node:crypto';
import pg from 'pg';

const ADMIN_URL = process.env.TEST_POSTGRES_ADMIN_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/** A created database: its connection URL and how to drop it. */
export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates a fresh database, or returns null (after a loud warning) when PostgreSQL is not
 * reachable, so the caller can skip its PostgreSQL cases.
 */
export async function createTestDatabase(): Promise<TestDatabase | null> {
  const name = `agw_test_${crypto.randomBytes(6).toString('hex')}`;
  try {
    await admin((c) => c.query(`CREATE DATABASE ${name}`));
  } catch (error) {
    console.warn(
      `\n!!! PostgreSQL tests SKIPPED: cannot create a database through ${ADMIN_URL} (${(error as Error).message}).\n` +
        '!!! Start PostgreSQL on 127.0.0.1:5432 with trust auth for user postgres (e.g. apt-get install postgresql &&\n' +
        '!!! service postgresql start), or set TEST_POSTGRES_ADMIN_URL to a role that may CREATE DATABASE.\n',
    );
    return null;
  }
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))),
  };
}
