/**
 * The registry wires each provider to its own mailbox's credential writer (`ProviderDeps.credentials`):
 * a rotated refresh token is stored encrypted for that mailbox only, a revoked grant marks that
 * mailbox only (and is logged), and new credentials clear the mark. Real SQLite store.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createStore } from '../src/db/store.ts';
import { ProviderRegistry } from '../src/providers/registry.ts';
import type { MailProvider, ProviderDeps } from '../src/providers/types.ts';
import type { Store } from '../src/store/types.ts';
import { silentLogger } from './support/logger.ts';

const SECRET = 'test-secret-0123456789-0123456789-abcdef';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function storeWithTwoMailboxes(): Promise<{ store: Store; workspaceId: string; ids: [string, string] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-registry-'));
  const store = createStore({ database: { dialect: 'sqlite', file: path.join(dir, 'gateway.sqlite') } }, SECRET);
  cleanups.push(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await store.migrate();
  const ws = await store.createWorkspace('registry');
  const add = (address: string) => store.addMailbox({ workspaceId: ws.id, provider: 'GMAIL', address, displayName: null, settings: {}, credentials: { refreshToken: `first-${address}` } });
  const [a, b] = [await add('a@example.org'), await add('b@example.org')];
  return { store, workspaceId: ws.id, ids: [a.id, b.id] };
}

/** A provider factory that keeps the deps it was given, by mailbox id. */
function capturing() {
  const seen = new Map<string, ProviderDeps>();
  const factory = (mailbox: { id: string }, deps: ProviderDeps): MailProvider => {
    seen.set(mailbox.id, deps);
    return { kind: 'GMAIL', batchLimit: 50, listConversations: async () => ({ items: [], endCursor: null, hasNextPage: false }), loadConversations: async (k) => k.map(() => null), loadMessages: async (k) => k.map(() => null), openAttachment: async () => Promise.reject(new Error('none')), close: async () => {} };
  };
  return { seen, factory };
}

describe('ProviderRegistry credential writers', () => {
  it('gives each provider a writer bound to its own mailbox: save rotates, markNeedsReconsent marks and logs, new credentials clear', async () => {
    const { store, workspaceId, ids } = await storeWithTwoMailboxes();
    const warnings: unknown[] = [];
    const logger = { ...silentLogger(), warn: (obj: object | string) => void warnings.push(obj) };
    logger.child = () => logger;
    const { seen, factory } = capturing();
    const registry = new ProviderRegistry({ dataDir: os.tmpdir(), logger }, store, { GMAIL: factory });
    cleanups.push(() => registry.close());
    const [a, b] = await Promise.all(ids.map((id) => store.getMailbox(workspaceId, id)));
    expect(registry.get(a!).batchLimit).toBe(50);
    registry.get(b!);
    const writerA = seen.get(ids[0])!.credentials!;
    const writerB = seen.get(ids[1])!.credentials!;

    await writerA.save({ refreshToken: 'rotated-a' });
    expect((await store.getMailbox(workspaceId, ids[0]))?.credentials).toEqual({ refreshToken: 'rotated-a' });
    expect((await store.getMailbox(workspaceId, ids[1]))?.credentials).toEqual({ refreshToken: 'first-b@example.org' });

    await writerB.markNeedsReconsent('Google refused the refresh token (invalid_grant)');
    const listed = await store.listMailboxes(workspaceId);
    expect(listed.map((m) => [m.id, m.needsReconsentAt !== null, m.reconsentReason])).toEqual([
      [ids[0], false, null],
      [ids[1], true, 'Google refused the refresh token (invalid_grant)'],
    ]);
    expect(warnings).toEqual([{ reason: 'Google refused the refresh token (invalid_grant)' }]);

    await writerB.save({ refreshToken: 'after-consent' });
    expect(await store.getMailbox(workspaceId, ids[1])).toMatchObject({ needsReconsentAt: null, reconsentReason: null, credentials: { refreshToken: 'after-consent' } });
  });

  it('a writer of a removed mailbox fails with NOT_FOUND; a registry without a store gives no writer', async () => {
    const { store, workspaceId, ids } = await storeWithTwoMailboxes();
    const { seen, factory } = capturing();
    const registry = new ProviderRegistry({ dataDir: os.tmpdir(), logger: silentLogger() }, store, { GMAIL: factory });
    registry.get((await store.getMailbox(workspaceId, ids[0]))!);
    await store.removeMailbox(workspaceId, ids[0]);
    await expect(seen.get(ids[0])!.credentials!.save({ refreshToken: 'x' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(seen.get(ids[0])!.credentials!.markNeedsReconsent('x')).rejects.toMatchObject({ code: 'NOT_FOUND' });

    const bare = capturing();
    new ProviderRegistry({ dataDir: os.tmpdir(), logger: silentLogger() }, undefined, { GMAIL: bare.factory }).get((await store.getMailbox(workspaceId, ids[1]))!);
    expect(bare.seen.get(ids[1])?.credentials).toBeUndefined();
  });
});

describe('ProviderRegistry and changed mailboxes', () => {
  it('builds a new provider when the stored credentials changed (re-consent, mailbox update), not for a rotation the provider saved itself', async () => {
    const { store, workspaceId, ids } = await storeWithTwoMailboxes();
    const closed: string[] = [];
    const built: string[] = [];
    const { seen, factory } = capturing();
    const registry = new ProviderRegistry({ dataDir: os.tmpdir(), logger: silentLogger() }, store, {
      GMAIL: (mailbox, deps) => {
        built.push(String(mailbox.credentials?.refreshToken));
        return { ...factory(mailbox, deps), close: async () => void closed.push(String(mailbox.credentials?.refreshToken)) };
      },
    });
    cleanups.push(() => registry.close());
    const read = async () => (await store.getMailbox(workspaceId, ids[0]))!;
    const first = registry.get(await read());
    expect(registry.get(await read())).toBe(first);

    const before = await read();
    await seen.get(ids[0])!.credentials!.save({ refreshToken: 'rotated-by-the-provider' });
    expect(registry.get(await read())).toBe(first);
    // A request that read the mailbox before the rotation (its own snapshot) keeps the provider,
    // which would otherwise be rebuilt with the old token and redeem it again.
    expect(registry.get(before)).toBe(first);
    await seen.get(ids[0])!.credentials!.save({ refreshToken: 'rotated-again' });
    expect(registry.get(before)).toBe(first);
    expect(registry.get(await read())).toBe(first);

    await store.updateMailbox(workspaceId, ids[0], { credentials: { refreshToken: 'from-a-new-consent' } });
    const second = registry.get(await read());
    expect(second).not.toBe(first);
    expect(built).toEqual(['first-a@example.org', 'from-a-new-consent']);
    // The replaced provider is closed later (a download may still use it), or with the registry.
    expect(closed).toEqual([]);
    await registry.close();
    expect(closed.sort()).toEqual(['first-a@example.org', 'from-a-new-consent']);
  });
});
