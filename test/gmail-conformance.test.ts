/**
 * The Gmail provider through the real gateway (real HTTP on loopback, a real SQLite store, GMAIL
 * mailboxes stored with refresh tokens) against the fake Gmail API and OAuth server:
 *
 * - the corpus conformance of the core: every manifest attachment (`expectedAttachments`) listed
 *   with its metadata and downloaded byte-exact through its signed URL, after every attachmentId
 *   seen while listing has expired;
 * - upstream requests of a 10- and a 50-thread query (messages and attachments) are the same
 *   number: one token call, one threads.list, one batch;
 * - a revoked refresh token nulls that mailbox's field only, with PROVIDER_AUTH_FAILED, and marks
 *   the mailbox as needing re-consent;
 * - a body cut upstream cuts the client's download.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtDecrypt } from 'jose';
import { decodeNodeId } from '../src/ids.ts';
import { deriveDownloadKey, encryptCompact } from '../src/signing.ts';
import { corpusDir, expectedAttachments, hasCorpus, loadManifest, manifestEntry } from './support/corpus.ts';
import { startFakeGmail, type FakeGmail } from './support/fake-gmail/index.ts';
import { collectMessages, download, E2E_SECRET, signedUrlOf, startE2eGateway, type E2eGateway, type SeenMessage } from './support/gateway-e2e.ts';
import { mailWithAttachment } from './support/mail.ts';

const CORPUS = 'corpus@fake-gmail.test';
const TEN = 'ten@fake-gmail.test';
const FIFTY = 'fifty@fake-gmail.test';
const REVOKED = 'revoked@fake-gmail.test';
const LARGE = 'large@fake-gmail.test';
const large = Buffer.alloc(2 * 1024 * 1024, 7);

let fake: FakeGmail;
let gateway: E2eGateway;
/** Mailbox global IDs by address. */
const mailboxIds = new Map<string, string>();
/** Corpus file of each Gmail message id. */
const fileOfGmailId = new Map<string, string>();

/** Adds `threads` two-message threads, each message with one attachment. */
function fillThreads(address: string, threads: number): void {
  for (let t = 0; t < threads; t++) {
    const subject = `Thread ${address} ${t}`;
    const id = `t${t}.${address}`;
    fake.add(mailWithAttachment({ subject, messageId: id, filename: `a${t}.bin`, bytes: Buffer.alloc(2000 + t, t) }), address);
    const reply = mailWithAttachment({ subject: `Re: ${subject}`, messageId: `r${t}.${address}`, filename: `b${t}.bin`, bytes: Buffer.alloc(1000 + t, t + 1), date: 'Tue, 01 Dec 2026 12:00:00 +0000' })
      .toString('latin1')
      .replace('MIME-Version', `In-Reply-To: <${id}>\r\nMIME-Version`);
    fake.add({ raw: Buffer.from(reply, 'latin1'), sent: true }, address);
  }
}

beforeAll(async () => {
  fake = await startFakeGmail({ addresses: [CORPUS, TEN, FIFTY, REVOKED, LARGE] });
  if (hasCorpus) {
    for (const entry of loadManifest()) {
      const stored = fake.add({ raw: fs.readFileSync(path.join(corpusDir, entry.file)), internalDate: Date.UTC(2025, 0, 1) + fileOfGmailId.size * 60_000 }, CORPUS);
      fileOfGmailId.set(stored.id, entry.file);
    }
  }
  fillThreads(TEN, 10);
  fillThreads(FIFTY, 50);
  fake.add(mailWithAttachment({ subject: 'Large', filename: 'large.bin', bytes: large }), LARGE);
  fake.add(mailWithAttachment({ subject: 'Revoked', filename: 'r.bin', bytes: Buffer.from('r') }), REVOKED);
  gateway = await startE2eGateway({
    GOOGLE_API_ROOT: fake.origin,
    GOOGLE_TOKEN_URL: fake.tokenUrl,
    GOOGLE_CLIENT_ID: fake.client.clientId,
    GOOGLE_CLIENT_SECRET: fake.client.clientSecret,
  });
  for (const address of [CORPUS, TEN, FIFTY, REVOKED, LARGE]) {
    const refreshToken = fake.refreshToken(address);
    if (address === REVOKED) fake.oauth.revoke(refreshToken);
    await gateway.addMailbox({ provider: 'GMAIL', address, displayName: address, settings: {}, credentials: { refreshToken } });
  }
  const listed = await gateway.graphql<{ mailboxes: { id: string; address: string }[] }>('{ mailboxes { id address } }');
  for (const m of listed.data!.mailboxes) mailboxIds.set(m.address, m.id);
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await fake?.close();
});

describe.skipIf(!hasCorpus)('Gmail corpus conformance through the gateway', () => {
  let messages: SeenMessage[];
  const fileOf = (m: SeenMessage) => fileOfGmailId.get(decodeNodeId('Message', m.id)[1]!)!;

  beforeAll(async () => {
    messages = await collectMessages(gateway, mailboxIds.get(CORPUS)!);
  }, 60_000);

  it('shows every corpus message once', () => {
    expect(messages.map(fileOf).sort()).toEqual(loadManifest().map((e) => e.file).sort());
  });

  it('lists exactly the expected attachments of every message, sizes exact', () => {
    for (const message of messages) {
      const expected = expectedAttachments(manifestEntry(path.basename(fileOf(message))));
      const seen = message.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, size: a.size, contentId: a.contentId, disposition: a.disposition }));
      expect(seen, fileOf(message)).toEqual(expected.map((e) => ({ filename: e.filename, contentType: e.contentType, size: e.size, contentId: e.contentId, disposition: e.disposition })));
      for (const a of message.attachments) expect(a.sizeExact, fileOf(message)).toBe(true);
    }
  });

  it('downloads every attachment byte-exact through its signed URL after the listed attachmentIds expired', async () => {
    fake.attachmentIds.expireAll();
    const jobs = messages.flatMap((message) => {
      const expected = expectedAttachments(manifestEntry(path.basename(fileOf(message))));
      return message.attachments.map((a, i) => async () => {
        const got = await download(signedUrlOf(a));
        expect(got.status, `${fileOf(message)} ${a.filename}`).toBe(200);
        expect(got.sha256, `${fileOf(message)} ${a.filename}`).toBe(expected[i]!.sha256);
        expect(got.contentLength).toBe(String(expected[i]!.size));
      });
    });
    // Four at a time: each download now costs three upstream requests (the listed id is stale).
    for (let at = 0; at < jobs.length; at += 4) await Promise.all(jobs.slice(at, at + 4).map((job) => job()));
    const count = jobs.length;
    expect(count).toBe(loadManifest().reduce((n, e) => n + expectedAttachments(manifestEntry(path.basename(e.file))).length, 0));
    expect(count).toBeGreaterThan(0);
  }, 60_000);
});

describe('Gmail through the gateway', () => {
  it('costs the same upstream requests for a 10- and a 50-thread query with messages and attachments', async () => {
    const counted = async (address: string) => {
      const before = fake.requests.length;
      const messages = await collectMessages(gateway, mailboxIds.get(address)!);
      const requests = fake.requests.slice(before);
      return { messages, outer: requests.map((r) => r.path.replace(/\/threads$/, '/threads (list)')) };
    };
    const ten = await counted(TEN);
    const fifty = await counted(FIFTY);
    expect(ten.messages).toHaveLength(20);
    expect(fifty.messages).toHaveLength(100);
    expect(fifty.messages.filter((m) => m.direction === 'SENT')).toHaveLength(50);
    expect(fifty.messages.every((m) => m.attachments.length === 1 && m.attachments[0]!.sizeExact)).toBe(true);
    expect(ten.outer).toEqual(['/token', '/gmail/v1/users/me/threads (list)', '/batch/gmail/v1']);
    expect(fifty.outer).toEqual(ten.outer);
  });

  it('a download costs one upstream request with the listed attachmentId, three once it expired (get, messages.get, get), two for a URL minted without the hint', async () => {
    const [message] = await collectMessages(gateway, mailboxIds.get(TEN)!);
    const attachment = message!.attachments[0]!;
    const url = signedUrlOf(attachment);
    /** Downloads `u` and names the upstream requests it cost. */
    const costOf = async (u: string) => {
      const before = fake.requests.length;
      const got = await download(u);
      expect(got.status).toBe(200);
      expect(got.bytes).toBe(attachment.size);
      return { got, calls: fake.requests.slice(before).map((r) => (/\/attachments\/[^/]+$/.test(r.path) ? 'attachments.get' : /\/messages\/[^/]+$/.test(r.path) ? 'messages.get' : `${r.method} ${r.path}`)) };
    };
    const fresh = await costOf(url);
    expect(fresh.calls).toEqual(['attachments.get']);
    fake.attachmentIds.expireAll();
    const expired = await costOf(url);
    expect(expired.calls).toEqual(['attachments.get', 'messages.get', 'attachments.get']);
    expect(expired.got.sha256).toBe(fresh.got.sha256);

    // A URL of an earlier version (no hint in its token) is served too, by messages.get first.
    const key = deriveDownloadKey(E2E_SECRET);
    const token = new URL(url).pathname.split('/').pop()!;
    const { payload } = await jwtDecrypt(token, key);
    const [messageKey, partId] = payload.a as string[];
    const old = encryptCompact({ ...payload, a: [messageKey, partId] }, key);
    expect(old.length).toBeLessThan(token.length);
    const legacy = await costOf(`${gateway.url}/attachments/${old}`);
    expect(legacy.calls).toEqual(['messages.get', 'attachments.get']);
    for (const header of ['contentType', 'contentLength', 'contentDisposition', 'sha256'] as const) expect(legacy.got[header]).toBe(fresh.got[header]);
  });

  it('a revoked refresh token nulls only that mailbox, answers PROVIDER_AUTH_FAILED and marks it as needing re-consent', async () => {
    const query = '{ mailboxes { address needsReconsent conversations(first: 5) { edges { node { subject } } } } }';
    const answer = await gateway.graphql<{ mailboxes: { address: string; needsReconsent: boolean; conversations: { edges: unknown[] } | null }[] }>(query);
    const byAddress = new Map(answer.data!.mailboxes.map((m, i) => [m.address, { ...m, i }]));
    expect(byAddress.get(REVOKED)!.conversations).toBeNull();
    expect(byAddress.get(TEN)!.conversations!.edges).toHaveLength(5);
    expect(answer.errors).toHaveLength(1);
    expect(answer.errors![0]!.extensions).toMatchObject({ code: 'PROVIDER_AUTH_FAILED', provider: 'GMAIL' });
    expect((answer.errors![0] as { path?: unknown[] }).path).toEqual(['mailboxes', byAddress.get(REVOKED)!.i, 'conversations']);
    const again = await gateway.graphql<{ mailboxes: { address: string; needsReconsent: boolean }[] }>('{ mailboxes { address needsReconsent } }');
    expect(again.data!.mailboxes.filter((m) => m.needsReconsent).map((m) => m.address)).toEqual([REVOKED]);
  });

  it('a download Gmail keeps throttling answers 503 PROVIDER_THROTTLED with its Retry-After, and one Gmail cannot serve 502', async () => {
    const [message] = await collectMessages(gateway, mailboxIds.get(TEN)!);
    const url = signedUrlOf(message!.attachments[0]!);
    const throttle = fake.faults.add({ path: '/gmail/v1/users/me/messages/*/attachments/*' }, { error: 'rateLimitExceeded', retryAfter: 90 }, 5);
    const throttled = await fetch(url);
    expect(throttled.status).toBe(503);
    expect(throttled.headers.get('retry-after')).toBe('90');
    expect(((await throttled.json()) as { code: string }).code).toBe('PROVIDER_THROTTLED');
    expect(throttle.hits).toBe(1);
    fake.faults.clear();
    fake.faults.add({ path: '/gmail/v1/users/me/messages/*/attachments/*' }, { status: 500, body: { error: { code: 500, message: 'Backend Error', status: 'INTERNAL' } } }, 10);
    const failed = await fetch(url);
    expect(failed.status).toBe(502);
    expect(((await failed.json()) as { code: string }).code).toBe('PROVIDER_UNAVAILABLE');
    fake.faults.clear();
    const ok = await download(url);
    expect(ok.status).toBe(200);
    expect(ok.bytes).toBe(message!.attachments[0]!.size);
  }, 30_000);

  it('a body cut upstream cuts the client download', async () => {
    const [message] = await collectMessages(gateway, mailboxIds.get(LARGE)!);
    const attachment = message!.attachments[0]!;
    expect(attachment.size).toBe(large.length);
    fake.faults.add({ path: '/gmail/v1/users/me/messages/*/attachments/*' }, { cutAfterBytes: 1024 * 1024 });
    const response = await fetch(signedUrlOf(attachment));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(attachment.size));
    let received = 0;
    let failed = false;
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) received += chunk.byteLength;
    } catch {
      failed = true;
    }
    expect(failed).toBe(true);
    expect(received).toBeLessThan(attachment.size!);
  });
});
