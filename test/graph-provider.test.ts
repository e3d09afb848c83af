/**
 * The Microsoft Graph provider on its own against the fake Graph over HTTPS: both mailbox modes
 * (`/me` with a delegated token, `/users/{address}` with an application token), a 401 answered by
 * one fresh token, the listing filters on the real wire (InefficientFilter rule, inline-only
 * attachments that Graph's own `hasAttachments` ignores, `$search`), stable keys across folder moves
 * (immutable ids), and the mailbox's concurrency limit kept under load.
 */
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.ts';
import { createGraphProvider } from '../src/providers/microsoft-graph/provider.ts';
import type { GraphTokenSource } from '../src/providers/microsoft-graph/token-source.ts';
import type { MailboxConfig, MailProvider, ProviderDeps } from '../src/providers/types.ts';
import { startFakeGraph, type FakeGraph } from './support/fake-graph/index.ts';
import { loaded } from './support/loaded.ts';
import { mailWithAttachment } from './support/mail.ts';

const OWNER = 'owner@fake-graph.test';
let fake: FakeGraph;
let deps: ProviderDeps;

const MAIL_READ = ['https://graph.microsoft.com/Mail.Read'];

function mailbox(mode: 'delegated' | 'application'): MailboxConfig {
  return { id: `mb-${mode}`, workspaceId: 'ws', provider: 'MICROSOFT_GRAPH', address: OWNER, displayName: null, settings: { mode }, credentials: null };
}

/** Tokens minted by the fake; `first` is handed out once before them (e.g. a token Graph refuses). */
function tokens(kind: 'delegated' | 'application', first?: string): GraphTokenSource & { invalidated: number } {
  let pending = first;
  let cached: Promise<string> | null = null;
  const source = {
    invalidated: 0,
    accessToken: () => {
      if (pending !== undefined) {
        const t = pending;
        pending = undefined;
        cached = Promise.resolve(t);
      }
      return (cached ??=
        kind === 'delegated'
          ? fake.identity.issueAccessToken({ kind, userId: fake.mailbox(OWNER).user.id, clientId: fake.app.clientId, scopes: MAIL_READ })
          : fake.identity.issueAccessToken({ kind, clientId: fake.app.clientId, roles: ['Mail.Read'] }));
    },
    invalidate: () => {
      source.invalidated++;
      cached = null;
    },
  };
  return source;
}

const fast = { initialDelayMs: 5, maxDelayMs: 50 };

beforeAll(async () => {
  fake = await startFakeGraph({ addresses: [OWNER] });
  deps = { dataDir: os.tmpdir(), logger: createLogger('silent'), microsoft: { graphRoot: fake.graphRoot, loginRoot: fake.loginRoot, clientId: fake.app.clientId, clientSecret: fake.app.clientSecret, tenantId: fake.tenantId } };
  const day = (d: number, h = 9) => `${['Mon', 'Tue', 'Wed', 'Thu', 'Fri'][d % 5]}, 0${d} Nov 2026 ${String(h).padStart(2, '0')}:00:00 +0000`;
  fake.add(mailWithAttachment({ subject: 'Old file', messageId: 'old@x', filename: 'old.pdf', contentType: 'application/pdf', bytes: Buffer.from('%PDF old'), date: day(2) }), OWNER);
  fake.add(Buffer.from(['From: a@x', 'To: owner@fake-graph.test', 'Subject: Plain', 'Message-ID: <plain@x>', `Date: ${day(4)}`, '', 'no attachment', ''].join('\r\n')), OWNER);
  fake.add(
    Buffer.from(
      [
        'From: a@x',
        'To: owner@fake-graph.test',
        'Subject: Logo only',
        'Message-ID: <logo@x>',
        `Date: ${day(6)}`,
        'MIME-Version: 1.0',
        'Content-Type: multipart/related; boundary="r"; type="text/html"',
        '',
        '--r',
        'Content-Type: text/html',
        '',
        '<img src="cid:logo@x">',
        '--r',
        'Content-Type: image/png; name="logo.png"',
        'Content-ID: <logo@x>',
        'Content-Transfer-Encoding: base64',
        '',
        Buffer.from('png bytes').toString('base64'),
        '--r--',
        '',
      ].join('\r\n'),
    ),
    OWNER,
  );
}, 30_000);

afterAll(async () => {
  await fake?.close();
});

async function subjects(p: MailProvider, filter?: Parameters<MailProvider['listConversations']>[0]['filter']): Promise<(string | null)[]> {
  const page = await p.listConversations({ first: 10, ...(filter ? { filter } : {}) });
  return page.items.map((c) => c.subject);
}

describe('Graph provider against the fake Graph', () => {
  it('reads a delegated mailbox through /me and an application one through /users/{address}', async () => {
    for (const mode of ['delegated', 'application'] as const) {
      const before = fake.requests.length;
      const p = createGraphProvider(mailbox(mode), deps, tokens(mode), { retry: fast });
      expect(await subjects(p), mode).toEqual(['Logo only', 'Plain', 'Old file']);
      const paths = fake.requests.slice(before).map((r) => (r.kind === 'batch' ? r.inner![0]!.path : r.path));
      const prefix = mode === 'delegated' ? '/v1.0/me/' : `/v1.0/users/${encodeURIComponent(OWNER)}/`;
      expect(paths.every((path) => path.startsWith(prefix)), paths.join(' ')).toBe(true);
      await p.close();
    }
  });

  it('answers a 401 by dropping the token and trying once more with a fresh one', async () => {
    const source = tokens('delegated', 'not-a-token');
    const p = createGraphProvider(mailbox('delegated'), deps, source, { retry: fast });
    expect(await subjects(p)).toEqual(['Logo only', 'Plain', 'Old file']);
    expect(source.invalidated).toBe(1);
    const refused = createGraphProvider(mailbox('delegated'), deps, { accessToken: async () => 'never-valid', invalidate: () => {} }, { retry: fast });
    await expect(refused.listConversations({ first: 5 })).rejects.toMatchObject({ code: 'PROVIDER_AUTH_FAILED' });
  });

  it('filters on the real wire: since by receivedDateTime first (InefficientFilter), inline-only attachments count, free text by $search', async () => {
    const p = createGraphProvider(mailbox('delegated'), deps, tokens('delegated'), { retry: fast });
    expect(await subjects(p, { hasAttachments: true })).toEqual(['Logo only', 'Old file']);
    expect(await subjects(p, { hasAttachments: false })).toEqual(['Plain']);
    expect(await subjects(p, { since: new Date(Date.UTC(2026, 10, 3)) })).toEqual(['Logo only', 'Plain']);
    const lists = fake.requests.filter((r) => r.kind === 'messages' && r.query.$orderby);
    expect(lists.at(-1)!.query.$filter).toBe('receivedDateTime ge 2026-11-03T00:00:00.000Z');
    expect(lists.every((r) => r.status === 200)).toBe(true);
    // Free text goes to $search as one quoted phrase, user quotes dropped.
    expect(await subjects(p, { search: 'LOGO "only' })).toEqual(['Logo only']);
    expect(await subjects(p, { search: 'file', hasAttachments: true })).toEqual(['Old file']);
    expect(fake.requests.filter((r) => r.query.$search).at(-1)!.query.$search).toBe('"file"');
    await expect(p.listConversations({ first: 5, filter: { search: '"' } })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
  });

  it('keeps message and attachment keys across a move to another folder (immutable ids)', async () => {
    const p = createGraphProvider(mailbox('delegated'), deps, tokens('delegated'), { retry: fast });
    const [conversation] = (await p.listConversations({ first: 10, filter: { hasAttachments: true } })).items.filter((c) => c.subject === 'Old file');
    const [message] = loaded(await p.loadMessages(conversation!.messageKeys));
    const stored = fake.mailbox(OWNER).allMessages().find((m) => m.subject === 'Old file')!;
    fake.mailbox(OWNER).move(stored, 'archive');
    const fresh = createGraphProvider(mailbox('delegated'), deps, tokens('delegated'), { retry: fast });
    const [again] = loaded(await fresh.loadMessages([message!.key]));
    expect(again?.key).toBe(message!.key);
    const content = await fresh.openAttachment(message!.key, message!.attachments[0]!.partId);
    const chunks: Buffer[] = [];
    for await (const chunk of content.stream) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('%PDF old');
    expect(content).toMatchObject({ size: 8, contentType: 'application/pdf', filename: 'old.pdf' });
    expect(await fresh.loadMessages(['AAMk-no-such-id', '../etc'])).toEqual([null, null]);
    await expect(fresh.openAttachment(message!.key, 'AAMk-no-such-attachment')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('asks $value for the bytes as stored, and sends no length when Graph coded the answer anyway', async () => {
    // What fetch hands over for a gzip answer: the decoded body beside the coded body's length.
    const coding: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (!String(input).endsWith('/$value')) return response;
      const headers = new Headers(response.headers);
      headers.set('content-encoding', 'gzip');
      headers.set('content-length', '3');
      return new Response(response.body, { status: response.status, headers });
    };
    const p = createGraphProvider(mailbox('delegated'), deps, tokens('delegated'), { retry: fast, fetch: coding });
    const page = await p.listConversations({ first: 10, filter: { hasAttachments: true } });
    const [message] = loaded(await p.loadMessages(page.items.find((c) => c.subject === 'Old file')!.messageKeys));
    const content = await p.openAttachment(message!.key, message!.attachments[0]!.partId);
    const chunks: Buffer[] = [];
    for await (const chunk of content.stream) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('%PDF old');
    expect(content.size).toBeNull();
    expect(fake.requests.filter((r) => r.kind === 'value').at(-1)!.headers['accept-encoding']).toBe('identity');
  });

  it('stays within the mailbox concurrency of 4 when many loads and downloads run at once', async () => {
    const p = createGraphProvider(mailbox('delegated'), deps, tokens('delegated'), { retry: { ...fast, maxAttempts: 1 } });
    const page = await p.listConversations({ first: 10 });
    const keys = page.items.flatMap((c) => c.messageKeys);
    const [withFile] = loaded(await p.loadMessages(keys)).filter((m) => m!.attachments.some((a) => a.kind === 'FILE'));
    // Slow answers hold the fake's mailbox slots, as slow Exchange requests do: without the
    // provider's own limit, five downloads and two batches at once would be answered 429.
    fake.faults.add({ path: '/v1.0/me/messages/*/attachments/*/$value' }, { delayMs: 150 }, 5);
    const one = createGraphProvider(mailbox('delegated'), deps, tokens('delegated'), { retry: { ...fast, maxAttempts: 1 } });
    const mark = fake.requests.length;
    await Promise.all([
      one.loadConversations(page.items.map((c) => c.key)),
      one.loadMessages(keys),
      ...Array.from({ length: 5 }, async () => {
        const content = await one.openAttachment(withFile!.key, withFile!.attachments[0]!.partId);
        for await (const chunk of content.stream) void chunk;
      }),
    ]);
    fake.faults.clear();
    const seen = fake.requests.slice(mark).flatMap((r) => [r, ...(r.inner ?? [])]);
    expect(seen.filter((r) => r.kind === 'value')).toHaveLength(5);
    expect(seen.filter((r) => r.status === 429)).toEqual([]);
  });
});
