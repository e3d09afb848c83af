/**
 * Pending OAuth consents (migration 0003, `src/db/consents.ts`) on SQLite and PostgreSQL: the row
 * holds the state's digest and an encrypted verifier only, a consent is claimed once (also by two
 * stores racing on one database, as two gateway instances would), expired ones are refused and
 * swept, and an unknown state costs no write.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Migrator, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config.ts';
import { connect } from '../src/db/connect.ts';
import { stateDigest } from '../src/db/consents.ts';
import { migrationProvider } from '../src/db/migrations/index.ts';
import { createStore } from '../src/db/store.ts';
import type { Store } from '../src/store/types.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

const SECRET = 'consent-test-secret-0123456789-abcdefgh';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-consents-'));
let pgDb: TestDatabase | null = null;

beforeAll(async () => {
  pgDb = await createTestDatabase();
});
afterAll(async () => {
  await pgDb?.drop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const random = () => crypto.randomBytes(32).toString('base64url');

const targets: [string, () => Config['database'] | null][] = [
  ['sqlite', () => ({ dialect: 'sqlite', file: path.join(tmp, 'consents.sqlite') })],
  ['postgres', () => (pgDb ? { dialect: 'postgres', url: pgDb.url } : null)],
];

describe.each(targets)('oauth consents on %s', (dialect, databaseOf) => {
  let database: Config['database'];
  let store: Store;
  let other: Store;
  let workspaceId = '';
  let skip = false;

  beforeAll(async () => {
    const db = databaseOf();
    if (!db) {
      skip = true;
      return;
    }
    database = db;
    store = createStore({ database }, SECRET);
    other = createStore({ database }, SECRET);
    await store.migrate();
    await other.migrate();
    workspaceId = (await store.createWorkspace(`consents-${dialect}`)).id;
  });
  afterAll(async () => {
    await store?.close();
    await other?.close();
  });

  /** Every column of every consent row, read behind the store's back. */
  async function rawRows(): Promise<Record<string, unknown>[]> {
    const { db } = connect(database);
    try {
      return (await sql<Record<string, unknown>>`SELECT * FROM oauth_consents`.execute(db)).rows;
    } finally {
      await db.destroy();
    }
  }

  const test = (name: string, fn: () => Promise<void>) =>
    it(name, async (ctx) => {
      if (skip) ctx.skip(`${dialect} is not available`);
      await fn();
    });

  const newConsent = (state = random(), codeVerifier = random(), extra: { ttlMs?: number; expectedAddress?: string | null } = {}) =>
    store.consents.create({ workspaceId, provider: 'GMAIL', state, codeVerifier, redirectUri: 'http://127.0.0.1:4000/oauth/callback', expectedAddress: extra.expectedAddress ?? null, displayName: 'Alice', ...(extra.ttlMs === undefined ? {} : { ttlMs: extra.ttlMs }) });

  test('stores the digest of the state and an encrypted verifier, never either in clear', async () => {
    const state = random();
    const verifier = random();
    const consent = await newConsent(state, verifier, { expectedAddress: 'alice@example.org' });
    expect(consent).toMatchObject({ workspaceId, provider: 'GMAIL', expectedAddress: 'alice@example.org', displayName: 'Alice', redirectUri: 'http://127.0.0.1:4000/oauth/callback' });
    expect(consent.expiresAt.getTime() - consent.createdAt.getTime()).toBe(600_000);
    const row = (await rawRows()).find((r) => r.id === consent.id)!;
    expect(row.state_hash).toBe(crypto.createHash('sha256').update(state).digest('hex'));
    expect(String(row.code_verifier)).toMatch(/^v1:/);
    const everything = JSON.stringify(await rawRows());
    expect(everything).not.toContain(state);
    expect(everything).not.toContain(verifier);
    expect(await store.consents.findByState(state)).toMatchObject({ id: consent.id, state: 'pending', consumedAt: null });
    expect(await store.consents.findByState(random())).toBeNull();
  });

  test('a consent is claimed once, with its verifier; the outcome is read back', async () => {
    const verifier = random();
    const consent = await newConsent(random(), verifier);
    const claimed = await store.consents.claim(consent.id);
    expect(claimed).toMatchObject({ id: consent.id, codeVerifier: verifier });
    expect(await store.consents.claim(consent.id)).toBeNull();
    expect(await other.consents.claim(consent.id)).toBeNull();
    expect((await store.consents.get(consent.id))?.state).toBe('claimed');
    expect(await store.consents.cancel(consent.id)).toBe(false);

    const mailbox = await store.addMailbox({ workspaceId, provider: 'GMAIL', address: 'a@example.org', displayName: null, settings: {}, credentials: { refreshToken: 'r' } });
    await store.consents.finish(consent.id, { mailboxId: mailbox.id });
    expect(await other.consents.get(consent.id)).toMatchObject({ state: 'connected', mailboxId: mailbox.id, error: null });
    // A finished consent keeps its first outcome.
    await store.consents.finish(consent.id, { error: 'late' });
    expect((await store.consents.get(consent.id))?.state).toBe('connected');

    const failed = await newConsent();
    await store.consents.claim(failed.id);
    await store.consents.finish(failed.id, { error: `denied\r\n${'x'.repeat(2000)}` });
    const status = await store.consents.get(failed.id);
    expect(status?.state).toBe('failed');
    expect(status?.error).toMatch(/^denied {2}x+$/);
    expect(status?.error).toHaveLength(500);
  });

  test('two stores racing for one consent (two gateway instances): exactly one claims it', async () => {
    for (let round = 0; round < 5; round++) {
      const consent = await newConsent();
      const results = await Promise.all([store.consents.claim(consent.id), other.consents.claim(consent.id), store.consents.claim(consent.id), other.consents.claim(consent.id)]);
      expect(results.filter((r) => r !== null)).toHaveLength(1);
    }
  });

  test('an expired consent is refused, shows as expired, and is swept later', async () => {
    const state = random();
    const consent = await newConsent(state, random(), { ttlMs: 1 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await store.consents.findByState(state))?.state).toBe('expired');
    expect(await store.consents.claim(consent.id)).toBeNull();
    // Kept for an hour so a late callback hears "expired"; then the next create sweeps it.
    expect(await store.consents.sweep()).toBe(0);
    const { db } = connect(database);
    try {
      await db.updateTable('oauth_consents').set({ expires_at: new Date(Date.now() - 2 * 3_600_000).toISOString() }).where('id', '=', consent.id).execute();
    } finally {
      await db.destroy();
    }
    await newConsent();
    expect(await store.consents.findByState(state)).toBeNull();
  });

  test('cancel deletes an unclaimed consent; its state is then unknown', async () => {
    const state = random();
    const consent = await newConsent(state);
    expect(await store.consents.cancel(consent.id)).toBe(true);
    expect(await store.consents.findByState(state)).toBeNull();
    expect(await store.consents.claim(consent.id)).toBeNull();
  });

  test('a verifier copied onto another row does not decrypt', async () => {
    const a = await newConsent();
    const b = await newConsent();
    const { db } = connect(database);
    try {
      const row = await db.selectFrom('oauth_consents').select('code_verifier').where('id', '=', a.id).executeTakeFirstOrThrow();
      await db.updateTable('oauth_consents').set({ code_verifier: row.code_verifier }).where('id', '=', b.id).execute();
    } finally {
      await db.destroy();
    }
    await expect(store.consents.claim(b.id)).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  test('unknown states and ids cost no write', async () => {
    const before = JSON.stringify(await rawRows());
    for (let i = 0; i < 20; i++) expect(await store.consents.findByState(random())).toBeNull();
    expect(await store.consents.get('not-a-uuid')).toBeNull();
    expect(await store.consents.claim(crypto.randomUUID())).toBeNull();
    expect(JSON.stringify(await rawRows())).toBe(before);
  });

  test('a database at 0002 upgrades to 0003 with an empty table; deleting the workspace deletes its consents', async () => {
    const fresh = dialect === 'postgres' ? await createTestDatabase() : null;
    const db0: Config['database'] = fresh ? { dialect: 'postgres', url: fresh.url } : { dialect: 'sqlite', file: path.join(tmp, 'upgrade-0003.sqlite') };
    const old = connect(db0);
    try {
      const { error } = await new Migrator({ db: old.db, provider: migrationProvider(old.dialect) }).migrateTo('0002_reconsent');
      expect(error).toBeUndefined();
    } finally {
      await old.db.destroy();
    }
    const upgraded = createStore({ database: db0 }, SECRET);
    try {
      await upgraded.migrate();
      const ws = await upgraded.createWorkspace('upgraded');
      const consent = await upgraded.consents.create({ workspaceId: ws.id, provider: 'GMAIL', state: 's', codeVerifier: 'v', redirectUri: 'http://x/oauth/callback', expectedAddress: null, displayName: null });
      const raw = connect(db0);
      try {
        await sql`DELETE FROM workspaces WHERE id = ${ws.id}`.execute(raw.db);
      } finally {
        await raw.db.destroy();
      }
      expect(await upgraded.consents.get(consent.id)).toBeNull();
      expect(stateDigest('s')).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await upgraded.close();
      await fresh?.drop();
    }
  });
});
