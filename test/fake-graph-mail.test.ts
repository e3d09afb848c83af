/**
 * The fake Graph's mail wire format against the API reference (message, attachment types,
 * query parameters, JSON batching, throttling), read through graph-client where a client would.
 */
import crypto from 'node:crypto';
import { BatchRequestContent, BatchResponseContent, Client } from '@microsoft/microsoft-graph-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeGraph, type FakeGraph, type StoredMessage } from './support/fake-graph/index.ts';

let fake: FakeGraph;
let token: string;
let client: Client;
const PDF = crypto.randomBytes(5000);
const PNG = crypto.randomBytes(700);
const BLOB = crypto.randomBytes(300);
let root: StoredMessage;
let reply: StoredMessage;
let inlineOnly: StoredMessage;
let forwarded: StoredMessage;
let sent: StoredMessage;

const b64 = (b: Buffer) => b.toString('base64').replace(/.{76}/g, '$&\r\n');

function mail(headers: Record<string, string>, body: string[]): Buffer {
  return Buffer.from([...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), 'MIME-Version: 1.0', ...body, ''].join('\r\n'));
}

beforeAll(async () => {
  fake = await startFakeGraph({ addresses: ['adele.vance@contoso.test', 'other@contoso.test'], batchOrder: 'reversed' });
  const box = fake.mailbox();
  token = await fake.identity.issueAccessToken({ kind: 'delegated', userId: box.user.id, clientId: fake.app.clientId, scopes: ['https://graph.microsoft.com/Mail.Read'] });
  client = Client.init({ baseUrl: `${fake.graphRoot}/`, customHosts: new Set(['127.0.0.1']), authProvider: (done) => done(null, token) });
  root = fake.add(
    mail({ From: 'Megan Bowen <megan@contoso.test>', To: 'Adele Vance <adele.vance@contoso.test>', Cc: 'lee@contoso.test', Subject: 'Quarterly report', 'Message-ID': '<q1@contoso.test>', Date: 'Tue, 01 Dec 2026 09:00:00 +0000' }, [
      'Content-Type: multipart/mixed; boundary="m"', '', '--m', 'Content-Type: text/plain', '', 'Here is the report.', '--m',
      'Content-Type: application/pdf; name="report.pdf"', 'Content-Disposition: attachment; filename="report.pdf"', 'Content-Transfer-Encoding: base64', '', b64(PDF), '--m',
      'Content-Type: application/octet-stream', 'Content-Disposition: attachment', 'Content-Transfer-Encoding: base64', '', b64(BLOB), '--m--',
    ]),
  );
  reply = fake.add(
    mail({ From: 'Adele Vance <adele.vance@contoso.test>', To: 'megan@contoso.test', Subject: 'RE: Quarterly report', 'Message-ID': '<q2@contoso.test>', 'In-Reply-To': '<q1@contoso.test>', References: '<q1@contoso.test>', Date: 'Tue, 01 Dec 2026 10:00:00 +0000' }, [
      'Content-Type: text/plain', '', 'Thanks!',
    ]),
  );
  inlineOnly = fake.add(
    mail({ From: 'lee@contoso.test', To: 'adele.vance@contoso.test', Subject: 'Logo', 'Message-ID': '<logo@contoso.test>', Date: 'Wed, 02 Dec 2026 08:00:00 +0000' }, [
      'Content-Type: multipart/related; boundary="r"; type="text/html"', '', '--r', 'Content-Type: text/html', '', '<p>logo: <img src="cid:logo@x"></p>', '--r',
      'Content-Type: image/png; name="logo.png"', 'Content-ID: <logo@x>', 'Content-Transfer-Encoding: base64', '', b64(PNG), '--r--',
    ]),
  );
  forwarded = fake.add({
    raw: mail({ From: 'lee@contoso.test', To: 'adele.vance@contoso.test', Subject: 'Fwd: lunch', 'Message-ID': '<fwd@contoso.test>', Date: 'Thu, 03 Dec 2026 08:00:00 +0000' }, [
      'Content-Type: multipart/mixed; boundary="f"', '', '--f', 'Content-Type: text/plain', '', 'see below', '--f', 'Content-Type: message/rfc822', 'Content-Disposition: attachment; filename="lunch.eml"', '',
      'From: x@contoso.test', 'Subject: Lunch on Friday', 'Date: Mon, 30 Nov 2026 08:00:00 +0000', '', 'Pizza?', '--f--',
    ]),
    references: [{ name: 'Budget.xlsx', sourceUrl: 'https://contoso-my.sharepoint.com/personal/lee/Documents/Budget.xlsx' }],
  });
  sent = fake.add({
    raw: mail({ From: 'adele.vance@contoso.test', To: 'lee@contoso.test', Subject: 'Sent one', 'Message-ID': '<sent@contoso.test>', Date: 'Fri, 04 Dec 2026 08:00:00 +0000' }, ['Content-Type: text/plain', '', 'hello']),
    folder: 'sentitems',
  });
  for (let i = 0; i < 12; i++) {
    fake.add(mail({ From: 'bulk@contoso.test', To: 'adele.vance@contoso.test', Subject: `Bulk ${i}`, 'Message-ID': `<bulk${i}@contoso.test>`, Date: `Sat, 0${5 + (i % 3)} Dec 2026 0${i % 10}:00:00 +0000` }, ['Content-Type: text/plain', '', `bulk ${i}`]));
  }
});
afterAll(async () => {
  await fake.close();
});

const raw = (path: string, headers: Record<string, string> = {}) => fetch(`${fake.serviceRoot}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } });

interface Json {
  [k: string]: unknown;
}

describe('messages', () => {
  it('lists messages newest first in the message shape, ten to a page, with an absolute https nextLink graph-client follows', async () => {
    const first = (await client.api('/me/messages').get()) as { value: Json[]; '@odata.nextLink': string };
    expect(first.value).toHaveLength(10);
    expect(first['@odata.nextLink']).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/v1\.0\/me\/messages\?%24skiptoken=/);
    const received = first.value.map((m) => m.receivedDateTime as string);
    expect([...received].sort().reverse()).toEqual(received);
    const second = (await client.api(first['@odata.nextLink']).get()) as { value: Json[]; '@odata.nextLink'?: string };
    expect(second.value).toHaveLength(7);
    expect(second['@odata.nextLink']).toBeUndefined();
    const all = [...first.value, ...second.value];
    expect(new Set(all.map((m) => m.id)).size).toBe(17);
    const q = all.find((m) => m.subject === 'Quarterly report')!;
    expect(q).toMatchObject({
      id: root.restId,
      conversationId: root.conversationId,
      internetMessageId: '<q1@contoso.test>',
      from: { emailAddress: { name: 'Megan Bowen', address: 'megan@contoso.test' } },
      sender: { emailAddress: { name: 'Megan Bowen', address: 'megan@contoso.test' } },
      toRecipients: [{ emailAddress: { name: 'Adele Vance', address: 'adele.vance@contoso.test' } }],
      ccRecipients: [{ emailAddress: { name: 'lee@contoso.test', address: 'lee@contoso.test' } }],
      receivedDateTime: '2026-12-01T09:00:00Z',
      sentDateTime: '2026-12-01T09:00:00Z',
      hasAttachments: true,
      isDraft: false,
      parentFolderId: fake.mailbox().folder('inbox')!.id,
      bodyPreview: 'Here is the report.',
    });
    expect(q['@odata.etag']).toMatch(/^W\/"/);
    expect(Buffer.from(q.conversationIndex as string, 'base64')).toHaveLength(22);
    const r = all.find((m) => m.subject === 'RE: Quarterly report')!;
    expect(r.conversationId).toBe(q.conversationId);
    expect(Buffer.from(r.conversationIndex as string, 'base64')).toHaveLength(27);
    expect(all.find((m) => m.subject === 'Logo')!.hasAttachments).toBe(false);
  });

  it('applies $select and $expand=attachments($select=...) without contentBytes, and refuses a derived property without its cast', async () => {
    const page = (await client
      .api('/me/messages')
      .filter(`conversationId eq '${root.conversationId}'`)
      .select('id,subject,hasAttachments')
      .expand('attachments($select=id,name,contentType,size,isInline,microsoft.graph.fileAttachment/contentId)')
      .get()) as { value: Json[] };
    expect(page.value.map((m) => m.subject).sort()).toEqual(['Quarterly report', 'RE: Quarterly report']);
    const q = page.value.find((m) => m.subject === 'Quarterly report')!;
    expect(Object.keys(q).sort()).toEqual(['@odata.etag', 'attachments', 'hasAttachments', 'id', 'subject']);
    const atts = q.attachments as Json[];
    expect(atts).toHaveLength(2);
    expect(atts[0]).toEqual({ '@odata.type': '#microsoft.graph.fileAttachment', id: expect.any(String), name: 'report.pdf', contentType: 'application/pdf', size: expect.any(Number), isInline: false, contentId: null });
    expect(atts[0]!.size).toBeGreaterThan(PDF.length);
    expect(atts[1]!.name).toBe('ATT00001.bin');
    await expect(client.api('/me/messages').expand('attachments($select=id,contentId)').get()).rejects.toMatchObject({ statusCode: 400, code: 'BadRequest', message: "Could not find a property named 'contentId' on type 'microsoft.graph.attachment'." });
    await expect(client.api('/me/messages').select('id,nope').get()).rejects.toMatchObject({ statusCode: 400 });
  });

  it('filters on conversationId, hasAttachments and receivedDateTime, and enforces the InefficientFilter rule and $top', async () => {
    const dated = (await client.api('/me/messages').filter('receivedDateTime ge 2026-12-03T00:00:00Z and hasAttachments eq true').orderby('receivedDateTime desc').top(50).get()) as { value: Json[] };
    expect(dated.value.map((m) => m.subject)).toEqual(['Fwd: lunch']);
    const withAtt = (await client.api('/me/messages').filter('hasAttachments eq true').count(true).get()) as { value: Json[]; '@odata.count': number };
    expect(withAtt['@odata.count']).toBe(2);
    await expect(client.api('/me/messages').filter(`conversationId eq '${root.conversationId}'`).orderby('receivedDateTime desc').get()).rejects.toMatchObject({ statusCode: 400, code: 'InefficientFilter' });
    const ok = (await client.api('/me/messages').filter(`receivedDateTime ge 2020-01-01T00:00:00Z and conversationId eq '${root.conversationId}'`).orderby('receivedDateTime asc').get()) as { value: Json[] };
    expect(ok.value.map((m) => m.subject)).toEqual(['Quarterly report', 'RE: Quarterly report']);
    await expect(client.api('/me/messages').filter("hasAttachments eq 'true'").get()).rejects.toMatchObject({ statusCode: 400, message: expect.stringContaining("'Edm.Boolean' and 'Edm.String'") });
    await expect(client.api('/me/messages').top(1001).get()).rejects.toMatchObject({ statusCode: 400, message: expect.stringContaining("'1000'") });
    await expect(client.api('/me/messages').filter('isRead eq true or isRead eq false').get()).rejects.toMatchObject({ statusCode: 400, message: expect.stringContaining('fake') });
  });

  it('searches the default properties and KQL property restrictions, newest sent first, and refuses $search with $filter', async () => {
    const subjects = async (q: string) => ((await client.api('/me/messages').search(q).top(50).get()) as { value: Json[] }).value.map((m) => m.subject);
    expect(await subjects('"lunch"')).toEqual(['Fwd: lunch']);
    expect(await subjects('"report"')).toEqual(['RE: Quarterly report', 'Quarterly report']);
    expect(await subjects('"attachment:report.pdf"')).toEqual(['Quarterly report']);
    expect(await subjects('"report.pdf"')).toEqual([]);
    expect(await subjects('"hasAttachments:true AND received>=2026-12-03"')).toEqual(['Fwd: lunch']);
    expect(await subjects('"from:megan"')).toEqual(['Quarterly report']);
    await expect(client.api('/me/messages').search('"lunch"').filter('isRead eq false').get()).rejects.toMatchObject({ statusCode: 400 });
    await expect(client.api('/me/messages').search('lunch').get()).rejects.toMatchObject({ statusCode: 400 });
  });

  it('refuses mail to a delegated token without a Mail.Read scope, but not the profile', async () => {
    const userOnly = await fake.identity.issueAccessToken({ kind: 'delegated', userId: fake.mailbox().user.id, clientId: fake.app.clientId, scopes: ['https://graph.microsoft.com/User.Read'] });
    const headers = { authorization: `Bearer ${userOnly}` };
    expect((await fetch(`${fake.serviceRoot}/me`, { headers })).status).toBe(200);
    const res = await fetch(`${fake.serviceRoot}/me/messages`, { headers });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ErrorAccessDenied');
  });

  it('reads mailboxSettings only with a MailboxSettings.Read scope or role', async () => {
    await expect(client.api('/me/mailboxSettings').get()).rejects.toMatchObject({ statusCode: 403, code: 'ErrorAccessDenied' });
    const settingsToken = await fake.identity.issueAccessToken({ kind: 'application', clientId: fake.app.clientId, roles: ['Mail.Read', 'MailboxSettings.Read'] });
    const res = await fetch(`${fake.serviceRoot}/users/adele.vance@contoso.test/mailboxSettings`, { headers: { authorization: `Bearer ${settingsToken}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ timeZone: 'UTC', language: { locale: 'en-US' } });
  });

  it('lists folders by well-known name and the messages of Sent Items', async () => {
    const inbox = (await client.api('/me/mailFolders/inbox').get()) as Json;
    expect(inbox).toMatchObject({ displayName: 'Inbox', totalItemCount: 16, id: fake.mailbox().folder('inbox')!.id });
    const sentItems = (await client.api('/me/mailFolders/sentitems/messages').select('id,subject,parentFolderId').get()) as { value: Json[] };
    expect(sentItems.value).toEqual([{ '@odata.etag': expect.any(String), id: sent.restId, subject: 'Sent one', parentFolderId: fake.mailbox().folder('sentitems')!.id }]);
    const folders = (await client.api('/me/mailFolders').top(100).get()) as { value: Json[] };
    expect(folders.value.map((f) => f.displayName)).toContain('Sent Items');
  });

  it('answers immutable ids under Prefer: IdType="ImmutableId"; a move changes only the REST id', async () => {
    const box = fake.mailbox();
    const before = (await client.api(`/me/messages/${reply.restId}`).select('id').header('Prefer', 'IdType="ImmutableId"').get()) as Json;
    expect(before.id).toBe(reply.immutableId);
    expect(reply.immutableId).toMatch(/^AAkALg/);
    expect(reply.restId).toMatch(/^AAMkA/);
    const oldRest = reply.restId;
    const archive = box.folder('archive')!.id;
    box.move(reply, 'archive');
    try {
      expect(reply.restId).not.toBe(oldRest);
      const after = (await client.api(`/me/messages/${reply.immutableId}`).select('id,parentFolderId').header('Prefer', 'IdType="ImmutableId"').get()) as Json;
      expect(after).toMatchObject({ id: reply.immutableId, parentFolderId: archive });
      await expect(client.api(`/me/messages/${oldRest}`).get()).rejects.toMatchObject({ statusCode: 404, code: 'ErrorItemNotFound' });
    } finally {
      box.move(reply, 'inbox');
    }
  });
});

describe('attachments', () => {
  it('streams a file attachment byte-exact with Content-Length while size is the stored size', async () => {
    const list = (await client.api(`/me/messages/${root.restId}/attachments`).get()) as { value: Json[] };
    const pdf = list.value[0]!;
    expect(pdf).toMatchObject({ '@odata.type': '#microsoft.graph.fileAttachment', '@odata.mediaContentType': 'application/pdf', name: 'report.pdf', contentBytes: PDF.toString('base64'), isInline: false, contentLocation: null });
    expect(pdf.size).not.toBe(PDF.length);
    const res = await raw(`/me/messages/${root.restId}/attachments/${pdf.id as string}/$value`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/pdf');
    expect(res.headers.get('content-length')).toBe(String(PDF.length));
    expect(Buffer.from(await res.arrayBuffer()).equals(PDF)).toBe(true);
  });

  it('marks a cid image in multipart/related inline, with its contentId', async () => {
    const list = (await client.api(`/me/messages/${inlineOnly.restId}/attachments`).select('id,name,isInline,microsoft.graph.fileAttachment/contentId').get()) as { value: Json[] };
    expect(list.value).toEqual([{ '@odata.type': '#microsoft.graph.fileAttachment', id: expect.any(String), name: 'logo.png', isInline: true, contentId: 'logo@x' }]);
  });

  it('serves an enclosed message as an itemAttachment with regenerated MIME, and a reference attachment without bytes', async () => {
    const list = (await client.api(`/me/messages/${forwarded.restId}/attachments`).get()) as { value: Json[] };
    expect(list.value.map((a) => a['@odata.type'])).toEqual(['#microsoft.graph.itemAttachment', '#microsoft.graph.referenceAttachment']);
    const [item, ref] = list.value as [Json, Json];
    expect(item).toMatchObject({ name: 'Lunch on Friday', contentType: null, isInline: false });
    expect(item.contentBytes).toBeUndefined();
    const mime = await raw(`/me/messages/${forwarded.restId}/attachments/${item.id as string}/$value`);
    expect(mime.status).toBe(200);
    const text = await mime.text();
    expect(text).toContain('Subject: Lunch on Friday\r\n');
    expect(text).toContain('\r\n\r\nPizza?');
    expect(ref).toEqual({ '@odata.type': '#microsoft.graph.referenceAttachment', id: expect.any(String), lastModifiedDateTime: expect.any(String), name: 'Budget.xlsx', contentType: null, size: expect.any(Number), isInline: false });
    const beta = (await (await fetch(`${fake.origin}/beta/me/messages/${forwarded.restId}/attachments/${ref.id as string}`, { headers: { authorization: `Bearer ${token}` } })).json()) as Json;
    expect(beta).toMatchObject({ sourceUrl: 'https://contoso-my.sharepoint.com/personal/lee/Documents/Budget.xlsx', providerType: 'oneDriveBusiness', isFolder: false });
    const value = await raw(`/me/messages/${forwarded.restId}/attachments/${ref.id as string}/$value`);
    expect(value.status).toBe(405);
  });

  it('serves the message itself as MIME at /messages/{id}/$value', async () => {
    const res = await raw(`/me/messages/${reply.restId}/$value`);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(reply.raw)).toBe(true);
  });

  it('slows a body chunk by chunk without changing it, as a fault says', async () => {
    const pdfId = ((await client.api(`/me/messages/${root.restId}/attachments`).select('id').get()) as { value: Json[] }).value[0]!.id as string;
    const rule = fake.faults.add({ path: '/v1.0/me/messages/*/attachments/*/$value' }, { chunkDelayMs: 5 });
    const res = await raw(`/me/messages/${root.restId}/attachments/${pdfId}/$value`);
    expect(Buffer.from(await res.arrayBuffer()).equals(PDF)).toBe(true);
    expect(rule.hits).toBe(1);
  });

  it('cuts a $value body mid-way and answers 503 with Retry-After, as faults say', async () => {
    const pdfId = ((await client.api(`/me/messages/${root.restId}/attachments`).select('id').get()) as { value: Json[] }).value[0]!.id as string;
    fake.faults.add({ kind: 'value' }, { cutAfterBytes: 1000 });
    const res = await raw(`/me/messages/${root.restId}/attachments/${pdfId}/$value`);
    expect(res.headers.get('content-length')).toBe(String(PDF.length));
    await expect(res.arrayBuffer()).rejects.toThrow();
    fake.faults.add({ path: '/v1.0/me/messages/*/attachments/*/$value' }, { status: 503, body: { error: { code: 'ServiceNotAvailable', message: 'try later' } }, retryAfter: 7 });
    const busy = await raw(`/me/messages/${root.restId}/attachments/${pdfId}/$value`);
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('7');
    expect(fake.requests.filter((r) => r.kind === 'value' && r.status === 0)).toHaveLength(1);
  });
});

describe('$batch and throttling', () => {
  it('answers up to 20 requests with their own statuses, binary bodies in base64, dependsOn and 424', async () => {
    const pdfId = ((await client.api(`/me/messages/${root.restId}/attachments`).select('id').get()) as { value: Json[] }).value[0]!.id as string;
    fake.faults.add({ path: `/v1.0/me/messages/${reply.restId}`, inBatch: true }, { error: 'tooManyRequests', retryAfter: 3 });
    const content = new BatchRequestContent([
      { id: '1', request: new Request(`${fake.serviceRoot}/me/messages/${root.restId}?$select=subject`) },
      { id: '2', request: new Request(`${fake.serviceRoot}/me/messages/${root.restId}/attachments/${pdfId}/$value`) },
      { id: '3', request: new Request(`${fake.serviceRoot}/me/messages/${reply.restId}`) },
    ]);
    const before = fake.requests.length;
    const countsBefore = fake.counts();
    const answer = new BatchResponseContent(await client.api('/$batch').post(await content.getContent()));
    const countsAfter = fake.counts();
    expect(countsAfter.outer - countsBefore.outer).toBe(1);
    expect(countsAfter.batches - countsBefore.batches).toBe(1);
    expect(countsAfter.inBatches - countsBefore.inBatches).toBe(3);
    expect((countsAfter.byKind.value ?? 0) - (countsBefore.byKind.value ?? 0)).toBe(1);
    expect((countsAfter.byKind.message ?? 0) - (countsBefore.byKind.message ?? 0)).toBe(2);
    const batchEntry = fake.requests[before]!;
    expect(batchEntry.kind).toBe('batch');
    expect(batchEntry.inner!.map((r) => r.batchId).sort()).toEqual(['1', '2', '3']);
    expect(batchEntry.inner!.find((r) => r.batchId === '2')!.kind).toBe('value');
    const one = answer.getResponseById('1');
    expect(one.status).toBe(200);
    expect(((await one.json()) as Json).subject).toBe('Quarterly report');
    const two = answer.getResponseById('2');
    expect(two.status).toBe(200);
    expect(Buffer.from(await two.text(), 'base64').equals(PDF)).toBe(true);
    const three = answer.getResponseById('3');
    expect(three.status).toBe(429);
    expect(three.headers.get('retry-after')).toBe('3');
    expect(fake.graphCalls().slice(-3).map((r) => r.status).sort()).toEqual([200, 200, 429]);

    // graph-client allows only one dependency shape; the wire allows chains.
    const chained = (await client.api('/$batch').post({
      requests: [
        { id: '1', method: 'GET', url: `/me/messages/${root.restId}?$select=id` },
        { id: '2', method: 'GET', url: '/me/messages/AAMkAnope', dependsOn: ['1'] },
        { id: '3', method: 'GET', url: `/me/messages/${root.restId}?$select=id`, dependsOn: ['2'] },
      ],
    })) as { responses: { id: string; status: number }[] };
    expect(Object.fromEntries(chained.responses.map((r) => [r.id, r.status]))).toEqual({ '1': 200, '2': 404, '3': 424 });
  });

  it('throttles a whole $batch with 429 and Retry-After, counting no inner request', async () => {
    fake.faults.add({ path: '/v1.0/$batch', inBatch: false }, { error: 'tooManyRequests', retryAfter: 2 });
    const before = fake.graphCalls().length;
    const res = await fetch(`${fake.serviceRoot}/$batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ requests: [{ id: '1', method: 'GET', url: '/me' }] }),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('2');
    expect(((await res.json()) as { error: { code: string; innerError: { date: string } } }).error).toMatchObject({ code: 'TooManyRequests', innerError: { date: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/) } });
    expect(fake.graphCalls().length).toBe(before);
  });

  it('returns responses in another order than the requests when configured', async () => {
    const body = { requests: ['a', 'b', 'c'].map((id) => ({ id, method: 'GET', url: `/me/messages/${root.restId}?$select=id` })) };
    const res = (await client.api('/$batch').post(body)) as { responses: { id: string; status: number }[] };
    expect(res.responses.map((r) => r.id)).toEqual(['c', 'b', 'a']);
  });

  it('refuses a batch of 21 requests and a batch naming an unknown dependency', async () => {
    const many = { requests: Array.from({ length: 21 }, (_, i) => ({ id: String(i), method: 'GET', url: '/me' })) };
    await expect(client.api('/$batch').post(many)).rejects.toMatchObject({ statusCode: 400, code: 'BadRequest' });
    await expect(client.api('/$batch').post({ requests: [{ id: '1', method: 'GET', url: '/me', dependsOn: ['9'] }] })).rejects.toMatchObject({ statusCode: 400 });
  });

  it('answers 429 ApplicationThrottled past four concurrent requests of one app on one mailbox, outside and inside a batch', async () => {
    fake.faults.add({ path: '/v1.0/me/messages/*', inBatch: false }, { delayMs: 300 }, 4);
    const slow = Array.from({ length: 4 }, () => raw(`/me/messages/${root.restId}?$select=id`));
    await new Promise((r) => setTimeout(r, 100));
    const fifth = await raw(`/me/messages/${root.restId}?$select=id`);
    expect(fifth.status).toBe(429);
    expect((await raw('/me')).status).toBe(200);
    const otherApp = fake.identity.addApp();
    const otherAppToken = await fake.identity.issueAccessToken({ kind: 'delegated', userId: fake.mailbox().user.id, clientId: otherApp.clientId, scopes: ['https://graph.microsoft.com/Mail.Read'] });
    expect((await fetch(`${fake.serviceRoot}/me/messages/${root.restId}?$select=id`, { headers: { authorization: `Bearer ${otherAppToken}` } })).status).toBe(200);
    expect(fifth.headers.get('retry-after')).toBe('1');
    expect(((await fifth.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'ApplicationThrottled', message: 'Application is over its MailboxConcurrency limit.' });
    const other = await fetch(`${fake.serviceRoot}/users/other@contoso.test`, { headers: { authorization: `Bearer ${await fake.identity.issueAccessToken({ kind: 'application', clientId: fake.app.clientId, roles: ['Mail.Read'] })}` } });
    expect(other.status).toBe(200);
    const inBatch = (await client.api('/$batch').post({ requests: [{ id: '1', method: 'GET', url: `/me/messages/${root.restId}?$select=id` }] })) as { responses: { status: number; headers: Record<string, string> }[] };
    expect(inBatch.responses[0]!.status).toBe(429);
    expect(inBatch.responses[0]!.headers['Retry-After']).toBe('1');
    expect((await Promise.all(slow)).map((r) => r.status)).toEqual([200, 200, 200, 200]);
  });
});
