import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import SqliteDatabase from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config.ts';
import { Migrator, sql } from 'kysely';
import { connect } from '../src/db/connect.ts';
import { migrationProvider } from '../src/db/migrations/index.ts';
import { createStore } from '../src/db/store.ts';
import type { Store } from '../src/store/types.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

const SECRET = 'test-secret-0123456789-0123456789-abcdef';
const PASSWORD = 'hunter2-S3cret!-passw0rd';

interface Target {
  database: Config['database'];
  /** Raw SQL on the database, bypassing the store; rows of a SELECT. */
  raw(sql: string): Promise<Record<string, unknown>[]>;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-db-'));
let pgDb: TestDatabase | null = null;

beforeAll(async () => {
  pgDb = await createTestDatabase();
});
afterAll(async () => {
  await pgDb?.drop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const dialects: [string, () => Target | null][] = [
  [
    'sqlite',
    () => {
      const file = path.join(tmp, 'gateway.sqlite');
      return {
        database: { dialect: 'sqlite', file },
        raw: async (sql) => {
          const db = new SqliteDatabase(file);
          try {
            const stmt = db.prepare(sql);
            if (!stmt.reader) {
              stmt.run();
              return [];
            }
            return stmt.all() as Record<string, unknown>[];
          } finally {
            db.close();
          }
        },
      };
    },
  ],
  [
    'postgres',
    () => {
      if (!pgDb) return null;
      const url = pgDb.url;
      return {
        database: { dialect: 'postgres', url },
        raw: async (sql) => {
          const client = new pg.Client({ connectionString: url });
          await client.connect();
          try {
            return (await client.query(sql)).rows as Record<string, unknown>[];
          } finally {
            await client.end();
          }
        },
      };
    },
  ],
];

describe('first starts at the same time', () => {
  it('sqlite: two stores migrating one new file at once both succeed, one schema', async () => {
    const file = path.join(tmp, 'concurrent.sqlite');
    const stores = [createStore({ database: { dialect: 'sqlite', file } }, SECRET), createStore({ database: { dialect: 'sqlite', file } }, SECRET)];
    try {
      await Promise.all(stores.map((s) => s.migrate()));
      const ws = await stores[0]?.createWorkspace('seen-by-both');
      expect(await stores[1]?.findWorkspaceByName('seen-by-both')).toEqual(ws);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
    const db = new SqliteDatabase(file, { readonly: true });
    expect(db.prepare('SELECT name FROM kysely_migration ORDER BY name').all()).toEqual([{ name: '0001_initial' }, { name: '0002_reconsent' }, { name: '0003_oauth_consents' }, { name: '0004_mail_index' }]);
    db.close();
  });

  for (const dialect of ['sqlite', 'postgres'] as const)
  it(`${dialect}: a database at 0001 with a mailbox upgrades to 0002; the mailbox reads as not needing re-consent`, async (ctx) => {
    const fresh = dialect === 'postgres' ? await createTestDatabase() : null;
    if (dialect === 'postgres' && !fresh) return ctx.skip('PostgreSQL is not reachable');
    const database: Config['database'] = fresh ? { dialect: 'postgres', url: fresh.url } : { dialect: 'sqlite', file: path.join(tmp, 'upgrade.sqlite') };
    const old = connect(database);
    try {
      const { error } = await new Migrator({ db: old.db, provider: migrationProvider(old.dialect) }).migrateTo('0001_initial');
      expect(error).toBeUndefined();
      await old.db.insertInto('workspaces').values({ id: '11111111-1111-4111-8111-111111111111', name: 'old', created_at: new Date().toISOString() }).execute();
      await sql`INSERT INTO mailboxes (id, workspace_id, provider, address, display_name, settings, credentials, created_at) VALUES ('22222222-2222-4222-8222-222222222222', '11111111-1111-4111-8111-111111111111', 'LOCAL', null, null, '{}', null, ${new Date().toISOString()})`.execute(old.db);
    } finally {
      await old.db.destroy();
    }
    const upgraded = createStore({ database }, SECRET);
    try {
      await upgraded.migrate();
      const [mb] = await upgraded.listMailboxes();
      expect(mb).toMatchObject({ id: '22222222-2222-4222-8222-222222222222', needsReconsentAt: null, reconsentReason: null });
      await upgraded.markNeedsReconsent(mb!.workspaceId, mb!.id, 'revoked');
      expect((await upgraded.getMailbox(mb!.workspaceId, mb!.id))?.reconsentReason).toBe('revoked');
    } finally {
      await upgraded.close();
      await fresh?.drop();
    }
  });

  it('postgres: three stores migrating one new database at once both succeed, one schema', async (ctx) => {
    const fresh = await createTestDatabase();
    if (!fresh) return ctx.skip('PostgreSQL is not reachable');
    const stores = [1, 2, 3].map(() => createStore({ database: { dialect: 'postgres', url: fresh.url } }, SECRET));
    try {
      await Promise.all(stores.map((s) => s.migrate()));
      const client = new pg.Client({ connectionString: fresh.url });
      await client.connect();
      expect((await client.query('SELECT name FROM kysely_migration ORDER BY name')).rows).toEqual([{ name: '0001_initial' }, { name: '0002_reconsent' }, { name: '0003_oauth_consents' }, { name: '0004_mail_index' }]);
      await client.end();
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await fresh.drop();
    }
  });
});

describe.each(dialects)('store on %s', (dialect, makeTarget) => {
  let target: Target;
  let store: Store;
  let skip = false;

  beforeAll(async () => {
    const t = makeTarget();
    if (!t) {
      skip = true;
      return;
    }
    target = t;
    store = createStore({ database: target.database }, SECRET);
    await store.migrate();
  });
  afterAll(async () => {
    await store?.close();
  });

  const test = (name: string, fn: () => Promise<void>) =>
    it(name, async (ctx) => {
      if (skip) ctx.skip(`${dialect} is not available`);
      await fn();
    });

  test('migrations are idempotent and recorded once', async () => {
    await store.migrate();
    const second = createStore({ database: target.database }, SECRET);
    await second.migrate();
    await second.close();
    const rows = await target.raw('SELECT name FROM kysely_migration ORDER BY name');
    expect(rows.map((r) => r.name)).toEqual(['0001_initial', '0002_reconsent', '0003_oauth_consents', '0004_mail_index']);
  });

  test('provider credential writes: saveCredentials stores encrypted, markNeedsReconsent shows until new credentials', async () => {
    const ws = await store.createWorkspace('reconsent-ws');
    const other = await store.createWorkspace('reconsent-other');
    const mb = await store.addMailbox({ workspaceId: ws.id, provider: 'GMAIL', address: 'a@example.org', displayName: null, settings: {}, credentials: { refreshToken: 'old-refresh-token' } });
    expect(mb).toMatchObject({ needsReconsentAt: null, reconsentReason: null });
    expect(await store.getMailbox(ws.id, mb.id)).toMatchObject({ needsReconsentAt: null, reconsentReason: null });

    const rotated = 'rotated-refresh-token-0123456789';
    await store.saveCredentials(ws.id, mb.id, { refreshToken: rotated });
    expect((await store.getMailbox(ws.id, mb.id))?.credentials).toEqual({ refreshToken: rotated });
    const [row] = await target.raw(`SELECT credentials FROM mailboxes WHERE id = '${mb.id}'`);
    expect(String(row?.credentials)).toMatch(/^v1:/);
    expect(String(row?.credentials)).not.toContain(rotated);

    const before = Date.now();
    await store.markNeedsReconsent(ws.id, mb.id, 'Google refused the refresh token (invalid_grant)');
    const marked = await store.getMailbox(ws.id, mb.id);
    expect(marked?.reconsentReason).toBe('Google refused the refresh token (invalid_grant)');
    expect(marked?.needsReconsentAt).toBeInstanceOf(Date);
    expect(marked!.needsReconsentAt!.getTime()).toBeGreaterThanOrEqual(before - 1000);
    const listed = (await store.listMailboxes(ws.id))[0];
    expect(listed).toMatchObject({ id: mb.id, reconsentReason: 'Google refused the refresh token (invalid_grant)' });
    expect(listed?.needsReconsentAt?.getTime()).toBe(marked!.needsReconsentAt!.getTime());

    // Marked again: the first time stays, the reason is the new one; control characters and length are bounded.
    await new Promise((resolve) => setTimeout(resolve, 5));
    await store.markNeedsReconsent(ws.id, mb.id, `line1\r\nline2\u0000${'é'.repeat(2000)}`);
    const again = await store.getMailbox(ws.id, mb.id);
    expect(again?.needsReconsentAt?.getTime()).toBe(marked!.needsReconsentAt!.getTime());
    expect(again?.reconsentReason).toBe(`line1  line2 ${'é'.repeat(500 - 13)}`);
    await store.markNeedsReconsent(ws.id, mb.id, ' \n ');
    expect((await store.getMailbox(ws.id, mb.id))?.reconsentReason).toBe('Re-consent needed');

    // Another workspace cannot write; unknown and malformed ids are NOT_FOUND.
    for (const [wsId, id] of [[other.id, mb.id], [ws.id, '00000000-0000-4000-8000-000000000000'], [ws.id, "' OR 1=1 --"]] as const) {
      await expect(store.saveCredentials(wsId, id, { refreshToken: 'x' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(store.markNeedsReconsent(wsId, id, 'x')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    }
    expect((await store.getMailbox(ws.id, mb.id))?.credentials).toEqual({ refreshToken: rotated });
    await expect(store.saveCredentials(ws.id, mb.id, { refreshToken: 5 } as never)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });

    // New credentials clear the mark: from the provider (rotation) and from the operator (update).
    await store.saveCredentials(ws.id, mb.id, { refreshToken: 'after-consent' });
    expect(await store.getMailbox(ws.id, mb.id)).toMatchObject({ needsReconsentAt: null, reconsentReason: null, credentials: { refreshToken: 'after-consent' } });
    await store.markNeedsReconsent(ws.id, mb.id, 'revoked again');
    expect((await store.updateMailbox(ws.id, mb.id, { displayName: 'Still marked' })).needsReconsentAt).toBeInstanceOf(Date);
    expect(await store.updateMailbox(ws.id, mb.id, { credentials: { refreshToken: 'operator' } })).toMatchObject({ needsReconsentAt: null, reconsentReason: null });
  });

  test('creates a workspace and finds it by name; refuses duplicates and bad names', async () => {
    const ws = await store.createWorkspace('acme.corp_1-x');
    expect(ws.name).toBe('acme.corp_1-x');
    expect(ws.createdAt).toBeInstanceOf(Date);
    expect(Math.abs(ws.createdAt.getTime() - Date.now())).toBeLessThan(60_000);
    const found = await store.findWorkspaceByName('acme.corp_1-x');
    expect(found).toEqual(ws);
    expect(await store.findWorkspaceByName('nope')).toBeNull();
    expect(await store.findWorkspaceByName('bad name')).toBeNull();

    await expect(store.createWorkspace('acme.corp_1-x')).rejects.toMatchObject({ code: 'BAD_USER_INPUT', message: expect.stringContaining('already exists') });
    for (const bad of ['', 'a b', 'x'.repeat(65), 'é', 'a/b']) {
      await expect(store.createWorkspace(bad)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    }
    expect((await store.createWorkspace('x'.repeat(64))).name).toHaveLength(64);
  });

  test('API keys: printed once, stored hashed, authenticate, ignore revoked and unknown', async () => {
    const ws = await store.createWorkspace('keys-ws');
    const { key, id } = await store.createApiKey(ws.id);
    expect(key).toMatch(/^agw_[A-Za-z0-9_-]{43}$/);
    expect(await store.authenticate(key)).toEqual({ keyId: id, workspace: ws });

    const rows = await target.raw('SELECT * FROM api_keys');
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain(key);
    const row = rows.find((r) => r.id === id);
    expect(row?.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row?.prefix).toBe(key.slice(0, 12));
    expect(row?.last_used_at).not.toBeNull();

    expect(await store.authenticate(`${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`)).toBeNull();
    expect(await store.authenticate('')).toBeNull();
    expect(await store.authenticate('agw_short')).toBeNull();

    const other = await store.createApiKey(ws.id);
    expect(await store.authenticate(other.key)).toEqual({ keyId: other.id, workspace: ws });
    await target.raw(`UPDATE api_keys SET revoked_at = '2020-01-01T00:00:00.000Z' WHERE id = '${other.id}'`);
    expect(await store.authenticate(other.key)).toBeNull();
    expect(await store.authenticate(key)).toEqual({ keyId: id, workspace: ws });

    await expect(store.createApiKey('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  test('activeApiKeyWorkspace: the workspace of a usable key; null once revoked, deleted, its workspace gone, or unknown', async () => {
    const ws = await store.createWorkspace('active-ws');
    const kept = await store.createApiKey(ws.id);
    const revoked = await store.createApiKey(ws.id);
    const deleted = await store.createApiKey(ws.id);
    expect(await store.activeApiKeyWorkspace(kept.id)).toBe(ws.id);
    expect(await store.activeApiKeyWorkspace(revoked.id)).toBe(ws.id);

    await target.raw(`UPDATE api_keys SET revoked_at = '2020-01-01T00:00:00.000Z' WHERE id = '${revoked.id}'`);
    await target.raw(`DELETE FROM api_keys WHERE id = '${deleted.id}'`);
    expect(await store.activeApiKeyWorkspace(revoked.id)).toBeNull();
    expect(await store.activeApiKeyWorkspace(deleted.id)).toBeNull();
    expect(await store.activeApiKeyWorkspace(kept.id)).toBe(ws.id);
    for (const bad of ['', 'not-a-uuid', '00000000-0000-4000-8000-000000000000', `${kept.id}x`, "' OR 1=1 --"]) {
      expect(await store.activeApiKeyWorkspace(bad)).toBeNull();
    }

    const gone = await store.createWorkspace('gone-ws');
    const orphan = await store.createApiKey(gone.id);
    expect(await store.activeApiKeyWorkspace(orphan.id)).toBe(gone.id);
    await target.raw(`DELETE FROM workspaces WHERE id = '${gone.id}'`);
    expect(await store.activeApiKeyWorkspace(orphan.id)).toBeNull();
  });

  test('mailbox round trip: credentials encrypted at rest, decrypted on read', async () => {
    const ws = await store.createWorkspace('mail-ws');
    const settings = { host: 'imap.example.org', port: 993, user: 'alice', tls: true };
    const added = await store.addMailbox({
      workspaceId: ws.id,
      provider: 'IMAP',
      address: 'alice@example.org',
      displayName: 'Alice',
      settings,
      credentials: { password: PASSWORD },
    });
    expect(added).toMatchObject({ workspaceId: ws.id, provider: 'IMAP', address: 'alice@example.org', displayName: 'Alice' });
    expect(added.id).toMatch(/^[0-9a-f-]{36}$/);

    const got = await store.getMailbox(ws.id, added.id);
    expect(got).toEqual({ id: added.id, workspaceId: ws.id, provider: 'IMAP', address: 'alice@example.org', displayName: 'Alice', settings, credentials: { password: PASSWORD }, needsReconsentAt: null, reconsentReason: null });

    const rows = await target.raw('SELECT * FROM mailboxes');
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain(PASSWORD);
    expect(dump).not.toContain(Buffer.from(PASSWORD).toString('base64'));
    const row = rows.find((r) => r.id === added.id);
    expect(String(row?.credentials)).toMatch(/^v1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+:[A-Za-z0-9_-]{22}$/);
    expect(JSON.parse(String(row?.settings))).toEqual(settings);

    const local = await store.addMailbox({ workspaceId: ws.id, provider: 'LOCAL', address: null, displayName: null, settings: { path: '/tmp/x.mbox' }, credentials: null });
    expect((await store.getMailbox(ws.id, local.id))?.credentials).toBeNull();
    expect((await store.listMailboxes(ws.id)).map((m) => m.id)).toEqual([added.id, local.id]);
  });

  test('a different secret fails clearly, naming the likely cause', async () => {
    const ws = await store.createWorkspace('secret-ws');
    const added = await store.addMailbox({ workspaceId: ws.id, provider: 'IMAP', address: null, displayName: null, settings: {}, credentials: { password: PASSWORD } });
    const wrong = createStore({ database: target.database }, 'another-secret-0123456789-0123456789-xyz');
    try {
      const error = await wrong.getMailbox(ws.id, added.id).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ name: 'GatewayError', code: 'INTERNAL' });
      expect((error as Error).message).toMatch(/SIGNING_SECRET changed/);
      expect((error as Error).message).not.toContain(PASSWORD);
      // Listing needs no secret.
      expect((await wrong.listMailboxes(ws.id)).map((m) => m.id)).toEqual([added.id]);
    } finally {
      await wrong.close();
    }
  });

  test('credentials copied onto another mailbox row do not decrypt (bound to the mailbox id)', async () => {
    const ws = await store.createWorkspace('swap-ws');
    const one = await store.addMailbox({ workspaceId: ws.id, provider: 'IMAP', address: null, displayName: null, settings: {}, credentials: { password: 'one' } });
    const two = await store.addMailbox({ workspaceId: ws.id, provider: 'IMAP', address: null, displayName: null, settings: {}, credentials: { password: 'two' } });
    const [row] = await target.raw(`SELECT credentials FROM mailboxes WHERE id = '${one.id}'`);
    await target.raw(`UPDATE mailboxes SET credentials = '${String(row?.credentials)}' WHERE id = '${two.id}'`);
    expect((await store.getMailbox(ws.id, one.id))?.credentials).toEqual({ password: 'one' });
    await expect(store.getMailbox(ws.id, two.id)).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  test('scoping: another workspace sees no mailbox; malformed ids give null', async () => {
    const a = await store.createWorkspace('scope-a');
    const b = await store.createWorkspace('scope-b');
    const mb = await store.addMailbox({ workspaceId: a.id, provider: 'LOCAL', address: 'a@x', displayName: null, settings: { path: '/x' }, credentials: null });
    expect(await store.getMailbox(b.id, mb.id)).toBeNull();
    expect(await store.getMailbox(a.id, mb.id)).not.toBeNull();
    for (const bad of ['', 'not-a-uuid', `${mb.id}x`, "' OR 1=1 --", mb.id.toUpperCase()]) {
      expect(await store.getMailbox(a.id, bad)).toBeNull();
    }
    expect(await store.listMailboxes(b.id)).toEqual([]);
    expect((await store.listMailboxes()).map((m) => m.id)).toContain(mb.id);

    await expect(
      store.addMailbox({ workspaceId: '00000000-0000-4000-8000-000000000000', provider: 'LOCAL', address: null, displayName: null, settings: {}, credentials: null }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(
      store.addMailbox({ workspaceId: a.id, provider: 'POP3' as never, address: null, displayName: null, settings: {}, credentials: null }),
    ).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
  });
  test('operator listings: workspaces oldest first; keys with prefix and times, never the key or its hash', async () => {
    const before = (await store.listWorkspaces()).length;
    const one = await store.createWorkspace('list-one');
    const two = await store.createWorkspace('list-two');
    const all = await store.listWorkspaces();
    expect(all).toHaveLength(before + 2);
    expect(all.slice(-2)).toEqual([one, two]);

    const a = await store.createApiKey(one.id);
    const b = await store.createApiKey(one.id);
    await store.createApiKey(two.id);
    await store.authenticate(a.key);
    const keys = await store.listApiKeys(one.id);
    expect(keys.map((k) => k.id)).toEqual([a.id, b.id]);
    expect(keys[0]).toEqual({ id: a.id, workspaceId: one.id, prefix: a.key.slice(0, 12), createdAt: expect.any(Date), lastUsedAt: expect.any(Date), revokedAt: null });
    expect(keys[1]?.lastUsedAt).toBeNull();
    expect(JSON.stringify(keys)).not.toContain(a.key);
    expect(JSON.stringify(keys)).not.toMatch(/[0-9a-f]{64}/);
    expect(await store.listApiKeys('00000000-0000-4000-8000-000000000000')).toEqual([]);
  });

  test('revokeApiKey: the key fails at once (also for another store on the same database), only in its own workspace, first time kept', async () => {
    const ws = await store.createWorkspace('revoke-ws');
    const other = await store.createWorkspace('revoke-other');
    const { key, id } = await store.createApiKey(ws.id);
    const elsewhere = createStore({ database: target.database }, SECRET);
    try {
      expect((await elsewhere.authenticate(key))?.keyId).toBe(id);
      await expect(store.revokeApiKey(other.id, id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await elsewhere.authenticate(key)).not.toBeNull();

      const revoked = await store.revokeApiKey(ws.id, id);
      expect(revoked.revokedAt).toBeInstanceOf(Date);
      expect(Math.abs((revoked.revokedAt?.getTime() ?? 0) - Date.now())).toBeLessThan(60_000);
      expect(await store.authenticate(key)).toBeNull();
      expect(await elsewhere.authenticate(key)).toBeNull();

      const again = await store.revokeApiKey(ws.id, id);
      expect(again.revokedAt?.getTime()).toBe(revoked.revokedAt?.getTime());
      for (const bad of ['', 'not-a-uuid', "' OR 1=1 --", '00000000-0000-4000-8000-000000000000']) {
        await expect(store.revokeApiKey(ws.id, bad)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      }
    } finally {
      await elsewhere.close();
    }
  });

  test('updateMailbox and removeMailbox: scoped to the workspace, credentials re-encrypted, settings listed', async () => {
    const ws = await store.createWorkspace('change-ws');
    const other = await store.createWorkspace('change-other');
    const settings = { host: 'imap.example.org', port: 993, user: 'alice', tls: true };
    const mb = await store.addMailbox({ workspaceId: ws.id, provider: 'IMAP', address: 'alice@example.org', displayName: null, settings, credentials: { password: PASSWORD } });
    expect(mb.settings).toEqual(settings);
    expect((await store.listMailboxes(ws.id))[0]?.settings).toEqual(settings);

    await expect(store.updateMailbox(other.id, mb.id, { displayName: 'x' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(store.updateMailbox(ws.id, mb.id, { settings: [] as never })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    const newSettings = { host: 'imap.example.org', port: 143, user: 'alice', tls: false, starttls: true };
    const updated = await store.updateMailbox(ws.id, mb.id, { displayName: 'Alice', settings: newSettings, credentials: { password: 'n3w-Passw0rd' } });
    expect(updated).toMatchObject({ id: mb.id, displayName: 'Alice', address: 'alice@example.org', settings: newSettings });
    expect(await store.getMailbox(ws.id, mb.id)).toMatchObject({ settings: newSettings, credentials: { password: 'n3w-Passw0rd' } });
    const dump = JSON.stringify(await target.raw('SELECT * FROM mailboxes'));
    expect(dump).not.toContain('n3w-Passw0rd');
    // No change is a no-op that still answers the mailbox.
    expect((await store.updateMailbox(ws.id, mb.id, {})).displayName).toBe('Alice');

    await expect(store.removeMailbox(other.id, mb.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await store.getMailbox(ws.id, mb.id)).not.toBeNull();
    const removed = await store.removeMailbox(ws.id, mb.id);
    expect(removed).toMatchObject({ id: mb.id, provider: 'IMAP', settings: newSettings });
    expect(await store.getMailbox(ws.id, mb.id)).toBeNull();
    await expect(store.removeMailbox(ws.id, mb.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(store.removeMailbox(ws.id, 'not-a-uuid')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
