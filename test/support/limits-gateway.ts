/**
 * A gateway for the request-limit tests: the real store (SQLite in a temp DATA_DIR), one workspace
 * with one API key and one mailbox served by `provider`, the configuration from `env` (limits
 * included), and optionally a real HTTP server on loopback (startServer). Cleaned up when the
 * calling test finishes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { onTestFinished } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createStore } from '../../src/db/store.ts';
import type { MailProvider } from '../../src/providers/types.ts';
import { createGateway, startServer } from '../../src/server.ts';
import type { Store } from '../../src/store/types.ts';
import { silentLogger } from './logger.ts';

const SECRET = 'limits-secret-limits-secret-limits-0123';

/** Options of {@link setupLimitsGateway}. */
export interface LimitsGatewayOptions {
  provider: MailProvider;
  /** Extra environment (e.g. `{ REQUEST_DEADLINE_MS: '1000' }`). */
  env?: Record<string, string>;
  /** Also listen on 127.0.0.1 (port 0). */
  listen?: boolean;
  /** Wraps the store the gateway sees (e.g. to count `authenticate` calls). */
  wrapStore?: (store: Store) => Store;
}

/** Sets the gateway up; see the module comment. */
export async function setupLimitsGateway(options: LimitsGatewayOptions) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-limits-'));
  const config = loadConfig({ DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', PUBLIC_URL: 'http://gw.test', LOG_LEVEL: 'silent', ...options.env });
  if (config.database.dialect !== 'sqlite') throw new Error('expected SQLite');
  const sqliteFile = config.database.file;
  const realStore = createStore(config, SECRET);
  await realStore.migrate();
  const workspace = await realStore.createWorkspace('limits');
  const { key, id: keyId } = await realStore.createApiKey(workspace.id);
  const mailbox = await realStore.addMailbox({ workspaceId: workspace.id, provider: 'LOCAL', address: 'me@example.org', displayName: 'Mine', settings: {}, credentials: null });
  const store = options.wrapStore ? options.wrapStore(realStore) : realStore;
  const logger = silentLogger();
  const providers = () => options.provider;
  const gateway = createGateway({ config, store, logger, secret: SECRET, providers });
  const server = options.listen ? await startServer({ config, store, logger, secret: SECRET, providers }) : null;
  onTestFinished(async () => {
    await server?.close();
    await gateway.close();
    await realStore.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** Revokes the key in the database behind the gateway's back (as `key revoke` would). */
  function revokeKey(): void {
    const db = new SqliteDatabase(sqliteFile);
    try {
      db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ?').run(new Date().toISOString(), keyId);
    } finally {
      db.close();
    }
  }

  /** POSTs a GraphQL operation through `gateway.fetch` (no socket) with the key unless `key` is null. */
  async function gql(query: string, variables: Record<string, unknown> = {}, key_: string | null = key, headers: Record<string, string> = {}) {
    const all: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers };
    if (key_ !== null) all.authorization = `Bearer ${key_}`;
    const response = await gateway.fetch(new Request('http://gw.test/graphql', { method: 'POST', headers: all, body: JSON.stringify({ query, variables }) }));
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests walk results of many shapes
    const body = (await response.json()) as { data?: any; errors?: { message: string; extensions?: Record<string, unknown> }[] };
    return { status: response.status, body, data: body.data, errors: body.errors };
  }

  return { config, store, gateway, url: server?.url ?? null, key, keyId, workspace, mailbox, logger, gql, revokeKey };
}

/** Resident set size of this process, MiB. */
export function rssMiB(): number {
  return Math.round(process.memoryUsage().rss / 1048576);
}
