/**
 * Hostile attachment filenames end to end: hand-built RFC 5322 messages in an mbox file the test
 * writes, served by the real local provider through a real gateway on loopback. For every name a
 * GraphQL client sees the decoded filename as the sender wrote it, the signed URL answers 200 with
 * the exact bytes, and Content-Disposition carries only what `src/http/filename.ts` promises: no
 * control characters, no path, an ASCII `filename="..."` fallback and, for other names, an RFC 5987
 * `filename*` that decodes to the neutralised name.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectMessages, download, signedUrlOf, startE2eGateway, type E2eGateway, type SeenMessage } from './support/gateway-e2e.ts';

interface HostileCase {
  label: string;
  /** The raw Content-Disposition value as the sender wrote it (may be folded, may hold raw UTF-8). */
  disposition: string;
  /** What the gateway's GraphQL `filename` must say: the decoded name, hostile parts included. */
  decoded: string;
  /** The name a client saves under, from Content-Disposition: a plain last path segment. */
  saved: string;
  /** The ASCII `filename="..."` stand-in, for non-ASCII names only (else it is `saved` itself). */
  fallback?: string;
}

const LONG_STEM = 'a'.repeat(100) + 'b'.repeat(100) + 'c'.repeat(96);

const CASES: HostileCase[] = [
  {
    label: 'CR/LF in an RFC 2231 value',
    disposition: "attachment; filename*=UTF-8''evil%0D%0ASet-Cookie%3A%20a%3Db.txt",
    decoded: 'evil\r\nSet-Cookie: a=b.txt',
    saved: 'evilSet-Cookie_ a=b.txt',
  },
  {
    label: 'CR/LF in an RFC 2047 encoded word',
    disposition: `attachment; filename="=?UTF-8?B?${Buffer.from('evil\r\nX-Injected: 1.txt').toString('base64')}?="`,
    decoded: 'evil\r\nX-Injected: 1.txt',
    saved: 'evilX-Injected_ 1.txt',
  },
  {
    label: 'double quotes',
    disposition: 'attachment; filename="say \\"hi\\".txt"',
    decoded: 'say "hi".txt',
    saved: 'say _hi_.txt',
  },
  {
    label: 'backslashes',
    disposition: 'attachment; filename="back\\\\slash\\\\name.txt"',
    decoded: 'back\\slash\\name.txt',
    saved: 'name.txt',
  },
  {
    label: 'a relative path',
    disposition: 'attachment; filename="../../etc/passwd"',
    decoded: '../../etc/passwd',
    saved: 'passwd',
  },
  {
    label: 'a Windows path',
    disposition: 'attachment; filename="C:\\\\evil\\\\x.exe"',
    decoded: 'C:\\evil\\x.exe',
    saved: 'x.exe',
  },
  {
    // 300 characters in three RFC 2231 continuations; cut to 200 keeping the extension.
    label: 'a very long name',
    disposition: `attachment;\r\n filename*0*=UTF-8''${'a'.repeat(100)};\r\n filename*1=${'b'.repeat(100)};\r\n filename*2*=${'c'.repeat(96)}%2Epdf`,
    decoded: `${LONG_STEM}.pdf`,
    saved: `${LONG_STEM.slice(0, 196)}.pdf`,
  },
  {
    label: 'NUL and other control characters',
    disposition: "attachment; filename*=UTF-8''nul%00byte%07bell%1B%7F.txt",
    decoded: 'nul\0byte\x07bell\x1b\x7f.txt',
    saved: 'nulbytebell.txt',
  },
  {
    label: 'a bidi override',
    disposition: "attachment; filename*=UTF-8''invoice%E2%80%AEfdp.exe",
    decoded: 'invoice\u202Efdp.exe',
    saved: 'invoicefdp.exe',
  },
  {
    label: 'a non-ASCII name (RFC 2231)',
    disposition: "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E2%82%AC%202024.pdf",
    decoded: 'résumé € 2024.pdf',
    saved: 'résumé € 2024.pdf',
    fallback: 'resume _ 2024.pdf',
  },
  {
    label: 'a non-ASCII name (raw UTF-8, RFC 6532)',
    disposition: 'attachment; filename="報告書.pdf"',
    decoded: '報告書.pdf',
    saved: '報告書.pdf',
    fallback: '___.pdf',
  },
];

/** Distinct bytes per case, with every byte value (NUL, CR, LF, "From " at a line start) in them. */
function bytesOf(i: number): Buffer {
  const all = Buffer.alloc(256);
  for (let b = 0; b < 256; b++) all[b] = b;
  return Buffer.concat([Buffer.from(`hostile attachment ${i}\r\nFrom the sender\n\0`), all, Buffer.from([i])]);
}

/** One raw RFC 5322 message (CRLF lines) with a text body and one base64 attachment. */
function rawMessage(c: HostileCase, i: number): string {
  const boundary = `b-${i}-boundary`;
  const base64 = bytesOf(i)
    .toString('base64')
    .replace(/.{1,76}/g, '$&\r\n');
  return [
    'From: Mallory <mallory@example.org>',
    'To: victim@example.org',
    `Subject: hostile ${i}`,
    `Date: Mon, 01 Jan 2024 10:${String(i).padStart(2, '0')}:00 +0000`,
    `Message-ID: <hostile-${i}@example.org>`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'From here on, the attachment.',
    `--${boundary}`,
    'Content-Type: application/octet-stream',
    `Content-Disposition: ${c.disposition}`,
    'Content-Transfer-Encoding: base64',
    '',
    base64 + `--${boundary}--`,
    '',
  ].join('\r\n');
}

/** An mboxrd file: envelope line per message, `>*From ` lines quoted once more, a blank line between. */
function mboxrd(messages: string[]): Buffer {
  return Buffer.from(
    messages.map((m) => `From mallory@example.org Mon Jan  1 10:00:00 2024\r\n${m.replace(/^(>*From )/gm, '>$1')}\r\n`).join(''),
    'utf8',
  );
}

/** The `filename="..."` value with its quoted pairs undone, and the decoded `filename*` (null when absent). */
function dispositionNames(value: string): { fallback: string; star: string | null } {
  const quoted = /;\s*filename="((?:[^"\\]|\\.)*)"/.exec(value);
  if (!quoted) throw new Error(`no filename="..." in ${JSON.stringify(value)}`);
  const star = /;\s*filename\*=UTF-8''([^;\s]+)/i.exec(value);
  return { fallback: quoted[1]!.replace(/\\(.)/g, '$1'), star: star ? decodeURIComponent(star[1]!) : null };
}

describe('hostile attachment filenames end to end (mbox in the local provider, GraphQL and signed URLs over HTTP)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-hostile-'));
  let gateway: E2eGateway;
  let messages: SeenMessage[];

  beforeAll(async () => {
    const mbox = path.join(dir, 'hostile.mbox');
    fs.writeFileSync(mbox, mboxrd(CASES.map(rawMessage)));
    gateway = await startE2eGateway();
    await gateway.addMailbox({ provider: 'LOCAL', address: 'victim@example.org', displayName: 'hostile', settings: { path: mbox }, credentials: null });
    const listed = await gateway.graphql<{ mailboxes: { id: string }[] }>('{ mailboxes { id } }');
    messages = await collectMessages(gateway, listed.data!.mailboxes[0]!.id);
  });
  afterAll(async () => {
    await gateway?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lists every hand-built message with its one attachment', () => {
    expect(messages.map((m) => m.subject).sort()).toEqual(CASES.map((_c, i) => `hostile ${i}`).sort());
    for (const m of messages) expect(m.attachments, m.subject ?? '').toHaveLength(1);
  });

  it.each(CASES.map((c, i) => [c.label, c, i] as const))('%s', async (_label, c, i) => {
    const attachment = messages.find((m) => m.subject === `hostile ${i}`)!.attachments[0]!;
    expect(attachment.filename).toBe(c.decoded);
    expect(attachment.size).toBe(bytesOf(i).length);

    const got = await download(signedUrlOf(attachment), true);
    expect(got.status).toBe(200);
    expect(got.body!.equals(bytesOf(i))).toBe(true);
    expect(got.contentLength).toBe(String(bytesOf(i).length));

    const value = got.contentDisposition!;
    // eslint-disable-next-line no-control-regex -- asserting that no control character reached the header
    expect(value).not.toMatch(/[\u0000-\u001f\u007f]/);
    expect(value.startsWith('attachment; filename="')).toBe(true);
    const { fallback, star } = dispositionNames(value);
    expect(fallback).toMatch(/^[\x20-\x7e]+$/);
    for (const name of [fallback, star ?? '']) {
      expect(name).not.toMatch(/[/\\]/);
      expect(name.startsWith('.')).toBe(false);
    }
    // A client that ignores filename* saves under the fallback, one that reads it under filename*:
    // both must get the neutralised name (the fallback an ASCII stand-in for a non-ASCII one).
    expect(fallback).toBe(c.fallback ?? c.saved);
    if (c.fallback !== undefined) expect(star).toBe(c.saved);
    else if (star !== null) expect(star).toBe(c.saved);
  });
});
