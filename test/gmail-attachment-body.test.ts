/**
 * The streaming reader of Gmail's users.messages.attachments.get answers: byte-exact output over
 * any chunking, key order and whitespace; bytes out before the upstream answer ends (a real HTTP
 * server on loopback); cut and malformed bodies that never end cleanly; error answers mapped to
 * GatewayError codes; back-pressure, cancellation, the signal and the idle limit; hostile bodies
 * in linear time and bounded memory.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGatewayError } from '../src/errors.ts';
import { findPart } from '../src/mime/attachments.ts';
import { decodeTransferEncodingSync } from '../src/mime/decode.ts';
import { parseMessage } from '../src/mime/parse.ts';
import type { ParsedPart } from '../src/mime/parse.ts';
import { AttachmentBodyStream, openAttachmentBody } from '../src/providers/gmail/attachment-body.ts';
import type { AttachmentBodyOptions } from '../src/providers/gmail/attachment-body.ts';
import { MAX_DEPTH } from '../src/providers/gmail/attachment-json.ts';
import { GmailApiError, isGmailFailure } from '../src/providers/gmail/errors.ts';
import { corpusDir, expectedAttachments, hasCorpus, loadManifest } from './support/corpus.ts';
import { split } from './support/chunks.ts';

const MIB = 1024 * 1024;

let seed = 0x15;
const rand = (n: number): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % n;
};

/** Gmail's encoding of `data`: base64url with `=` padding. */
function padded(bytes: Buffer): string {
  const text = bytes.toString('base64url');
  return text.length % 4 === 0 ? text : text + '='.repeat(4 - (text.length % 4));
}

/** Whitespace as JSON allows it, or none. */
function ws(kind: number): string {
  return ['', ' ', '\n  ', '\r\n\t ', ' \t'][kind % 5]!;
}

/** An attachments.get body with members in the given order and whitespace between tokens. */
function body(data: Buffer, options: { order?: string[]; space?: number; size?: number | string | null; attachmentId?: string; extra?: string } = {}): Buffer {
  const s = ws(options.space ?? 0);
  const members: Record<string, string> = {
    attachmentId: `"attachmentId"${s}:${s}${JSON.stringify(options.attachmentId ?? 'ANGjdJ8-x_yZ')}`,
    size: options.size === null ? '' : `"size"${s}:${s}${typeof options.size === 'string' ? JSON.stringify(options.size) : (options.size ?? data.length)}`,
    data: `"data"${s}:${s}"${padded(data)}"`,
    extra: options.extra ?? '',
  };
  const order = options.order ?? ['size', 'data'];
  const parts = order.map((k) => members[k]!).filter((m) => m !== '');
  return Buffer.from(`${s}{${s}${parts.join(`${s},${s}`)}${s}}${s}`, 'latin1');
}

/** A web ReadableStream over `chunks` that records whether it was cancelled. */
function webBody(chunks: Buffer[]): { stream: ReadableStream<Uint8Array>; cancelled: () => boolean } {
  let i = 0;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(new Uint8Array(chunks[i++]!));
      else controller.close();
    },
    cancel() {
      cancelled = true;
    },
  });
  return { stream, cancelled: () => cancelled };
}

interface Outcome {
  bytes: Buffer;
  error: unknown;
  ended: boolean;
}

/** Reads an AttachmentBodyStream to its end or error. */
async function drain(stream: AttachmentBodyStream): Promise<Outcome> {
  const out: Buffer[] = [];
  let ended = false;
  stream.on('end', () => (ended = true));
  try {
    for await (const c of stream) out.push(c as Buffer);
    return { bytes: Buffer.concat(out), error: null, ended };
  } catch (error) {
    return { bytes: Buffer.concat(out), error, ended };
  }
}

async function decode(chunks: Buffer[], options: AttachmentBodyOptions = {}, web = false): Promise<Outcome> {
  const source = web ? webBody(chunks).stream : Readable.from(chunks);
  return drain(new AttachmentBodyStream(source, options));
}

function expectFailure(outcome: Outcome, code: string, message?: RegExp): void {
  expect(outcome.error, `expected ${code}, got ${outcome.bytes.length} bytes and a clean end`).not.toBeNull();
  expect(isGatewayError(outcome.error) && outcome.error.code).toBe(code);
  if (message) expect((outcome.error as Error).message).toMatch(message);
  expect(outcome.ended).toBe(false);
}

describe('attachments.get bodies decode byte-exact', () => {
  it('for 0, 1, 2, 3 and 1 MiB + 1 bytes and random sizes, any key order and whitespace, random chunk splits, Node and web bodies', async () => {
    const orders = [['size', 'data'], ['data', 'size'], ['attachmentId', 'data', 'size'], ['data', 'attachmentId'], ['size', 'attachmentId', 'data'], ['data']];
    const sizes = [0, 1, 2, 3, MIB + 1, ...Array.from({ length: 24 }, () => rand(rand(2) ? 5000 : 300_000))];
    let round = 0;
    for (const size of sizes) {
      const data = size % 7 === 0 ? Buffer.alloc(size, 0xff) : crypto.randomBytes(size);
      for (let k = 0; k < 3; k++, round++) {
        const text = body(data, { order: orders[round % orders.length]!, space: round, size: round % 4 === 3 ? String(size) : size });
        // Byte-sized chunks for small bodies; socket-sized ones (and one whole) for the large.
        const max = size < 10_000 ? [1, 2, 3, 7, 64, 4096, 70_000][round % 7]! : [257, 4096, 70_000, text.length][round % 4]!;
        const expectedSize = round % 2 ? size : null;
        const out = await decode(split(text, () => 1 + rand(max)), { expectedSize }, round % 3 === 0);
        expect(out.error, `size ${size}, round ${round}`).toBeNull();
        expect(out.bytes.equals(data), `size ${size}, round ${round}`).toBe(true);
      }
    }
  });

  it('at every split position of a body, with escapes and nested values in other members and in keys', async () => {
    const data = crypto.randomBytes(47);
    const extra = `"n\\u00e4me"${ws(2)}:${ws(1)}["a\\"b\\\\c\\/\\b\\f\\n\\r\\t\\u0041\\ud83d\\ude00", -1.5e-3, 0, 10E+2, true, false, null, {}, [], {"x": {"y": [[]]}}]`;
    const texts = [
      body(data, { order: ['attachmentId', 'extra', 'data', 'size'], space: 3, attachmentId: 'AN\\u0047j"x\\y', extra }),
      // "d\u0061ta" is the key "data"; "size" with escapes is "size".
      Buffer.from(`{"s\\u0069ze":47,"d\\u0061ta":"${padded(data)}","attachmentId":"x"}`),
    ];
    for (const text of texts) {
      for (let p = 0; p <= text.length; p++) {
        const out = await decode([text.subarray(0, p), text.subarray(p)].filter((c) => c.length > 0), { expectedSize: 47 });
        expect(out.error, `split at ${p}`).toBeNull();
        expect(out.bytes.equals(data), `split at ${p}`).toBe(true);
      }
      const bytewise = await decode(split(text, () => 1), { expectedSize: 47 });
      expect(bytewise.bytes.equals(data)).toBe(true);
    }
  });

  it('reads a body without "data" as an empty attachment (proto3 JSON omits empty bytes), and "data" without padding', async () => {
    for (const text of ['{}', '{"size":0}', '{ "size" : 0 , "data" : "" }', '{"attachmentId":"A"}']) {
      const out = await decode([Buffer.from(text)], { expectedSize: 0 });
      expect(out.error, text).toBeNull();
      expect(out.bytes.length).toBe(0);
      expect(out.ended).toBe(true);
    }
    expectFailure(await decode([Buffer.from('{"attachmentId":"A"}')], { expectedSize: 5 }), 'PROVIDER_UNAVAILABLE', /0 bytes decoded, 5 expected/);
    const data = Buffer.from('abcd');
    const out = await decode([Buffer.from(`{"data":"${data.toString('base64url')}"}`)]);
    expect(out.bytes.equals(data)).toBe(true);
  });

  it('decodes "-" and "_" (the 3,000 bytes the base64 decoder got wrong) exactly, and refuses a decoded length other than "size"', async () => {
    const data = Buffer.alloc(3000);
    for (let i = 0; i < data.length; i++) data[i] = [0xfb, 0xff, 0xbf, 0xf8, 0x3e][i % 5]!;
    const out = await decode(split(body(data), () => 1 + rand(100)), { expectedSize: 3000 });
    expect(out.bytes.equals(data)).toBe(true);
    // 2,913 bytes (what the base64 reading produced) against size 3000: refused, never served as whole.
    expectFailure(await decode([body(data.subarray(0, 2913), { size: 3000 })]), 'PROVIDER_UNAVAILABLE', /2913 bytes decoded, "size" says 3000/);
    expectFailure(await decode([body(data.subarray(0, 2913), { size: null })], { expectedSize: 3000 }), 'PROVIDER_UNAVAILABLE', /2913 bytes decoded, 3000 expected/);
  });
});

describe('refused bodies never end cleanly', () => {
  it('a body cut anywhere (inside the key, the data, after the closing quote, before the brace) errors, and the last bytes are held back', async () => {
    const data = crypto.randomBytes(200);
    const text = body(data, { order: ['attachmentId', 'data', 'size'], space: 1 });
    for (let cut = 0; cut < text.length; cut++) {
      if (text.subarray(cut).toString().trim() === '') continue; // only trailing whitespace is missing
      const out = await decode(split(text.subarray(0, cut), () => 1 + rand(40)));
      expectFailure(out, 'PROVIDER_UNAVAILABLE', /ended/);
      // Even with every data byte decoded (cut after the data string), the client never gets all of them.
      expect(out.bytes.length, `cut at ${cut}`).toBeLessThan(data.length);
    }
    const big = crypto.randomBytes(MIB);
    const bigText = body(big);
    const closing = bigText.lastIndexOf('"') + 1;
    for (const cut of [20, 300_000, closing - 1, closing, bigText.length - 1]) {
      const out = await decode(split(bigText.subarray(0, cut), () => 64 * 1024));
      expectFailure(out, 'PROVIDER_UNAVAILABLE');
      expect(out.bytes.length).toBeLessThan(big.length);
    }
  });

  it('refuses escapes inside "data", base64 characters, a non-string "data", duplicates, syntax errors and text after the object', async () => {
    const d = padded(crypto.randomBytes(30));
    const cases: [string, RegExp][] = [
      [`{"data":"${d.slice(0, 8)}\\u0041${d.slice(8)}"}`, /escape inside "data"/],
      [`{"data":"${d.slice(0, 8)}\\/${d.slice(8)}"}`, /escape inside "data"/],
      [`{"data":"${d.slice(0, 8)}+${d.slice(9)}"}`, /'\+'/],
      [`{"data":"${d.slice(0, 8)}/${d.slice(9)}"}`, /'\/'/],
      [`{"data":"${d.slice(0, 8)} ${d.slice(8)}"}`, /0x20/],
      [`{"data":null}`, /"data" is not a string/],
      [`{"data":["${d}"]}`, /"data" is not a string/],
      [`{"data":"${d}","data":"${d}"}`, /second "data"/],
      [`{"size":30,"size":30,"data":"${d}"}`, /second "size"/],
      [`{"size":30.5,"data":"${d}"}`, /not a whole number/],
      [`{"size":-30,"data":"${d}"}`, /not a whole number/],
      [`{"size":"3x","data":"${d}"}`, /in "size"/],
      [`{"data":"${d}",}`, /where a key should be/],
      [`{"data":"${d}" "size":30}`, /where ',' or '}' should be/],
      [`{"data" "${d}"}`, /where ':' should be/],
      [`{"x":01,"data":"${d}"}`, /leading zero/],
      [`{"x":tru,"data":"${d}"}`, /literal true/],
      [`{"x":"a\\x","data":"${d}"}`, /escape/],
      [`{"x":"a\\u00g0","data":"${d}"}`, /\\u escape/],
      [`{"x":"a\nb","data":"${d}"}`, /control character/],
      [`{"x":[1,],"data":"${d}"}`, /where a value should be/],
      [`{"x":{"a":1]}`, /closing bracket/],
      [`{"data":"${d}"}{}`, /after the object/],
      [`{"data":"${d}"} x`, /after the object/],
      [`<html>502</html>`, /where the object should begin/],
      [`[{"data":"${d}"}]`, /where the object should begin/],
    ];
    for (const [text, message] of cases) {
      for (const size of [1, 5, 1000]) expectFailure(await decode(split(Buffer.from(text, 'latin1'), () => size)), 'PROVIDER_UNAVAILABLE', message);
    }
  });

  it('stops at once when more bytes arrive than expected, before reading the rest', async () => {
    const data = crypto.randomBytes(8 * MIB);
    let pulled = 0;
    const chunks = split(body(data, { size: null }), () => 64 * 1024);
    const source = Readable.from(
      (function* () {
        for (const c of chunks) {
          pulled++;
          yield c;
        }
      })(),
    );
    expectFailure(await drain(new AttachmentBodyStream(source, { expectedSize: 1000 })), 'PROVIDER_UNAVAILABLE', /more than 1000 bytes/);
    expect(pulled).toBeLessThan(4);
    expect(source.destroyed).toBe(true);
  });
});

describe('error answers map to GatewayError codes', () => {
  const errorBody = (code: number, reason: string, message: string, status?: string) =>
    JSON.stringify({ error: { code, message, errors: [{ domain: reason.endsWith('Exceeded') ? 'usageLimits' : 'global', reason, message }], ...(status ? { status } : {}) } });

  async function opened(status: number, text: string, headers: Record<string, string> = {}, web = false): Promise<unknown> {
    const chunks = split(Buffer.from(text), () => 7);
    try {
      await openAttachmentBody({ status, headers: web ? new Headers(headers) : headers, body: web ? webBody(chunks).stream : Readable.from(chunks) });
      return null;
    } catch (error) {
      return error;
    }
  }

  it('by status and reason, with Retry-After, from Node and web bodies', async () => {
    // An HTTP-date Retry-After counts from now, in whole seconds: 28 to 30 on a slow machine.
    const cases: { status: number; text: string; headers?: Record<string, string>; code: string; retryAfter?: number | [number, number]; invalidId?: boolean }[] = [
      { status: 401, text: errorBody(401, 'authError', 'Invalid Credentials', 'UNAUTHENTICATED'), code: 'PROVIDER_AUTH_FAILED' },
      { status: 403, text: errorBody(403, 'insufficientPermissions', 'Insufficient Permission', 'PERMISSION_DENIED'), code: 'PROVIDER_AUTH_FAILED' },
      { status: 403, text: errorBody(403, 'userRateLimitExceeded', 'User Rate Limit Exceeded'), headers: { 'retry-after': '7' }, code: 'PROVIDER_THROTTLED', retryAfter: 7 },
      { status: 403, text: errorBody(403, 'dailyLimitExceeded', 'Daily Limit Exceeded'), code: 'PROVIDER_THROTTLED', retryAfter: 3600 },
      { status: 429, text: errorBody(429, 'rateLimitExceeded', 'Too many requests', 'RESOURCE_EXHAUSTED'), headers: { 'retry-after': new Date(Date.now() + 30_000).toUTCString() }, code: 'PROVIDER_THROTTLED', retryAfter: [28, 30] },
      { status: 404, text: errorBody(404, 'notFound', 'Requested entity was not found.', 'NOT_FOUND'), code: 'NOT_FOUND' },
      { status: 400, text: errorBody(400, 'invalidArgument', 'Invalid attachment token', 'INVALID_ARGUMENT'), code: 'NOT_FOUND', invalidId: true },
      { status: 400, text: errorBody(400, 'badRequest', 'Invalid id value'), code: 'NOT_FOUND' },
      { status: 500, text: errorBody(500, 'backendError', 'Backend Error'), code: 'PROVIDER_UNAVAILABLE' },
      { status: 503, text: '<html><body>Service Unavailable</body></html>', code: 'PROVIDER_UNAVAILABLE' },
      { status: 502, text: '', code: 'PROVIDER_UNAVAILABLE' },
      // An error object inside a 200 answer maps by its own code.
      { status: 200, text: errorBody(429, 'rateLimitExceeded', 'Too many requests'), headers: { 'retry-after': '3' }, code: 'PROVIDER_THROTTLED', retryAfter: 3 },
      { status: 200, text: `{"size": 3, "error": ${JSON.stringify({ code: 404, message: 'gone' })}, "data": "QUJD"}`, code: 'NOT_FOUND' },
    ];
    for (const [i, c] of cases.entries()) {
      const error = await opened(c.status, c.text, c.headers, i % 2 === 0);
      expect(error, `case ${i}`).toBeInstanceOf(GmailApiError);
      const e = error as GmailApiError;
      expect(e.code, `case ${i}`).toBe(c.code);
      if (Array.isArray(c.retryAfter)) {
        expect(e.retryAfter, `case ${i}`).toBeGreaterThanOrEqual(c.retryAfter[0]);
        expect(e.retryAfter, `case ${i}`).toBeLessThanOrEqual(c.retryAfter[1]);
      } else expect(e.retryAfter, `case ${i}`).toBe(c.retryAfter);
      expect(isGmailFailure(e, 'stale-attachment-id'), `case ${i}`).toBe(c.invalidId ?? false);
      // Upstream words stay out of the client-facing message.
      expect(e.message).not.toMatch(/Invalid Credentials|Backend Error|entity/);
    }
  });

  it('reads at most 64 KiB of an error body and cancels the rest', async () => {
    let pulled = 0;
    const endless = new Readable({
      read() {
        pulled++;
        this.push(Buffer.alloc(16 * 1024, 0x20));
      },
    });
    const error = await openAttachmentBody({ status: 503, headers: {}, body: endless }).catch((e: unknown) => e);
    expect((error as GmailApiError).code).toBe('PROVIDER_UNAVAILABLE');
    expect(pulled).toBeLessThan(10);
    expect(endless.destroyed).toBe(true);
    // The same bound for an error member inside a 200 answer.
    const huge = `{"error":{"message":"${'x'.repeat(200_000)}"},"data":"QUJD"}`;
    const out = await decode(split(Buffer.from(huge), () => 4096), { status: 200 });
    expectFailure(out, 'PROVIDER_UNAVAILABLE');
  });
});

describe('streaming from an HTTP server on loopback', () => {
  let server: http.Server;
  let base = '';
  /** Per path: how the server answers. */
  const routes = new Map<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>();

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const route = routes.get(req.url ?? '');
      if (route) route(req, res);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('hands out the first decoded bytes before the upstream answer has ended', async () => {
    const data = crypto.randomBytes(2 * MIB + 5);
    const text = body(data, { order: ['data', 'size'] });
    const half = 1024 * 1024;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let serverEnded = false;
    routes.set('/slow', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
      res.write(text.subarray(0, half));
      void released.then(() => {
        res.end(text.subarray(half));
        serverEnded = true;
      });
    });
    const response = await fetch(`${base}/slow`);
    const stream = await openAttachmentBody({ status: response.status, headers: response.headers, body: response.body }, { expectedSize: data.length });
    const first: Buffer[] = [];
    let got = 0;
    const reader = stream[Symbol.asyncIterator]();
    while (got < 256 * 1024) {
      const { value } = (await reader.next()) as IteratorResult<Buffer>;
      first.push(value);
      got += value.length;
    }
    // A quarter of the attachment is out while the server still holds the rest of the answer.
    expect(serverEnded).toBe(false);
    release();
    for (;;) {
      const { value, done } = (await reader.next()) as IteratorResult<Buffer>;
      if (done) break;
      first.push(value);
    }
    expect(serverEnded).toBe(true);
    expect(Buffer.concat(first).equals(data)).toBe(true);
  });

  it('stops reading upstream while the consumer does not read, and destroying it closes the connection', async () => {
    const data = crypto.randomBytes(48 * MIB);
    const text = body(data);
    let written = 0;
    let closed!: () => void;
    const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
    routes.set('/big', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.on('close', () => closed());
      const pump = (): void => {
        while (written < text.length) {
          const piece = text.subarray(written, written + 64 * 1024);
          written += piece.length;
          if (!res.write(piece)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    const response = await fetch(`${base}/big`);
    const stream = await openAttachmentBody({ status: 200, headers: response.headers, body: response.body }, { expectedSize: data.length });
    // Read one piece, then nothing for a while: the server must be held back by the socket.
    await new Promise<void>((resolve) => stream.once('readable', resolve));
    expect(stream.read()).not.toBeNull();
    // Wait until the server has written nothing for 300 ms (socket and stream buffers full).
    const deadline = Date.now() + 20_000;
    for (let last = -1; written !== last && Date.now() < deadline; ) {
      last = written;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    // Without back-pressure the whole 64 MiB answer would be gone over loopback by now.
    expect(written).toBeLessThan(text.length / 2);
    stream.destroy();
    await connectionClosed; // the upstream body was cancelled: the socket is released
    expect(written).toBeLessThan(text.length);
  });

  it('aborts with the signal: the stream errors with its reason and the upstream connection closes', async () => {
    let closed!: () => void;
    const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
    routes.set('/stall', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`{"data":"${padded(crypto.randomBytes(3000))}`); // then nothing
      res.on('close', () => closed());
    });
    const controller = new AbortController();
    const response = await fetch(`${base}/stall`);
    const stream = await openAttachmentBody({ status: 200, body: response.body }, { signal: controller.signal });
    const reason = new Error('deadline');
    setTimeout(() => controller.abort(reason), 100);
    const out = await drain(stream);
    expect(out.error).toBe(reason);
    await connectionClosed;
  });

  it('fails an upstream that sends nothing for idleTimeoutMs with PROVIDER_UNAVAILABLE', async () => {
    routes.set('/silent', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"size": 3, "data": "QU');
    });
    const response = await fetch(`${base}/silent`);
    const started = Date.now();
    const stream = await openAttachmentBody({ status: 200, body: response.body }, { idleTimeoutMs: 200 });
    expectFailure(await drain(stream), 'PROVIDER_UNAVAILABLE', /nothing for 200 ms/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('an upstream answer cut after the data string cuts a relayed download with Content-Length: the client never sees a whole file', async () => {
    const data = crypto.randomBytes(3 * MIB + 1);
    const text = body(data, { order: ['data', 'size'] });
    const afterData = text.indexOf('"', text.indexOf('"data"') + 8) + 1; // just past the closing quote
    routes.set('/cut-after-data', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(text.length) });
      res.write(text.subarray(0, afterData), () => setTimeout(() => req.socket.destroy(), 50));
    });
    routes.set('/whole', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(text);
    });
    // A relay like the download route: Content-Length from the expected size, then the stream.
    const relay = http.createServer((req, res) => {
      void (async () => {
        const upstream = await fetch(`${base}${req.url}`);
        const stream = await openAttachmentBody({ status: upstream.status, body: upstream.body }, { expectedSize: data.length });
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(data.length) });
        stream.on('error', () => res.destroy());
        stream.pipe(res);
      })();
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const relayBase = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
    try {
      const whole = await fetch(`${relayBase}/whole`);
      expect(Buffer.from(await whole.arrayBuffer()).equals(data)).toBe(true);
      const cut = await fetch(`${relayBase}/cut-after-data`);
      expect(cut.headers.get('content-length')).toBe(String(data.length));
      await expect(cut.arrayBuffer()).rejects.toThrow();
    } finally {
      relay.closeAllConnections();
      await new Promise((resolve) => relay.close(resolve));
    }
  });

  it('works as wired through googleapis (responseType stream, validateStatus, retry off): gzip answers, an expired id, destroy closes the connection', async () => {
    const { google } = await import('googleapis');
    const data = crypto.randomBytes(MIB + 2);
    const text = body(data, { order: ['size', 'data'] });
    const seen: string[] = [];
    for (const [route, answer] of [
      ['/gmail/v1/users/me/messages/m1/attachments/fresh', (res: http.ServerResponse) => res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' }).end(text)],
      ['/gmail/v1/users/me/messages/m1/attachments/zipped', (res: http.ServerResponse) => res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8', 'content-encoding': 'gzip' }).end(zlib.gzipSync(text))],
      [
        '/gmail/v1/users/me/messages/m1/attachments/stale',
        (res: http.ServerResponse) =>
          res.writeHead(400, { 'content-type': 'application/json; charset=UTF-8' }).end(JSON.stringify({ error: { code: 400, message: 'Invalid attachment token', errors: [{ message: 'Invalid attachment token', domain: 'global', reason: 'invalidArgument' }], status: 'INVALID_ARGUMENT' } })),
      ],
    ] as const) {
      routes.set(route, (req, res) => {
        seen.push(`${req.headers.authorization} ${req.url}`);
        answer(res);
      });
    }
    const auth = new google.auth.OAuth2({ clientId: 'client', clientSecret: 'secret' });
    auth.setCredentials({ access_token: 'token-1', expiry_date: Date.now() + 3_600_000 });
    const gmail = google.gmail({ version: 'v1', auth, rootUrl: `${base}/` });
    const get = async (id: string) => {
      const res = await gmail.users.messages.attachments.get({ userId: 'me', messageId: 'm1', id }, { responseType: 'stream', validateStatus: () => true, retry: false });
      return openAttachmentBody({ status: res.status, headers: res.headers as unknown as Headers, body: res.data as unknown as Readable }, { expectedSize: data.length });
    };
    for (const id of ['fresh', 'zipped']) expect((await drain(await get(id))).bytes.equals(data), id).toBe(true);
    const stale = await get('stale').catch((e: unknown) => e);
    expect(isGmailFailure(stale, 'stale-attachment-id')).toBe(true);
    expect(stale).toMatchObject({ code: 'NOT_FOUND' });
    expect(seen).toEqual(['fresh', 'zipped', 'stale'].map((id) => `Bearer token-1 /gmail/v1/users/me/messages/m1/attachments/${id}`));

    // Destroying the stream reaches the socket through googleapis' body (node-fetch's PassThrough).
    let closed!: () => void;
    const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
    routes.set('/gmail/v1/users/me/messages/m1/attachments/held', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
      res.write(text.subarray(0, 300_000)); // then nothing
      res.on('close', () => closed());
    });
    const held = await get('held');
    const first = (await held[Symbol.asyncIterator]().next()) as IteratorResult<Buffer>;
    expect(first.value.equals(data.subarray(0, first.value.length))).toBe(true);
    held.destroy();
    await connectionClosed;
  });

  it('maps an error answer from the server and an answer cut by the server', async () => {
    routes.set('/quota', (_req, res) => {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '12' });
      res.end(JSON.stringify({ error: { code: 429, message: 'Resource has been exhausted', status: 'RESOURCE_EXHAUSTED' } }));
    });
    const quota = await fetch(`${base}/quota`);
    const error = await openAttachmentBody({ status: quota.status, headers: quota.headers, body: quota.body }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'PROVIDER_THROTTLED', retryAfter: 12 });

    const data = crypto.randomBytes(MIB);
    const text = body(data);
    routes.set('/cut', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(text.length) });
      res.write(text.subarray(0, 600_000), () => req.socket.destroy());
    });
    const cut = await fetch(`${base}/cut`);
    const out = await drain(await openAttachmentBody({ status: 200, body: cut.body }, { expectedSize: data.length }));
    expectFailure(out, 'PROVIDER_UNAVAILABLE');
    expect(out.bytes.length).toBeLessThan(data.length);
  });
});

describe('destroying the stream cancels the upstream body', () => {
  it('for a Node Readable and a web ReadableStream, also before any read', async () => {
    const text = body(crypto.randomBytes(MIB));
    const node = Readable.from(split(text, () => 4096));
    const a = new AttachmentBodyStream(node);
    await a.ready();
    a.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    expect(node.destroyed).toBe(true);

    const web = webBody(split(text, () => 4096));
    const b = new AttachmentBodyStream(web.stream);
    b.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    expect(web.cancelled()).toBe(true);
    await expect(b.ready()).rejects.toThrow();
  });
});

describe('hostile bodies: linear time, bounded memory', () => {
  /** A lazily generated body: `prefix`, then `count` repetitions of `unit`, then `suffix`, in 64 KiB chunks. */
  function* generated(prefix: string, unit: string, count: number, suffix: string): Generator<Buffer> {
    yield Buffer.from(prefix);
    const per = Math.max(1, Math.floor((64 * 1024) / unit.length));
    const block = Buffer.from(unit.repeat(per));
    let left = count;
    while (left >= per) {
      yield block;
      left -= per;
    }
    if (left > 0) yield Buffer.from(unit.repeat(left));
    yield Buffer.from(suffix);
  }

  const data = crypto.randomBytes(1000);
  const tail = `"data":"${padded(data)}","size":1000}`;
  const SIXTEEN = 16 * MIB;

  async function run(chunks: Iterable<Buffer>, options: AttachmentBodyOptions = {}): Promise<{ outcome: Outcome; ms: number; rssGrowth: number; pulled: number }> {
    const before = process.memoryUsage().rss;
    let peak = before;
    let pulled = 0;
    const source = Readable.from(
      (function* () {
        for (const c of chunks) {
          peak = Math.max(peak, process.memoryUsage().rss);
          pulled += c.length;
          yield c;
        }
      })(),
    );
    const started = performance.now();
    const outcome = await drain(new AttachmentBodyStream(source, { expectedSize: 1000, ...options }));
    return { outcome, ms: performance.now() - started, rssGrowth: peak - before, pulled };
  }

  const cases: [string, () => Iterable<Buffer>][] = [
    ['16 MiB of whitespace', () => generated('{', ' \r\n\t', SIXTEEN / 4, tail)],
    ['a 16 MiB string value', () => generated('{"attachmentId":"', 'ab\\"c\\\\d\\u00e9', SIXTEEN / 14, `",${tail}`)],
    ['a 16 MiB key', () => generated('{"', 'datadata', SIXTEEN / 8, `":1,${tail}`)],
    ['16 MiB of nested values', () => generated('{"x":[', '{"a":[{"b":[1,2.5,{"c":null}]}],"d":{}},', SIXTEEN / 40, `0],${tail}`)],
  ];

  for (const [name, chunks] of cases) {
    it(`${name} before "data": refused after 1 MiB by default; with no limit, decoded exactly without holding the value`, async () => {
      const refused = await run(chunks());
      expectFailure(refused.outcome, 'PROVIDER_UNAVAILABLE', /more than 1048576 bytes outside "data"/);
      expect(refused.pulled).toBeLessThan(2 * MIB);
      const { outcome, ms, rssGrowth } = await run(chunks(), { maxOverheadBytes: Infinity });
      expect(outcome.error).toBeNull();
      expect(outcome.bytes.equals(data)).toBe(true);
      expect(ms).toBeLessThan(20_000);
      // Holding the value would take 16 MiB or more (32 as a JS string).
      expect(rssGrowth).toBeLessThan(16 * MIB);
    });
  }

  it('deeply nested values are refused at the nesting limit, at once', async () => {
    const { outcome, ms } = await run(generated('{"x":', '[', SIXTEEN, ''), { maxOverheadBytes: Infinity });
    expectFailure(outcome, 'PROVIDER_UNAVAILABLE', new RegExp(`nesting deeper than ${MAX_DEPTH}`));
    expect(ms).toBeLessThan(20_000);
    // Up to the limit is fine.
    const ok = await run([Buffer.from(`{"x":${'['.repeat(MAX_DEPTH)}${']'.repeat(MAX_DEPTH)},${tail}`)]);
    expect(ok.outcome.bytes.equals(data)).toBe(true);
  });
});

describe.skipIf(!hasCorpus)('the corpus attachments, as Gmail sends them', () => {
  it('every manifest attachment, wrapped in an attachments.get body and split at random, comes out with its SHA-256', async () => {
    let checked = 0;
    for (const entry of loadManifest()) {
      const raw = fs.readFileSync(path.join(corpusDir, entry.file));
      const { root } = parseMessage(raw);
      for (const expected of expectedAttachments(entry)) {
        const part = findPart(root, expected.partId) as ParsedPart | null;
        expect(part, `${entry.file} part ${expected.partId}`).not.toBeNull();
        const bytes = decodeTransferEncodingSync(raw.subarray(part!.bodyStart, part!.bodyEnd), part!.encoding);
        const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
        // The reference bytes are the manifest's: the MIME decoding must reproduce them first.
        expect(sha(bytes), `${entry.file} part ${expected.partId}`).toBe(expected.sha256);
        const text = body(bytes, { order: ['attachmentId', 'size', 'data'], attachmentId: `ANGjdJ${checked}` });
        const out = await decode(split(text, () => 1 + rand(9000)), { expectedSize: expected.size }, checked % 2 === 0);
        expect(out.error, `${entry.file} part ${expected.partId}`).toBeNull();
        expect(sha(out.bytes), `${entry.file} part ${expected.partId}`).toBe(expected.sha256);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
  });
});
