/**
 * `npm run bench:gmail-body [-- MiB]`: the Gmail attachments.get body reader
 * (src/providers/gmail/attachment-body.ts) on an attachment of `MiB` mebibytes (default 100).
 *
 * Each row runs in a process of its own (RSS is per process and the first large download of a
 * process grows it most), against a server in that process on loopback that sends
 * `{"size":N,"data":"<base64url with padding>"}` honouring back-pressure:
 *
 * - `memory`: the body in 64 KiB chunks straight into `AttachmentBodyStream` (the decoder alone).
 * - `stream`: fetch + `openAttachmentBody`, what the Gmail provider does; the first run is
 *   checked byte for byte with SHA-256.
 * - `raw`: fetch, bytes counted and dropped: the floor any fetch-based reader stands on.
 * - `buffered`: fetch + `response.json()` + `Buffer.from(data, 'base64url')` (one run).
 * - `googleapis`: `gmail.users.messages.attachments.get` with `responseType: 'stream'` (gaxios 7
 *   on node-fetch) + `openAttachmentBody`: what the Gmail provider will run.
 * - `googleapis-buffered`: `attachments.get` as users and EmailEngine call it, then
 *   `Buffer.from(data, 'base64url')` (one run).
 *
 * Every row first downloads 1 MiB to warm fetch up, then reports the median MB/s of decoded
 * bytes over 3 runs and the peak RSS growth (sampled every 5 ms) of each run over the RSS
 * before it.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { AttachmentBodyStream, openAttachmentBody } from '../src/providers/gmail/attachment-body.ts';

const MIB = 1024 * 1024;
const MODES = ['memory', 'stream', 'raw', 'buffered', 'googleapis', 'googleapis-buffered'] as const;
type Mode = (typeof MODES)[number];

/** Gmail's form of `data`: base64url with `=` padding. */
const padded = (bytes: Buffer): string => bytes.toString('base64url') + '='.repeat((3 - (bytes.length % 3)) % 3);
const jsonBody = (bytes: Buffer): Buffer => Buffer.from(`{\n  "size": ${bytes.length},\n  "data": "${padded(bytes)}"\n}\n`, 'latin1');
const mb = (bytes: number, seconds: number): string => (bytes / seconds / 1e6).toFixed(0);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Runs `work` while sampling RSS; returns seconds and the peak growth over the RSS at the start, bytes. */
async function measured(work: () => Promise<void>): Promise<{ seconds: number; growth: number }> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const started = process.hrtime.bigint();
  await work();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(timer);
  return { seconds, growth: Math.max(peak, process.memoryUsage().rss) - before };
}

async function count(stream: AsyncIterable<Uint8Array>, hash: crypto.Hash | null): Promise<number> {
  let bytes = 0;
  for await (const chunk of stream) {
    bytes += chunk.length;
    hash?.update(chunk);
  }
  return bytes;
}

async function child(mode: Mode, size: number): Promise<void> {
  const payload = crypto.randomBytes(size);
  const digest = crypto.createHash('sha256').update(payload).digest('hex');
  const big = jsonBody(payload);
  const small = jsonBody(crypto.randomBytes(MIB));
  const server = http.createServer((req, res) => {
    const body = req.url?.endsWith('/small') ? small : big;
    res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8', 'content-length': String(body.length) });
    let at = 0;
    const pump = (): void => {
      while (at < body.length) {
        const piece = body.subarray(at, at + 256 * 1024);
        at += piece.length;
        if (!res.write(piece)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  const { google } = await import('googleapis');
  const auth = new google.auth.OAuth2({ clientId: 'bench', clientSecret: 'bench' });
  auth.setCredentials({ access_token: 'bench', expiry_date: Date.now() + 3_600_000 });
  const gmail = google.gmail({ version: 'v1', auth, rootUrl: url });

  const once = async (path: string, expected: number, hash: crypto.Hash | null): Promise<void> => {
    let bytes: number;
    if (mode === 'googleapis') {
      const res = await gmail.users.messages.attachments.get({ userId: 'me', messageId: 'm', id: path }, { responseType: 'stream', validateStatus: () => true, retry: false });
      bytes = await count(await openAttachmentBody({ status: res.status, headers: res.headers as unknown as Headers, body: res.data as unknown as Readable }, { expectedSize: expected }), hash);
    } else if (mode === 'googleapis-buffered') {
      const res = await gmail.users.messages.attachments.get({ userId: 'me', messageId: 'm', id: path });
      const decoded = Buffer.from(res.data.data ?? '', 'base64url');
      hash?.update(decoded);
      bytes = decoded.length;
    } else if (mode === 'memory') {
      const body = path === 'small' ? small : big;
      const chunks: Buffer[] = [];
      for (let at = 0; at < body.length; at += 64 * 1024) chunks.push(body.subarray(at, at + 64 * 1024));
      bytes = await count(new AttachmentBodyStream(Readable.from(chunks), { expectedSize: expected }), hash);
    } else {
      const response = await fetch(url + path);
      if (mode === 'raw') {
        const reader = response.body!.getReader();
        while (!(await reader.read()).done);
        bytes = expected;
      } else if (mode === 'buffered') {
        const json = (await response.json()) as { data: string };
        const decoded = Buffer.from(json.data, 'base64url');
        hash?.update(decoded);
        bytes = decoded.length;
      } else bytes = await count(await openAttachmentBody({ status: response.status, headers: response.headers, body: response.body }, { expectedSize: expected }), hash);
    }
    if (bytes !== expected) throw new Error(`${mode}: ${bytes} bytes decoded, ${expected} expected`);
  };

  await once('small', MIB, null);
  const runs: { seconds: number; growth: number }[] = [];
  for (let run = 0; run < (mode.endsWith('buffered') ? 1 : 3); run++) {
    const hash = run === 0 && mode !== 'raw' ? crypto.createHash('sha256') : null;
    runs.push(await measured(() => once('big', size, hash)));
    if (hash && hash.digest('hex') !== digest) throw new Error(`${mode}: decoded bytes differ from the attachment`);
  }
  server.close();
  const what = {
    memory: 'body in memory, 64 KiB chunks -> AttachmentBodyStream',
    stream: 'fetch on loopback -> openAttachmentBody',
    raw: 'fetch on loopback, bytes dropped (no decoding: the floor)',
    buffered: "fetch -> response.json() -> Buffer.from(data, 'base64url')",
    googleapis: "googleapis attachments.get (responseType 'stream') -> openAttachmentBody",
    'googleapis-buffered': "googleapis attachments.get -> Buffer.from(data, 'base64url')",
  }[mode];
  const growth = runs.map((r) => (r.growth / MIB).toFixed(1)).join(' / ');
  console.log(`${size / MIB} MiB, ${what}: ${mb(size, median(runs.map((r) => r.seconds)))} MB/s decoded, peak RSS growth ${growth} MiB${runs.length > 1 ? ' (runs 1 / 2 / 3)' : ''}`);
}

if (process.argv[2] === 'child') {
  await child(process.argv[3] as Mode, Number(process.argv[4]));
} else {
  const size = Math.round(Number(process.argv[2] ?? 100) * MIB);
  for (const mode of MODES) {
    const result = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'child', mode, String(size)], { stdio: 'inherit' });
    if (result.status !== 0) process.exitCode = 1;
  }
}
