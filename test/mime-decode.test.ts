/**
 * Transfer decoders with real bytes: chunk boundaries anywhere, junk, soft breaks, uuencode.
 */
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createTransferDecoder, decodeTransferEncodingSync, normalizeTransferEncoding } from '../src/mime/decode.ts';

async function decodeInChunks(encoding: string | null, input: Buffer, chunkSize: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunkSize) chunks.push(input.subarray(i, i + chunkSize));
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks).pipe(createTransferDecoder(encoding))) out.push(c as Buffer);
  return Buffer.concat(out);
}

const payload = crypto.createHash('sha512').update('seed').digest(); // 64 arbitrary bytes
const big = Buffer.concat(Array.from({ length: 300 }, (_, i) => crypto.createHash('sha256').update(String(i)).digest()));

function base64Lines(data: Buffer, eol = '\r\n'): Buffer {
  return Buffer.from(data.toString('base64').replace(/.{76}/g, `$&${eol}`) + eol);
}

describe('base64 decoder', () => {
  it('decodes across every chunk boundary (sizes 1..13) with CRLF lines', async () => {
    const encoded = base64Lines(big);
    for (let size = 1; size <= 13; size++) expect((await decodeInChunks('base64', encoded, size)).equals(big)).toBe(true);
  });

  it('skips junk, spaces and padding in the middle, keeps every whole byte of a truncated body', async () => {
    const noisy = Buffer.from(`  ${payload.toString('base64').slice(0, 40)} \t!*\n${payload.toString('base64').slice(40)}  `);
    expect((await decodeInChunks('base64', noisy, 7)).equals(payload)).toBe(true);
    // 5 characters: one whole 4-char group (3 bytes) and a lone character that carries no byte.
    expect(decodeTransferEncodingSync(Buffer.from('QUJDR'), 'base64').toString()).toBe('ABC');
    expect((await decodeInChunks('BASE64 ', Buffer.from('QUJDR'), 2)).toString()).toBe('ABC');
  });

  it('matches the RFC 2045 reading (drop every non-alphabet byte) on random noisy bodies and random chunk boundaries', async () => {
    // RFC 2045 §6.8: characters outside the base64 alphabet are ignored. Node's own decoder reads
    // "-" and "_" as base64url digits and stops at "=", so those bytes are among the junk here.
    const reference = (input: Buffer): Buffer => {
      const clean = input.toString('latin1').replace(/[^A-Za-z0-9+/]+/g, '');
      return Buffer.from(clean.slice(0, clean.length % 4 === 1 ? clean.length - 1 : clean.length), 'base64');
    };
    let seed = 0x2045;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const junk = ['\r\n', '\n', ' ', '\t', '!', '=', '==', '-', '_', '\u0000', '\u00ff', '*', '.'];
    for (let round = 0; round < 300; round++) {
      const length = rand(2000);
      // A quarter are runs of zero bytes ("AAAA..."), where groups look alike.
      const data = rand(4) === 0 ? Buffer.alloc(length) : Buffer.from(Array.from({ length }, () => rand(256)));
      let text = data.toString('base64');
      if (round % 2 === 1) text = text.replace(/=+$/, '').slice(0, text.length - rand(3));
      let noisy = '';
      for (const c of text.replace(/.{76}/g, '$&\r\n')) noisy += rand(round % 3 === 0 ? 40 : 400) === 0 ? junk[rand(junk.length)]! + c : c;
      const input = Buffer.from(noisy, 'latin1');
      const want = reference(input);
      const chunkSize = 1 + rand([1, 3, 7, 100, 5000][round % 5]!);
      expect((await decodeInChunks('base64', input, chunkSize)).toString('hex'), `round ${round}`).toBe(want.toString('hex'));
      expect(decodeTransferEncodingSync(input, 'base64').toString('hex'), `round ${round}`).toBe(want.toString('hex'));
    }
  });
});

describe('quoted-printable decoder', () => {
  const qp = Buffer.from('Gr=C3=BC=C3=9Fe aus M=C3=BCnchen, ein sehr langer Satz der umbrochen wi=\r\nrd =3D gleich=  \r\nweiter\r\nZeile =XY bleibt\r\n');
  const want = 'Grüße aus München, ein sehr langer Satz der umbrochen wird = gleichweiter\r\nZeile =XY bleibt\r\n';

  it('decodes escapes and soft breaks (with transport padding) across chunk boundaries', async () => {
    for (const size of [1, 2, 3, 5, 64]) expect((await decodeInChunks('quoted-printable', qp, size)).toString('utf8')).toBe(want);
  });
});

describe('uuencode decoder', () => {
  it('decodes a begin/end block split into small chunks, ignoring text around it', async () => {
    // Encoded by hand with the POSIX algorithm so the test does not trust our own encoder.
    const uu = (data: Buffer) => {
      const enc = (n: number) => String.fromCharCode(n === 0 ? 96 : n + 32);
      let out = 'begin 644 data.bin\n';
      for (let i = 0; i < data.length; i += 45) {
        const line = data.subarray(i, i + 45);
        out += enc(line.length);
        for (let j = 0; j < line.length; j += 3) {
          const [a = 0, b = 0, c = 0] = line.subarray(j, j + 3);
          out += enc(a >> 2) + enc(((a << 4) | (b >> 4)) & 63) + enc(((b << 2) | (c >> 6)) & 63) + enc(c & 63);
        }
        out += '\n';
      }
      return `Some text before\r\n${out}\`\nend\ntrailing words\n`;
    };
    const input = Buffer.from(uu(big));
    for (const size of [1, 7, 100]) expect((await decodeInChunks('x-uuencode', input, size)).equals(big)).toBe(true);
  });
});

describe('identity and names', () => {
  it('passes 7bit/8bit/binary/unknown through and normalises spellings', async () => {
    const bytes = Buffer.from([0, 255, 10, 13, 61]);
    for (const e of ['7bit', '8bit', 'binary', 'x-unknown', null]) expect((await decodeInChunks(e, bytes, 2)).equals(bytes)).toBe(true);
    expect(normalizeTransferEncoding(' "Base64" ')).toBe('base64');
    expect(normalizeTransferEncoding('  ')).toBe(null);
  });
});
