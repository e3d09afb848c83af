/**
 * Conformance of the LOCAL provider over the shared corpus: the mbox sample (23 messages) and the
 * folder of all 75 `.eml` files list exactly the attachments `expectedAttachments()` names, and
 * every download's bytes hash to the manifest's sha256. Plus threading, Maildir, cursors, errors,
 * and files deleted or cut after indexing.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Readable } from 'node:stream';
import { createLocalProvider } from '../src/providers/local/provider.ts';
import type { MessageInfo } from '../src/domain/mail.ts';
import type { MailProvider } from '../src/providers/types.ts';
import { corpusDir, corpusMbox, corpusMboxFileOfKey, expectedAttachments, hasCorpus, manifestEntry } from './support/corpus.ts';
import { silentLogger } from './support/logger.ts';
import { loaded } from './support/loaded.ts';

const silent = silentLogger();

async function sha256Of(stream: Readable): Promise<{ sha256: string; size: number }> {
  const hash = crypto.createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

async function allMessages(provider: MailProvider): Promise<MessageInfo[]> {
  const keys: string[] = [];
  let after: string | null = null;
  for (;;) {
    const page = await provider.listConversations({ first: 7, after });
    for (const c of page.items) keys.push(...c.messageKeys);
    if (!page.hasNextPage) break;
    after = page.endCursor;
  }
  return (loaded(await provider.loadMessages(keys))).filter((m): m is MessageInfo => m !== null);
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'local-provider-'));
}

async function expectConformance(provider: MailProvider, messages: MessageInfo[], fileOf: (m: MessageInfo) => string): Promise<void> {
  for (const message of messages) {
    const entry = manifestEntry(fileOf(message));
    const expected = expectedAttachments(entry);
    const listed = message.attachments.map((a) => ({ partId: a.partId, filename: a.filename, contentType: a.contentType, size: a.size, contentId: a.contentId, disposition: a.disposition }));
    expect(listed, entry.file).toEqual(expected.map(({ sha256: _s, ...rest }) => rest));
    for (const want of expected) {
      const content = await provider.openAttachment(message.key, want.partId);
      const got = await sha256Of(content.stream);
      expect({ file: entry.file, partId: want.partId, ...got }).toEqual({ file: entry.file, partId: want.partId, sha256: want.sha256, size: want.size });
      expect(content.size).toBe(want.size);
    }
  }
}

describe.skipIf(!hasCorpus)('LOCAL provider over the corpus mbox (sample.mbox, mboxrd)', () => {
  const dataDir = tempDir();
  const mbox = corpusMbox;
  let provider: MailProvider;
  let messages: MessageInfo[];

  beforeAll(async () => {
    provider = createLocalProvider({ id: 'mbox1', workspaceId: 'w', provider: 'LOCAL', address: null, displayName: null, settings: { path: mbox }, credentials: null }, { dataDir, logger: silent });
    const progress: number[] = [];
    await provider.prepare!((p) => progress.push(p.done));
    expect(progress.at(-1)).toBe(fs.statSync(mbox).size);
    messages = await allMessages(provider);
  });
  afterAll(async () => {
    await provider.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const fileOf = (m: MessageInfo) => corpusMboxFileOfKey(m.key);

  it('lists all 23 messages, each exactly once', () => {
    expect(messages).toHaveLength(23);
    expect(new Set(messages.map(fileOf)).size).toBe(23);
  });

  it('lists exactly the expected attachments and streams their exact bytes', async () => {
    await expectConformance(provider, messages, fileOf);
  });

  it('threads the RFC 2822 Appendix A.2 reply chain into one conversation, oldest first', async () => {
    const thread = messages.filter((m) => fileOf(m).startsWith('ruby-mail-rfc2822-thread-'));
    expect(thread).toHaveLength(3);
    expect(new Set(thread.map((m) => m.conversationKey)).size).toBe(1);
    const [conversation] = loaded(await provider.loadConversations([thread[0]!.conversationKey]));
    expect(conversation!.messageKeys.map((k) => fileOf(messages.find((m) => m.key === k)!))).toEqual([
      'ruby-mail-rfc2822-thread-1.eml',
      'ruby-mail-rfc2822-thread-2.eml',
      'ruby-mail-rfc2822-thread-3.eml',
    ]);
    expect(conversation!.subject).toBe('Saying Hello');
  });

  it('reuses the cached index on a second provider (no re-read needed) with the same keys', async () => {
    const again = createLocalProvider({ id: 'mbox1', workspaceId: 'w', provider: 'LOCAL', address: null, displayName: null, settings: { path: mbox }, credentials: null }, { dataDir, logger: silent });
    expect(fs.existsSync(path.join(dataDir, 'local-index/mbox1.json'))).toBe(true);
    const page = await again.listConversations({ first: 100 });
    expect(page.items.flatMap((c) => c.messageKeys).sort()).toEqual(messages.map((m) => m.key).sort());
  });

  it('refuses a forged cursor and an unknown part with stable codes', async () => {
    await expect(provider.listConversations({ first: 5, after: 'bm90LWEtY3Vyc29y' })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    await expect(provider.listConversations({ first: 0 })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    await expect(provider.openAttachment(messages[0]!.key, '99')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(provider.openAttachment('mbox:0:forged', '1')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(loaded(await provider.loadMessages(['nope']))).toEqual([null]);
  });

  it('filters by attachments, search over filenames and since', async () => {
    const withAtt = await provider.listConversations({ first: 100, filter: { hasAttachments: true } });
    expect(withAtt.items.length).toBeGreaterThan(0);
    expect(withAtt.items.every((c) => c.hasAttachments)).toBe(true);
    const pdf = await provider.listConversations({ first: 100, filter: { search: 'PDF' } });
    const pdfMessages = (loaded(await provider.loadMessages(pdf.items.flatMap((c) => c.messageKeys)))) as MessageInfo[];
    expect(pdfMessages.some((m) => m.attachments.some((a) => a.filename?.toLowerCase().includes('pdf')))).toBe(true);
    const none = await provider.listConversations({ first: 100, filter: { search: 'no-such-text-anywhere-42' } });
    expect(none.items).toEqual([]);
    const future = await provider.listConversations({ first: 100, filter: { since: new Date('2100-01-01') } });
    expect(future.items).toEqual([]);
  });
});

describe.skipIf(!hasCorpus)('LOCAL provider over the folder of 75 .eml files', () => {
  const dataDir = tempDir();
  let provider: MailProvider;
  let messages: MessageInfo[];
  beforeAll(async () => {
    provider = createLocalProvider({ id: 'eml1', workspaceId: 'w', provider: 'LOCAL', address: null, displayName: null, settings: { path: path.join(corpusDir, 'eml') }, credentials: null }, { dataDir, logger: silent });
    messages = await allMessages(provider);
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('lists exactly the expected attachments of all 75 messages and streams their exact bytes', async () => {
    expect(messages).toHaveLength(75);
    await expectConformance(provider, messages, (m) => m.key.replace(/^eml:/, ''));
  });

  it('keeps both mails that share one Message-ID (they reply to the same parent: one thread, two messages)', async () => {
    const a = messages.find((m) => m.key === 'eml:ruby-mail-rfc2231-bad-charset.eml')!;
    const b = messages.find((m) => m.key === 'eml:ruby-mail-unquoted-encoded-word-name.eml')!;
    expect(a.messageId).toBe(b.messageId);
    expect(a.conversationKey).toBe(b.conversationKey);
    const [conversation] = loaded(await provider.loadConversations([a.conversationKey]));
    expect(conversation!.messageKeys).toEqual(expect.arrayContaining([a.key, b.key]));
  });
});

describe('LOCAL provider over a Maildir', () => {
  const dir = tempDir();
  const dataDir = tempDir();
  const mail = (id: string, from: string, extra: string, body: string) =>
    `From: ${from}\r\nTo: other@example.org\r\nSubject: Report\r\nMessage-ID: <${id}@x>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n${extra}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: text/csv; name="r.csv"\r\nContent-Disposition: attachment; filename="r.csv"\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(body).toString('base64')}\r\n--b--\r\n`;
  beforeAll(() => {
    for (const d of ['cur', 'new', 'tmp', '.Sent/cur', '.Sent/new', '.Sent/tmp']) fs.mkdirSync(path.join(dir, d), { recursive: true });
    fs.writeFileSync(path.join(dir, 'cur/1700000000.1.host:2,S'), mail('a', 'Ann <ann@example.org>', '', 'a,b\n1,2\n'));
    fs.writeFileSync(path.join(dir, '.Sent/cur/1700000001.2.host:2,S'), mail('b', 'Me <me@example.com>', 'In-Reply-To: <a@x>\r\n', 'x\n'));
    fs.writeFileSync(path.join(dir, 'new/1700000002.3.host'), mail('c', 'ME@example.com', '', 'y\n'));
    // Two unrelated mails with one Message-ID and no references: must stay apart.
    fs.writeFileSync(path.join(dir, 'cur/1700000003.4.host:2,'), mail('dup', 'x@example.org', '', 'first\n'));
    fs.writeFileSync(path.join(dir, 'cur/1700000004.5.host:2,'), mail('dup', 'y@example.org', '', 'second\n'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('reads cur/ new/ and .Sent, sets direction, threads the reply and serves the CSV', async () => {
    const provider = createLocalProvider({ id: 'md', workspaceId: 'w', provider: 'LOCAL', address: 'me@example.com', displayName: null, settings: { path: dir }, credentials: null }, { dataDir, logger: silent });
    const all = await allMessages(provider);
    const dups = all.filter((m) => m.messageId === '<dup@x>');
    expect(dups).toHaveLength(2);
    expect(dups[0]!.conversationKey).not.toBe(dups[1]!.conversationKey);
    const byId = new Map(all.map((m) => [m.messageId, m]));
    expect(byId.get('<a@x>')!.direction).toBe('RECEIVED');
    expect(byId.get('<b@x>')!.direction).toBe('SENT'); // .Sent folder
    expect(byId.get('<c@x>')!.direction).toBe('SENT'); // From is the mailbox address
    expect(byId.get('<a@x>')!.conversationKey).toBe(byId.get('<b@x>')!.conversationKey);
    const a = byId.get('<a@x>')!;
    expect(a.attachments).toMatchObject([{ partId: '2', filename: 'r.csv', contentType: 'text/csv', size: 8, sizeExact: true, disposition: 'ATTACHMENT', kind: 'FILE' }]);
    const content = await provider.openAttachment(a.key, '2');
    const chunks: Buffer[] = [];
    for await (const c of content.stream) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('a,b\n1,2\n');

    // A flag change renames the file; the key stays and the bytes still come, at once (the
    // missing file makes the provider look at the store again).
    fs.renameSync(path.join(dir, 'cur/1700000000.1.host:2,S'), path.join(dir, 'cur/1700000000.1.host:2,RS'));
    const again = await provider.openAttachment(a.key, '2');
    const more: Buffer[] = [];
    for await (const c of again.stream) more.push(c as Buffer);
    expect(Buffer.concat(more).toString()).toBe('a,b\n1,2\n');
  });
});

describe('LOCAL provider when files change after indexing', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  const fresh = () => {
    const dir = tempDir();
    dirs.push(dir);
    return dir;
  };
  /** One mail with one base64 attachment `name` holding `body`. */
  const mail = (id: string, name: string, body: Buffer) =>
    `From: a@example.org\r\nSubject: ${id}\r\nMessage-ID: <${id}@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/octet-stream; name="${name}"\r\nContent-Disposition: attachment; filename="${name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${body.toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n--b--\r\n`;
  const mboxOf = (...mails: string[]) => mails.map((m) => `From a@example.org Mon Jan  1 10:00:00 2024\n${m}\n`).join('');
  const provider = (source: string) =>
    createLocalProvider({ id: `p${dirs.length}`, workspaceId: 'w', provider: 'LOCAL', address: null, displayName: null, settings: { path: source }, credentials: null }, { dataDir: fresh(), logger: silent });
  const read = async (stream: Readable) => {
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  const bodyA = crypto.randomBytes(3 << 20); // larger than one read of the file stream
  const bodyB = Buffer.from('second attachment\n');

  async function indexedMbox() {
    const file = path.join(fresh(), 'box.mbox');
    fs.writeFileSync(file, mboxOf(mail('a', 'a.bin', bodyA), mail('b', 'b.txt', bodyB)));
    const p = provider(file);
    await p.prepare!();
    const [a, b] = await allMessages(p).then((ms) => ['<a@x>', '<b@x>'].map((id) => ms.find((m) => m.messageId === id)!));
    return { file, p, a: a!, b: b! };
  }

  it('an mbox deleted after indexing: openAttachment rejects with NOT_FOUND at once', async () => {
    const { file, p, a } = await indexedMbox();
    fs.rmSync(file);
    await expect(p.openAttachment(a.key, '2')).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'Attachment not found' });
  });

  it('an mbox cut short after indexing: the lost message is NOT_FOUND, the kept one is served', async () => {
    const { file, p, a, b } = await indexedMbox();
    const offsetOfB = Number(b.key.split(':')[1]);
    fs.truncateSync(file, offsetOfB + 200);
    await expect(p.openAttachment(b.key, '2')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await read((await p.openAttachment(a.key, '2')).stream)).equals(bodyA)).toBe(true);
  });

  it('a stream opened before the mbox is deleted still delivers every byte', async () => {
    const { file, p, a } = await indexedMbox();
    const content = await p.openAttachment(a.key, '2');
    fs.rmSync(file);
    expect((await read(content.stream)).equals(bodyA)).toBe(true);
  });

  it('a Maildir message deleted or truncated after indexing is NOT_FOUND at once', async () => {
    const dir = fresh();
    for (const d of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(dir, d));
    fs.writeFileSync(path.join(dir, 'cur/1.host:2,S'), mail('a', 'a.bin', bodyB));
    fs.writeFileSync(path.join(dir, 'cur/2.host:2,S'), mail('b', 'b.txt', bodyB));
    const p = provider(dir);
    const byId = new Map((await allMessages(p)).map((m) => [m.messageId, m]));
    fs.rmSync(path.join(dir, 'cur/1.host:2,S'));
    await expect(p.openAttachment(byId.get('<a@x>')!.key, '2')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // Cut before the attachment: after re-indexing, the message has no such part any more.
    const second = path.join(dir, 'cur/2.host:2,S');
    fs.truncateSync(second, fs.readFileSync(second, 'latin1').indexOf('--b\r\nContent-Type: application/'));
    await expect(p.openAttachment(byId.get('<b@x>')!.key, '2')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
