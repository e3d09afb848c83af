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
import { startFakeGmail, type FakeGmail, type StoredMessage } from './support/fake-gmail/index.ts';

const REDIRECT = 'http://127.0.0.1:9/oauth/callback';
const OWNER = 'owner@fake-gmail.test';
const OTHER = 'colleague@fake-gmail.test';

let fake: FakeGmail;
let gmail: gmail_v1.Gmail;
let refreshToken: string;
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
  if (hasCorpus) {
    for (const entry of loadManifest()) {
      corpusIds.set(entry.file, fake.add({ raw: fs.readFileSync(path.join(corpusDir, entry.file)), internalDate: Date.UTC(2025, 0, 1) + corpusIds.size * 60_000 }));
    }
  }
});

afterAll(async () => {
  await fake?.close();
});

describe('resources through googleapis', () => {
  it('profile and labels', async () => {
    const profile = await gmail.users.getProfile({ userId: 'me' });
    expect(profile.data.emailAddress).toBe(OWNER);
    expect(profile.data.messagesTotal).toBe(5 + corpusIds.size);
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
    expect(seen.length).toBe(fake.mailbox().threadIds().length);
  });

  it('search: in:sent, has:attachment, after/before (epoch and dates), filename:, labelIds; unsupported operators are a 400', async () => {
    const sent = await gmail.users.messages.list({ userId: 'me', q: 'in:sent' });
    expect(sent.data.messages).toHaveLength(1);
    const sentByLabel = await gmail.users.messages.list({ userId: 'me', labelIds: ['SENT'] });
    expect(sentByLabel.data.messages).toEqual(sent.data.messages);
    const after = await gmail.users.messages.list({ userId: 'me', q: `after:${Date.UTC(2026, 10, 2, 13) / 1000}` });
    expect(after.data.messages).toHaveLength(4);
    const dates = await gmail.users.messages.list({ userId: 'me', q: 'after:2026/11/01 before:2026/11/03 -' .slice(0, -2) });
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
    expect(tooMany.data.messages!.length).toBe(Math.min(500, 5 + corpusIds.size));
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
    expect(checked).toBeGreaterThan(400);
    expect(fetched).toBeGreaterThan(350);
    console.info(`fake Gmail corpus: ${checked} attachments checked, ${fetched} through attachments.get, ${inline} inline data`);
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
