/**
 * `npm run bench:decode [-- module]`: micro-benchmark of the streaming base64 decoder on 64 MiB of
 * 76-column CRLF base64 (48 MiB decoded), fed in 2 MiB chunks (the IMAP download's partial-fetch
 * size) and in 64 KiB chunks (a socket's), median of 5 runs. Before timing it checks the decoder
 * against a reference (strip non-alphabet characters, drop a trailing lone character) on random
 * bodies with junk, padding in the middle and random chunk boundaries.
 *
 * `module` (default `src/mime/decode.ts`) lets one compare another version of the decoder file.
 *
 * Then the same for the strict base64url decoder (`src/mime/base64url.ts`, RFC 4648 §5) on 64 MiB
 * of unbroken, padded base64url (what Gmail's `attachments.get` puts in `data`), beside one
 * `Buffer.from(text, 'base64url')` of the whole text (the buffered decode it replaces), after a
 * check against `Buffer.from` on random bodies with random chunk boundaries.
 */
import { randomBytes, randomInt } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import type { Transform } from 'node:stream';
import { Base64UrlDecoder } from '../src/mime/base64url.ts';

const MIB = 1024 * 1024;
const target = process.argv[2] ? pathToFileURL(path.resolve(process.argv[2])).href : new URL('../src/mime/decode.ts', import.meta.url).href;
const { createTransferDecoder } = (await import(target)) as { createTransferDecoder: (encoding: string | null) => Transform };

async function decodeChunks(chunks: Buffer[]): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks, { objectMode: false }).pipe(createTransferDecoder('base64'))) out.push(c as Buffer);
  return out;
}

function split(input: Buffer, sizes: () => number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < input.length; ) {
    const n = Math.max(1, sizes());
    chunks.push(input.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

function reference(input: Buffer): Buffer {
  const clean = input.toString('latin1').replace(/[^A-Za-z0-9+/]+/g, '');
  return Buffer.from(clean.slice(0, clean.length % 4 === 1 ? clean.length - 1 : clean.length), 'base64');
}

async function check(): Promise<void> {
  let failures = 0;
  let first = '';
  const junk = ['\r\n', '\n', ' ', '\t', '!', '=', '==', '-', '_', '\u0000', '\u00ff', '*', '.'];
  for (let round = 0; round < 400; round++) {
    const data = randomInt(4) === 0 ? Buffer.alloc(randomInt(2000)) : randomBytes(randomInt(2000));
    let text = data.toString('base64');
    if (round % 2 === 1) text = text.replace(/=+$/, '').slice(0, text.length - randomInt(3));
    const lines = text.replace(/.{76}/g, '$&\r\n');
    let noisy = '';
    for (const c of lines) noisy += randomInt(round % 3 === 0 ? 40 : 400) === 0 ? junk[randomInt(junk.length)]! + c : c;
    const input = Buffer.from(noisy, 'latin1');
    const want = reference(input);
    const max = [1, 3, 7, 100, 5000][round % 5]!;
    const got = Buffer.concat(await decodeChunks(split(input, () => randomInt(1, max + 1))));
    if (!got.equals(want)) {
      failures++;
      first ||= JSON.stringify(noisy.slice(0, 300));
    }
  }
  if (failures === 0) console.log('check: 400 random bodies decoded like the reference');
  else {
    console.log(`check: ${failures} of 400 random bodies decoded unlike the reference, e.g. ${first}`);
    process.exitCode = 1;
  }
}

async function bench(): Promise<void> {
  const payload = randomBytes(48 * MIB);
  const encoded = Buffer.from(payload.toString('base64').replace(/.{76}/g, '$&\r\n') + '\r\n', 'latin1');
  for (const chunkSize of [2 * MIB, 64 * 1024]) {
    const chunks = split(encoded, () => chunkSize);
    const times: number[] = [];
    for (let run = 0; run < 6; run++) {
      const started = process.hrtime.bigint();
      const out = await decodeChunks(chunks);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (run === 0) {
        if (!Buffer.concat(out).equals(payload)) throw new Error('wrong output');
      } else times.push(seconds);
    }
    times.sort((a, b) => a - b);
    const s = times[Math.floor(times.length / 2)]!;
    console.log(`${(encoded.length / MIB).toFixed(0)} MiB base64 in ${chunkSize >= MIB ? `${chunkSize / MIB} MiB` : `${chunkSize / 1024} KiB`} chunks: ${(encoded.length / s / 1e6).toFixed(0)} MB/s encoded, ${(payload.length / s / 1e6).toFixed(0)} MB/s decoded`);
  }
}

async function decodeUrlChunks(chunks: Buffer[]): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks, { objectMode: false }).pipe(new Base64UrlDecoder())) out.push(c as Buffer);
  return out;
}

async function checkUrl(): Promise<void> {
  let failures = 0;
  for (let round = 0; round < 400; round++) {
    const data = randomInt(4) === 0 ? Buffer.alloc(randomInt(2000)) : randomBytes(randomInt(2000));
    let text = data.toString('base64url');
    if (round % 2 === 0 && text.length % 4 !== 0) text += '='.repeat(4 - (text.length % 4));
    const max = [1, 3, 7, 100, 5000][round % 5]!;
    const got = Buffer.concat(await decodeUrlChunks(split(Buffer.from(text, 'latin1'), () => randomInt(1, max + 1))));
    if (!got.equals(Buffer.from(text, 'base64url'))) failures++;
  }
  console.log(failures === 0 ? 'check: 400 random base64url bodies decoded like Buffer.from(s, "base64url")' : `check: ${failures} of 400 base64url bodies decoded wrongly`);
  if (failures > 0) process.exitCode = 1;
}

function median(times: number[]): number {
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

async function benchUrl(): Promise<void> {
  const payload = randomBytes(48 * MIB);
  const encoded = Buffer.from(payload.toString('base64url') + '=='.slice(0, (3 - (payload.length % 3)) % 3), 'latin1');
  for (const chunkSize of [2 * MIB, 64 * 1024]) {
    const chunks = split(encoded, () => chunkSize);
    const times: number[] = [];
    for (let run = 0; run < 6; run++) {
      const started = process.hrtime.bigint();
      const out = await decodeUrlChunks(chunks);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (run === 0) {
        if (!Buffer.concat(out).equals(payload)) throw new Error('wrong base64url output');
      } else times.push(seconds);
    }
    const s = median(times);
    console.log(`${(encoded.length / MIB).toFixed(0)} MiB base64url in ${chunkSize >= MIB ? `${chunkSize / MIB} MiB` : `${chunkSize / 1024} KiB`} chunks: ${(encoded.length / s / 1e6).toFixed(0)} MB/s encoded, ${(payload.length / s / 1e6).toFixed(0)} MB/s decoded`);
  }
  const times: number[] = [];
  for (let run = 0; run < 6; run++) {
    const started = process.hrtime.bigint();
    const whole = Buffer.from(encoded.toString('latin1'), 'base64url');
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (run === 0 && !whole.equals(payload)) throw new Error('wrong Buffer.from output');
    if (run > 0) times.push(seconds);
  }
  const s = median(times);
  console.log(`${(encoded.length / MIB).toFixed(0)} MiB base64url, one Buffer.from of the whole text (buffered): ${(encoded.length / s / 1e6).toFixed(0)} MB/s encoded, ${(payload.length / s / 1e6).toFixed(0)} MB/s decoded`);
}

await check();
await bench();
await checkUrl();
await benchUrl();
