/**
 * An in-memory MailProvider for schema and download tests: real byte streams, call counters, and
 * switches for failures. Conversations are listed newest activity first with the shared list
 * cursors (`src/providers/paging.ts`), like a provider that holds its list.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import SqliteDatabase from 'better-sqlite3';
import { afterAll, onTestFinished } from 'vitest';
import { NotDownloadableError, notFound } from '../../src/errors.ts';
import { silentLogger } from './logger.ts';
import { pageOfList } from '../../src/providers/paging.ts';
import { compareConversations } from '../../src/threading/index.ts';
import type { AttachmentInfo, ConversationInfo, MessageInfo } from '../../src/domain/mail.ts';
import type { Page } from '../../src/domain/page.ts';
import type { AttachmentContent, ConversationFilter, MailProvider } from '../../src/providers/types.ts';

/** An attachment with its bytes. */
export interface FakeAttachment extends AttachmentInfo {
  bytes: Buffer;
}

/** A message whose attachments carry bytes; the count and truncation flag default to the list's length and false. */
export interface FakeMessage extends Omit<MessageInfo, 'attachments' | 'attachmentCount' | 'attachmentsTruncated'> {
  attachments: FakeAttachment[];
  attachmentCount?: number;
  attachmentsTruncated?: boolean;
}

/** Counts of provider calls, and the keys each batch call got. */
export interface FakeCalls {
  listConversations: number;
  loadConversations: string[][];
  loadMessages: string[][];
  openAttachment: number;
}

/** The fake provider, with its counters and switches. */
export interface FakeProvider extends MailProvider {
  /** The declared batch limit (`MailProvider.batchLimit`); set before the first request. */
  batchLimit?: number;
  calls: FakeCalls;
  /** Thrown by the next openAttachment calls when set. */
  failOpen: unknown;
  /** Streams opened by openAttachment, to check they were destroyed. */
  opened: Readable[];
  /** When set, openAttachment streams the bytes in chunks of this size, one per 5 ms (for disconnect tests). */
  slowChunkSize: number | null;
  /** When set, the stream fails with this error once `slowChunkSize`-sized chunks have covered half the bytes. */
  failMidStream: Error | null;
  resetCalls(): void;
}

/**
 * Builds a provider over `messages`; conversations are derived from their `conversationKey`.
 * With `batchLimit`, it declares that limit and refuses (throws) a batch call with more keys.
 */
export function createFakeProvider(messages: FakeMessage[], options: { batchLimit?: number } = {}): FakeProvider {
  const byKey = new Map(messages.map((m) => [m.key, m]));
  const conversationKeys = [...new Set(messages.map((m) => m.conversationKey))];

  const conversationOf = (key: string): ConversationInfo | null => {
    const own = messages.filter((m) => m.conversationKey === key);
    if (own.length === 0) return null;
    const participants: ConversationInfo['participants'] = [];
    for (const m of own) {
      for (const a of [m.from, ...m.to, ...m.cc]) {
        if (a && !participants.some((p) => p.address === a.address)) participants.push(a);
      }
    }
    const dates = own.map((m) => m.date?.getTime() ?? 0);
    return {
      key,
      subject: own[0]?.subject ?? null,
      participants,
      lastMessageAt: new Date(Math.max(...dates)),
      messageKeys: own.map((m) => m.key),
      hasAttachments: own.some((m) => m.attachments.length > 0),
    };
  };

  const toInfo = (m: FakeMessage): MessageInfo => ({
    ...m,
    attachments: m.attachments.map(({ bytes: _bytes, ...info }) => info),
    attachmentCount: m.attachmentCount ?? m.attachments.length,
    attachmentsTruncated: m.attachmentsTruncated ?? false,
  });

  const checkBatch = (keys: readonly string[]): void => {
    if (provider.batchLimit !== undefined && keys.length > provider.batchLimit) throw new Error(`batch of ${keys.length} keys over the limit of ${provider.batchLimit}`);
  };
  const provider: FakeProvider = {
    kind: 'LOCAL',
    ...(options.batchLimit === undefined ? {} : { batchLimit: options.batchLimit }),
    calls: { listConversations: 0, loadConversations: [], loadMessages: [], openAttachment: 0 },
    failOpen: null,
    opened: [],
    slowChunkSize: null,
    failMidStream: null,
    resetCalls() {
      provider.calls = { listConversations: 0, loadConversations: [], loadMessages: [], openAttachment: 0 };
    },
    async listConversations(args: { first: number; after?: string | null; filter?: ConversationFilter }): Promise<Page<ConversationInfo>> {
      provider.calls.listConversations++;
      const all = conversationKeys.map((k) => conversationOf(k)!).sort(compareConversations);
      const f = args.filter ?? {};
      const matches = (c: ConversationInfo): boolean =>
        (f.hasAttachments == null || c.hasAttachments === f.hasAttachments) &&
        (!f.since || (c.lastMessageAt?.getTime() ?? 0) >= f.since.getTime()) &&
        (!f.search || (c.subject ?? '').toLowerCase().includes(f.search.toLowerCase()));
      return pageOfList(all, args, { matches });
    },
    async loadConversations(keys) {
      provider.calls.loadConversations.push([...keys]);
      checkBatch(keys);
      return keys.map((k) => conversationOf(k));
    },
    async loadMessages(keys) {
      provider.calls.loadMessages.push([...keys]);
      checkBatch(keys);
      return keys.map((k) => {
        const m = byKey.get(k);
        return m ? toInfo(m) : null;
      });
    },
    async openAttachment(messageKey, partId): Promise<AttachmentContent> {
      provider.calls.openAttachment++;
      if (provider.failOpen) throw provider.failOpen;
      const att = byKey.get(messageKey)?.attachments.find((a) => a.partId === partId);
      if (!att) throw notFound('Attachment');
      if (!att.downloadable) throw new NotDownloadableError();
      const chunkSize = provider.slowChunkSize;
      const failure = provider.failMidStream;
      const stream = chunkSize
        ? Readable.from(
            (async function* () {
              for (let i = 0; i < att.bytes.length; i += chunkSize) {
                await new Promise((r) => setTimeout(r, 5));
                if (failure && i >= att.bytes.length / 2) throw failure;
                yield att.bytes.subarray(i, i + chunkSize);
              }
            })(),
          )
        : Readable.from([att.bytes]);
      provider.opened.push(stream);
      return { stream, size: att.sizeExact ? att.bytes.length : null, contentType: att.contentType, filename: att.filename };
    },
    async close() {},
  };
  return provider;
}

/** An attachment fixture; `bytes` decides the size. */
export function fakeAttachment(partId: string, filename: string | null, bytes: Buffer, extra: Partial<AttachmentInfo> = {}): FakeAttachment {
  return {
    partId,
    filename,
    contentType: 'application/octet-stream',
    size: bytes.length,
    sizeExact: true,
    contentId: null,
    disposition: 'ATTACHMENT',
    kind: 'FILE',
    downloadable: true,
    bytes,
    ...extra,
  };
}

/** A message fixture. */
export function fakeMessage(key: string, conversationKey: string, date: string, attachments: FakeAttachment[], extra: Partial<FakeMessage> = {}): FakeMessage {
  return {
    key,
    conversationKey,
    subject: `Subject of ${conversationKey}`,
    from: { name: 'Alice', address: 'alice@example.org' },
    to: [{ name: null, address: 'bob@example.org' }],
    cc: [],
    date: new Date(date),
    messageId: `<${key}@example.org>`,
    inReplyTo: null,
    references: [],
    direction: 'RECEIVED',
    attachments,
    ...extra,
  };
}

/** Cleanups of gateways set up in a hook rather than a test; run after the importing test file. */
const leftovers = new Set<() => Promise<void>>();
// Registered while the importing test file is collected, so it runs once that file is done.
afterAll(async () => {
  for (const cleanup of leftovers) await cleanup();
});

/**
 * Two workspaces, A with one fake mailbox over `messages`, B with its own; a gateway over them, no
 * socket. The store is the real one (kysely over a fresh SQLite file in a temp DATA_DIR), closed
 * and removed when the calling test finishes (called from a hook: when the test file finishes).
 * `store.removeMailbox` deletes a row behind the store's back: the Store contract has no removal
 * yet, and tests need a mailbox that vanishes; `sql` runs any statement that way (revoking a key,
 * deleting a workspace). `keyIdA`/`keyIdB` are the ids of the two API keys.
 */
export async function setupGateway(messages: FakeMessage[], options: { secret?: string; demoApiKey?: string; keyStatusTtlMs?: number; batchLimit?: number } = {}) {
  const { loadConfig } = await import('../../src/config.ts');
  const { createStore } = await import('../../src/db/store.ts');
  const { createGateway } = await import('../../src/server.ts');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-fake-'));
  // Only these variables: a DATABASE_URL or PORT in the caller's environment must not leak in.
  const config = loadConfig({ DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', PUBLIC_URL: 'http://gw.test', LOG_LEVEL: 'silent' });
  const secret = options.secret ?? 'test-secret-test-secret-test-secret-0123';
  if (config.database.dialect !== 'sqlite') throw new Error('setupGateway expects the default SQLite database');
  const sqliteFile = config.database.file;
  const realStore = createStore(config, secret);
  const cleanup = async () => {
    leftovers.delete(cleanup);
    await realStore.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    onTestFinished(cleanup);
  } catch {
    // Called from a hook, not a test: cleaned up after the file.
    leftovers.add(cleanup);
  }
  await realStore.migrate();
  /** Runs one SQL statement on the store's SQLite file behind the store's back (foreign keys on, as the store has them). */
  const sql = (statement: string, ...params: unknown[]): void => {
    const db = new SqliteDatabase(sqliteFile);
    try {
      db.pragma('foreign_keys = ON');
      db.prepare(statement).run(...params);
    } finally {
      db.close();
    }
  };
  const store = Object.assign(realStore, {
    removeMailbox(id: string): void {
      sql('DELETE FROM mailboxes WHERE id = ?', id);
    },
  });
  const wsA = await store.createWorkspace('alpha');
  const wsB = await store.createWorkspace('beta');
  const { key: keyA, id: keyIdA } = await store.createApiKey(wsA.id);
  const { key: keyB, id: keyIdB } = await store.createApiKey(wsB.id);
  const mailboxA = await store.addMailbox({ workspaceId: wsA.id, provider: 'LOCAL', address: 'me@example.org', displayName: 'Mine', settings: {}, credentials: null });
  const mailboxB = await store.addMailbox({ workspaceId: wsB.id, provider: 'IMAP', address: 'other@example.org', displayName: 'Theirs', settings: {}, credentials: null });
  const provider = createFakeProvider(messages, options.batchLimit === undefined ? {} : { batchLimit: options.batchLimit });
  const providerB = createFakeProvider(messages);
  const logger = silentLogger();
  const gateway = createGateway({
    config,
    store,
    logger,
    secret,
    demoApiKey: options.demoApiKey ?? null,
    providers: (m) => (m.id === mailboxA.id ? provider : providerB),
    ...(options.keyStatusTtlMs === undefined ? {} : { keyStatusTtlMs: options.keyStatusTtlMs }),
  });
  /** Runs a GraphQL operation with workspace A's key unless `key` says otherwise (null: no key). */
  async function gql(query: string, variables: Record<string, unknown> = {}, key: string | null = keyA, extraHeaders: Record<string, string> = {}) {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...extraHeaders };
    if (key !== null) headers.authorization = `Bearer ${key}`;
    const response = await gateway.fetch(new Request('http://gw.test/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) }));
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests walk results of many shapes
    const body = (await response.json()) as { data?: any; errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[] };
    return { status: response.status, body, data: body.data, errors: body.errors };
  }
  return { store, sql, gateway, provider, providerB, logger, config, secret, wsA, wsB, keyA, keyB, keyIdA, keyIdB, mailboxA, mailboxB, gql };
}
