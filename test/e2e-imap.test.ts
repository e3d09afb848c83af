/**
 * End to end over IMAP: a private Dovecot loaded by APPEND with the 75 real corpus mails (every
 * fifth in Sent), a real gateway on loopback with a real SQLite store, and a GraphQL client that
 * pages through every conversation and follows every signed URL. Each message shows exactly the
 * attachments `expectedAttachments()` names, and every URL streams the manifest's bytes.
 *
 * IMAP serves message text with CRLF line ends (RFC 3501), so an identity-encoded part of a file
 * stored with bare LF comes back with CRLF: for a file with no CR at all, such a part must turn
 * back into the manifest's bytes under CRLF → LF. The files where a Dovecot quirk adds a line end
 * to an enclosed message are `IMAP_BYTE_EXCEPTIONS`; for those the test still requires a 200
 * whose byte count equals the listed size.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeNodeId } from '../src/ids.ts';
import { corpusDir, expectedAttachments, hasCorpus, loadManifest } from './support/corpus.ts';
import { DOVECOT_MISSING, dovecotAvailable, startDovecot, type DovecotInstance } from './support/dovecot.ts';
import { collectMessages, download, signedUrlOf, startE2eGateway, type E2eGateway, type SeenMessage } from './support/gateway-e2e.ts';

if (!dovecotAvailable()) console.warn(`\n*** ${DOVECOT_MISSING} ***\n`);

/**
 * Files with an enclosed message that Dovecot 2.3.19 serves one line end too long (it keeps the
 * CRLF that belongs to the outer boundary, RFC 2046 §5.1.1, after a close delimiter or a
 * header-only message); measured and pinned part by part in imap-conformance.test.ts.
 */
const IMAP_BYTE_EXCEPTIONS = new Set([
  'flanker-enclosed-eml.eml',
  'ruby-mail-rfc822-inline-image.eml',
  'flanker-mime-torture.eml',
  'mimekit-rfc2060-example.eml',
  'postal-mime-mimetorture.eml',
]);

describe.skipIf(!hasCorpus || !dovecotAvailable())('IMAP end to end (Dovecot, GraphQL, signed URLs)', () => {
  let dovecot: DovecotInstance;
  let gateway: E2eGateway;
  let messages: SeenMessage[];
  const fileAt = new Map<string, string>(); // "folder/uid" → corpus file name
  const hasCr = new Map<string, boolean>(); // corpus file name → has any CR byte

  beforeAll(async () => {
    dovecot = await startDovecot();
    const manifest = loadManifest();
    const items = manifest.map((entry, i) => ({ folder: i % 5 === 4 ? dovecot.sentFolder : 'INBOX', raw: fs.readFileSync(path.join(corpusDir, entry.file)), file: path.basename(entry.file) }));
    const uids = await dovecot.appendMany(items);
    items.forEach((item, i) => {
      fileAt.set(`${item.folder}/${uids[i]}`, item.file);
      hasCr.set(item.file, item.raw.includes(13));
    });
    gateway = await startE2eGateway();
    await gateway.addDovecotMailbox(dovecot);
    const listed = await gateway.graphql<{ mailboxes: { id: string }[] }>('{ mailboxes { id } }');
    messages = await collectMessages(gateway, listed.data!.mailboxes[0]!.id);
  });
  afterAll(async () => {
    await gateway?.close();
    await dovecot?.close();
  });

  /** The corpus file of a message: its IMAP key is [folder, UIDVALIDITY, UID]. */
  function fileOf(message: SeenMessage): string {
    const [, key] = decodeNodeId('Message', message.id);
    const [folder, , uid] = JSON.parse(key!) as [string, number, number];
    return fileAt.get(`${folder}/${uid}`)!;
  }

  it('shows every corpus message once, with its direction', () => {
    expect(messages.map(fileOf).sort()).toEqual(loadManifest().map((e) => path.basename(e.file)).sort());
    const sent = messages.filter((m) => m.direction === 'SENT').length;
    expect(sent).toBe(loadManifest().filter((_, i) => i % 5 === 4).length);
  });

  it('answered from the mail index on the gateway database: every message of INBOX and Sent is indexed, both folders current', async () => {
    const index = gateway.store.mailIndex!();
    const mailboxId = (await gateway.store.listMailboxes(gateway.workspaceId))[0]!.id;
    const folders = await index.folders(mailboxId);
    expect(folders.map((f) => [f.folder, f.syncState]).sort()).toEqual([
      ['INBOX', 'current'],
      [dovecot.sentFolder, 'current'],
    ].sort());
    expect(folders.reduce((n, f) => n + f.syncedMessages, 0)).toBe(messages.length);
  });

  it('lists exactly the expected attachments of every message, with exact sizes', () => {
    for (const message of messages) {
      const file = fileOf(message);
      const expected = expectedAttachments(loadManifest().find((e) => path.basename(e.file) === file)!);
      const seen = message.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, contentId: a.contentId, disposition: a.disposition }));
      expect(seen, file).toEqual(expected.map((e) => ({ filename: e.filename, contentType: e.contentType, contentId: e.contentId, disposition: e.disposition })));
      for (const a of message.attachments) expect(a.sizeExact, file).toBe(true);
    }
  });

  it('streams every attachment byte-exact through its signed URL', async () => {
    let checked = 0;
    for (const message of messages) {
      const file = fileOf(message);
      const expected = expectedAttachments(loadManifest().find((e) => path.basename(e.file) === file)!);
      for (const [i, a] of message.attachments.entries()) {
        const got = await download(signedUrlOf(a), true);
        expect(got.status, `${file} ${a.filename}`).toBe(200);
        expect(got.bytes, `${file} ${a.filename}: listed size = served bytes`).toBe(a.size);
        expect(got.contentLength).toBe(String(a.size));
        if (IMAP_BYTE_EXCEPTIONS.has(file)) continue;
        if (got.sha256 !== expected[i]!.sha256 && !hasCr.get(file)) {
          const lf = got.body!.toString('latin1').replace(/\r\n/g, '\n');
          expect(createHash('sha256').update(Buffer.from(lf, 'latin1')).digest('hex'), `${file} ${a.filename} (bare-LF file, CRLF → LF)`).toBe(expected[i]!.sha256);
        } else {
          expect(got.sha256, `${file} ${a.filename}`).toBe(expected[i]!.sha256);
          expect(a.size, `${file} ${a.filename}`).toBe(expected[i]!.size);
        }
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(400);
  });

  it('answers a stale UIDVALIDITY as not found, in GraphQL and on the download route', async () => {
    // INBOX cannot be deleted (RFC 3501 §6.3.4): recreate Sent, which gets a new UIDVALIDITY.
    const victim = messages.find((m) => m.direction === 'SENT' && m.attachments.length > 0)!;
    const url = signedUrlOf(victim.attachments[0]!);
    const [, key] = decodeNodeId('Message', victim.id);
    const [folder] = JSON.parse(key!) as [string];
    const admin = await dovecot.client();
    try {
      await admin.mailboxDelete(folder);
      await admin.mailboxCreate(folder);
    } finally {
      await admin.logout();
    }
    const answer = await gateway.graphql('query($id: ID!) { node(id: $id) { id } }', { id: victim.id });
    expect(answer.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const response = await fetch(url);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: 'NOT_FOUND' });
  });
});
