/**
 * End to end over the local store: a real gateway on loopback, a real SQLite store, the real corpus
 * mails twice: the 75 `.eml` files as a directory, and the 23 of them in `mbox/sample.mbox`
 * (mboxrd). For every message a GraphQL client lists exactly the attachments
 * `expectedAttachments()` names (see its table for which parser view we follow where the two
 * disagree), and every signed URL streams bytes whose sha256 is the manifest's.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeNodeId } from '../src/ids.ts';
import { corpusDir, corpusMbox, corpusMboxFileOfKey, corpusMboxFiles, expectedAttachments, hasCorpus, loadManifest, manifestEntry } from './support/corpus.ts';
import { collectMessages, download, signedUrlOf, startE2eGateway, type E2eGateway, type SeenMessage } from './support/gateway-e2e.ts';

/** One way the corpus reaches the local provider, and how a provider message key maps back to its corpus file. */
interface Source {
  label: string;
  /** The mailbox's `settings.path`. */
  path: string;
  /** The corpus `.eml` names the source holds. */
  files(): string[];
  /** The corpus file name of a provider message key. */
  fileOfKey(key: string): string;
}


const SOURCES: Source[] = [
  {
    label: 'corpus .eml directory',
    path: path.join(corpusDir, 'eml'),
    files: () => loadManifest().map((e) => path.basename(e.file)),
    // The local key of an .eml message is `eml:<file name>`.
    fileOfKey: (key) => key.replace(/^eml:/, ''),
  },
  {
    label: 'corpus sample.mbox (mboxrd)',
    path: corpusMbox,
    files: corpusMboxFiles,
    fileOfKey: corpusMboxFileOfKey,
  },
];

describe.skipIf(!hasCorpus).each(SOURCES)('local store end to end over the $label (GraphQL and signed URLs over HTTP)', (source) => {
  let gateway: E2eGateway;
  let messages: SeenMessage[];

  beforeAll(async () => {
    gateway = await startE2eGateway();
    await gateway.addMailbox({ provider: 'LOCAL', address: null, displayName: 'corpus', settings: { path: source.path }, credentials: null });
    const listed = await gateway.graphql<{ mailboxes: { id: string }[] }>('{ mailboxes { id } }');
    messages = await collectMessages(gateway, listed.data!.mailboxes[0]!.id);
  });
  afterAll(async () => gateway?.close());

  function fileOf(message: SeenMessage): string {
    const [, key] = decodeNodeId('Message', message.id);
    return source.fileOfKey(key!);
  }

  it('shows every message of the source once', () => {
    expect(messages.map(fileOf).sort()).toEqual(source.files().sort());
  });

  it('lists exactly the expected attachments of every message', () => {
    for (const message of messages) {
      const expected = expectedAttachments(manifestEntry(fileOf(message)));
      const seen = message.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, size: a.size, contentId: a.contentId, disposition: a.disposition }));
      expect(seen, fileOf(message)).toEqual(expected.map((e) => ({ filename: e.filename, contentType: e.contentType, size: e.size, contentId: e.contentId, disposition: e.disposition })));
      for (const a of message.attachments) expect(a.sizeExact, fileOf(message)).toBe(true);
    }
  });

  it('streams byte-exact attachments through signed URLs with the documented headers', async () => {
    let count = 0;
    for (const message of messages) {
      const expected = expectedAttachments(manifestEntry(fileOf(message)));
      for (const [i, a] of message.attachments.entries()) {
        const got = await download(signedUrlOf(a));
        expect(got.status, `${fileOf(message)} ${a.filename}`).toBe(200);
        expect(got.sha256, `${fileOf(message)} ${a.filename}`).toBe(expected[i]!.sha256);
        expect(got.contentLength).toBe(String(expected[i]!.size));
        expect(got.contentDisposition).toMatch(/^attachment/);
        count += 1;
      }
    }
    // Every attachment the manifest names for the source was fetched, none skipped.
    expect(count).toBe(source.files().reduce((n, file) => n + expectedAttachments(manifestEntry(file)).length, 0));
    expect(count).toBeGreaterThan(0);
  });

  it('hides the mailbox from another workspace', async () => {
    const other = await gateway.store.createWorkspace('intruder');
    const { key } = await gateway.store.createApiKey(other.id);
    const mine = messages[0]!;
    const answer = await gateway.graphql('query($id: ID!) { node(id: $id) { id } }', { id: mine.id }, key);
    expect(answer.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const list = await gateway.graphql<{ mailboxes: unknown[] }>('{ mailboxes { id } }', {}, key);
    expect(list.data?.mailboxes).toEqual([]);
  });
});
