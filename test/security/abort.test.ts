/**
 * Cancellation and the request deadline, through real HTTP on loopback. One AbortSignal per
 * request (the client's connection and the deadline) reaches every provider call; once it aborts
 * no provider call starts, a provider that honours it stops at once, and at the deadline the
 * client gets DEADLINE_EXCEEDED (HTTP 504) whatever the provider does. The LOCAL provider honours
 * the signal (waits, scans, file opens).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createLocalProvider } from '../../src/providers/local/provider.ts';
import { rssMiB, setupLimitsGateway } from '../support/limits-gateway.ts';
import { silentLogger } from '../support/logger.ts';
import { createSlowProvider, type SlowProvider } from '../support/slow-provider.ts';
import { loaded } from '../support/loaded.ts';

/** Every level waits on the provider: listConversations, then loadMessages, then loadConversations. */
const NESTED = `{ mailboxes { conversations(first: 5) { edges { node { subject
  messages { edges { node { subject conversation { subject } } } } } } } } }`;

async function setup(provider: SlowProvider, env: Record<string, string> = {}) {
  const t = await setupLimitsGateway({ provider, env, listen: true });
  const url = t.url!;
  const ask = (signal?: AbortSignal) =>
    fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${t.key}` },
      body: JSON.stringify({ query: NESTED }),
      ...(signal ? { signal } : {}),
    });
  return { ...t, url, ask };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a client that goes away', () => {
  it.each([
    { honourSignal: true, label: 'a provider that honours the signal stops at once' },
    { honourSignal: false, label: 'a provider that ignores it finishes, and nothing starts after it' },
  ])('probe: leaves after 200 ms; $label', async ({ honourSignal }) => {
    const provider = createSlowProvider({ delayMs: 600, honourSignal });
    const t = await setup(provider);
    const rssBefore = rssMiB();
    const client = new AbortController();
    const started = performance.now();
    const pending = t.ask(client.signal).catch((error: unknown) => error);
    await sleep(200);
    client.abort();
    const leftAt = performance.now();
    expect(await pending).toBeInstanceOf(Error);
    // Longer than the provider's 600 ms wait and the two levels that would follow it.
    await sleep(1500);
    const rssAfter = rssMiB();
    const first = provider.calls[0]!;
    console.log(
      `probe aborted-request (${honourSignal ? 'honouring' : 'ignoring'} provider): signal aborted ${(first.abortedAt! - leftAt).toFixed(1)} ms after the client left ` +
        `(${(leftAt - started).toFixed(0)} ms in), ${provider.calls.length} provider call(s), RSS ${rssBefore} -> ${rssAfter} MiB`,
    );
    expect(provider.calls.map((c) => c.method)).toEqual(['listConversations']);
    expect(first.signal).toBeInstanceOf(AbortSignal);
    expect(first.abortedAt).not.toBeNull();
    expect(first.abortedAt! - leftAt).toBeLessThan(500);
    expect((first.reason as Error).name).toBe('AbortError');
    expect(provider.calls.every((c) => c.startedAt < leftAt)).toBe(true);
    // Healthy afterwards: /health answers and a full query still works.
    expect((await fetch(`${t.url}/health`)).status).toBe(200);
    const again = await t.ask();
    expect(again.status).toBe(200);
    const body = (await again.json()) as { data: { mailboxes: { conversations: { edges: unknown[] } }[] } };
    expect(body.data.mailboxes[0]!.conversations.edges).toHaveLength(5);
  });
});

describe('the request deadline', () => {
  it.each([
    { honourSignal: true, label: 'honours' },
    { honourSignal: false, label: 'ignores' },
  ])('probe: REQUEST_DEADLINE_MS=1000 answers 504 DEADLINE_EXCEEDED in time when the provider $label the signal', async ({ honourSignal }) => {
    const provider = createSlowProvider({ delayMs: 5000, honourSignal });
    const t = await setup(provider, { REQUEST_DEADLINE_MS: '1000' });
    const rssBefore = rssMiB();
    const started = performance.now();
    const response = await t.ask();
    const ms = performance.now() - started;
    const body = (await response.json()) as { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] };
    console.log(`probe deadline-1s (${honourSignal ? 'honouring' : 'ignoring'} provider): ${response.status} in ${ms.toFixed(0)} ms, RSS ${rssBefore} -> ${rssMiB()} MiB`);
    expect(response.status).toBe(504);
    expect(body.data ?? null).toBeNull();
    expect(body.errors?.map((e) => e.extensions?.code)).toEqual(['DEADLINE_EXCEEDED']);
    expect(ms).toBeGreaterThanOrEqual(950);
    expect(ms).toBeLessThan(2500);
    const call = provider.calls[0]!;
    expect(call.abortedAt).not.toBeNull();
    expect(call.reason).toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect(provider.calls).toHaveLength(1);
    expect((await fetch(`${t.url}/health`)).status).toBe(200);
  });

  it('leaves requests that finish in time alone', async () => {
    const provider = createSlowProvider({ delayMs: 50, honourSignal: true });
    const t = await setup(provider, { REQUEST_DEADLINE_MS: '1000' });
    const response = await t.ask();
    expect(response.status).toBe(200);
    expect(((await response.json()) as { errors?: unknown }).errors).toBeUndefined();
    expect(provider.calls.every((c) => c.abortedAt === null)).toBe(true);
  });
});

describe('the LOCAL provider honours the signal', () => {
  /** An mbox of `n` one-message conversations, indexed. */
  async function localProvider(n: number) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-abort-local-'));
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
    const lines: string[] = [];
    for (let i = 0; i < n; i++) {
      lines.push(
        `From sender@example.org Mon Jan  1 00:00:00 2024`,
        `From: Sender <sender@example.org>`,
        `To: me@example.org`,
        `Subject: Message ${i}`,
        `Message-ID: <m${i}@example.org>`,
        `Date: Mon, 1 Jan 2024 00:00:${String(i % 60).padStart(2, '0')} +0000`,
        `Content-Type: multipart/mixed; boundary=b`,
        ``,
        `--b`,
        `Content-Type: text/plain`,
        ``,
        `body ${i}`,
        `--b`,
        `Content-Type: application/octet-stream`,
        `Content-Disposition: attachment; filename=f${i}.bin`,
        ``,
        `data`,
        `--b--`,
        ``,
      );
    }
    const mbox = path.join(dir, 'store.mbox');
    fs.writeFileSync(mbox, lines.join('\n'));
    const provider = createLocalProvider(
      { id: 'mbx', workspaceId: 'ws', provider: 'LOCAL', address: 'me@example.org', displayName: null, settings: { path: mbox }, credentials: null },
      { dataDir: dir, logger: silentLogger() },
    );
    await provider.prepare!();
    onTestFinished(() => provider.close());
    return provider;
  }

  it('rejects every read with the reason of an aborted signal', async () => {
    const provider = await localProvider(3);
    const reason = new DOMException('The client went away', 'AbortError');
    const signal = AbortSignal.abort(reason);
    const page = await provider.listConversations({ first: 10 });
    const messageKey = page.items[0]!.messageKeys[0]!;
    const [message] = loaded(await provider.loadMessages([messageKey]));
    await expect(provider.listConversations({ first: 10 }, { signal })).rejects.toBe(reason);
    await expect(provider.loadConversations([page.items[0]!.key], { signal })).rejects.toBe(reason);
    await expect(provider.loadMessages([messageKey], { signal })).rejects.toBe(reason);
    await expect(provider.openAttachment(messageKey, message!.attachments[0]!.partId, { signal })).rejects.toBe(reason);
  });

  it('stops a scan of the whole store when the signal aborts during it', async () => {
    const provider = await localProvider(3000);
    const controller = new AbortController();
    const reason = new DOMException('The client went away', 'AbortError');
    const started = performance.now();
    const scan = provider.listConversations({ first: 100, filter: { search: 'no message has this' } }, { signal: controller.signal });
    setImmediate(() => controller.abort(reason));
    await expect(scan).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(1000);
    // Without an abort the same scan finds nothing, and it still works afterwards.
    expect((await provider.listConversations({ first: 100, filter: { search: 'no message has this' } })).items).toEqual([]);
  });

  it('destroys a download stream when the signal aborts mid-stream', async () => {
    const provider = await localProvider(1);
    const page = await provider.listConversations({ first: 1 });
    const [message] = loaded(await provider.loadMessages([page.items[0]!.messageKeys[0]!]));
    const controller = new AbortController();
    const content = await provider.openAttachment(message!.key, message!.attachments[0]!.partId, { signal: controller.signal });
    const reason = new DOMException('gone', 'AbortError');
    controller.abort(reason);
    await expect(
      (async () => {
        for await (const _chunk of content.stream) {
          // drained until the abort destroys the stream
        }
      })(),
    ).rejects.toBe(reason);
    expect(content.stream.destroyed).toBe(true);
  });
});
