/**
 * The Microsoft Graph provider through the real gateway (real HTTP on loopback, a real SQLite
 * store, MICROSOFT_GRAPH mailboxes) against the fake Graph over HTTPS, driven by graph-client:
 *
 * - corpus conformance: every manifest attachment listed with its metadata (Graph's stored sizes,
 *   not exact; Exchange's names for unnamed parts and enclosed messages), file attachments
 *   downloaded byte-exact, item attachments as a parseable message/rfc822;
 * - reference attachments: the link exposed where Graph gives one, a typed 409 on download;
 * - the upstream requests of a 10- and a 50-conversation query with messages and attachments;
 * - throttling inside `$batch` and on whole requests (Retry-After honoured), a `$batch` item that
 *   keeps failing nulls only its own field, with an error naming the mailbox;
 * - a body cut upstream cuts the client's download; a client that goes away stops the upstream read.
 *
 * The gateway's registry gets a MICROSOFT_GRAPH factory with a test token source (access tokens
 * minted by the fake identity platform for each mailbox's user) and a fetch that watches `$value`
 * bodies; the built-in registry with the msal token sources is `e2e-graph.test.ts`'s.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeNodeId } from '../src/ids.ts';
import { createLogger } from '../src/logger.ts';
import { parseMessage } from '../src/mime/parse.ts';
import { GraphClient } from '../src/providers/microsoft-graph/client.ts';
import { createGraphProvider } from '../src/providers/microsoft-graph/provider.ts';
import type { GraphTokenSource } from '../src/providers/microsoft-graph/token-source.ts';
import { ProviderRegistry } from '../src/providers/registry.ts';
import { corpusDir, expectedAttachments, hasCorpus, loadManifest, manifestEntry } from './support/corpus.ts';
import { startFakeGraph, type FakeGraph, type LoggedRequest } from './support/fake-graph/index.ts';
import { collectMessages, download, signedUrlOf, startE2eGateway, type E2eGateway, type SeenMessage } from './support/gateway-e2e.ts';
import { mailWithAttachment } from './support/mail.ts';

const CORPUS = 'corpus@fake-graph.test';
const TEN = 'ten@fake-graph.test';
const FIFTY = 'fifty@fake-graph.test';
const LARGE = 'large@fake-graph.test';
const LINKS = 'links@fake-graph.test';
const ADDRESSES = [CORPUS, TEN, FIFTY, LARGE, LINKS];
const large = Buffer.alloc(2 * 1024 * 1024, 7);
const SOURCE_URL = 'https://contoso-my.sharepoint.com/personal/lee/Documents/Budget.xlsx';

let fake: FakeGraph;
let gateway: E2eGateway;
let registry: ProviderRegistry;
const mailboxIds = new Map<string, string>();
/** Store ids by address. */
const storeIds = new Map<string, string>();
/** Corpus file of each Graph (immutable) message id. */
const fileOfGraphId = new Map<string, string>();
/** `$value` bodies the gateway's provider read, and whether each was cancelled before its end. */
const valueReads: { url: string; bytes: number; cancelled: boolean; ended: boolean }[] = [];

/** Access tokens minted by the fake for the mailbox's user (what `./auth.ts` of h-gauth gets through msal). */
function testTokens(address: string): GraphTokenSource {
  let token: Promise<string> | null = null;
  return {
    accessToken: () =>
      (token ??= fake.identity.issueAccessToken({ kind: 'delegated', userId: fake.mailbox(address).user.id, clientId: fake.app.clientId, scopes: ['https://graph.microsoft.com/Mail.Read'] })),
    invalidate: () => void (token = null),
  };
}

/** Node's fetch, with `$value` bodies watched (bytes read, cancelled or ended). */
const watchingFetch: typeof fetch = async (input, init) => {
  const response = await fetch(input, init);
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (!url.endsWith('/$value') || !response.body) return response;
  const read = { url, bytes: 0, cancelled: false, ended: false };
  valueReads.push(read);
  const reader = response.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) {
        read.ended = true;
        controller.close();
        return;
      }
      read.bytes += value.byteLength;
      controller.enqueue(value);
    },
    async cancel(reason) {
      read.cancelled = true;
      await reader.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, headers: response.headers });
};

/** Adds `count` two-message conversations (a received message and a sent reply, one attachment each). */
function fillConversations(address: string, count: number): void {
  for (let t = 0; t < count; t++) {
    const subject = `Thread ${address} ${t}`;
    const id = `t${t}.${address}`;
    const minute = String(t % 60).padStart(2, '0');
    fake.add({ raw: mailWithAttachment({ subject, messageId: id, filename: `a${t}.bin`, bytes: Buffer.alloc(2000 + t, t), date: `Tue, 01 Dec 2026 0${Math.floor(t / 60)}:${minute}:00 +0000` }) }, address);
    const reply = mailWithAttachment({ subject: `Re: ${subject}`, messageId: `r${t}.${address}`, filename: `b${t}.bin`, bytes: Buffer.alloc(1000 + t, t + 1), date: `Wed, 02 Dec 2026 0${Math.floor(t / 60)}:${minute}:00 +0000` })
      .toString('latin1')
      .replace('MIME-Version', `In-Reply-To: <${id}>\r\nReferences: <${id}>\r\nMIME-Version`);
    fake.add({ raw: Buffer.from(reply, 'latin1'), folder: 'sentitems' }, address);
  }
}

/** The outer requests since `from`, as `kind path` (batches with their inner kinds). */
function requestsSince(from: number): string[] {
  return fake.requests.slice(from).map((r: LoggedRequest) => (r.kind === 'batch' ? `batch[${(r.inner ?? []).map((i) => i.kind).join(',')}]` : `${r.kind}`));
}

beforeAll(async () => {
  fake = await startFakeGraph({ addresses: ADDRESSES });
  if (hasCorpus) {
    for (const [n, entry] of loadManifest().entries()) {
      const stored = fake.add({ raw: fs.readFileSync(path.join(corpusDir, entry.file)), received: new Date(Date.UTC(2025, 0, 1) + n * 60_000) }, CORPUS);
      fileOfGraphId.set(stored.immutableId, entry.file);
    }
  }
  fillConversations(TEN, 10);
  fillConversations(FIFTY, 50);
  fake.add({ raw: mailWithAttachment({ subject: 'Large', filename: 'large.bin', bytes: large }) }, LARGE);
  fake.add({ raw: mailWithAttachment({ subject: 'Budget', filename: 'notes.txt', contentType: 'text/plain', bytes: Buffer.from('see the link') }), references: [{ name: 'Budget.xlsx', sourceUrl: SOURCE_URL }] }, LINKS);
  const microsoft = { graphRoot: fake.graphRoot, loginRoot: fake.loginRoot, clientId: fake.app.clientId, clientSecret: fake.app.clientSecret, tenantId: fake.tenantId };
  registry = new ProviderRegistry({ dataDir: os.tmpdir(), logger: createLogger('silent'), microsoft }, undefined, {
    MICROSOFT_GRAPH: (mailbox, deps) => createGraphProvider(mailbox, deps, testTokens(mailbox.address!), { fetch: watchingFetch, retry: { initialDelayMs: 10, maxDelayMs: 100, budgetMs: 8_000 } }),
  });
  gateway = await startE2eGateway({}, { providers: (mailbox) => registry.get(mailbox) });
  for (const address of ADDRESSES) {
    storeIds.set(address, await gateway.addMailbox({ provider: 'MICROSOFT_GRAPH', address, displayName: address, settings: { mode: 'delegated' }, credentials: { refreshToken: 'held by the test token source' } }));
  }
  const listed = await gateway.graphql<{ mailboxes: { id: string; address: string }[] }>('{ mailboxes { id address } }');
  for (const m of listed.data!.mailboxes) mailboxIds.set(m.address, m.id);
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await registry?.close();
  await fake?.close();
});

describe.skipIf(!hasCorpus)('Graph corpus conformance through the gateway', () => {
  let messages: SeenMessage[];
  const fileOf = (m: SeenMessage) => fileOfGraphId.get(decodeNodeId('Message', m.id)[1]!)!;

  beforeAll(async () => {
    messages = await collectMessages(gateway, mailboxIds.get(CORPUS)!);
  }, 60_000);

  it('shows every corpus message once', () => {
    expect(messages.map(fileOf).sort()).toEqual(loadManifest().map((e) => e.file).sort());
  });

  it('lists every expected attachment with its type, Content-ID and disposition; names as Exchange gives them; sizes are stored sizes, not exact', () => {
    for (const message of messages) {
      const file = fileOf(message);
      const expected = expectedAttachments(manifestEntry(path.basename(file)));
      expect(message.attachments.length, file).toBe(expected.length);
      let unnamed = 0;
      for (const [i, a] of message.attachments.entries()) {
        const e = expected[i]!;
        const item = e.contentType === 'message/rfc822' || e.contentType === 'message/global';
        expect(a.kind, `${file} #${i}`).toBe(item ? 'ITEM' : 'FILE');
        expect(a.disposition, `${file} #${i}`).toBe(e.disposition);
        expect(a.sizeExact).toBe(false);
        expect(a.size!, `${file} #${i}`).toBeGreaterThanOrEqual(item ? 1 : e.size);
        if (item) {
          expect(a.contentType).toBe('message/rfc822');
          expect(a.filename, `${file} #${i}`).toMatch(/\.eml$/i);
          continue;
        }
        expect(a.contentType, `${file} #${i}`).toBe(e.contentType);
        expect(a.contentId, `${file} #${i}`).toBe(e.contentId);
        if (e.filename === null) expect(a.filename, `${file} #${i}`).toBe(`ATT${String(++unnamed).padStart(5, '0')}.bin`);
        else expect(a.filename, `${file} #${i}`).toBe(e.filename);
      }
    }
  });

  it('downloads file attachments byte-exact and item attachments as a parseable message/rfc822', async () => {
    const jobs = messages.flatMap((message) => {
      const file = fileOf(message);
      const expected = expectedAttachments(manifestEntry(path.basename(file)));
      return message.attachments.map((a, i) => ({ file, a, e: expected[i]! }));
    });
    let files = 0;
    let items = 0;
    // Three at a time: what a mailbox serves at once (one slot stays for listings).
    for (let at = 0; at < jobs.length; at += 3) {
      await Promise.all(
        jobs.slice(at, at + 3).map(async ({ file, a, e }) => {
          const got = await download(signedUrlOf(a), a.kind === 'ITEM');
          expect(got.status, `${file} ${a.filename}`).toBe(200);
          if (a.kind === 'ITEM') {
            expect(got.contentType).toBe('message/rfc822');
            const parsed = parseMessage(got.body!);
            // An enclosed message of zero bytes stays empty (mailparser-decoderended.eml).
            if (e.size > 0) expect(parsed.headers.some((h) => h.name === 'subject' || h.name === 'from'), `${file} ${a.filename}`).toBe(true);
            items++;
          } else {
            expect(got.sha256, `${file} ${a.filename}`).toBe(e.sha256);
            expect(got.contentLength, `${file} ${a.filename}`).toBe(String(e.size));
            files++;
          }
        }),
      );
    }
    expect(files).toBeGreaterThan(0);
    expect(items).toBeGreaterThan(0);
  }, 60_000);
});

describe('Graph through the gateway', () => {
  it('costs one list read and one $batch per 20 conversations for a query with messages and attachments, nothing per message', async () => {
    const counted = async (address: string) => {
      // The first query of a mailbox also resolves its folders (one $batch, once).
      await gateway.graphql(`{ node(id: "${mailboxIds.get(address)}") { ... on Mailbox { conversations(first: 1) { edges { node { id } } } } } }`);
      const before = fake.requests.length;
      const messages = await collectMessages(gateway, mailboxIds.get(address)!);
      return { messages, requests: requestsSince(before) };
    };
    const ten = await counted(TEN);
    const fifty = await counted(FIFTY);
    expect(ten.messages).toHaveLength(20);
    expect(fifty.messages).toHaveLength(100);
    expect(fifty.messages.filter((m) => m.direction === 'SENT')).toHaveLength(50);
    expect(fifty.messages.every((m) => m.attachments.length === 1 && m.attachments[0]!.sizeExact === false)).toBe(true);
    const batchOf = (n: number) => `batch[${Array.from({ length: n }, () => 'messages').join(',')}]`;
    expect(ten.requests).toEqual(['messages', batchOf(10)]);
    expect(fifty.requests).toEqual(['messages', batchOf(20), batchOf(20), batchOf(10)]);
    // Each request inside a batch asked for the attachments' metadata, never their bytes.
    const inner = fake.requests.flatMap((r) => r.inner ?? []).filter((r) => r.kind === 'messages');
    expect(inner.length).toBeGreaterThan(0);
    for (const r of inner) {
      expect(r.query.$expand).toBe('attachments($select=id,name,contentType,size,isInline,microsoft.graph.fileAttachment/contentId)');
      expect(r.headers.prefer).toBe('IdType="ImmutableId"');
    }
  });

  it('shows a reference attachment with its link (read from the beta API), not downloadable; its download is NOT_DOWNLOADABLE (409), also when Graph answers its $value 405', async () => {
    const query = `{ node(id: "${mailboxIds.get(LINKS)}") { ... on Mailbox { conversations(first: 5) { edges { node { messages(first: 5) { edges { node { attachments { id filename kind downloadable linkUrl downloadUrl { url } } } } } } } } } } }`;
    type Seen = { id: string; filename: string; kind: string; downloadable: boolean; linkUrl: string | null; downloadUrl: { url: string } | null };
    const answer = await gateway.graphql<{ node: { conversations: { edges: { node: { messages: { edges: { node: { attachments: Seen[] } }[] } } }[] } } }>(query);
    const attachments = answer.data!.node.conversations.edges[0]!.node.messages.edges[0]!.node.attachments;
    expect(attachments.map((a) => [a.filename, a.kind, a.downloadable])).toEqual([
      ['notes.txt', 'FILE', true],
      ['Budget.xlsx', 'REFERENCE', false],
    ]);
    // Graph v1.0 gives a reference attachment no sourceUrl: it comes from the beta API.
    expect(attachments[1]!.linkUrl).toBe(SOURCE_URL);
    expect(attachments[0]!.linkUrl).toBeNull();
    expect(answer.errors?.map((e) => e.extensions?.code)).toEqual(['NOT_DOWNLOADABLE']);
    // The link is an extra: when the beta API fails, the listing stands without it.
    const beta = fake.faults.add({ path: '/beta/$batch' }, { error: 'internal' }, Infinity);
    const without = await gateway.graphql<typeof answer.data>(query);
    fake.faults.clear();
    expect(beta.hits).toBeGreaterThan(0);
    expect(without.data!.node.conversations.edges[0]!.node.messages.edges[0]!.node.attachments.map((a) => [a.filename, a.linkUrl])).toEqual([
      ['notes.txt', null],
      ['Budget.xlsx', null],
    ]);
    expect(without.errors?.map((e) => e.extensions?.code)).toEqual(['NOT_DOWNLOADABLE']);
    // What the download route answers 409 for: the provider refuses before any $value call, and
    // Graph's own answer to a reference's $value (405) maps to the same code.
    const [, messageKey, partId] = decodeNodeId('Attachment', attachments[1]!.id);
    const mailbox = (await gateway.store.getMailbox(gateway.workspaceId, storeIds.get(LINKS)!))!;
    const before = fake.requests.length;
    await expect(registry.get(mailbox).openAttachment(messageKey!, partId!)).rejects.toMatchObject({ code: 'NOT_DOWNLOADABLE', httpStatus: 409 });
    expect(fake.requests.slice(before).map((r) => r.kind)).not.toContain('value');
    const client = new GraphClient({ graphRoot: fake.graphRoot, tokens: testTokens(LINKS) });
    await expect(client.openValue(`/me/messages/${encodeURIComponent(messageKey!)}/attachments/${encodeURIComponent(partId!)}/$value`)).rejects.toMatchObject({ code: 'NOT_DOWNLOADABLE' });
    expect(fake.requests.at(-1)).toMatchObject({ kind: 'value', status: 405 });
  });

  it('retries throttled requests inside a $batch (after their Retry-After) and whole failed requests', async () => {
    const inner = fake.faults.add({ path: '/v1.0/me/messages', inBatch: true }, { error: 'tooManyRequests', retryAfter: 1 }, 3);
    const outer = fake.faults.add({ path: '/v1.0/me/messages', inBatch: false }, { error: 'serviceUnavailable' }, 1);
    const before = fake.requests.length;
    const started = Date.now();
    const messages = await collectMessages(gateway, mailboxIds.get(TEN)!);
    // The throttled requests were sent again no sooner than their Retry-After (a lower bound only).
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    fake.faults.clear();
    expect(messages).toHaveLength(20);
    expect(inner.hits).toBe(3);
    expect(outer.hits).toBe(1);
    const requests = fake.requests.slice(before);
    expect(requests.filter((r) => r.kind === 'messages').map((r) => r.status)).toEqual([503, 200]);
    // The second batch resends only what the first did not answer (the throttled requests and
    // those chained after them), never an answered one.
    const batches = requests.filter((r) => r.kind === 'batch');
    expect(batches).toHaveLength(2);
    const answered = (b: LoggedRequest) => b.inner!.filter((r) => r.status === 200).map((r) => r.query.$filter);
    expect(batches[0]!.inner!.filter((r) => r.status === 429)).toHaveLength(3);
    expect(batches[1]!.inner!.every((r) => r.status === 200)).toBe(true);
    expect(answered(batches[1]!).filter((f) => answered(batches[0]!).includes(f))).toEqual([]);
    expect(new Set([...answered(batches[0]!), ...answered(batches[1]!)]).size).toBe(10);
  }, 30_000);

  it('a conversation whose $batch request keeps failing nulls only its own node, with an error naming the mailbox', async () => {
    const seen = await collectMessages(gateway, mailboxIds.get(TEN)!);
    const [first, second] = [seen[0]!, seen[2]!];
    const conversationOf = async (messageId: string) => {
      const answer = await gateway.graphql<{ node: { conversation: { id: string } } }>(`{ node(id: "${messageId}") { ... on Message { conversation { id } } } }`);
      return answer.data!.node.conversation.id;
    };
    const ids = [await conversationOf(first.id), await conversationOf(second.id)];
    const failing = decodeNodeId('Conversation', ids[1]!).at(-1)!;
    fake.faults.add({ path: '/v1.0/me/messages', inBatch: true, query: { $filter: `conversationId eq '${failing}'` } }, { error: 'internal' }, Infinity);
    const before = fake.requests.length;
    // Two node fields of one request: one loader batch, one $batch POST with both requests.
    const answer = await gateway.graphql<{ a: { id: string } | null; b: { id: string } | null }>(`query($a: ID!, $b: ID!) { a: node(id: $a) { ... on Conversation { id } } b: node(id: $b) { ... on Conversation { id } } }`, { a: ids[0], b: ids[1] });
    fake.faults.clear();
    expect(answer.data, JSON.stringify(answer.errors)).toEqual({ a: { id: ids[0] }, b: null });
    expect(answer.errors).toHaveLength(1);
    expect(answer.errors![0]!.extensions).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', provider: 'MICROSOFT_GRAPH', mailboxId: mailboxIds.get(TEN) });
    expect((answer.errors![0] as { path?: unknown[] }).path).toEqual(['b']);
    const batches = fake.requests.slice(before).filter((r) => r.kind === 'batch');
    expect(batches[0]!.inner!.map((r) => r.query.$filter).sort()).toEqual([`conversationId eq '${decodeNodeId('Conversation', ids[0]!).at(-1)}'`, `conversationId eq '${failing}'`].sort());
  }, 30_000);

  it('a body cut upstream cuts the client download', async () => {
    const [message] = await collectMessages(gateway, mailboxIds.get(LARGE)!);
    const attachment = message!.attachments[0]!;
    fake.faults.add({ path: '/v1.0/me/messages/*/attachments/*/$value' }, { cutAfterBytes: 1024 * 1024 });
    const response = await fetch(signedUrlOf(attachment));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(large.length));
    let received = 0;
    let failed = false;
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) received += chunk.byteLength;
    } catch {
      failed = true;
    }
    expect(failed).toBe(true);
    expect(received).toBeLessThan(large.length);
  });

  it('a client that goes away stops the upstream read', async () => {
    const [message] = await collectMessages(gateway, mailboxIds.get(LARGE)!);
    fake.faults.add({ path: '/v1.0/me/messages/*/attachments/*/$value' }, { chunkDelayMs: 20 });
    const controller = new AbortController();
    const response = await fetch(signedUrlOf(message!.attachments[0]!), { signal: controller.signal });
    const reader = response.body!.getReader();
    await reader.read();
    const read = valueReads.at(-1)!;
    controller.abort();
    await expect.poll(() => read.cancelled, { timeout: 10_000 }).toBe(true);
    expect(read.ended).toBe(false);
    expect(read.bytes).toBeLessThan(large.length);
    // The mailbox's slots are free again: four downloads at once all complete.
    const all = await Promise.all(Array.from({ length: 4 }, () => download(signedUrlOf(message!.attachments[0]!))));
    expect(all.map((d) => d.bytes)).toEqual([large.length, large.length, large.length, large.length]);
  }, 30_000);
});
