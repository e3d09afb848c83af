/**
 * The fake Gmail API + Google OAuth server (test/support/fake-gmail) driven by the REAL googleapis
 * client: resources, formats and masks, paging and search, the corpus byte-exact through
 * attachments.get, ephemeral attachment ids, the batch endpoint, every OAuth grant and the
 * injected faults as a client sees them. gaxios' own retries are off (`retry: false`) wherever
 * requests are counted.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { google, type gmail_v1 } from 'googleapis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusDir, expectedAttachments, hasCorpus, loadManifest } from './support/corpus.ts';
import { applyFieldMask, parseFieldMask } from './support/fake-gmail/fields.ts';
import { startFakeGmail, type FakeGmail, type StoredMessage } from './support/fake-gmail/index.ts';

const REDIRECT = 'http://127.0.0.1:9/oauth/callback';
const OWNER = 'owner@fake-gmail.test';
const OTHER = 'colleague@fake-gmail.test';

let fake: FakeGmail;
let gmail: gmail_v1.Gmail;
let refreshToken: string;
let big: Buffer;
const corpusIds = new Map<string, StoredMessage>();

function eml(lines: string[]): Buffer {
  return Buffer.from(lines.join('\r\n'));
}

function oauthClient(): InstanceType<typeof google.auth.OAuth2> {
  return new google.auth.OAuth2({
    clientId: fake.client.clientId,
    clientSecret: fake.client.clientSecret,
    redirectUri: REDIRECT,
    endpoints: { oauth2TokenUrl: fake.tokenUrl, oauth2AuthBaseUrl: fake.authUrl },
  });
}

function gmailFor(auth: gmail_v1.Options['auth']): gmail_v1.Gmail {
  return google.gmail({ version: 'v1', auth, rootUrl: fake.rootUrl, retry: false });
}

/** The Gmail error a googleapis call rejected with: HTTP status, body and headers. */
async function failure(p: Promise<unknown>): Promise<{ status: number; body: { error: { code: number; message: string; status: string; errors: { reason: string; domain: string }[] } }; headers: Headers | Record<string, string> }> {
  try {
    await p;
  } catch (e) {
    const r = (e as { response?: { status: number; data: unknown; headers: Headers } }).response;
    if (!r) throw e;
    return { status: r.status, body: r.data as never, headers: r.headers };
  }
  throw new Error('expected the call to fail');
}

/** An OAuth error a google-auth-library call rejected with: HTTP status and `{error, error_description}`. */
async function oauthFailure(p: Promise<unknown>): Promise<{ status: number; body: { error: string; error_description: string } }> {
  try {
    await p;
  } catch (e) {
    const r = (e as { response?: { status: number; data: unknown } }).response;
    if (!r) throw e;
    return { status: r.status, body: r.data as never };
  }
  throw new Error('expected the call to fail');
}

function header(h: Headers | Record<string, string>, name: string): string | null {
  return typeof h.get === 'function' ? (h as Headers).get(name) : ((h as Record<string, string>)[name] ?? null);
}

/** Splits a multipart/mixed batch answer into its parts: Content-ID, inner status, headers, body. */
function parseBatchAnswer(contentType: string, text: string): { contentId: string; status: number; headers: Record<string, string>; body: string }[] {
  const boundary = /boundary=([^;]+)/.exec(contentType)![1]!;
  return text
    .split(`--${boundary}`)
    .slice(1)
    .filter((p) => !p.startsWith('--'))
    .map((p) => {
      const [outer, inner, ...rest] = p.replace(/^\r\n/, '').split('\r\n\r\n');
      const lines = inner!.split('\r\n');
      const headers = Object.fromEntries(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      return { contentId: /Content-ID: (.*)/i.exec(outer!)![1]!.trim(), status: Number(lines[0]!.split(' ')[1]), headers, body: rest.join('\r\n\r\n').trim() };
    });
}

function batchBody(boundary: string, calls: { id?: string; line: string; headers?: string[] }[]): string {
  return (
    calls.map((c) => [`--${boundary}`, 'Content-Type: application/http', ...(c.id ? [`Content-ID: <${c.id}>`] : []), '', c.line, ...(c.headers ?? []), '', ''].join('\r\n')).join('') + `--${boundary}--\r\n`
  );
}

/** Maps the IMAP part numbers of a Gmail payload to its parts (enclosed messages included). */
function byImapPartId(payload: gmail_v1.Schema$MessagePart): Map<string, gmail_v1.Schema$MessagePart> {
  const map = new Map<string, gmail_v1.Schema$MessagePart>();
  const children = (node: gmail_v1.Schema$MessagePart, imap: string) => {
    (node.parts ?? []).forEach((c, i) => walk(c, imap === '' ? String(i + 1) : `${imap}.${i + 1}`));
  };
  const walk = (node: gmail_v1.Schema$MessagePart, imap: string) => {
    map.set(imap, node);
    if (node.mimeType?.startsWith('multipart/')) children(node, imap);
    else if (node.mimeType === 'message/rfc822' && node.parts?.[0]) {
      const top = node.parts[0];
      if (top.mimeType?.startsWith('multipart/')) children(top, imap);
      else walk(top, `${imap}.1`);
    }
  };
  if (payload.mimeType?.startsWith('multipart/')) {
    map.set('', payload);
    children(payload, '');
  } else walk(payload, '1');
  return map;
}

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  fake = await startFakeGmail({ addresses: [OWNER, OTHER], redirectUris: [REDIRECT] });
  refreshToken = fake.refreshToken();
  const auth = oauthClient();
  auth.setCredentials({ refresh_token: refreshToken });
  gmail = gmailFor(auth);
  // A thread of three (References + same subject), a sent reply, a zero-byte attachment.
  const day = Date.UTC(2026, 10, 2, 12);
  fake.add({ raw: eml(['From: a@x.test', 'To: owner@fake-gmail.test', 'Subject: Budget', 'Message-ID: <t1@x>', 'Date: Mon, 2 Nov 2026 12:00:00 +0000', '', 'first draft of the budget']), internalDate: day });
  fake.add({ raw: eml(['From: owner@fake-gmail.test', 'To: a@x.test', 'Subject: Re: Budget', 'Message-ID: <t2@x>', 'In-Reply-To: <t1@x>', 'References: <t1@x>', '', 'looks good']), sent: true, internalDate: day + 3600_000 });
  fake.add({ raw: eml(['From: a@x.test', 'Subject: RE: budget', 'Message-ID: <t3@x>', 'References: <t1@x> <t2@x>', '', 'final']), internalDate: day + 7200_000 });
  // Same references, other subject: Gmail starts a new thread.
  fake.add({ raw: eml(['From: a@x.test', 'Subject: Lunch', 'Message-ID: <t4@x>', 'References: <t1@x>', '', 'lunch?']), internalDate: day + 9000_000 });
  fake.add({
    raw: eml([
      'From: b@x.test', 'Subject: Empty file', 'Message-ID: <z@x>', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"', '',
      '--b', 'Content-Type: text/plain', '', 'see the empty file', '--b', 'Content-Type: application/octet-stream; name="empty.bin"', 'Content-Disposition: attachment; filename="empty.bin"', 'Content-Transfer-Encoding: base64', '', '', '--b--', '',
    ]),
    internalDate: day + 10_000_000,
  });
  fake.add({ raw: eml(['From: spam@x.test', 'Subject: Cheap pills', 'Message-ID: <spam@x>', '', 'buy now']), labelIds: ['SPAM'], internalDate: Date.UTC(2023, 0, 1) });
  fake.add(eml(['From: a@x.test', 'To: colleague@fake-gmail.test', 'Subject: For the colleague', '', 'hello']), OTHER);
  // 300 KiB of random bytes as a base64 attachment (cut-body tests), dated outside the other searches.
  big = crypto.randomBytes(300 * 1024);
  fake.add({
    raw: eml([
      'From: c@x.test', 'Subject: Big file', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="q"', '',
      '--q', 'Content-Type: application/octet-stream; name="big.bin"', 'Content-Transfer-Encoding: base64', '', ...(big.toString('base64').match(/.{1,76}/g) ?? []), '--q--', '',
    ]),
    internalDate: Date.UTC(2024, 0, 1),
  });
  if (hasCorpus) {
    for (const entry of loadManifest()) {
      corpusIds.set(entry.file, fake.add({ raw: fs.readFileSync(path.join(corpusDir, entry.file)), internalDate: Date.UTC(2025, 0, 1) + corpusIds.size * 60_000 }));
    }
  }
});

afterAll(async () => {
  await fake?.close();
});

describe('partial response masks', () => {
  const message = { id: 'a', labelIds: ['X'], payload: { mimeType: 'm', headers: [{ name: 'n', value: 'v' }], parts: [{ partId: '0', body: { size: 1, data: 'AA==' } }, { partId: '1', body: { size: 0 } }] } };
  it.each([
    ['id', { id: 'a' }],
    ['id,labelIds', { id: 'a', labelIds: ['X'] }],
    ['payload/mimeType', { payload: { mimeType: 'm' } }],
    ['payload(mimeType,headers/name)', { payload: { mimeType: 'm', headers: [{ name: 'n' }] } }],
    ['payload/parts/body/size', { payload: { parts: [{ body: { size: 1 } }, { body: { size: 0 } }] } }],
    ['payload/parts(partId),payload/parts/body(data)', { payload: { parts: [{ partId: '0', body: { data: 'AA==' } }, { partId: '1', body: {} }] } }],
    ['payload/parts,payload/parts/partId', { payload: { parts: message.payload.parts } }],
    ['*', message],
    ['payload(*)', { payload: message.payload }],
  ])('%s', (mask, expected) => {
    expect(applyFieldMask(message, parseFieldMask(mask))).toEqual(expected);
  });
  it.each(['', 'id,', 'id)', 'payload(id', 'nosuchfield', 'payload/', 'a b'])('refuses %j', (mask) => {
    expect(() => parseFieldMask(mask)).toThrow(/Invalid field selection/);
  });
});

describe('resources through googleapis', () => {
  it('profile and labels', async () => {
    const profile = await gmail.users.getProfile({ userId: 'me' });
    expect(profile.data.emailAddress).toBe(OWNER);
    expect(profile.data.messagesTotal).toBe(7 + corpusIds.size);
    const byAddress = await gmail.users.getProfile({ userId: OWNER.toUpperCase() });
    expect(byAddress.data.emailAddress).toBe(OWNER);
    const denied = await failure(gmail.users.getProfile({ userId: OTHER }));
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toBe(`Delegation denied for ${OTHER}`);
    const labels = await gmail.users.labels.list({ userId: 'me' });
    const ids = labels.data.labels!.map((l) => l.id);
    expect(ids).toEqual(expect.arrayContaining(['INBOX', 'SENT', 'UNREAD', 'TRASH', 'SPAM']));
    expect(labels.data.labels!.find((l) => l.id === 'SENT')!.type).toBe('system');
    const sent = await gmail.users.labels.get({ userId: 'me', id: 'SENT' });
    expect(sent.data.messagesTotal).toBe(1);
  });

  it('threads: grouped by references and subject, listed newest first with paging and q', async () => {
    const all: gmail_v1.Schema$Thread[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const page = await gmail.users.threads.list({ userId: 'me', maxResults: 2, pageToken, q: 'budget' });
      expect(page.data.resultSizeEstimate).toBe(1);
      all.push(...(page.data.threads ?? []));
      pageToken = page.data.nextPageToken ?? undefined;
      pages++;
    } while (pageToken);
    expect(pages).toBe(1);
    expect(all).toHaveLength(1);
    const thread = await gmail.users.threads.get({ userId: 'me', id: all[0]!.id!, format: 'metadata', metadataHeaders: ['Subject'] });
    expect(thread.data.messages!.map((m) => m.payload!.headers)).toEqual([[{ name: 'Subject', value: 'Budget' }], [{ name: 'Subject', value: 'Re: Budget' }], [{ name: 'Subject', value: 'RE: budget' }]]);
    expect(thread.data.messages![1]!.labelIds).toEqual(['SENT']);
    expect(thread.data.id).toBe(thread.data.messages![0]!.id);
    const lunch = await gmail.users.threads.list({ userId: 'me', q: 'subject:lunch' });
    expect(lunch.data.threads).toHaveLength(1);
    expect(lunch.data.threads![0]!.id).not.toBe(all[0]!.id);

    // Paging over every thread: no duplicates, no gaps, tokens bound to their query.
    const seen: string[] = [];
    pageToken = undefined;
    do {
      const page: { data: gmail_v1.Schema$ListThreadsResponse } = await gmail.users.threads.list({ userId: 'me', maxResults: 7, pageToken });
      seen.push(...page.data.threads!.map((t) => t.id!));
      pageToken = page.data.nextPageToken ?? undefined;
      if (pageToken) {
        const misuse = await failure(gmail.users.threads.list({ userId: 'me', maxResults: 7, pageToken, q: 'has:attachment' }));
        expect(misuse.status).toBe(400);
      }
    } while (pageToken);
    expect(new Set(seen).size).toBe(seen.length);
    // Newest activity first: the first listed thread holds the newest message.
    expect(seen[0]).toBe(fake.mailbox().allMessages()[0]!.threadId);
    expect(seen.length).toBe(fake.mailbox().threadIds(fake.mailbox().allMessages().filter((m) => !m.labelIds.includes('SPAM'))).length);
    // SPAM and TRASH only with includeSpamTrash (or in:spam).
    expect((await gmail.users.threads.list({ userId: 'me', q: 'cheap pills' })).data.threads).toBeUndefined();
    expect((await gmail.users.threads.list({ userId: 'me', q: 'cheap pills', includeSpamTrash: true })).data.threads).toHaveLength(1);
    expect((await gmail.users.messages.list({ userId: 'me', q: 'in:spam' })).data.messages).toHaveLength(1);
  });

  it('search: in:sent, has:attachment, after/before (epoch and dates), filename:, labelIds; unsupported operators are a 400', async () => {
    const sent = await gmail.users.messages.list({ userId: 'me', q: 'in:sent' });
    expect(sent.data.messages).toHaveLength(1);
    const sentByLabel = await gmail.users.messages.list({ userId: 'me', labelIds: ['SENT'] });
    expect(sentByLabel.data.messages).toEqual(sent.data.messages);
    const after = await gmail.users.messages.list({ userId: 'me', q: `after:${Date.UTC(2026, 10, 2, 13) / 1000}` });
    expect(after.data.messages).toHaveLength(4);
    const dates = await gmail.users.messages.list({ userId: 'me', q: 'after:2026/11/01 before:2026/11/03' });
    expect(dates.data.messages).toHaveLength(5);
    const withFiles = await gmail.users.messages.list({ userId: 'me', q: 'has:attachment after:2026/01/01' });
    expect(withFiles.data.messages).toHaveLength(1);
    const empty = await gmail.users.messages.list({ userId: 'me', q: 'filename:empty.bin' });
    expect(empty.data.messages).toHaveLength(1);
    const none = await gmail.users.messages.list({ userId: 'me', q: 'nosuchwordanywhere' });
    expect(none.data).toEqual({ resultSizeEstimate: 0 });
    for (const q of ['larger:5M', 'from:a OR from:b', '-budget']) {
      const bad = await failure(gmail.users.messages.list({ userId: 'me', q }));
      expect(bad.status).toBe(400);
      expect(bad.body.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT', errors: [{ reason: 'invalidArgument', domain: 'global' }] });
    }
    const tooMany = await gmail.users.messages.list({ userId: 'me', maxResults: 100000 });
    expect(tooMany.data.messages!.length).toBe(Math.min(500, 6 + corpusIds.size));
  });

  it('messages.get in every format, metadataHeaders and fields masks', async () => {
    const [{ id }] = (await gmail.users.messages.list({ userId: 'me', q: 'filename:empty.bin' })).data.messages! as [{ id: string }];
    const minimal = await gmail.users.messages.get({ userId: 'me', id, format: 'minimal' });
    expect(Object.keys(minimal.data).sort()).toEqual(['historyId', 'id', 'internalDate', 'labelIds', 'sizeEstimate', 'snippet', 'threadId']);
    expect(minimal.data.internalDate).toBe(String(Date.UTC(2026, 10, 2, 12) + 10_000_000));
    expect(minimal.data.snippet).toBe('see the empty file');
    const raw = await gmail.users.messages.get({ userId: 'me', id, format: 'raw' });
    expect(raw.data.raw!.length % 4).toBe(0);
    expect(Buffer.from(raw.data.raw!, 'base64url').toString()).toContain('Subject: Empty file');
    expect(raw.data.payload).toBeUndefined();
    const full = await gmail.users.messages.get({ userId: 'me', id });
    const payload = full.data.payload!;
    expect(payload).toMatchObject({ partId: '', mimeType: 'multipart/mixed', filename: '', body: { size: 0 } });
    expect(payload.headers!.map((h) => h.name)).toEqual(['From', 'Subject', 'Message-ID', 'MIME-Version', 'Content-Type']);
    expect(payload.parts!.map((p) => p.partId)).toEqual(['0', '1']);
    expect(payload.parts![0]!.body).toEqual({ size: 18, data: Buffer.from('see the empty file').toString('base64').replace(/\+/g, '-').replace(/\//g, '_') });
    // base64url keeps its '=' padding in Gmail's JSON: 'final' (5 bytes) and 'lunch?' (6 bytes, '/' → '_').
    const bodyOf = async (subject: string) => (await gmail.users.messages.get({ userId: 'me', id: fake.mailbox().allMessages().find((m) => m.subject === subject)!.id })).data.payload!.body;
    expect(await bodyOf('RE: budget')).toEqual({ size: 5, data: 'ZmluYWw=' });
    expect(await bodyOf('Lunch')).toEqual({ size: 6, data: 'bHVuY2g_' });
    // A zero-byte named part: size 0 and no attachmentId.
    expect(payload.parts![1]).toMatchObject({ filename: 'empty.bin', body: { size: 0 } });
    expect(payload.parts![1]!.body!.attachmentId).toBeUndefined();

    const masked = await gmail.users.messages.get({ userId: 'me', id, fields: 'id,payload(mimeType,parts(partId,body/size))' });
    expect(masked.data).toEqual({ id, payload: { mimeType: 'multipart/mixed', parts: [{ partId: '0', body: { size: 18 } }, { partId: '1', body: { size: 0 } }] } });
    const slashes = await gmail.users.messages.get({ userId: 'me', id, format: 'minimal', fields: 'labelIds,threadId' });
    expect(Object.keys(slashes.data).sort()).toEqual(['labelIds', 'threadId']);
    const compact = await gmail.users.messages.get({ userId: 'me', id, format: 'minimal', prettyPrint: false, alt: 'json' });
    expect(compact.data.id).toBe(id);
    const badMask = await failure(gmail.users.messages.get({ userId: 'me', id, fields: 'id,payload(nope)' }));
    expect(badMask.status).toBe(400);
    expect(badMask.body.error.errors[0]!.reason).toBe('invalidParameter');
    const badFormat = await failure(gmail.users.messages.get({ userId: 'me', id, format: 'everything' }));
    expect(badFormat.status).toBe(400);
    expect((await failure(gmail.users.threads.get({ userId: 'me', id: minimal.data.threadId!, format: 'raw' }))).status).toBe(400);
    const malformed = await failure(gmail.users.messages.get({ userId: 'me', id: 'not-an-id' }));
    expect(malformed.body.error).toMatchObject({ code: 400, message: 'Invalid id value', status: 'INVALID_ARGUMENT' });
    const anonymous = await fetch(`${fake.origin}/gmail/v1/users/me/messages/${id}`);
    expect(anonymous.status).toBe(401);
    expect(fake.requests.at(-1)!.gzip).toBe(false); // fetch's User-Agent does not say gzip
    const token = fake.oauth.issueAccessToken({ address: OWNER, scopes: ['https://www.googleapis.com/auth/gmail.readonly'] });
    const badEscape = await fetch(`${fake.origin}/gmail/v1/users/%E0%A4%A/profile`, { headers: { authorization: `Bearer ${token}` } });
    expect(badEscape.status).toBe(400);
    const badBasic = await fetch(fake.tokenUrl, { method: 'POST', headers: { authorization: `Basic ${Buffer.from('%zz:%zz').toString('base64')}` }, body: 'grant_type=refresh_token&refresh_token=x' });
    expect(badBasic.status).toBe(401);
    expect(anonymous.headers.get('content-length')).not.toBeNull();
    expect((await anonymous.json()).error.errors[0].reason).toBe('authError');
    const missing = await failure(gmail.users.messages.get({ userId: 'me', id: '18c2f0a0deadbeef' }));
    expect(missing.status).toBe(404);
    expect(missing.body.error).toEqual({ code: 404, message: 'Requested entity was not found.', errors: [{ message: 'Requested entity was not found.', domain: 'global', reason: 'notFound' }], status: 'NOT_FOUND' });
  });

  it('a hostile fields mask or q is answered at once: in the URL (as long as it may be) and megabytes inside a batch', async () => {
    const id = fake.mailbox().allMessages()[0]!.id;
    const started = Date.now();
    const deep = await failure(gmail.users.messages.get({ userId: 'me', id, fields: 'payload('.repeat(1000) }));
    expect(deep.status).toBe(400);
    const token = fake.oauth.issueAccessToken({ address: OWNER, scopes: ['https://www.googleapis.com/auth/gmail.readonly'] });
    const inner = (target: string) => `--h\r\nContent-Type: application/http\r\n\r\nGET ${target}\r\n\r\n`;
    const body =
      inner(`/gmail/v1/users/me/messages/${id}?fields=${'payload('.repeat(400_000)}`) +
      inner(`/gmail/v1/users/me/messages?q=${encodeURIComponent('"('.repeat(500_000))}`) +
      inner(`/gmail/v1/users/me/messages?q=${'a'.repeat(1_000_000)}`) +
      '--h--\r\n';
    expect(body.length).toBeGreaterThan(6_000_000);
    const res = await fetch(fake.batchUrl, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'multipart/mixed; boundary=h' }, body });
    const text = await res.text();
    expect([...text.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((m) => m[1])).toEqual(['400', '200', '200']);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe.skipIf(!hasCorpus)('corpus through attachments.get', () => {
  it('every manifest attachment is byte-exact (sha256, size) through its Gmail part', async () => {
    let fetched = 0;
    let inline = 0;
    let checked = 0;
    for (const entry of loadManifest()) {
      const msg = corpusIds.get(entry.file)!;
      const full = await gmail.users.messages.get({ userId: 'me', id: msg.id, format: 'full' });
      const parts = byImapPartId(full.data.payload!);
      for (const want of expectedAttachments(entry)) {
        const part = parts.get(want.partId);
        expect(part, `${entry.file} part ${want.partId}`).toBeDefined();
        let bytes: Buffer;
        if (part!.body!.attachmentId) {
          const got = await gmail.users.messages.attachments.get({ userId: 'me', messageId: msg.id, id: part!.body!.attachmentId });
          expect(got.data.size).toBe(want.size);
          bytes = Buffer.from(got.data.data!, 'base64url');
          fetched++;
        } else {
          bytes = part!.body!.data ? Buffer.from(part!.body!.data, 'base64url') : Buffer.alloc(0);
          if (part!.body!.data) inline++;
        }
        expect(part!.body!.size, `${entry.file} ${want.partId} body.size`).toBe(want.size);
        expect(sha256(bytes), `${entry.file} ${want.partId} sha256`).toBe(want.sha256);
        expect(bytes.length).toBe(want.size);
        if (want.size === 0) expect(part!.body!.attachmentId).toBeUndefined();
        checked++;
      }
    }
    // Google gzips for clients that ask with Accept-Encoding and a User-Agent saying gzip: googleapis does.
    const downloads = fake.requests.filter((r) => r.path.includes('/attachments/'));
    expect(downloads.length).toBeGreaterThan(350);
    expect(downloads.every((r) => r.gzip === true && r.headers['accept-encoding']?.includes('gzip'))).toBe(true);
    expect(checked).toBeGreaterThan(400);
    expect(fetched).toBeGreaterThan(350);
    console.info(`fake Gmail corpus: ${checked} attachments checked, ${fetched} through attachments.get, ${inline} inline data`);
  });

  it('the RFC 2822 A.2 reply chain is one Gmail thread, oldest message first', async () => {
    const ids = [1, 2, 3].map((n) => corpusIds.get(`eml/ruby-mail-rfc2822-thread-${n}.eml`)!);
    expect(new Set(ids.map((m) => m.threadId)).size).toBe(1);
    const thread = await gmail.users.threads.get({ userId: 'me', id: ids[0]!.threadId, format: 'minimal' });
    expect(thread.data.messages!.map((m) => m.id)).toEqual(ids.map((m) => m.id));
  });

  it('an enclosed message/rfc822 part has its own attachmentId and one child for the enclosed top part', async () => {
    const msg = corpusIds.get('eml/ruby-mail-attachment-message-rfc822.eml')!;
    const full = await gmail.users.messages.get({ userId: 'me', id: msg.id });
    const find = (p: gmail_v1.Schema$MessagePart): gmail_v1.Schema$MessagePart | undefined => (p.mimeType === 'message/rfc822' ? p : p.parts?.map(find).find(Boolean));
    const rfc822 = find(full.data.payload!)!;
    expect(rfc822.body!.attachmentId).toBeTruthy();
    expect(rfc822.parts).toHaveLength(1);
    expect(rfc822.parts![0]!.partId).toBe(`${rfc822.partId}.0`);
    expect(rfc822.parts![0]!.headers!.some((h) => h.name?.toLowerCase() === 'subject')).toBe(true);
  });
});

describe('ephemeral attachment ids', () => {
  it('every read issues new ids; old ones answer 400 "Invalid attachment token" once expired by reads or by time', async () => {
    const [{ id }] = (await gmail.users.messages.list({ userId: 'me', q: 'has:attachment filename:pdf' })).data.messages! as [{ id: string }];
    const attachmentIdOf = async () => {
      const r = await gmail.users.messages.get({ userId: 'me', id, fields: 'payload/parts(body/attachmentId)' });
      return r.data.payload!.parts!.map((p) => p.body?.attachmentId).find(Boolean)!;
    };
    const first = await attachmentIdOf();
    const second = await attachmentIdOf();
    expect(first).not.toBe(second);
    expect(first.startsWith('ANGjdJ')).toBe(true);
    // Default policy: both still work.
    expect((await gmail.users.messages.attachments.get({ userId: 'me', messageId: id, id: first })).data.size).toBeGreaterThan(0);
    fake.attachmentIds.policy = { maxLaterReads: 0 };
    try {
      const expired = await failure(gmail.users.messages.attachments.get({ userId: 'me', messageId: id, id: first }));
      expect(expired.status).toBe(400);
      expect(expired.body.error).toMatchObject({ code: 400, message: 'Invalid attachment token', status: 'INVALID_ARGUMENT', errors: [{ reason: 'invalidArgument' }] });
      expect((await gmail.users.messages.attachments.get({ userId: 'me', messageId: id, id: second })).data.size).toBeGreaterThan(0);
      fake.attachmentIds.policy = { ttlMs: 50 };
      const third = await attachmentIdOf();
      await new Promise((r) => setTimeout(r, 80));
      expect((await failure(gmail.users.messages.attachments.get({ userId: 'me', messageId: id, id: third }))).status).toBe(400);
      // An id of another message is not valid here either.
      fake.attachmentIds.policy = {};
      const fresh = await attachmentIdOf();
      const other = fake.mailbox().allMessages().find((m) => m.id !== id)!.id;
      expect((await failure(gmail.users.messages.attachments.get({ userId: 'me', messageId: other, id: fresh }))).status).toBe(400);
      fake.attachmentIds.expireAll();
      expect((await failure(gmail.users.messages.attachments.get({ userId: 'me', messageId: id, id: fresh }))).status).toBe(400);
    } finally {
      fake.attachmentIds.policy = {};
    }
  });
});

describe('batch endpoint', () => {
  it('answers in order with Content-ID <response-…> and each part its own status (a 429 inside a 200), counted per inner call', async () => {
    const auth = oauthClient();
    auth.setCredentials({ refresh_token: refreshToken });
    const { token } = await auth.getAccessToken();
    const id = fake.mailbox().allMessages()[0]!.id;
    fake.faults.add({ path: '/gmail/v1/users/me/profile', inBatch: true }, { error: 'rateLimitExceeded', retryAfter: 3 });
    const before = fake.apiCalls().length;
    const res = await fetch(fake.batchUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'multipart/mixed; boundary=batch_abc' },
      body: batchBody('batch_abc', [
        { id: 'item1', line: `GET /gmail/v1/users/me/messages/${id}?format=metadata&metadataHeaders=Subject&fields=id,payload/headers` },
        { id: 'item2', line: 'GET /gmail/v1/users/me/messages/18c2f0a0deadbeef' },
        { id: 'item3', line: 'GET /gmail/v1/users/me/profile' },
        { id: 'item4', line: 'GET /gmail/v1/users/me/labels HTTP/1.1', headers: ['Authorization: Bearer not-a-token'] },
        { line: 'GET /gmail/v1/users/me/profile' },
      ]),
    });
    expect(res.status).toBe(200);
    const parts = parseBatchAnswer(res.headers.get('content-type')!, await res.text());
    expect(parts.map((p) => p.contentId)).toEqual(['<response-item1>', '<response-item2>', '<response-item3>', '<response-item4>', '<response-5>']);
    expect(parts.map((p) => p.status)).toEqual([200, 404, 429, 401, 200]);
    expect(JSON.parse(parts[0]!.body)).toEqual({ id, payload: { headers: [expect.objectContaining({ name: 'Subject' })] } });
    expect(parts[2]!.headers['retry-after']).toBe('3');
    expect(JSON.parse(parts[2]!.body).error).toMatchObject({ code: 429, errors: [{ reason: 'rateLimitExceeded', domain: 'usageLimits' }], status: 'RESOURCE_EXHAUSTED' });
    expect(JSON.parse(parts[4]!.body).emailAddress).toBe(OWNER);
    const outer = fake.requests.at(-1)!;
    expect(outer.path).toBe('/batch/gmail/v1');
    expect(outer.inner!.map((r) => r.status)).toEqual([200, 404, 429, 401, 200]);
    expect(outer.inner![0]!.query.format).toBe('metadata');
    expect(fake.apiCalls().length - before).toBe(5);
  });

  it('refuses more than 100 calls, and a body that is not multipart/mixed, with a Google 400', async () => {
    const calls = Array.from({ length: 101 }, () => ({ line: 'GET /gmail/v1/users/me/profile' }));
    const res = await fetch(fake.batchUrl, { method: 'POST', headers: { 'content-type': 'multipart/mixed; boundary=x' }, body: batchBody('x', calls) });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
    const ok = await fetch(fake.batchUrl, { method: 'POST', headers: { 'content-type': 'multipart/mixed; boundary=x' }, body: batchBody('x', calls.slice(1)) });
    expect(ok.status).toBe(200);
    expect(parseBatchAnswer(ok.headers.get('content-type')!, await ok.text())).toHaveLength(100);
    const json = await fetch(fake.batchUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(json.status).toBe(400);
    for (const line of ['GET http://[bad/x HTTP/1.1', 'not a request line']) {
      const bad = await fetch(fake.batchUrl, { method: 'POST', headers: { 'content-type': 'multipart/mixed; boundary=x' }, body: batchBody('x', [{ line }]) });
      expect(bad.status).toBe(400);
    }
    const absolute = await fetch(fake.batchUrl, { method: 'POST', headers: { 'content-type': 'multipart/mixed; boundary=x' }, body: batchBody('x', [{ line: `GET ${fake.origin}/gmail/v1/users/me/profile HTTP/1.1` }]) });
    expect(parseBatchAnswer(absolute.headers.get('content-type')!, await absolute.text()).map((p) => p.status)).toEqual([401]);
  });

  it('a delay, a cut and a hang inside a batch act on the batch answer at that part', async () => {
    const token = fake.oauth.issueAccessToken({ address: OWNER, scopes: ['https://www.googleapis.com/auth/gmail.readonly'] });
    const send = (signal?: AbortSignal) =>
      fetch(fake.batchUrl, {
        method: 'POST',
        signal,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'multipart/mixed; boundary=y' },
        body: batchBody('y', [{ line: 'GET /gmail/v1/users/me/profile' }, { line: 'GET /gmail/v1/users/me/labels' }]),
      });
    fake.faults.add({ path: '/gmail/v1/users/me/labels', inBatch: true }, { delayMs: 300 });
    let started = Date.now();
    const delayed = await send();
    expect(parseBatchAnswer(delayed.headers.get('content-type')!, await delayed.text()).map((p) => p.status)).toEqual([200, 200]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    fake.faults.add({ path: '/gmail/v1/users/me/labels', inBatch: true }, { cutAfterBytes: 20 });
    const cut = await send();
    await expect(cut.text()).rejects.toThrow();
    fake.faults.add({ path: '/batch/gmail/v1', inBatch: false }, { cutAfterBytes: 150 });
    const outerCut = await send();
    await expect(outerCut.text()).rejects.toThrow();
    // Cut inside the first part's body: the second call was never run.
    expect(fake.requests.at(-1)!.inner!.map((r) => r.status)).toEqual([200]);
    fake.faults.add({ path: '/gmail/v1/users/me/labels', inBatch: true }, { hang: true });
    started = Date.now();
    await expect(send(AbortSignal.timeout(300)).then((r) => r.text())).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('faults as googleapis sees them', () => {
  it('injected errors keep Google’s body and Retry-After; with retry off one call is one request', async () => {
    const cases = [
      { error: 'rateLimitExceeded', status: 429, reason: 'rateLimitExceeded', domain: 'usageLimits' },
      { error: 'userRateLimitExceeded', status: 403, reason: 'userRateLimitExceeded', domain: 'usageLimits' },
      { error: 'insufficientPermissions', status: 403, reason: 'insufficientPermissions', domain: 'global' },
      { error: 'backendError', status: 500, reason: 'backendError', domain: 'global' },
      { error: 'unavailable', status: 503, reason: 'backendError', domain: 'global' },
    ] as const;
    for (const c of cases) {
      const rule = fake.faults.add({ method: 'GET', path: '/gmail/v1/users/*/profile' }, { error: c.error, retryAfter: 7 });
      const before = fake.requests.length;
      const f = await failure(gmail.users.getProfile({ userId: 'me' }));
      expect(f.status).toBe(c.status);
      expect(f.body.error).toMatchObject({ code: c.status, errors: [{ reason: c.reason, domain: c.domain }] });
      expect(header(f.headers, 'retry-after')).toBe('7');
      expect(rule.hits).toBe(1);
      expect(fake.requests.slice(before).filter((r) => r.path.endsWith('/profile'))).toHaveLength(1);
    }
    const custom = fake.faults.add({ path: /\/profile$/ }, { status: 502, body: 'upstream broke' });
    expect((await failure(gmail.users.getProfile({ userId: 'me' }))).status).toBe(502);
    expect(custom.hits).toBe(1);
    expect((await gmail.users.getProfile({ userId: 'me' })).data.emailAddress).toBe(OWNER);
  });

  it('the per-user quota in units: 5 per messages.get, 10 per threads.get; past it userRateLimitExceeded, also inside a batch', async () => {
    const id = fake.mailbox().allMessages()[0]!.id;
    fake.quota.unitsPerMinute = 20;
    try {
      await gmail.users.messages.get({ userId: 'me', id, format: 'minimal' });
      await gmail.users.threads.get({ userId: 'me', id: fake.mailbox().allMessages()[0]!.threadId, format: 'minimal' });
      await gmail.users.getProfile({ userId: 'me' });
      const over = await failure(gmail.users.messages.get({ userId: 'me', id, format: 'minimal' }));
      expect(over.status).toBe(429);
      expect(over.body.error).toMatchObject({ code: 429, status: 'RESOURCE_EXHAUSTED', errors: [{ reason: 'userRateLimitExceeded', domain: 'usageLimits' }] });
      expect(over.body.error.message).toMatch(/^User-rate limit exceeded\. {2}Retry after \d{4}-\d\d-\d\dT/);
      // 10 units: two 5-unit calls of a batch fit, the third is refused on its own.
      fake.quota.reset();
      fake.quota.unitsPerMinute = 10;
      const token = fake.oauth.issueAccessToken({ address: OWNER, scopes: ['https://www.googleapis.com/auth/gmail.readonly'] });
      const res = await fetch(fake.batchUrl, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'multipart/mixed; boundary=q' },
        body: batchBody('q', [0, 1, 2].map(() => ({ line: `GET /gmail/v1/users/me/messages/${id}?format=minimal` }))),
      });
      expect(parseBatchAnswer(res.headers.get('content-type')!, await res.text()).map((p) => p.status)).toEqual([200, 200, 429]);
    } finally {
      fake.quota.unitsPerMinute = null;
      fake.quota.reset();
    }
  });

  it('gaxios retries 5xx by itself when retry is left on (what the provider must turn off)', async () => {
    const auth = oauthClient();
    auth.setCredentials({ refresh_token: refreshToken });
    const retrying = google.gmail({ version: 'v1', auth, rootUrl: fake.rootUrl });
    fake.faults.add({ path: '/gmail/v1/users/me/profile' }, { error: 'unavailable' }, 2);
    const before = fake.requests.filter((r) => r.path === '/gmail/v1/users/me/profile').length;
    expect((await retrying.users.getProfile({ userId: 'me' })).data.emailAddress).toBe(OWNER);
    expect(fake.requests.filter((r) => r.path === '/gmail/v1/users/me/profile').length - before).toBe(3);
  });

  it('a delay slows the answer; a hang is ended by the caller’s signal; a cut body fails the call instead of giving short data', async () => {
    fake.faults.add({ path: '/gmail/v1/users/me/labels' }, { delayMs: 300 });
    let started = Date.now();
    await gmail.users.labels.list({ userId: 'me' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);

    fake.faults.add({ path: '/gmail/v1/users/me/labels' }, { hang: true });
    started = Date.now();
    await expect(gmail.users.labels.list({ userId: 'me' }, { signal: AbortSignal.timeout(300) })).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5_000);

    const msg = fake.mailbox().allMessages().find((m) => m.subject === 'Big file')!;
    const part = (await gmail.users.messages.get({ userId: 'me', id: msg.id })).data.payload!.parts![0]!;
    expect(part.body!.size).toBe(big.length);
    const whole = await gmail.users.messages.attachments.get({ userId: 'me', messageId: msg.id, id: part.body!.attachmentId! });
    expect(Buffer.from(whole.data.data!, 'base64url').equals(big)).toBe(true);
    fake.faults.add({ path: `/gmail/v1/users/me/messages/${msg.id}/attachments/*` }, { cutAfterBytes: 100_000 });
    await expect(gmail.users.messages.attachments.get({ userId: 'me', messageId: msg.id, id: part.body!.attachmentId! })).rejects.toThrow();
    expect(fake.requests.at(-1)!.status).toBe(0);
  });
});

describe('OAuth', () => {
  it('refresh_token grant; an expired access token is a 401 with Google’s body; a revoked refresh token is invalid_grant', async () => {
    const auth = oauthClient();
    const rt = fake.refreshToken();
    auth.setCredentials({ refresh_token: rt });
    const client = gmailFor(auth);
    expect((await client.users.getProfile({ userId: 'me' })).data.emailAddress).toBe(OWNER);
    const creds = auth.credentials;
    expect(creds.access_token).toMatch(/^ya29\./);
    expect(creds.expiry_date! - Date.now()).toBeGreaterThan(3_500_000);

    fake.oauth.expireAccessTokens();
    const expired = await failure(client.users.getProfile({ userId: 'me' }));
    expect(expired.status).toBe(401);
    expect(expired.body.error).toMatchObject({ code: 401, status: 'UNAUTHENTICATED', errors: [{ reason: 'authError', domain: 'global', location: 'Authorization' }] });
    expect(header(expired.headers, 'www-authenticate')).toContain('invalid_token');
    auth.forceRefreshOnFailure = true;
    expect((await client.users.getProfile({ userId: 'me' })).data.emailAddress).toBe(OWNER);

    // Revoking the refresh token also kills its access tokens: the 401 makes the client refresh,
    // and the refresh is refused.
    expect(fake.oauth.revoke(rt)).toBe(true);
    expect(await oauthFailure(client.users.getProfile({ userId: 'me' }))).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' } });
    auth.setCredentials({ refresh_token: rt });
    const revoked = await oauthFailure(client.users.getProfile({ userId: 'me' }));
    expect(revoked).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' } });

    const viaEndpoint = fake.refreshToken();
    const revokeRes = await fetch(`${fake.revokeUrl}?token=${encodeURIComponent(viaEndpoint)}`, { method: 'POST' });
    expect(revokeRes.status).toBe(200);
    const revokedAuth = oauthClient();
    revokedAuth.setCredentials({ refresh_token: viaEndpoint });
    expect((await oauthFailure(revokedAuth.getAccessToken())).body.error).toBe('invalid_grant');

    const wrongSecret = new google.auth.OAuth2({ clientId: fake.client.clientId, clientSecret: 'nope', endpoints: { oauth2TokenUrl: fake.tokenUrl } });
    wrongSecret.setCredentials({ refresh_token: fake.refreshToken() });
    expect((await oauthFailure(wrongSecret.getAccessToken())).body.error).toBe('invalid_client');
  });

  it('token endpoint faults: google-auth-library retries a failing refresh by itself (POST included), then rejects', async () => {
    const auth = oauthClient();
    auth.setCredentials({ refresh_token: fake.refreshToken() });
    const rule = fake.faults.add({ path: '/token' }, { error: 'unavailable' }, Infinity);
    try {
      const before = fake.requests.filter((r) => r.path === '/token').length;
      const f = await oauthFailure(auth.getAccessToken());
      expect(f.status).toBe(503);
      const tries = fake.requests.filter((r) => r.path === '/token').length - before;
      expect(tries).toBe(rule.hits);
      // gaxios' default: 3 retries of the refresh POST (1 + 3 requests).
      expect(tries).toBe(4);
    } finally {
      rule.remaining = 0;
    }
  });

  it('consent + authorization_code with PKCE S256: redirect with code and state, exchange, refresh token; wrong verifier, reused code, other redirect_uri and denial fail', async () => {
    const auth = oauthClient();
    const consent = async (extra: Record<string, string> = {}) => {
      const { codeVerifier, codeChallenge } = await auth.generateCodeVerifierAsync();
      const url = auth.generateAuthUrl({
        access_type: 'offline',
        prompt: 'consent',
        scope: ['https://www.googleapis.com/auth/gmail.readonly'],
        state: 'st-42',
        code_challenge: codeChallenge,
        code_challenge_method: 'S256' as never,
        ...extra,
      });
      expect(url.startsWith(fake.authUrl)).toBe(true);
      const res = await fetch(url, { redirect: 'manual' });
      expect(res.status).toBe(302);
      const back = new URL(res.headers.get('location')!);
      expect(back.origin + back.pathname).toBe(REDIRECT);
      expect(back.searchParams.get('state')).toBe('st-42');
      return { code: back.searchParams.get('code'), error: back.searchParams.get('error'), codeVerifier };
    };
    const { code, codeVerifier } = await consent();
    const { tokens } = await auth.getToken({ code: code!, codeVerifier });
    expect(tokens.refresh_token).toMatch(/^1\/\/0/);
    expect(tokens.scope).toBe('https://www.googleapis.com/auth/gmail.readonly');
    auth.setCredentials(tokens);
    expect((await gmailFor(auth).users.getProfile({ userId: 'me' })).data.emailAddress).toBe(OWNER);
    const again = await oauthFailure(auth.getToken({ code: code!, codeVerifier }));
    expect(again.body.error).toBe('invalid_grant');

    const second = await consent();
    const wrong = await oauthFailure(auth.getToken({ code: second.code!, codeVerifier: `${second.codeVerifier}x` }));
    expect(wrong.body).toEqual({ error: 'invalid_grant', error_description: 'Invalid code verifier.' });
    const third = await consent();
    const missing = await oauthFailure(auth.getToken({ code: third.code! }));
    expect(missing.body.error_description).toBe('Missing code verifier.');
    const fourth = await consent();
    const redirect = await oauthFailure(auth.getToken({ code: fourth.code!, codeVerifier: fourth.codeVerifier, redirect_uri: 'http://127.0.0.1:9/elsewhere' }));
    expect(redirect.body.error).toBe('redirect_uri_mismatch');

    fake.oauth.consent = { decision: 'deny' };
    try {
      const denied = await consent();
      expect(denied).toMatchObject({ code: null, error: 'access_denied' });
    } finally {
      fake.oauth.consent = { decision: 'approve' };
    }
    const unregistered = await fetch(`${fake.authUrl}?client_id=${encodeURIComponent(fake.client.clientId)}&redirect_uri=${encodeURIComponent('http://evil.test/cb')}&response_type=code&scope=x`, { redirect: 'manual' });
    expect(unregistered.status).toBe(400);
  });

  it('JWT bearer grant with a service account key of the fake: subject = mailbox; bad signature, audience, subject and undelegated scopes fail', async () => {
    const key = fake.oauth.createServiceAccount();
    const jwtClient = (k: { email: string; key: string }, subject: string, opts: { aud?: string; scopes?: string[] } = {}) => {
      const jwt = new google.auth.JWT({ ...k, subject, scopes: opts.scopes ?? ['https://www.googleapis.com/auth/gmail.readonly'], additionalClaims: { aud: opts.aud ?? fake.tokenUrl } });
      // gtoken posts to Google's token URL whatever is configured: point it at the fake.
      jwt.transporter.interceptors.request.add({
        resolved: async (config) => {
          if (String(config.url) === 'https://oauth2.googleapis.com/token') config.url = new URL(fake.tokenUrl);
          return config;
        },
      });
      return jwt;
    };
    const good = jwtClient({ email: key.client_email, key: key.private_key }, OTHER);
    expect((await gmailFor(good).users.getProfile({ userId: 'me' })).data.emailAddress).toBe(OTHER);
    expect(fake.requests.filter((r) => r.path === '/token').length).toBeGreaterThan(0);

    const impostor = fake.oauth.createServiceAccount();
    const forged = jwtClient({ email: key.client_email, key: impostor.private_key }, OTHER);
    expect((await oauthFailure(forged.authorize())).body).toEqual({ error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    const audience = jwtClient({ email: key.client_email, key: key.private_key }, OTHER, { aud: 'https://oauth2.googleapis.com/token' });
    expect((await oauthFailure(audience.authorize())).body.error_description).toContain('audience');
    const stranger = jwtClient({ email: key.client_email, key: key.private_key }, 'nobody@fake-gmail.test');
    expect((await oauthFailure(stranger.authorize())).body.error).toBe('invalid_grant');
    const limited = fake.oauth.createServiceAccount(['https://www.googleapis.com/auth/gmail.metadata']);
    const undelegated = jwtClient({ email: limited.client_email, key: limited.private_key }, OTHER);
    expect(await oauthFailure(undelegated.authorize())).toMatchObject({ status: 401, body: { error: 'unauthorized_client' } });
    const metadata = jwtClient({ email: limited.client_email, key: limited.private_key }, OTHER, { scopes: ['https://www.googleapis.com/auth/gmail.metadata'] });
    const client = gmailFor(metadata);
    const id = fake.mailbox(OTHER).allMessages()[0]!.id;
    expect((await failure(client.users.messages.list({ userId: 'me', q: 'x' }))).status).toBe(403);
    expect((await failure(client.users.messages.get({ userId: 'me', id, format: 'full' }))).body.error.message).toBe("Metadata scope doesn't allow format FULL");
    const meta = await client.users.messages.get({ userId: 'me', id, format: 'metadata', metadataHeaders: ['subject'] });
    expect(meta.data.payload!.headers).toEqual([{ name: 'Subject', value: 'For the colleague' }]);
    expect((await client.users.getProfile({ userId: 'me' })).data.emailAddress).toBe(OTHER);
  });
});
