/**
 * The fake Graph over the shared corpus: every attachment the gateway's policy lists for a corpus
 * message is an attachment of the fake (a fileAttachment whose `$value` is byte-exact against the
 * manifest's SHA-256, or an itemAttachment for an enclosed message), named as Exchange names them,
 * with a stored `size` that is not the byte count.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedAttachments, hasCorpus, manifestEntry } from './support/corpus.ts';
import { addCorpus, type CorpusMessage } from './support/fake-graph/corpus.ts';
import { attachmentId, startFakeGraph, type FakeGraph } from './support/fake-graph/index.ts';

let fake: FakeGraph;
let corpus: CorpusMessage[] = [];
let token: string;

beforeAll(async () => {
  fake = await startFakeGraph({ addresses: ['corpus@fake-graph.test'] });
  corpus = addCorpus(fake.mailbox());
  token = await fake.identity.issueAccessToken({ kind: 'application', clientId: fake.app.clientId, roles: ['Mail.Read'] });
});
afterAll(async () => {
  await fake.close();
});

describe.skipIf(!hasCorpus)('fake Graph over the corpus', () => {
  it('lists the policy attachments of every message, file bytes byte-exact through $value', async () => {
    expect(corpus.length).toBeGreaterThan(70);
    const downloads: { url: string; sha256: string; file: string }[] = [];
    for (const { file, message } of corpus) {
      const expected = expectedAttachments(manifestEntry(path.basename(file)));
      expect(message.attachments.map((a) => (a.type === 'item' ? 'ITEM' : 'FILE')), file).toEqual(expected.map((e) => (e.contentType === 'message/rfc822' || e.contentType === 'message/global' ? 'ITEM' : 'FILE')));
      let unnamed = 0;
      for (const [i, e] of expected.entries()) {
        const a = message.attachments[i]!;
        expect(a.size, file).toBeGreaterThan(e.size);
        if (a.type !== 'file') continue;
        expect(a.name, file).toBe(e.filename ?? `ATT${String(++unnamed).padStart(5, '0')}.bin`);
        expect(a.contentType, file).toBe(e.contentType);
        expect(a.isInline, file).toBe(e.disposition === 'INLINE');
        expect(a.contentId, file).toBe(e.contentId);
        downloads.push({ url: `/users/corpus@fake-graph.test/messages/${message.restId}/attachments/${attachmentId(message.restId, a.index)}/$value`, sha256: e.sha256, file });
      }
      expect(message.hasAttachments, file).toBe(expected.some((e) => e.disposition !== 'INLINE'));
    }
    // Through $batch, 20 downloads per request (one batch at a time: a batch runs four at once,
    // the mailbox's limit). Binary bodies come back base64.
    for (let i = 0; i < downloads.length; i += 20) {
      const chunk = downloads.slice(i, i + 20);
      const res = await fetch(`${fake.serviceRoot}/$batch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ requests: chunk.map((d, j) => ({ id: String(j), method: 'GET', url: d.url })) }),
      });
      expect(res.status).toBe(200);
      const { responses } = (await res.json()) as { responses: { id: string; status: number; body: string }[] };
      for (const r of responses) {
        const d = chunk[Number(r.id)]!;
        expect(r.status, d.file).toBe(200);
        expect(crypto.createHash('sha256').update(Buffer.from(r.body, 'base64')).digest('hex'), d.file).toBe(d.sha256);
      }
    }
    // And one of each message directly, with its Content-Length.
    const direct = [...new Map(downloads.map((d) => [d.file, d])).values()];
    for (let i = 0; i < direct.length; i += 4) {
      await Promise.all(
        direct.slice(i, i + 4).map(async (d) => {
          const res = await fetch(`${fake.serviceRoot}${d.url}`, { headers: { authorization: `Bearer ${token}` } });
          expect(res.status, d.file).toBe(200);
          const bytes = Buffer.from(await res.arrayBuffer());
          expect(res.headers.get('content-length'), d.file).toBe(String(bytes.length));
          expect(crypto.createHash('sha256').update(bytes).digest('hex'), d.file).toBe(d.sha256);
        }),
      );
    }
    expect(downloads.length).toBeGreaterThan(300);
  });
});
