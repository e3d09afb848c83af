/**
 * The base64url decoder (RFC 4648 §5) with real bytes: chunk boundaries anywhere, padding present
 * or absent, and the bytes it must refuse instead of skipping.
 */
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Base64UrlDecoder, MalformedBase64UrlError, decodeBase64Url } from '../src/mime/base64url.ts';
import { createTransferDecoder } from '../src/mime/decode.ts';
import { isGatewayError } from '../src/errors.ts';
import { split } from './support/chunks.ts';

/** Decodes `chunks` through a Base64UrlDecoder; resolves with the bytes, or rejects with the stream's error. */
async function decodeChunks(chunks: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks).pipe(new Base64UrlDecoder())) out.push(c as Buffer);
  return Buffer.concat(out);
}

/** The decoder's outcome for `chunks`: the bytes, or the error, and whether 'end' was ever emitted. */
async function outcome(chunks: Buffer[]): Promise<{ bytes: Buffer; error: unknown; ended: boolean }> {
  const decoder = new Base64UrlDecoder();
  const out: Buffer[] = [];
  let ended = false;
  decoder.on('data', (c: Buffer) => out.push(c));
  decoder.on('end', () => (ended = true));
  const error = await new Promise<unknown>((resolve) => {
    decoder.on('error', resolve);
    decoder.on('close', () => resolve(null));
    Readable.from(chunks).pipe(decoder);
  });
  return { bytes: Buffer.concat(out), error, ended };
}

let seed = 0x4648;
const rand = (n: number): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % n;
};

describe('base64url decoder', () => {
  it('equals Buffer.from(s, "base64url") on random bytes, padding present or absent, random chunk boundaries', async () => {
    for (let round = 0; round < 400; round++) {
      const length = rand(round % 10 === 0 ? 200_000 : 2000);
      // A quarter are runs of one byte ("AAAA..."), where groups look alike.
      const data = rand(4) === 0 ? Buffer.alloc(length, rand(256)) : crypto.randomBytes(length);
      let text = data.toString('base64url'); // Node writes no padding
      if (round % 2 === 0 && text.length % 4 !== 0) text += '='.repeat(4 - (text.length % 4));
      const input = Buffer.from(text, 'latin1');
      const want = Buffer.from(text, 'base64url');
      expect(want.equals(data)).toBe(true);
      const max = [1, 2, 3, 4, 5, 7, 100, 5000, 70_000][round % 9]!;
      const got = await decodeChunks(split(input, () => 1 + rand(max)));
      expect(got.equals(want), `round ${round}: ${length} bytes, chunks up to ${max}`).toBe(true);
      expect(decodeBase64Url(input).equals(want), `round ${round}`).toBe(true);
    }
  });

  it('decodes across the native decoder windows: 8 MiB in chunks of 64 KiB and of odd sizes', async () => {
    const data = crypto.randomBytes(8 * 1024 * 1024 + 2); // 2^23 + 2 = 1 (mod 3): the last group is "xx=="
    const text = Buffer.from(data.toString('base64url') + '==', 'latin1');
    expect((await decodeChunks(split(text, () => 64 * 1024))).equals(data)).toBe(true);
    expect((await decodeChunks(split(text, () => 65_537))).equals(data)).toBe(true);
    expect((await decodeChunks([text])).equals(data)).toBe(true);
  });

  it('decodes the 3,000 base64url bytes exactly that the base64 decoder got wrong (it skips "-" and "_" as junk)', async () => {
    // Bytes whose encoding has many "-" and "_" (6-bit values 62 and 63).
    const data = Buffer.alloc(3000);
    for (let i = 0; i < data.length; i++) data[i] = [0xfb, 0xff, 0xbf, 0xf8, 0x3e][i % 5]!;
    const text = Buffer.from(data.toString('base64url'));
    expect(text.includes('-') && text.includes('_')).toBe(true);
    expect((await decodeChunks(split(text, () => 1 + rand(50)))).equals(data)).toBe(true);
    // The RFC 2045 decoder is right to skip junk in mail, and wrong for this data: never byte-exact,
    // and shorter, so its output must never be served as a Gmail attachment (the Gmail reader uses
    // Base64UrlDecoding, and its size check refuses a short result: see gmail-attachment-body.test.ts).
    const out: Buffer[] = [];
    for await (const c of Readable.from([text]).pipe(createTransferDecoder('base64'))) out.push(c as Buffer);
    const misread = Buffer.concat(out);
    expect(misread.equals(data)).toBe(false);
    expect(misread.length).toBeLessThan(data.length);
  });

  it('refuses bytes outside the alphabet, "+" and "/", bad padding and a lone last character, at every chunk boundary, never ending cleanly', async () => {
    const good = crypto.randomBytes(30).toString('base64url'); // 40 characters, no padding
    const cases: { input: string; offset: number; reason: RegExp }[] = [
      { input: `${good.slice(0, 17)}+${good.slice(18)}`, offset: 17, reason: /'\+'/ },
      { input: `${good.slice(0, 5)}/${good.slice(6)}`, offset: 5, reason: /'\/'/ },
      { input: `${good.slice(0, 20)}\r\n${good.slice(20)}`, offset: 20, reason: /0x0d/ },
      { input: `${good.slice(0, 39)} ${good.slice(39)}`, offset: 39, reason: /0x20/ },
      { input: `${good.slice(0, 8)}"${good.slice(8)}`, offset: 8, reason: /'"'/ },
      { input: `${good.slice(0, 8)}\u00ff${good.slice(8)}`, offset: 8, reason: /0xff/ },
      { input: `${good}=`, offset: 40, reason: /after a whole group/ },
      { input: `${good}QQ=`, offset: 43, reason: /incomplete padding/ },
      { input: `${good}QQ===`, offset: 44, reason: /after the padding/ },
      { input: `${good}QQ==QUJD`, offset: 44, reason: /after the padding/ },
      { input: `${good}QQ=Q`, offset: 43, reason: /inside the padding/ },
      { input: `${good}Q`, offset: 40, reason: /lone last character/ },
      { input: `${good}Q===`, offset: 40, reason: /lone last character/ },
    ];
    for (const { input, offset, reason } of cases) {
      const bytes = Buffer.from(input, 'latin1');
      for (const size of [1, 2, 3, 4, 5, 7, 11, bytes.length]) {
        const { error, ended } = await outcome(split(bytes, () => size));
        expect(error, `${JSON.stringify(input)} in chunks of ${size}`).toBeInstanceOf(MalformedBase64UrlError);
        expect(isGatewayError(error) && error.code).toBe('PROVIDER_UNAVAILABLE');
        expect((error as MalformedBase64UrlError).offset, `${JSON.stringify(input)} in chunks of ${size}`).toBe(offset);
        expect((error as Error).message).toMatch(reason);
        expect(ended).toBe(false);
      }
      expect(() => decodeBase64Url(bytes)).toThrow(MalformedBase64UrlError);
    }
  });

  it('refuses a string with characters above U+00FF instead of truncating them into alphabet bytes', () => {
    expect(() => decodeBase64Url('QUJ\u0141')).toThrow(MalformedBase64UrlError); // U+0141 & 0xff = "A"
    expect(decodeBase64Url('QUJB').toString()).toBe('ABA');
    expect(decodeBase64Url('').length).toBe(0);
  });

  it('finds one bad byte deep inside 24 MiB, at its exact offset, in linear time', async () => {
    const text = Buffer.from(crypto.randomBytes(18 * 1024 * 1024).toString('base64url'), 'latin1');
    const at = text.length - 12_345;
    text[at] = 0x2f; // "/"
    const started = performance.now();
    const { error, bytes } = await outcome(split(text, () => 256 * 1024));
    expect((error as MalformedBase64UrlError).offset).toBe(at);
    // Every whole chunk before the bad one was decoded and passed on; the rest never was.
    expect(bytes.length).toBeLessThan((at / 4) * 3);
    expect(performance.now() - started).toBeLessThan(20_000);
    text[at] = 0x0a; // a line break
    expect((await outcome([text])).error).toMatchObject({ offset: at });
  });
});
