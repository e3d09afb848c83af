/**
 * `npm run bench:mail-index [messages]`: figures of the mail index (issue 17, steps 1-3) on a
 * private Dovecot INBOX of `messages` small messages (default 5,000; threads of 4, one attachment
 * in four), printed, never asserted:
 * - the IMAP provider of today (in-memory index): first and warm page (newest 20 conversations
 *   with their messages and attachments), against a direct imapflow fetch of the newest 50 messages;
 * - the provider answering from the index, as the gateway does: first page (with the first sync),
 *   warm page and its IMAP commands, the first page of a new provider on the same index (a restart);
 * - the index store alone: first sync (seconds per 1,000 messages), a warm page (the STATUS check of the sync
 *   plus the indexed queries), the time for an appended message to show, and bytes on disk per
 *   message (SQLite file; PostgreSQL relation sizes when a server is reachable).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { connect, type Connection } from '../src/db/connect.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { syncFolder } from '../src/mail-index/imap-sync.ts';
import { openMailIndex, type MailIndexStore } from '../src/mail-index/store.ts';
import { decodeMessageKey } from '../src/providers/imap/keys.ts';
import { ImapPool } from '../src/providers/imap/pool.ts';
import { createImapProviderWith } from '../src/providers/imap/provider.ts';
import { dovecotAvailable, dovecotMailbox, DOVECOT_MISSING, startDovecot } from '../test/support/dovecot.ts';
import { silentLogger } from '../test/support/logger.ts';
import { mailWithAttachment } from '../test/support/mail.ts';
import { createTestDatabase } from '../test/support/postgres.ts';

const N = Number(process.argv[2] ?? 5000);
const logger = silentLogger();

function message(i: number): Buffer {
  const thread = Math.floor(i / 4);
  const date = new Date(Date.UTC(2020, 0, 1) + i * 60_000).toUTCString();
  const refs = i % 4 === 0 ? '' : `In-Reply-To: <t${thread}-0@bench.test>\r\nReferences: <t${thread}-0@bench.test>\r\n`;
  if (i % 4 === 3) {
    return mailWithAttachment({ subject: `Re: thread ${thread}`, filename: `f${i}.bin`, bytes: Buffer.alloc(2000, i % 256), date, messageId: `t${thread}-${i % 4}@bench.test` });
  }
  return Buffer.from(`From: a${i}@bench.test\r\nTo: me@bench.test\r\nSubject: ${i % 4 ? 'Re: ' : ''}thread ${thread}\r\nDate: ${date}\r\nMessage-ID: <t${thread}-${i % 4}@bench.test>\r\n${refs}\r\nbody ${i}\r\n`);
}

async function time<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await fn();
  return [result, (performance.now() - start) / 1000];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function indexedPage(index: MailIndexStore, mailboxId: string): Promise<number> {
  const page = await index.listConversations(mailboxId, { first: 20 });
  const conversations = await index.loadConversations(mailboxId, page.items.map((c) => c.id));
  const refs = conversations.flatMap((c) => c!.messageKeys.map((k) => decodeMessageKey(k)!));
  const messages = await index.loadMessages(mailboxId, refs);
  return messages.reduce((n, m) => n + (m?.attachments.length ?? 0), 0);
}

async function indexFigures(label: string, connection: Connection, dovecot: Awaited<ReturnType<typeof startDovecot>>, sizeOnDisk: () => Promise<number>): Promise<void> {
  await migrateToLatest(connection);
  const index = openMailIndex(connection);
  const workspaceId = crypto.randomUUID();
  const mailboxId = crypto.randomUUID();
  await connection.db.insertInto('workspaces').values({ id: workspaceId, name: `bench-${workspaceId.slice(0, 8)}`, created_at: new Date().toISOString() }).execute();
  await connection.db.insertInto('mailboxes').values({ id: mailboxId, workspace_id: workspaceId, provider: 'IMAP', address: null, display_name: null, settings: '{}', credentials: null, created_at: new Date().toISOString(), needs_reconsent_at: null, reconsent_reason: null }).execute();
  const pool = new ImapPool({ host: dovecot.host, port: dovecot.port, user: dovecot.user, password: dovecot.password, tls: false }, logger, {});
  const sync = () => pool.use((client) => syncFolder(client, { index, mailboxId, folder: 'INBOX', direction: 'RECEIVED', owner: 'bench', logger }));
  try {
    const [first, seconds] = await time(sync);
    console.log(`${label}: first sync of ${first.fetched} messages ${seconds.toFixed(2)} s (${((seconds * 1000) / first.fetched).toFixed(2)} s per 1,000)`);
    const warm: number[] = [];
    let attachments = 0;
    for (let i = 0; i < 7; i++) {
      const [count, s] = await time(async () => {
        await sync();
        return indexedPage(index, mailboxId);
      });
      attachments = count;
      warm.push(s);
    }
    console.log(`${label}: warm page (STATUS check + 3 indexed queries; 20 conversations, ${attachments} attachments) median ${(median(warm) * 1000).toFixed(1)} ms`);
    const queriesOnly: number[] = [];
    for (let i = 0; i < 7; i++) queriesOnly.push((await time(() => indexedPage(index, mailboxId)))[1]);
    console.log(`${label}: the indexed queries alone median ${(median(queriesOnly) * 1000).toFixed(1)} ms`);
    await dovecot.append('INBOX', message(N));
    const [, shown] = await time(async () => {
      await sync();
      const page = await index.listConversations(mailboxId, { first: 1 });
      if (page.items[0]?.subject !== `Re: thread ${Math.floor(N / 4)}` && page.items[0]?.subject !== `thread ${Math.floor(N / 4)}`) throw new Error('appended message not shown');
    });
    console.log(`${label}: an appended message shows after ${(shown * 1000).toFixed(1)} ms (sync + first page query)`);
    const bytes = await sizeOnDisk();
    console.log(`${label}: index on disk ${(bytes / 1024 / 1024).toFixed(1)} MiB, ${Math.round(bytes / (N + 1))} bytes per message`);
  } finally {
    await pool.close();
  }
}

async function main(): Promise<void> {
  if (!dovecotAvailable()) {
    console.error(DOVECOT_MISSING);
    process.exit(1);
  }
  const dovecot = await startDovecot();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-bench-index-'));
  try {
    const [, appendSeconds] = await time(async () => {
      for (let i = 0; i < N; i += 500) await dovecot.appendMany(Array.from({ length: Math.min(500, N - i) }, (_, j) => ({ folder: 'INBOX', raw: message(i + j) })));
    });
    console.log(`Dovecot INBOX: ${N} messages appended in ${appendSeconds.toFixed(1)} s`);

    // Direct imapflow: the newest 50 messages' envelope and structure.
    const direct: number[] = [];
    const client = new ImapFlow({ host: dovecot.host, port: dovecot.port, secure: false, auth: { user: dovecot.user, pass: dovecot.password }, logger: false });
    await client.connect();
    for (let i = 0; i < 5; i++) {
      direct.push(
        (
          await time(async () => {
            const box = await client.mailboxOpen('INBOX', { readOnly: true });
            for await (const m of client.fetch(`${Math.max(1, box.exists - 49)}:*`, { uid: true, envelope: true, bodyStructure: true })) void m;
          })
        )[1],
      );
    }
    await client.logout();
    console.log(`direct imapflow fetch of the newest 50 messages: median ${(median(direct) * 1000).toFixed(1)} ms`);

    // Today's provider (in-memory index per process).
    const provider = createImapProviderWith({ id: 'bench', workspaceId: 'bench', ...dovecotMailbox(dovecot, { address: 'me@bench.test', displayName: 'bench' }), needsReconsentAt: null, reconsentReason: null }, { dataDir: tmp, logger }, {});
    const page = async () => {
      const list = await provider.listConversations({ first: 20 });
      const conversations = await provider.loadConversations(list.items.map((c) => c.key));
      await provider.loadMessages(conversations.flatMap((c) => (c instanceof Error || !c ? [] : c.messageKeys)));
    };
    const rssBefore = process.memoryUsage().rss;
    const [, firstSeconds] = await time(page);
    const warm: number[] = [];
    for (let i = 0; i < 5; i++) warm.push((await time(page))[1]);
    console.log(`in-memory provider: first page ${firstSeconds.toFixed(2)} s, warm page median ${(median(warm) * 1000).toFixed(1)} ms, RSS +${((process.memoryUsage().rss - rssBefore) / 1024 / 1024).toFixed(0)} MiB`);
    await provider.close();

    // The same provider answering from the index (as the gateway does), on its own SQLite file.
    {
      const conn = connect({ dialect: 'sqlite', file: path.join(tmp, 'provider.sqlite') });
      await migrateToLatest(conn);
      const workspaceId = crypto.randomUUID();
      const mailboxId = crypto.randomUUID();
      await conn.db.insertInto('workspaces').values({ id: workspaceId, name: 'bench-provider', created_at: new Date().toISOString() }).execute();
      await conn.db.insertInto('mailboxes').values({ id: mailboxId, workspace_id: workspaceId, provider: 'IMAP', address: null, display_name: null, settings: '{}', credentials: null, created_at: new Date().toISOString(), needs_reconsent_at: null, reconsent_reason: null }).execute();
      const deps = { dataDir: tmp, logger, mailIndex: { store: openMailIndex(conn), owner: 'bench' } };
      const mailbox = { id: mailboxId, workspaceId, ...dovecotMailbox(dovecot, { address: 'me@bench.test', displayName: 'bench' }), needsReconsentAt: null, reconsentReason: null };
      const indexed = createImapProviderWith(mailbox, deps, {});
      const indexedPageOf = async (p: typeof indexed) => {
        const list = await p.listConversations({ first: 20 });
        const conversations = await p.loadConversations(list.items.map((c) => c.key));
        await p.loadMessages(conversations.flatMap((c) => (c instanceof Error || !c ? [] : c.messageKeys)));
      };
      const rss0 = process.memoryUsage().rss;
      const [, first] = await time(() => indexedPageOf(indexed));
      const warmIndexed: number[] = [];
      for (let i = 0; i < 5; i++) warmIndexed.push((await time(() => indexedPageOf(indexed)))[1]);
      const before = indexed.stats.commands;
      await indexedPageOf(indexed);
      const commands = indexed.stats.commands - before;
      await indexed.close();
      // A restart: a new provider (no process state) on the same index.
      const restarted = createImapProviderWith(mailbox, deps, {});
      const [, afterRestart] = await time(() => indexedPageOf(restarted));
      await restarted.close();
      console.log(
        `provider on the index: first page (with the first sync) ${first.toFixed(2)} s, warm page median ${(median(warmIndexed) * 1000).toFixed(1)} ms (${commands} IMAP commands), first page after a restart ${(afterRestart * 1000).toFixed(1)} ms, RSS +${((process.memoryUsage().rss - rss0) / 1024 / 1024).toFixed(0)} MiB`,
      );
      await conn.db.destroy();
    }

    const file = path.join(tmp, 'gateway.sqlite');
    const sqlite = connect({ dialect: 'sqlite', file });
    try {
      await indexFigures('index on SQLite', sqlite, dovecot, async () => {
        await sqlite.db.executeQuery({ sql: 'PRAGMA wal_checkpoint(TRUNCATE)', parameters: [], query: { kind: 'RawNode' } } as never).catch(() => undefined);
        return fs.statSync(file).size + (fs.existsSync(`${file}-wal`) ? fs.statSync(`${file}-wal`).size : 0);
      });
    } finally {
      await sqlite.db.destroy();
    }
    const pg = await createTestDatabase();
    if (pg) {
      const conn = connect({ dialect: 'postgres', url: pg.url });
      try {
        await indexFigures('index on PostgreSQL', conn, dovecot, async () => {
          const { rows } = await (await import('kysely')).sql<{ n: string }>`select sum(pg_total_relation_size(c.oid))::text as n from pg_class c where c.relname like 'mail_%' and c.relkind = 'r'`.execute(conn.db);
          return Number(rows[0]?.n ?? 0);
        });
      } finally {
        await conn.db.destroy();
        await pg.drop();
      }
    }
  } finally {
    await dovecot.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
