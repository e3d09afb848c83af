/**
 * IMAP provider behaviour against private Dovecot instances: threading across INBOX and Sent (with
 * and without THREAD), stale UIDVALIDITY, wrong password, command counts independent of N, and
 * the fallbacks with BINARY / SPECIAL-USE switched off.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMessage } from '../src/mime/parse.ts';
import { groupHeaderRequests, headerSections } from '../src/providers/imap/part-headers.ts';
import { createImapProviderWith, type ImapProvider } from '../src/providers/imap/provider.ts';
import { corpusDir, hasCorpus } from './support/corpus.ts';
import { DOVECOT_MISSING, dovecotAvailable, startDovecot, type DovecotInstance, type DovecotOptions } from './support/dovecot.ts';
import { silentLogger } from './support/logger.ts';
import { openProviderIndex } from './support/imap-index.ts';
import { loaded } from './support/loaded.ts';

if (!dovecotAvailable()) console.warn(`\n*** ${DOVECOT_MISSING} ***\n`);
const silent = silentLogger();

// Every provider reads from the persistent mail index (a fresh one each), as the gateway's do;
// IMAP_INDEX=0 runs the same tests on the in-memory folder index instead (`npm run test:imap-memory`).
const providerIndex = process.env.IMAP_INDEX === '0' ? null : await openProviderIndex();
afterAll(async () => {
  await providerIndex?.close();
});

function providerFor(d: DovecotInstance, password = d.password, useServerThreads = true): ImapProvider {
  const indexed = providerIndex?.next();
  return createImapProviderWith(
    { id: indexed?.mailboxId ?? 'm', workspaceId: 'w', provider: 'IMAP', address: null, displayName: null, settings: { host: d.host, port: d.port, user: d.user, tls: false }, credentials: { password } },
    { dataDir: '/nonexistent', logger: silent, ...(indexed ? { mailIndex: indexed.mailIndex } : {}) },
    { useServerThreads },
  );
}

const eml = (name: string): Buffer => fs.readFileSync(path.join(corpusDir, 'eml', name));

/** A reply kept in Sent to the last message of the RFC 2822 A.2 thread. */
const SENT_REPLY = Buffer.from(
  'From: Mary Smith <mary@example.net>\r\nTo: John Doe <jdoe@machine.example>\r\nSubject: Re: Saying Hello\r\nDate: Sat, 22 Nov 1997 10:00:00 -0600\r\nMessage-ID: <sent.reply@example.net>\r\nIn-Reply-To: <abcd.1234@local.machine.tld>\r\nReferences: <1234@local.machine.example> <3456@example.net> <abcd.1234@local.machine.tld>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream; name="data.bin"\r\nContent-Disposition: attachment; filename="data.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
    Buffer.from('hello attachment bytes\n').toString('base64') +
    '\r\n--b--\r\n',
);

function synthetic(i: number): Buffer {
  const payload = Buffer.alloc(1000 + i, i % 256);
  return Buffer.from(
    `From: a${i}@example.com\r\nTo: b@example.com\r\nSubject: topic number ${i}\r\nDate: ${new Date(Date.UTC(2020, 0, 1) + i * 60_000).toUTCString()}\r\nMessage-ID: <m${i}@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nbody ${i}\r\n--b\r\nContent-Type: application/octet-stream; name="f${i}.bin"\r\nContent-Disposition: attachment; filename="f${i}.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n${payload.toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n--b--\r\n`,
  );
}

async function seed(options: DovecotOptions): Promise<DovecotInstance> {
  const d = await startDovecot(options);
  await d.appendMany([
    { folder: 'INBOX', raw: eml('ruby-mail-rfc2822-thread-1.eml') },
    { folder: 'INBOX', raw: eml('ruby-mail-rfc2822-thread-2.eml') },
    { folder: 'INBOX', raw: eml('ruby-mail-rfc2822-thread-3.eml') },
    { folder: 'INBOX', raw: eml('ruby-mail-pdf.eml') },
    { folder: d.sentFolder, raw: SENT_REPLY },
  ]);
  return d;
}

async function partition(p: ImapProvider): Promise<string[][]> {
  const page = await p.listConversations({ first: 100 });
  const messages = loaded(await p.loadMessages(page.items.flatMap((c) => c.messageKeys)));
  const ids = new Map(messages.map((m) => [m!.key, m!.messageId ?? m!.key]));
  return page.items.map((c) => c.messageKeys.map((k) => ids.get(k)!).sort()).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
}

describe('IMAP part headers (BODY[part.MIME]) batching', () => {
  it('asks the leaves below multiparts and nested multipart/related nodes, not inside enclosed messages', () => {
    const raw = Buffer.from(
      'Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/related; boundary=b; type="text/html"\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\nx\r\n--b\r\nContent-Type: image/png\r\n\r\ny\r\n--b--\r\n--a\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\r\nz\r\n--c--\r\n--a--\r\n',
    );
    expect(headerSections(parseMessage(raw).root)).toEqual(['1', '1.1', '1.2', '2']);
    expect(headerSections(parseMessage(Buffer.from('Content-Type: application/pdf\r\n\r\nx')).root)).toEqual([]);
  });

  it('asks similar messages in one command and keeps every command bounded', () => {
    const same = Array.from({ length: 500 }, (_, i) => ({ uid: i + 1, sections: ['1', '2'] }));
    expect(groupHeaderRequests(same)).toHaveLength(1);
    // 328 attachments in one mail plus small ones: no command above the section and item limits.
    const mixed = [{ uid: 1, sections: Array.from({ length: 900 }, (_, i) => String(i + 1)) }, ...Array.from({ length: 3000 }, (_, i) => ({ uid: i + 2, sections: ['1', '2', String(3 + (i % 7))] }))];
    const groups = groupHeaderRequests(mixed, 400, 4000);
    for (const g of groups) {
      expect(g.sections.size).toBeLessThanOrEqual(400);
      expect(g.sections.size * g.uids.length).toBeLessThanOrEqual(4000);
    }
    // Every wanted (uid, section) is asked.
    for (const r of mixed) for (const section of r.sections) expect(groups.some((g) => g.uids.includes(r.uid) && g.sections.has(section))).toBe(true);
    expect(groups.length).toBeLessThan(20);
  });
});

describe.skipIf(!hasCorpus || !dovecotAvailable())('IMAP provider', () => {
  let full: DovecotInstance;
  let bare: DovecotInstance;
  beforeAll(async () => {
    [full, bare] = await Promise.all([seed({}), seed({ without: ['THREAD', 'BINARY', 'SPECIAL-USE'], sentFolder: 'Sent Items', sentSpecialUse: false })]);
  });
  afterAll(async () => {
    await Promise.all([full?.close(), bare?.close()]);
  });

  it('joins the RFC 2822 A.2 thread and its reply in Sent into one conversation, newest first', async () => {
    const p = providerFor(full);
    try {
      const page = await p.listConversations({ first: 10 });
      const thread = page.items.find((c) => c.messageKeys.length === 4);
      expect(thread).toBeDefined();
      expect(thread!.subject).toBe('Saying Hello');
      expect(thread!.hasAttachments).toBe(true);
      const messages = loaded(await p.loadMessages(thread!.messageKeys));
      expect(messages.map((m) => m!.messageId)).toEqual(['<1234@local.machine.example>', '<3456@example.net>', '<abcd.1234@local.machine.tld>', '<sent.reply@example.net>']);
      expect(messages.map((m) => m!.direction)).toEqual(['RECEIVED', 'RECEIVED', 'RECEIVED', 'SENT']);
      expect(new Set(messages.map((m) => m!.conversationKey))).toEqual(new Set([thread!.key]));
      const [byMessage] = loaded(await p.loadConversations([thread!.messageKeys[2]!]));
      expect(byMessage!.key).toBe(thread!.key);
      // The ruby-mail-pdf mail (2005) is newer than the 1997 thread.
      expect(page.items[0]!.messageKeys.length).toBe(1);
      const sentAttachment = messages[3]!.attachments[0]!;
      expect(sentAttachment).toMatchObject({ filename: 'data.bin', size: 23, sizeExact: true });
      const content = await p.openAttachment(messages[3]!.key, sentAttachment.partId);
      const chunks: Buffer[] = [];
      for await (const c of content.stream) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe('hello attachment bytes\n');
    } finally {
      await p.close();
    }
  });

  it('gives the same conversations without THREAD, BINARY and SPECIAL-USE (Sent found by name)', async () => {
    const withThread = providerFor(full);
    const without = providerFor(bare);
    const headersOnly = providerFor(full, full.password, false);
    try {
      const expected = await partition(withThread);
      expect(await partition(without)).toEqual(expected);
      expect(await partition(headersOnly)).toEqual(expected);
      const page = await without.listConversations({ first: 10 });
      const thread = page.items.find((c) => c.messageKeys.length === 4)!;
      const messages = loaded(await without.loadMessages(thread.messageKeys));
      expect(messages[3]!.direction).toBe('SENT');
      // Without BINARY the size comes from client-side decoding, still exact.
      expect(messages[3]!.attachments[0]).toMatchObject({ size: 23, sizeExact: true });
    } finally {
      await Promise.all([withThread.close(), without.close(), headersOnly.close()]);
    }
  });

  it('pages with opaque cursors and refuses a forged one with BAD_USER_INPUT', async () => {
    const p = providerFor(full);
    try {
      const first = await p.listConversations({ first: 1 });
      expect(first.hasNextPage).toBe(true);
      const second = await p.listConversations({ first: 1, after: first.endCursor });
      expect(second.items[0]!.key).not.toBe(first.items[0]!.key);
      await expect(p.listConversations({ first: 1, after: 'bm90LWEtY3Vyc29y' })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
      const searched = await p.listConversations({ first: 10, filter: { search: 'Saying Hello' } });
      expect(searched.items.map((c) => c.subject)).toEqual(['Saying Hello']);
      const withFiles = await p.listConversations({ first: 10, filter: { hasAttachments: true, since: new Date('2000-01-01') } });
      expect(withFiles.items).toHaveLength(1);
    } finally {
      await p.close();
    }
  });

  it('refuses a wrong password with PROVIDER_AUTH_FAILED', async () => {
    const p = providerFor(full, 'wrong-password');
    try {
      await expect(p.listConversations({ first: 5 })).rejects.toMatchObject({ code: 'PROVIDER_AUTH_FAILED' });
    } finally {
      await p.close();
    }
  });

  it('answers PROVIDER_UNAVAILABLE when nothing listens', async () => {
    const p = providerFor({ ...full, port: 1 });
    try {
      await expect(p.listConversations({ first: 5 })).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE' });
    } finally {
      await p.close();
    }
  });
});

describe.skipIf(!dovecotAvailable())('IMAP provider: stale keys and command counts', () => {
  let d: DovecotInstance;
  beforeAll(async () => {
    d = await startDovecot();
    await d.appendMany(Array.from({ length: 60 }, (_, i) => ({ folder: 'INBOX', raw: synthetic(i) })));
    await d.appendMany([{ folder: 'Work', raw: synthetic(100) }]);
  });
  afterAll(async () => {
    await d?.close();
  });

  it('costs the same number of IMAP commands for 10 and for 50 conversations with messages and attachments', async () => {
    const cost = async (n: number): Promise<number> => {
      const p = providerFor(d);
      try {
        const page = await p.listConversations({ first: n });
        expect(page.items).toHaveLength(n);
        const convs = loaded(await p.loadConversations(page.items.map((c) => c.key)));
        const messages = loaded(await p.loadMessages(convs.flatMap((c) => c!.messageKeys)));
        for (const [i, m] of messages.entries()) {
          expect(m!.attachments[0]!.sizeExact).toBe(true);
          expect(m!.attachments[0]!.size).toBe(1000 + Number(/f(\d+)/.exec(m!.attachments[0]!.filename!)![1]));
          void i;
        }
        return p.stats.commands;
      } finally {
        await p.close();
      }
    };
    const ten = await cost(10);
    const fifty = await cost(50);
    expect(fifty).toBe(ten);
    expect(fifty).toBeLessThan(25);
  });

  it('treats keys of a recreated folder (new UIDVALIDITY) as stale: null and NOT_FOUND', async () => {
    const p = providerFor(d);
    try {
      const page = await p.listConversations({ first: 1 });
      const key = page.items[0]!.messageKeys[0]!;
      const [before] = loaded(await p.loadMessages([key]));
      expect(before).not.toBeNull();
      // Simulate the recreate with a changed UIDVALIDITY by forging the key's UIDVALIDITY.
      const [folder, uidValidity, uid] = JSON.parse(key) as [string, number, number];
      const stale = JSON.stringify([folder, uidValidity - 1, uid]);
      expect(loaded(await p.loadMessages([stale, 'not a key']))).toEqual([null, null]);
      await expect(p.openAttachment(stale, '2')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(loaded(await p.loadConversations([stale]))).toEqual([null]);
    } finally {
      await p.close();
    }
  });

  it('drops keys after the Sent folder is deleted and recreated', async () => {
    const admin = await d.client();
    try {
      await admin.mailboxCreate('Old');
    } finally {
      await admin.logout();
    }
    const p = providerFor(d);
    try {
      const uid = await d.append('Sent', synthetic(200));
      const page = await p.listConversations({ first: 100 });
      const key = page.items.flatMap((c) => c.messageKeys).find((k) => (JSON.parse(k) as [string, number, number])[0] === 'Sent' && (JSON.parse(k) as number[])[2] === uid)!;
      expect(key).toBeDefined();
      // Dovecot derives a new UIDVALIDITY from the clock in seconds: let one pass.
      await new Promise((r) => setTimeout(r, 1100));
      const c = await d.client();
      try {
        await c.mailboxDelete('Sent');
        await c.mailboxCreate('Sent');
      } finally {
        await c.logout();
      }
      await d.append('Sent', synthetic(200));
      expect(loaded(await p.loadMessages([key]))).toEqual([null]);
      await expect(p.openAttachment(key, '2')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    } finally {
      await p.close();
    }
  });

  it('streams a 24 MiB base64 attachment with exact bytes and releases the connection on abort', async () => {
    const payload = Buffer.alloc(24 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i);
    const raw = Buffer.from(
      `From: big@example.com\r\nTo: b@example.com\r\nSubject: big\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <big@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nbig\r\n--b\r\nContent-Type: application/octet-stream; name="big.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n${payload.toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n--b--\r\n`,
    );
    const uid = await d.append('INBOX', raw);
    const p = providerFor(d);
    try {
      const page = await p.listConversations({ first: 1 });
      const key = page.items[0]!.messageKeys[0]!;
      expect((JSON.parse(key) as number[])[2]).toBe(uid);
      const [m] = loaded(await p.loadMessages([key]));
      expect(m!.attachments[0]).toMatchObject({ size: payload.length, sizeExact: true });
      const content = await p.openAttachment(key, '2');
      expect(content.size).toBe(payload.length);
      const hash = createHash('sha256');
      for await (const c of content.stream) hash.update(c as Buffer);
      expect(hash.digest('hex')).toBe(createHash('sha256').update(payload).digest('hex'));
      // Abort after the first chunk: the stream ends with an error and the pool stays usable.
      const controller = new AbortController();
      const aborted = await p.openAttachment(key, '2', { signal: controller.signal });
      await new Promise<void>((resolve) => aborted.stream.once('data', () => resolve()));
      controller.abort();
      await new Promise((resolve) => aborted.stream.once('close', resolve));
      const again = loaded(await p.loadMessages([key]));
      expect(again[0]!.key).toBe(key);
      const third = await p.openAttachment(key, '2');
      let n = 0;
      for await (const c of third.stream) n += (c as Buffer).length;
      expect(n).toBe(payload.length);
    } finally {
      await p.close();
    }
  });
});

describe.skipIf(!dovecotAvailable())('IMAP provider: faults', () => {
  let d: DovecotInstance;
  beforeAll(async () => {
    d = await startDovecot();
  });
  afterAll(async () => {
    await d?.close();
  });

  it('fails a download cut mid-way by the server with PROVIDER_UNAVAILABLE, then serves the next one on a fresh connection', async () => {
    const payload = Buffer.alloc(12 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE((i * 2246822519) >>> 0, i);
    const raw = Buffer.from(
      `From: a@example.com\r\nTo: b@example.com\r\nSubject: cut\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <cut@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\nContent-Type: application/octet-stream; name="cut.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n${payload.toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n--b--\r\n`,
    );
    await d.append('INBOX', raw);
    const p = providerFor(d);
    try {
      const page = await p.listConversations({ first: 1, filter: { search: 'cut' } });
      const key = page.items[0]!.messageKeys[0]!;
      const cut = await p.openAttachment(key, '2');
      let received = 0;
      const failure = (async () => {
        for await (const c of cut.stream) {
          if (received === 0) d.kick();
          received += (c as Buffer).length;
        }
      })();
      await expect(failure).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE' });
      expect(received).toBeLessThan(payload.length);
      // The broken connection left the pool: the same download now succeeds in full.
      const again = await p.openAttachment(key, '2');
      const hash = createHash('sha256');
      for await (const c of again.stream) hash.update(c as Buffer);
      expect(hash.digest('hex')).toBe(createHash('sha256').update(payload).digest('hex'));
    } finally {
      await p.close();
    }
  });
});

describe.skipIf(!dovecotAvailable())('IMAP threading: header fallback versus server THREAD', () => {
  const mail = (id: string, subject: string, day: number, extra = '') =>
    Buffer.from(`From: a@example.org\r\nTo: b@example.org\r\nSubject: ${subject}\r\nDate: ${new Date(Date.UTC(2024, 0, day)).toUTCString()}\r\nMessage-ID: <${id}>\r\n${extra}\r\nbody\r\n`);
  /** Conversations as sorted lists of subjects (the subjects here are unique). */
  async function bySubject(p: ImapProvider): Promise<string[][]> {
    const page = await p.listConversations({ first: 100 });
    const messages = loaded(await p.loadMessages(page.items.flatMap((c) => c.messageKeys)));
    const subjects = new Map(messages.map((m) => [m!.key, m!.subject ?? '']));
    return page.items.map((c) => c.messageKeys.map((k) => subjects.get(k)!).sort()).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
  }

  it('groups duplicate Message-IDs, missing parents, base subjects and Sent replies alike', async () => {
    const d = await startDovecot({});
    const withThread = providerFor(d);
    const headersOnly = providerFor(d, d.password, false);
    try {
      await d.appendMany([
        { folder: 'INBOX', raw: mail('dup@x', 'Alpha', 1) },
        // Same Message-ID, unrelated: RFC 5256 gives the id to the first message only.
        { folder: 'INBOX', raw: mail('dup@x', 'Beta', 2) },
        { folder: 'INBOX', raw: mail('g@x', 'Gamma', 3, 'In-Reply-To: <dup@x>\r\n') },
        // Two replies to a parent that is not there, and the base subject "Delta".
        { folder: 'INBOX', raw: mail('d@x', 'Re: Delta', 4, 'References: <missing@x>\r\n') },
        { folder: 'INBOX', raw: mail('e@x', 'Delta', 5) },
        { folder: 'INBOX', raw: mail('f@x', 'Epsilon', 6, 'References: <missing@x>\r\n') },
        { folder: 'INBOX', raw: mail('h@x', '[list] Re: Eta', 7) },
        { folder: 'INBOX', raw: mail('i@x', 'Eta (fwd)', 8) },
        // In Sent: the sent copy of the first dup@x mail (one message stored twice: joins it)
        // and a reply (joins Delta).
        { folder: d.sentFolder, raw: mail('dup@x', 'Alpha', 1) },
        { folder: d.sentFolder, raw: mail('l@x', 'Lambda', 10, 'In-Reply-To: <e@x>\r\n') },
      ]);
      const expected = [['Alpha', 'Alpha', 'Gamma'], ['Beta'], ['Delta', 'Epsilon', 'Lambda', 'Re: Delta'], ['Eta (fwd)', '[list] Re: Eta']];
      expect(await bySubject(withThread)).toEqual(expected);
      expect(await bySubject(headersOnly)).toEqual(expected);
    } finally {
      await Promise.all([withThread.close(), headersOnly.close()]);
      await d.close();
    }
  });
});
