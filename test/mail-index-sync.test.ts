/**
 * The IMAP sync of the mail index against a real Dovecot: append, flag and expunge show after a
 * sync; a UIDVALIDITY change empties the folder's index (old keys read null); two index instances
 * on one PostgreSQL share one sync; an interrupted first sync resumes without refetching.
 */
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapPool } from '../src/providers/imap/pool.ts';
import { encodeMessageKey } from '../src/providers/imap/keys.ts';
import { syncFolder, type SyncFolderOptions } from '../src/mail-index/imap-sync.ts';
import { SyncCoordinator } from '../src/mail-index/coordinator.ts';
import type { MailIndexStore } from '../src/mail-index/store.ts';
import { DOVECOT_MISSING, dovecotAvailable, startDovecot, type DovecotInstance } from './support/dovecot.ts';
import { silentLogger } from './support/logger.ts';
import { mailWithAttachment } from './support/mail.ts';
import { openTestIndex, type TestIndex } from './support/mail-index.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

const HAVE_DOVECOT = dovecotAvailable();
if (!HAVE_DOVECOT) console.warn(`\n!!! ${DOVECOT_MISSING}\n`);
const logger = silentLogger();

function plain(i: number, extra = ''): Buffer {
  return Buffer.from(
    `From: a${i}@example.com\r\nTo: me@example.com\r\nSubject: topic ${i}\r\nDate: ${new Date(Date.UTC(2024, 0, 1) + i * 60_000).toUTCString()}\r\nMessage-ID: <m${i}@example.com>\r\n${extra}\r\nbody ${i}\r\n`,
  );
}

// One Dovecot for the file (each case has its own folder).
let d: DovecotInstance;
beforeAll(async () => {
  if (HAVE_DOVECOT) d = await startDovecot();
});
afterAll(async () => {
  await d?.close();
});

describe.skipIf(!HAVE_DOVECOT)('mail index sync with Dovecot', () => {
  let t: TestIndex;
  let pool: ImapPool;
  beforeAll(async () => {
    t = await openTestIndex();
    pool = new ImapPool({ host: d.host, port: d.port, user: d.user, password: d.password, tls: false }, logger, {});
  });
  afterAll(async () => {
    await pool?.close();
    await t?.close();
  });

  const sync = (index: MailIndexStore, mailboxId: string, folder: string, extra: Partial<SyncFolderOptions> = {}, on = pool) =>
    on.use((client) => syncFolder(client, { index, mailboxId, folder, direction: 'RECEIVED', owner: extra.owner ?? 'test-owner', logger, ...extra }));

  it('append, flag and expunge upstream show after a sync; attachment listed with its size; an unchanged folder costs one STATUS', async () => {
    const mb = await t.addMailbox();
    const folder = 'Flow';
    const [u1, u2] = await d.appendMany([
      { folder, raw: plain(1) },
      { folder, raw: mailWithAttachment({ subject: 'With file', filename: 'a.txt', bytes: Buffer.from('hello world!'), date: 'Mon, 01 Jan 2024 00:05:00 +0000', messageId: 'f@example.com' }) },
    ]);
    const first = await sync(t.index, mb, folder);
    expect(first).toMatchObject({ status: 'synced', fetched: 2, expunged: 0 });
    const state = await t.index.folder(mb, folder);
    expect(state).toMatchObject({ syncState: 'current', messages: 2, syncedMessages: 2 });
    const [withFile] = await t.index.loadMessages(mb, [{ folder, uidValidity: state!.uidValidity, uid: u2! }]);
    // The decoded size, measured once at sync (12 bytes of base64 text).
    expect(withFile).toMatchObject({ subject: 'With file', attachmentCount: 1, attachments: [{ partId: '2', filename: 'a.txt', encoding: 'base64', size: 12, sizeExact: true, disposition: 'ATTACHMENT', kind: 'FILE' }] });
    expect(withFile?.size).toBeGreaterThan(100);

    const before = pool.stats.commands;
    expect(await sync(t.index, mb, folder)).toMatchObject({ status: 'unchanged', fetched: 0 });
    // STATUS alone (a NOOP health check may precede it; no SELECT, no FETCH).
    expect(pool.stats.commands - before).toBeLessThanOrEqual(2);

    const admin = await d.client();
    try {
      await admin.mailboxOpen(folder);
      await admin.messageFlagsAdd(String(u1), ['\\Flagged'], { uid: true });
      const u3 = await d.append(folder, plain(3, `In-Reply-To: <m1@example.com>\r\n`));
      const after = await sync(t.index, mb, folder);
      expect(after).toMatchObject({ status: 'synced', fetched: 1, expunged: 0 });
      expect(after.flagsRead).toBeGreaterThanOrEqual(1);
      const uv = state!.uidValidity;
      const [m1, m3] = await t.index.loadMessages(mb, [{ folder, uidValidity: uv, uid: u1! }, { folder, uidValidity: uv, uid: u3 }]);
      expect(m1?.flags).toContain('\\Flagged');
      expect(m3?.conversationKey).toBe(encodeMessageKey({ folder, uidValidity: uv, uid: u1! }));

      await admin.messageDelete(String(u1), { uid: true });
      expect(await sync(t.index, mb, folder)).toMatchObject({ status: 'synced', fetched: 0, expunged: 1 });
      expect(await t.index.uids(mb, folder)).toEqual([u2, u3]);
      const page = await t.index.listConversations(mb, { first: 10 });
      expect(page.items.map((c) => c.subject).sort()).toEqual(['With file', 'topic 3']);
    } finally {
      await admin.logout();
    }
  });

  it('a UIDVALIDITY change empties the folder in the index; old keys read null; the new messages are indexed', async () => {
    const mb = await t.addMailbox();
    const folder = 'Recreated';
    const [old] = await d.appendMany([{ folder, raw: plain(10) }]);
    await sync(t.index, mb, folder);
    const oldValidity = (await t.index.folder(mb, folder))!.uidValidity;
    const admin = await d.client();
    try {
      await admin.mailboxDelete(folder);
      await admin.mailboxCreate(folder);
    } finally {
      await admin.logout();
    }
    const fresh = await d.append(folder, plain(11));
    const outcome = await sync(t.index, mb, folder);
    expect(outcome).toMatchObject({ status: 'synced', reset: true, fetched: 1 });
    const newValidity = (await t.index.folder(mb, folder))!.uidValidity;
    expect(newValidity).not.toBe(oldValidity);
    expect(await t.index.loadMessages(mb, [{ folder, uidValidity: oldValidity, uid: old! }])).toEqual([null]);
    expect((await t.index.loadMessages(mb, [{ folder, uidValidity: newValidity, uid: fresh }]))[0]?.subject).toBe('topic 11');

    // Deleted upstream: the folder's messages leave the index.
    const admin2 = await d.client();
    try {
      await admin2.mailboxDelete(folder);
    } finally {
      await admin2.logout();
    }
    expect(await sync(t.index, mb, folder)).toMatchObject({ status: 'missing', reset: true });
    expect(await t.index.uids(mb, folder)).toEqual([]);
    expect((await t.index.listConversations(mb, { first: 10 })).items).toEqual([]);
  });

  it('a first sync interrupted half-way resumes without refetching; newest first; the API can read what is synced meanwhile', async () => {
    const mb = await t.addMailbox();
    const folder = 'Big';
    const uids = await d.appendMany(Array.from({ length: 30 }, (_, i) => ({ folder, raw: plain(100 + i) })));
    let chunks = 0;
    const seen: number[][] = [];
    await expect(
      sync(t.index, mb, folder, {
        chunkSize: 10,
        onChunk: (stored) => {
          seen.push(stored);
          if (++chunks === 2) throw new Error('interrupted');
        },
      }),
    ).rejects.toThrow('interrupted');
    // Newest first: the two chunks stored are the 20 highest UIDs.
    expect(seen.flat().sort((a, b) => a - b)).toEqual(uids.slice(10));
    const mid = await t.index.folder(mb, folder);
    expect(mid).toMatchObject({ syncState: 'failed', messages: 30, syncedMessages: 20, resumeBelowUid: uids[10], leaseOwner: null });
    expect((await t.index.listConversations(mb, { first: 5 })).items[0]?.subject).toBe('topic 129');

    const resumed = await sync(t.index, mb, folder, { chunkSize: 10 });
    expect(resumed).toMatchObject({ status: 'synced', fetched: 10 });
    expect(await t.index.folder(mb, folder)).toMatchObject({ syncState: 'current', syncedMessages: 30, resumeBelowUid: null });
  });

  it('coordinator: concurrent callers share one sync; a recent check skips the server; an aborted caller stops waiting while the sync completes', async () => {
    const mb = await t.addMailbox();
    const folder = 'Shared';
    await d.appendMany(Array.from({ length: 5 }, (_, i) => ({ folder, raw: plain(200 + i) })));
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const coordinator = new SyncCoordinator({
      index: t.index,
      minIntervalMs: 60_000,
      run: async (mailboxId, name) => {
        runs++;
        await gate;
        return sync(t.index, mailboxId, name);
      },
    });
    const aborter = new AbortController();
    const waiting = [coordinator.ensureCurrent(mb, folder), coordinator.ensureCurrent(mb, folder), coordinator.ensureCurrent(mb, folder, { signal: aborter.signal })];
    aborter.abort(new Error('client gone'));
    await expect(waiting[2]).rejects.toThrow('client gone');
    release();
    const [a, b] = await Promise.all(waiting.slice(0, 2));
    expect(runs).toBe(1);
    expect(a).toBe(b);
    expect(a).toMatchObject({ fetched: 5 });
    expect(await coordinator.ensureCurrent(mb, folder)).toBeNull();
    expect(runs).toBe(1);
  });
});

const pgDb: TestDatabase | null = HAVE_DOVECOT ? await createTestDatabase() : null;

describe.skipIf(!HAVE_DOVECOT || !pgDb)('two index instances on one PostgreSQL', () => {
  let t: TestIndex;
  beforeAll(async () => {
    t = await openTestIndex({ dialect: 'postgres', url: pgDb!.url });
  });
  afterAll(async () => {
    await t?.close();
    await pgDb?.drop();
  });

  it('share one sync: while one holds the lease the other is told busy and fetches nothing; the other then finds it unchanged', async () => {
    const mb = await t.addMailbox();
    const folder = 'Twice';
    await d.appendMany(Array.from({ length: 12 }, (_, i) => ({ folder, raw: plain(300 + i) })));
    const other = await t.another();
    const settings = { host: d.host, port: d.port, user: d.user, password: d.password, tls: false };
    const pools = [new ImapPool(settings, logger, {}), new ImapPool(settings, logger, {})];
    const owners = [crypto.randomUUID(), crypto.randomUUID()];
    try {
      let secondOutcome: unknown = null;
      const first = pools[0]!.use((client) =>
        syncFolder(client, {
          index: t.index,
          mailboxId: mb,
          folder,
          direction: 'RECEIVED',
          owner: owners[0]!,
          logger,
          chunkSize: 5,
          // Mid-sync, the other instance tries the same folder.
          onChunk: async () => {
            secondOutcome ??= await pools[1]!.use((client) => syncFolder(client, { index: other.index, mailboxId: mb, folder, direction: 'RECEIVED', owner: owners[1]!, logger }));
          },
        }),
      );
      expect(await first).toMatchObject({ status: 'synced', fetched: 12 });
      expect(secondOutcome).toMatchObject({ status: 'busy', fetched: 0 });
      const later = await pools[1]!.use((client) => syncFolder(client, { index: other.index, mailboxId: mb, folder, direction: 'RECEIVED', owner: owners[1]!, logger }));
      expect(later).toMatchObject({ status: 'unchanged', fetched: 0 });
      expect((await other.index.listConversations(mb, { first: 50 })).items).toHaveLength(12);
    } finally {
      await Promise.all(pools.map((p) => p.close()));
      await other.close();
    }
  });
});
