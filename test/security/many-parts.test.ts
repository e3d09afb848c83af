/**
 * Messages built to exhaust the gateway by their MIME structure, end to end: a real gateway on
 * loopback over a real SQLite store, the real local provider over an mbox the test writes, and a
 * real Dovecot over IMAP. A mail with 10,000 one-byte attachments lists in full through the
 * README's first query (it took 13 s and +480 MiB when `Attachment.index` scanned the list per
 * attachment); a mail with 100,000 parts and one nested 1,000 levels deep are cut at the
 * documented limits (`src/mime/limits.ts`) and say so (`attachmentCount`, `attachmentsTruncated`);
 * many such queries at once leave the process healthy.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIME_LIMITS } from '../../src/mime/limits.ts';
import { deepMessage, manyPartsMessage, mboxOf } from '../support/mail.ts';
import { DOVECOT_MISSING, dovecotAvailable, startDovecot, type DovecotInstance } from '../support/dovecot.ts';
import { startE2eGateway, type E2eGateway } from '../support/gateway-e2e.ts';

const MIB = 1 << 20;

/** The README's first query, as written there. */
const README_QUERY = `query Attachments {
  mailboxes {
    id
    provider
    address
    conversations(first: 10, filter: { hasAttachments: true }) {
      edges {
        node {
          subject
          lastMessageAt
          attachments(includeInline: false) {
            index
            filename
            contentType
            size
            downloadUrl(expiresIn: 300) { url expiresAt }
          }
        }
      }
    }
  }
}`;

/** What a client asks to learn whether a message's list is complete. */
const COUNTS_QUERY = `{
  mailboxes {
    conversations(first: 10) {
      edges {
        node {
          subject
          attachmentsTruncated
          attachments { index filename }
          messages(first: 1) { edges { node { attachmentCount attachmentsTruncated } } }
        }
      }
    }
  }
}`;

interface ReadmeAnswer {
  mailboxes: { conversations: { edges: { node: { subject: string; attachments: { index: number; filename: string; size: number; downloadUrl: { url: string } | null }[] } }[] } }[];
}

interface CountsAnswer {
  mailboxes: {
    conversations: {
      edges: {
        node: {
          subject: string;
          attachmentsTruncated: boolean;
          attachments: { index: number; filename: string | null }[];
          messages: { edges: { node: { attachmentCount: number; attachmentsTruncated: boolean } }[] };
        };
      }[];
    };
  }[];
}

const figures: string[] = [];
afterAll(() => console.info(`many-parts probes:\n  ${figures.join('\n  ')}`));

const rssMiB = (): number => Math.round(process.memoryUsage().rss / MIB);

/** Runs `fn` and returns its result with the elapsed milliseconds. */
async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await fn();
  return [result, performance.now() - started];
}

/** The conversation of `subject` in a COUNTS_QUERY answer. */
function conversation(answer: CountsAnswer, subject: string) {
  const found = answer.mailboxes[0]!.conversations.edges.find((e) => e.node.subject === subject);
  if (!found) throw new Error(`no conversation "${subject}"`);
  return found.node;
}

describe('local provider: a mail with 10,000 attachments through the README query', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-many-'));
  let gateway: E2eGateway;

  beforeAll(async () => {
    const mbox = path.join(dir, 'many.mbox');
    fs.writeFileSync(mbox, mboxOf([manyPartsMessage(10_000, 'ten thousand')]));
    gateway = await startE2eGateway();
    await gateway.addMailbox({ provider: 'LOCAL', address: 'owner@example.org', displayName: 'many', settings: { path: mbox }, credentials: null });
    // The first query indexes the store; the probes below time the listing itself.
    const [, ms] = await timed(() => gateway.graphql('{ mailboxes { conversations(first: 1) { edges { node { subject } } } } }'));
    figures.push(`local: indexing the 10,000-part mail: ${ms.toFixed(0)} ms`);
  });
  afterAll(async () => {
    await gateway?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lists all 10,000 with indexes 0..9999 and a signed URL each, in seconds', async () => {
    const before = rssMiB();
    const [answer, ms] = await timed(() => gateway.graphql<ReadmeAnswer>(README_QUERY));
    figures.push(`local: README query, 10,000 attachments with URLs: ${ms.toFixed(0)} ms, RSS ${before} -> ${rssMiB()} MiB`);
    expect(answer.errors).toBeUndefined();
    const attachments = answer.data!.mailboxes[0]!.conversations.edges[0]!.node.attachments;
    expect(attachments).toHaveLength(10_000);
    // The text body is not an attachment: the attachments are indexes 0..9999 in MIME order.
    expect(attachments.map((a) => a.index)).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
    expect(attachments[9_999]).toMatchObject({ filename: 'p9999.bin', size: 1 });
    expect(attachments.every((a) => a.downloadUrl?.url.startsWith(`${gateway.url}/attachments/`))).toBe(true);
    // Signing 10,000 URLs is most of this (jose per token); the listing alone is timed below.
    expect(ms).toBeLessThan(15_000);
  });

  it('lists them without URLs well under the 3 s ceiling, and says the list is complete', async () => {
    const [answer, ms] = await timed(() => gateway.graphql<CountsAnswer>(COUNTS_QUERY));
    figures.push(`local: listing 10,000 attachments with index, no URLs: ${ms.toFixed(0)} ms`);
    expect(answer.errors).toBeUndefined();
    const c = conversation(answer.data!, 'ten thousand');
    expect(c.attachments).toHaveLength(10_000);
    expect(c.attachmentsTruncated).toBe(false);
    expect(c.messages.edges[0]!.node).toEqual({ attachmentCount: 10_000, attachmentsTruncated: false });
    expect(ms).toBeLessThan(3_000);
  });

  it('answers 50 such listings at once with bounded RSS and stays healthy', async () => {
    const before = rssMiB();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB())), 25);
    try {
      const [answers, ms] = await timed(() => Promise.all(Array.from({ length: 50 }, () => gateway.graphql<CountsAnswer>(COUNTS_QUERY))));
      figures.push(`local: 50 listings of 10,000 at once: ${ms.toFixed(0)} ms, RSS ${before} -> peak ${peak} -> ${rssMiB()} MiB`);
      for (const answer of answers) {
        expect(answer.errors).toBeUndefined();
        expect(conversation(answer.data!, 'ten thousand').attachments).toHaveLength(10_000);
      }
      expect(ms).toBeLessThan(60_000);
    } finally {
      clearInterval(sampler);
    }
    expect(peak - before).toBeLessThan(2048);
    const health = await fetch(`${gateway.url}/health`);
    expect(health.status).toBe(200);
  });
});

describe('local provider: mails past the MIME limits are cut and say so', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-limits-'));
  let gateway: E2eGateway;
  let answer: CountsAnswer;

  beforeAll(async () => {
    const mbox = path.join(dir, 'limits.mbox');
    fs.writeFileSync(mbox, mboxOf([manyPartsMessage(100_000, 'hundred thousand'), deepMessage(1_000, 'thousand levels')]));
    gateway = await startE2eGateway();
    await gateway.addMailbox({ provider: 'LOCAL', address: 'owner@example.org', displayName: 'limits', settings: { path: mbox }, credentials: null });
    const [result, ms] = await timed(() => gateway.graphql<CountsAnswer>(COUNTS_QUERY));
    figures.push(`local: indexing and listing a 100,000-part and a 1,000-level mail: ${ms.toFixed(0)} ms`);
    expect(result.errors).toBeUndefined();
    answer = result.data!;
  });
  afterAll(async () => {
    await gateway?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a 100,000-part mail: the first 10,000 listed, the count of every attachment within the part limit, truncated', () => {
    const c = conversation(answer, 'hundred thousand');
    expect(c.attachments).toHaveLength(MIME_LIMITS.maxAttachments);
    expect(c.attachments.at(-1)).toEqual({ index: MIME_LIMITS.maxAttachments - 1, filename: `p${MIME_LIMITS.maxAttachments - 1}.bin` });
    expect(c.attachmentsTruncated).toBe(true);
    // maxParts parts read below the root: the text body and maxParts - 1 attachments.
    expect(c.messages.edges[0]!.node).toEqual({ attachmentCount: MIME_LIMITS.maxParts - 1, attachmentsTruncated: true });
  });

  it('a mail nested 1,000 levels deep: the attachments of the first 32 levels, truncated', () => {
    const c = conversation(answer, 'thousand levels');
    expect(c.attachments.map((a) => a.filename)).toEqual(Array.from({ length: MIME_LIMITS.maxDepth }, (_, level) => `level${level}.bin`));
    expect(c.attachmentsTruncated).toBe(true);
    expect(c.messages.edges[0]!.node).toEqual({ attachmentCount: MIME_LIMITS.maxDepth, attachmentsTruncated: true });
  });

  it('stays healthy', async () => {
    expect((await fetch(`${gateway.url}/health`)).status).toBe(200);
  });
});

if (!dovecotAvailable()) console.warn(`\n*** ${DOVECOT_MISSING} ***\n`);

describe.skipIf(!dovecotAvailable())('IMAP (Dovecot): many parts through BODYSTRUCTURE', () => {
  let dovecot: DovecotInstance;
  let gateway: E2eGateway;
  let answer: CountsAnswer;

  beforeAll(async () => {
    dovecot = await startDovecot();
    await dovecot.appendMany([
      { folder: 'INBOX', raw: Buffer.from(manyPartsMessage(9_000, 'nine thousand')) },
      { folder: 'INBOX', raw: Buffer.from(manyPartsMessage(10_000, 'ten thousand')) },
      { folder: 'INBOX', raw: Buffer.from(deepMessage(1_000, 'thousand levels')) },
    ]);
    gateway = await startE2eGateway();
    await gateway.addDovecotMailbox(dovecot);
    const [, first] = await timed(() => gateway.graphql<CountsAnswer>(COUNTS_QUERY));
    const [result, ms] = await timed(() => gateway.graphql<CountsAnswer>(COUNTS_QUERY));
    figures.push(`IMAP: first listing (index, part headers, sizes) of 9,000 + 10,000 + deep: ${first.toFixed(0)} ms; again: ${ms.toFixed(0)} ms`);
    expect(result.errors).toBeUndefined();
    expect(ms).toBeLessThan(10_000);
    answer = result.data!;
  });
  afterAll(async () => {
    await gateway?.close();
    await dovecot?.close();
  });

  it('a mail with 9,000 attachments lists them all, complete', () => {
    const c = conversation(answer, 'nine thousand');
    expect(c.attachments.map((a) => a.index)).toEqual(Array.from({ length: 9_000 }, (_, i) => i));
    expect(c.messages.edges[0]!.node).toEqual({ attachmentCount: 9_000, attachmentsTruncated: false });
  });

  it("a mail with 10,000 attachments reaches Dovecot's own part limit: reported as truncated", () => {
    const c = conversation(answer, 'ten thousand');
    const counts = c.messages.edges[0]!.node;
    expect(counts.attachmentsTruncated).toBe(true);
    expect(c.attachmentsTruncated).toBe(true);
    expect(counts.attachmentCount).toBe(c.attachments.length);
    expect(counts.attachmentCount).toBeGreaterThanOrEqual(9_990);
  });

  it('a mail nested 1,000 levels deep (BODYSTRUCTURE past the parser nesting) is reported as truncated', () => {
    const c = conversation(answer, 'thousand levels');
    expect(c.attachmentsTruncated).toBe(true);
    expect(c.messages.edges[0]!.node.attachmentsTruncated).toBe(true);
  });
});
