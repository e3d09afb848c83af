/**
 * The generated demo mailbox through the LOCAL provider: threads, directions, every attachment
 * downloads with its listed size, and the PDF / PNG bytes are valid files.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_ADDRESS, generateDemoMailbox } from '../src/demo/mailbox.ts';
import { createLocalProvider } from '../src/providers/local/provider.ts';
import type { MessageInfo } from '../src/domain/mail.ts';
import type { MailProvider } from '../src/providers/types.ts';
import { silentLogger } from './support/logger.ts';

const silent = silentLogger();

async function bytesOf(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Checks the PNG signature, every chunk CRC, and that IDAT inflates to the size IHDR implies. */
function assertValidPng(png: Buffer): void {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let pos = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  let sawEnd = false;
  while (pos < png.length) {
    const len = png.readUInt32BE(pos);
    const type = png.toString('latin1', pos + 4, pos + 8);
    const data = png.subarray(pos + 8, pos + 8 + len);
    expect(png.readUInt32BE(pos + 8 + len)).toBe(zlib.crc32(png.subarray(pos + 4, pos + 8 + len)) >>> 0);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
    }
    if (type === 'IDAT') idat.push(data);
    if (type === 'IEND') sawEnd = true;
    pos += 12 + len;
  }
  expect(sawEnd).toBe(true);
  expect(zlib.inflateSync(Buffer.concat(idat)).length).toBe((width * 3 + 1) * height);
}

/** Checks the PDF header, trailer and that every xref offset points at its "n 0 obj". */
function assertValidPdf(pdf: Buffer): void {
  const text = pdf.toString('latin1');
  expect(text.startsWith('%PDF-1.')).toBe(true);
  expect(text.trimEnd().endsWith('%%EOF')).toBe(true);
  const xrefAt = Number(/startxref\n(\d+)\n%%EOF/.exec(text)![1]);
  expect(text.slice(xrefAt, xrefAt + 4)).toBe('xref');
  const entries = [...text.slice(xrefAt).matchAll(/^(\d{10}) 00000 n $/gm)].map((m) => Number(m[1]));
  expect(entries.length).toBeGreaterThan(0);
  entries.forEach((offset, i) => expect(text.slice(offset, offset + `${i + 1} 0 obj`.length)).toBe(`${i + 1} 0 obj`));
}

describe('demo mailbox', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-mbox-'));
  let provider: MailProvider;
  let messages: MessageInfo[];

  beforeAll(async () => {
    const file = await generateDemoMailbox(dir);
    const before = fs.statSync(file).mtimeMs;
    expect(await generateDemoMailbox(dir)).toBe(file); // idempotent: kept as is
    expect(fs.statSync(file).mtimeMs).toBe(before);
    provider = createLocalProvider(
      { id: 'demo', workspaceId: 'w', provider: 'LOCAL', address: DEMO_ADDRESS, displayName: 'Demo', settings: { path: file }, credentials: null },
      { dataDir: path.join(dir, 'data'), logger: silent },
    );
    const page = await provider.listConversations({ first: 100 });
    messages = ((await provider.loadMessages(page.items.flatMap((c) => c.messageKeys))) as MessageInfo[]).sort((a, b) => a.date!.getTime() - b.date!.getTime());
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('has the threads, with replies threaded and directions from the owner address', async () => {
    expect(messages).toHaveLength(5);
    const q1 = messages.filter((m) => m.subject?.includes('Q1 report'));
    expect(q1).toHaveLength(3);
    expect(new Set(q1.map((m) => m.conversationKey)).size).toBe(1);
    expect(q1.map((m) => m.direction)).toEqual(['RECEIVED', 'SENT', 'RECEIVED']);
    const page = await provider.listConversations({ first: 100 });
    expect(page.items).toHaveLength(3);
    expect(page.items[0]!.subject).toBe('Fwd: Travel plans'); // newest activity first
  });

  it('lists the expected attachments, with non-ASCII names, an inline cid image and a forwarded message', () => {
    const all = messages.flatMap((m) => m.attachments);
    expect(all.map((a) => [a.filename, a.contentType, a.disposition, a.kind])).toEqual([
      ['Übersicht März.pdf', 'application/pdf', 'ATTACHMENT', 'FILE'],
      ['отчёт.csv', 'text/csv', 'ATTACHMENT', 'FILE'],
      ['chart.png', 'image/png', 'ATTACHMENT', 'FILE'],
      ['logo.png', 'image/png', 'INLINE', 'FILE'],
      ['Travel plans.eml', 'message/rfc822', 'ATTACHMENT', 'ITEM'],
    ]);
    expect(all.find((a) => a.filename === 'logo.png')!.contentId).toBe('logo@demo');
  });

  it('downloads every attachment with its listed size, and the PDF/PNG/CSV/message bytes are valid', async () => {
    for (const m of messages) {
      for (const a of m.attachments) {
        const content = await provider.openAttachment(m.key, a.partId);
        const bytes = await bytesOf(content.stream);
        expect(bytes.length).toBe(a.size);
        expect(content.size).toBe(a.size);
        if (a.contentType === 'application/pdf') assertValidPdf(bytes);
        if (a.contentType === 'image/png') assertValidPng(bytes);
        if (a.contentType === 'text/csv') expect(bytes.toString('utf8')).toBe('region,quarter,revenue\nNord,Q1,1200\nSüd,Q1,980\n');
        if (a.kind === 'ITEM') expect(bytes.toString('latin1')).toMatch(/Subject: Travel plans/);
      }
    }
  });

  it('unquotes a body line starting with "From " (mboxrd)', async () => {
    const file = path.join(dir, 'demo.mbox');
    expect(fs.readFileSync(file, 'latin1')).toMatch(/\n>From now on/);
  });
});
