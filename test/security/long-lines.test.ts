/**
 * Lines a sender controls, as long as they like: the mbox splitter (`src/providers/local/mbox.ts`)
 * and the streaming transfer decoders (`src/mime/decode.ts`) read a single-line body of 128 MiB
 * in linear time (they carried the unfinished line from chunk to chunk: a 64 MiB mbox line took
 * 2 s, a 32 MiB quoted-printable or uuencoded line 5.5 s to download), and what straddles their
 * chunk boundaries (envelope lines, escapes, soft line breaks) still comes out exactly.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createTransferDecoder, decodeQuotedPrintable, uudecode } from '../../src/mime/decode.ts';
import { readMbox } from '../../src/providers/local/mbox.ts';

const MIB = 1 << 20;
const ENVELOPE = 'From sender@example.org Mon Jun  1 10:00:00 2026\n';

describe('mbox splitting on long lines', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-mbox-lines-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Reads `file` with the splitter: each message's offset and bytes as text. */
  async function split(file: string): Promise<{ offset: number; text: string }[]> {
    const out: { offset: number; text: string }[] = [];
    for await (const m of readMbox(file)) out.push({ offset: m.offset, text: m.data.toString('latin1') });
    return out;
  }

  it('reads a message with a 128 MiB single-line body in seconds', async () => {
    const file = path.join(dir, 'long.mbox');
    const body = Buffer.alloc(128 * MIB, 0x41);
    fs.writeFileSync(file, Buffer.concat([Buffer.from(`${ENVELOPE}Subject: long\n\n`), body, Buffer.from(`\n\n${ENVELOPE}Subject: next\n\nbody\n`)]));
    const started = performance.now();
    let count = 0;
    let longest = 0;
    for await (const m of readMbox(file)) {
      count++;
      longest = Math.max(longest, m.length);
    }
    const ms = performance.now() - started;
    console.info(`mbox: a 128 MiB line read in ${ms.toFixed(0)} ms`);
    expect(count).toBe(2);
    expect(longest).toBe('Subject: long\n\n'.length + body.length + 1);
    expect(ms).toBeLessThan(5_000);
  });

  it.each([-6, -5, -4, -1, 0, 1, 3])('splits exactly when an envelope line starts %i bytes from a chunk boundary after a long line', async (shift) => {
    const file = path.join(dir, `boundary${shift}.mbox`);
    const head = `${ENVELOPE}Subject: one\n\n`;
    // The first message's body line ends so that the next envelope line starts at MIB + shift.
    const filler = 'x'.repeat(MIB + shift - head.length - 2);
    const first = `Subject: one\n\n${filler}\n`;
    const second = 'Subject: two\n\nbody\n>From quoted (mboxrd quoting is not undone here)\n';
    fs.writeFileSync(file, `${head}${filler}\n\n${ENVELOPE}${second}`);
    const messages = await split(file);
    expect(messages.map((m) => m.text)).toEqual([first, second]);
    expect(messages[1]!.offset).toBe(MIB + shift + ENVELOPE.length);
  });
});

/** Streams `body` through the decoder of `encoding` in the given chunk sizes (cycled); returns the output. */
async function streamDecode(encoding: string, body: Buffer, sizes: number[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (let at = 0, k = 0; at < body.length; k++) {
    const size = sizes[k % sizes.length]!;
    chunks.push(body.subarray(at, at + size));
    at += size;
  }
  const out: Buffer[] = [];
  for await (const piece of Readable.from(chunks).pipe(createTransferDecoder(encoding))) out.push(piece as Buffer);
  return Buffer.concat(out);
}

describe('streaming transfer decoders on long lines', () => {
  it.each([
    ['quoted-printable', Buffer.alloc(128 * MIB, 0x41), 128 * MIB],
    ['x-uuencode', Buffer.concat([Buffer.from('begin 644 x.bin\n'), Buffer.alloc(128 * MIB, 0x41)]), 33],
  ])('%s: a 128 MiB single-line body decodes in seconds', async (encoding, body, bytes) => {
    const started = performance.now();
    const out = await streamDecode(encoding, body, [64 * 1024]);
    const ms = performance.now() - started;
    console.info(`${encoding}: a 128 MiB line decoded in ${ms.toFixed(0)} ms`);
    expect(out.length).toBe(bytes);
    expect(ms).toBeLessThan(5_000);
  });

  // Escapes, soft line breaks with padding (short, at the padding limit, past it), a CR at a chunk
  // end, a lone "=" at the very end: every chunking must give what the whole-buffer decoder gives.
  const qp = Buffer.from(
    [
      'caf=C3=A9 =3D=3d soft=\r\nbreak pad=  \t\r\nded =\nlf-only',
      `long=${' '.repeat(1024)}\r\npadding`,
      `too long=${' '.repeat(1100)}\r\nkept literal`,
      'bad =ZZ escape =4',
      `${'x'.repeat(3000)}=41${'y'.repeat(1500)}=`,
    ].join('\r\n'),
    'latin1',
  );

  it.each([[[1]], [[2]], [[3]], [[7, 1, 1030]], [[1026, 1027, 1028]], [[4096]]])('quoted-printable in chunks of %j equals the whole-buffer decoding', async (sizes) => {
    expect((await streamDecode('quoted-printable', qp, sizes)).equals(decodeQuotedPrintable(qp))).toBe(true);
  });

  it('quoted-printable: the padding limit decides between a soft break and a literal "="', () => {
    expect(decodeQuotedPrintable(Buffer.from(`a=${' '.repeat(1024)}\r\nb`)).toString()).toBe('ab');
    expect(decodeQuotedPrintable(Buffer.from(`a=${' '.repeat(1025)}\r\nb`)).toString()).toBe(`a=${' '.repeat(1025)}\r\nb`);
  });

  it.each([[[1]], [[5, 61]], [[4096]]])('x-uuencode in chunks of %j gives the encoded bytes back', async (sizes) => {
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 37) & 0xff));
    // POSIX uuencode: 45 bytes per line, a length character, 4 characters per 3 bytes, "`" for 0.
    const char = (v: number): string => (v === 0 ? '`' : String.fromCharCode(v + 32));
    const lines = ['begin 644 data.bin'];
    for (let at = 0; at < data.length; at += 45) {
      const piece = data.subarray(at, at + 45);
      let line = char(piece.length);
      for (let i = 0; i < piece.length; i += 3) {
        const [a = 0, b = 0, c = 0] = [piece[i], piece[i + 1], piece[i + 2]];
        line += char(a >> 2) + char(((a << 4) | (b >> 4)) & 63) + char(((b << 2) | (c >> 6)) & 63) + char(c & 63);
      }
      lines.push(line);
    }
    const body = Buffer.from(`${[...lines, '`', 'end'].join('\r\n')}\r\n`);
    const out = await streamDecode('x-uuencode', body, sizes);
    expect(out.equals(data)).toBe(true);
    expect(uudecode(body).equals(data)).toBe(true);
  });
});
