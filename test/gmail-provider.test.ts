/**
 * The Gmail provider (src/providers/gmail/provider.ts) against the fake Gmail API and OAuth server
 * (test/support/fake-gmail): listing through threads.list + batched threads.get, mapping through
 * the shared MIME policy, downloads through attachments.get after the listed ids expired, the
 * retry of a 429 inside a batch, the revoked grant, a cut body, zero-byte and inlined parts.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGatewayError } from '../src/errors.ts';
import { createGmailProvider } from '../src/providers/gmail/provider.ts';
import { searchQuery } from '../src/providers/gmail/provider.ts';
import type { MailboxCredentials, MailProvider } from '../src/providers/types.ts';
import { createLogger } from '../src/logger.ts';
import { startFakeGmail, type FakeGmail } from './support/fake-gmail/index.ts';
import { mailWithAttachment } from './support/mail.ts';
import { loaded } from './support/loaded.ts';

const OWNER = 'owner@fake-gmail.test';
const REVOKED = 'revoked@fake-gmail.test';

let fake: FakeGmail;
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

/** A recording credential writer. */
function writer(): MailboxCredentials & { saved: Record<string, string>[]; marks: string[] } {
  const saved: Record<string, string>[] = [];
  const marks: string[] = [];
  return {
    saved,
    marks,
    save: async (c) => {
      saved.push(c);
    },
    markNeedsReconsent: async (reason) => {
      marks.push(reason);
    },
  };
}

function provider(address: string, credentials = writer(), refreshToken = fake.refreshToken(address)): MailProvider {
  return createGmailProvider(
    { id: address, workspaceId: 'w', provider: 'GMAIL', address, displayName: null, settings: {}, credentials: { refreshToken } },
    {
      dataDir: os.tmpdir(),
      logger: createLogger('silent'),
      credentials,
      google: { apiRoot: fake.origin, tokenUrl: fake.tokenUrl, authUrl: fake.authUrl, clientId: fake.client.clientId, clientSecret: fake.client.clientSecret },
    },
  );
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

async function failureOf(p: Promise<unknown>): Promise<{ code?: string; retryAfter?: number }> {
  try {
    await p;
  } catch (e) {
    if (isGatewayError(e)) return { code: e.code, retryAfter: e.retryAfter };
    throw e;
  }
  throw new Error('expected a failure');
}

const pdf = crypto.randomBytes(300_000);
const tiny = Buffer.from('tiny text attachment\n');

beforeAll(async () => {
  fake = await startFakeGmail({ addresses: [OWNER, REVOKED] });
  fake.add(mailWithAttachment({ subject: 'Report', filename: 'report.pdf', bytes: pdf, contentType: 'application/pdf', date: 'Tue, 01 Dec 2026 10:00:00 +0000' }));
  fake.add({
    raw: Buffer.from(
      mailWithAttachment({ subject: 'Re: Report', messageId: 'reply@example.test', filename: 'notes.txt', bytes: tiny, contentType: 'text/plain', date: 'Tue, 01 Dec 2026 11:00:00 +0000' })
        .toString('latin1')
        .replace('MIME-Version', 'In-Reply-To: <Report@example.test>\r\nMIME-Version'),
      'latin1',
    ),
    sent: true,
  });
  // The reply names the first message, so the fake threads them together.
  const box = fake.mailbox();
  const reply = box.allMessages().find((m) => m.subject === 'Re: Report')!;
  expect(reply).toBeDefined();
  fake.add(
    Buffer.from(
      [
        'From: Carol <carol@example.test>',
        'To: owner@fake-gmail.test',
        'Subject: =?UTF-8?B?w6l0w6k=?= empty',
        'Message-ID: <empty@example.test>',
        'Date: Wed, 02 Dec 2026 09:00:00 +0000',
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="z"',
        '',
        '--z',
        'Content-Type: text/plain',
        '',
        'An empty file and a name in RFC 2231.',
        '--z',
        'Content-Type: application/octet-stream',
        "Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.bin",
        'Content-Transfer-Encoding: base64',
        '',
        '',
        '--z--',
        '',
      ].join('\r\n'),
    ),
  );
  fake.add(mailWithAttachment({ subject: 'Other mailbox', filename: 'x.bin', bytes: Buffer.from('x') }), REVOKED);
});

afterAll(async () => {
  await fake?.close();
});

describe('Gmail provider', () => {
  it('lists threads as conversations, maps messages and attachments, and downloads byte-exact after the listed ids expired', async () => {
    const p = provider(OWNER);
    const page = await p.listConversations({ first: 10 });
    expect(page.hasNextPage).toBe(false);
    expect(page.items.map((c) => c.subject)).toEqual(['=?UTF-8?B?w6l0w6k=?= empty'.replace(/=\?.*\?=/, 'été'), 'Report']);
    const report = page.items[1]!;
    expect(report.messageKeys).toHaveLength(2);
    expect(report.hasAttachments).toBe(true);
    const [first, reply] = loaded(await p.loadMessages(report.messageKeys));
    expect(first!.direction).toBe('RECEIVED');
    expect(reply!.direction).toBe('SENT');
    expect(reply!.conversationKey).toBe(report.key);
    expect(first!.from).toEqual({ name: 'Alice', address: 'alice@example.test' });
    expect(first!.attachments).toMatchObject([{ filename: 'report.pdf', contentType: 'application/pdf', size: pdf.length, sizeExact: true, disposition: 'ATTACHMENT', kind: 'FILE' }]);
    const att = first!.attachments[0]!;
    expect(att.providerRef).toMatchObject({ messageId: first!.key, partId: att.partId });

    fake.attachmentIds.expireAll();
    const before = fake.requests.length;
    const content = await p.openAttachment(first!.key, att.partId);
    expect(content.size).toBe(pdf.length);
    expect(content.filename).toBe('report.pdf');
    expect(sha(await readAll(content.stream))).toBe(sha(pdf));
    // One messages.get for a current id, one attachments.get.
    expect(fake.requests.slice(before).map((r) => r.path.replace(/[^/]{20,}/g, 'ID'))).toEqual([`/gmail/v1/users/me/messages/${first!.key}`, `/gmail/v1/users/me/messages/${first!.key}/attachments/ID`]);

    const small = await p.openAttachment(reply!.key, reply!.attachments[0]!.partId);
    expect((await readAll(small.stream)).equals(tiny)).toBe(true);
    await p.close();
  });

  it('lists a zero-byte part with its RFC 2231 name and serves it empty without an attachments.get', async () => {
    const p = provider(OWNER);
    const page = await p.listConversations({ first: 10, filter: { search: 'empty' } });
    expect(page.items).toHaveLength(1);
    const [m] = loaded(await p.loadMessages(page.items[0]!.messageKeys));
    expect(m!.attachments).toMatchObject([{ filename: 'résumé.bin', size: 0, sizeExact: true }]);
    expect(m!.attachments[0]!.providerRef).not.toHaveProperty('attachmentId');
    const before = fake.requests.length;
    const content = await p.openAttachment(m!.key, m!.attachments[0]!.partId);
    expect(content.size).toBe(0);
    expect((await readAll(content.stream)).length).toBe(0);
    expect(fake.requests.length).toBe(before);
  });

  it('re-reads the message once when attachments.get says the id is stale', async () => {
    const p = provider(OWNER);
    const page = await p.listConversations({ first: 10, filter: { search: 'report.pdf' } });
    const [m] = loaded(await p.loadMessages([page.items[0]!.messageKeys[0]!]));
    const rule = fake.faults.add({ path: '/gmail/v1/users/me/messages/*/attachments/*' }, { error: 'invalidAttachmentToken' });
    const before = fake.requests.length;
    const content = await p.openAttachment(m!.key, m!.attachments[0]!.partId);
    expect(sha(await readAll(content.stream))).toBe(sha(pdf));
    expect(rule.hits).toBe(1);
    expect(fake.requests.slice(before).map((r) => r.path.split('/').length)).toEqual([7, 9, 7, 9]);
  });

  it('retries a 429 inside a batch and answers the whole page', async () => {
    const p = provider(OWNER);
    const rule = fake.faults.add({ path: '/gmail/v1/users/me/threads/*', inBatch: true }, { error: 'rateLimitExceeded', retryAfter: 1 });
    const before = fake.requests.length;
    const page = await p.listConversations({ first: 10 });
    expect(rule.hits).toBe(1);
    expect(page.items).toHaveLength(2);
    const batches = fake.requests.slice(before).filter((r) => r.path === '/batch/gmail/v1');
    expect(batches.map((b) => b.inner!.length)).toEqual([2, 1]);
  });

  it('answers PROVIDER_THROTTLED with retryAfter when Gmail keeps throttling', async () => {
    const p = provider(OWNER);
    fake.faults.add({ path: '/gmail/v1/users/me/threads', inBatch: false }, { error: 'rateLimitExceeded', retryAfter: 120 }, 5);
    const failure = await failureOf(p.listConversations({ first: 5 }));
    fake.faults.clear();
    expect(failure).toEqual({ code: 'PROVIDER_THROTTLED', retryAfter: 120 });
  });

  it('a revoked refresh token answers PROVIDER_AUTH_FAILED and marks the mailbox once, without retrying the token endpoint', async () => {
    const credentials = writer();
    const token = fake.refreshToken(REVOKED);
    fake.oauth.revoke(token);
    const p = provider(REVOKED, credentials, token);
    const before = fake.requests.filter((r) => r.path === '/token').length;
    expect((await failureOf(p.listConversations({ first: 5 }))).code).toBe('PROVIDER_AUTH_FAILED');
    expect((await failureOf(p.loadMessages(['18c0ffee']))).code).toBe('PROVIDER_AUTH_FAILED');
    expect(fake.requests.filter((r) => r.path === '/token').length - before).toBe(1);
    expect(credentials.marks).toHaveLength(1);
    expect(credentials.marks[0]).toMatch(/invalid_grant/);
    expect(fake.requests.filter((r) => r.path.startsWith('/gmail/') && r.headers.authorization?.includes(token)).length).toBe(0);
  });

  it('a body cut upstream fails the stream before its last byte', async () => {
    const p = provider(OWNER);
    const page = await p.listConversations({ first: 10, filter: { search: 'report.pdf' } });
    const [m] = loaded(await p.loadMessages([page.items[0]!.messageKeys[0]!]));
    fake.faults.add({ path: '/gmail/v1/users/me/messages/*/attachments/*' }, { cutAfterBytes: 100_000 });
    const content = await p.openAttachment(m!.key, m!.attachments[0]!.partId);
    let received = 0;
    const error = await (async () => {
      try {
        for await (const c of content.stream) received += (c as Buffer).length;
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(error).not.toBeNull();
    expect(received).toBeLessThan(pdf.length);
  });

  it('refuses malformed keys and cursors without a call', async () => {
    const p = provider(OWNER);
    const before = fake.requests.length;
    expect(loaded(await p.loadMessages(['../x', '']))).toEqual([null, null]);
    expect(loaded(await p.loadConversations(['a b']))).toEqual([null]);
    expect((await failureOf(p.openAttachment('abc', '1/2'))).code).toBe('NOT_FOUND');
    expect((await failureOf(p.listConversations({ first: 5, after: 'bad token' }))).code).toBe('BAD_USER_INPUT');
    expect(fake.requests.length).toBe(before);
  });

  it("stops its upstream work when the request's signal aborts", async () => {
    const p = provider(OWNER);
    await p.listConversations({ first: 1 });
    fake.faults.add({ path: '/gmail/v1/users/me/threads', inBatch: false }, { delayMs: 5000 });
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('client gone')), 50);
    await expect(p.listConversations({ first: 5 }, { signal: controller.signal })).rejects.toThrow('client gone');
    expect(Date.now() - started).toBeLessThan(2000);
    fake.faults.clear();
  });

  it('filters by attachments and date with q and checks the threads read with the shared policy', async () => {
    const p = provider(OWNER);
    fake.add(Buffer.from('From: a@example.test\r\nTo: owner@fake-gmail.test\r\nSubject: Plain\r\nMessage-ID: <plain@example.test>\r\nDate: Thu, 03 Dec 2026 09:00:00 +0000\r\n\r\nNo attachment.\r\n'));
    const before = fake.requests.length;
    const withAttachments = await p.listConversations({ first: 10, filter: { hasAttachments: true } });
    expect(withAttachments.items.map((c) => c.subject).sort()).toEqual(['Report', 'été empty']);
    expect(fake.requests.slice(before).find((r) => r.path === '/gmail/v1/users/me/threads')!.query.q).toBe('has:attachment');
    const without = await p.listConversations({ first: 10, filter: { hasAttachments: false } });
    expect(without.items.map((c) => c.subject)).toEqual(['Plain']);
    const since = await p.listConversations({ first: 10, filter: { since: new Date('2026-12-02T00:00:00Z') } });
    expect(since.items.map((c) => c.subject)).toEqual(['Plain', 'été empty']);
  });

  it('builds q from the filter with user words quoted', () => {
    expect(searchQuery({ hasAttachments: true, since: new Date('2026-12-01T00:00:00Z'), search: 'in:trash "x" report' })).toBe('has:attachment after:1796083200 "in:trash" "x" "report"');
    expect(searchQuery({})).toBeUndefined();
  });
});
