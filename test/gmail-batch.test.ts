/**
 * The Gmail batch codec (src/providers/gmail/batch.ts): the encoder's wire format, the streaming
 * parser on the guide's own sample answer under every chunking, round trips through a loopback
 * server that answers like Google, faults (missing, cut, oversized and throttled parts) and hostile
 * input in linear time.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../src/errors.ts';
import {
  type BatchPart,
  boundaryOf,
  collectBatchResponse,
  encodeBatch,
  gmailPath,
  GMAIL_BATCH_MAX,
  parseBatchResponse,
} from '../src/providers/gmail/batch.ts';
import { GmailApiError } from '../src/providers/gmail/errors.ts';

/** The "Example batch response" of https://developers.google.com/gmail/api/guides/batch, verbatim (its quirks included). */
const GUIDE_SAMPLE = `--batch_foobarbaz
Content-Type: application/http
Content-ID: <response-item1:12930812@barnyard.example.com>

HTTP/1.1 200 OK
Content-Type application/json
Content-Length: response_part_1_content_length
ETag: "etag/pony"

{
  "kind": "farm#animal",
  "etag": "etag/pony",
  "selfLink": "/farm/v1/animals/pony",
  "animalName": "pony",
  "animalAge": 34,
  "peltColor": "white"
}

--batch_foobarbaz
Content-Type: application/http
Content-ID: <response-item2:12930812@barnyard.example.com>

HTTP/1.1 200 OK
Content-Type: application/json
Content-Length: response_part_2_content_length
ETag: "etag/sheep"

{
  "kind": "farm#animal",
  "etag": "etag/sheep",
  "selfLink": "/farm/v1/animals/sheep",
  "animalName": "sheep",
  "animalAge": 5,
  "peltColor": "green"
}

--batch_foobarbaz
Content-Type: application/http
Content-ID: <response-item3:12930812@barnyard.example.com>

HTTP/1.1 304 Not Modified
ETag: "etag/animals"

--batch_foobarbaz--
`;
const SAMPLE_TYPE = 'multipart/mixed; boundary=batch_foobarbaz';

/** `text` as a stream of chunks of `size` bytes (or of the given sizes in turn). */
async function* chunks(text: string | Buffer, size: number | number[]) {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const sizes = Array.isArray(size) ? size : [size];
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const n = sizes[k % sizes.length]!;
    yield bytes.subarray(at, at + n);
    at += n;
  }
}

async function parts(contentType: string, body: Parameters<typeof parseBatchResponse>[1], options = {}): Promise<BatchPart[]> {
  const out: BatchPart[] = [];
  for await (const part of parseBatchResponse(contentType, body, options)) out.push(part);
  return out;
}

const crlf = (text: string) => text.replace(/\n/g, '\r\n');

describe('encodeBatch', () => {
  it('writes one application/http part per call with Content-ID <item-N> and a GET request line with the query', () => {
    const { contentType, body, contentIds } = encodeBatch([
      { path: gmailPath('users', 'me', 'threads', '18c0ffee'), query: { format: 'metadata', metadataHeaders: ['Subject', 'From'], fields: 'id,messages(id,payload/headers)' } },
      { path: gmailPath('users', 'me', 'messages', 'a/b c'), query: { format: 'full', ignored: undefined }, headers: { 'If-None-Match': '"etag"' } },
    ]);
    const boundary = boundaryOf(contentType)!;
    expect(contentType).toBe(`multipart/mixed; boundary=${boundary}`);
    expect(boundary).toMatch(/^batch_[A-Za-z0-9_-]{24}$/);
    expect(contentIds).toEqual(['item-1', 'item-2']);
    expect(body).toBe(
      `--${boundary}\r\nContent-Type: application/http\r\nContent-ID: <item-1>\r\n\r\n` +
        'GET /gmail/v1/users/me/threads/18c0ffee?format=metadata&metadataHeaders=Subject&metadataHeaders=From&fields=id%2Cmessages%28id%2Cpayload%2Fheaders%29 HTTP/1.1\r\n\r\n' +
        `\r\n--${boundary}\r\nContent-Type: application/http\r\nContent-ID: <item-2>\r\n\r\n` +
        'GET /gmail/v1/users/me/messages/a%2Fb%20c?format=full HTTP/1.1\r\nIf-None-Match: "etag"\r\n\r\n' +
        `\r\n--${boundary}--\r\n`,
    );
    expect(encodeBatch([{ path: '/gmail/v1/users/me/profile' }]).contentType).not.toBe(contentType);
  });

  it('keeps to the limit (50 advised, 100 at most) and refuses what would break the framing', () => {
    const calls = (n: number) => Array.from({ length: n }, (_, i) => ({ path: gmailPath('users', 'me', 'threads', `t${i}`) }));
    expect(encodeBatch(calls(50)).contentIds).toHaveLength(50);
    expect(() => encodeBatch(calls(51))).toThrow(RangeError);
    expect(encodeBatch(calls(100), { limit: GMAIL_BATCH_MAX }).contentIds).toHaveLength(100);
    expect(() => encodeBatch(calls(101), { limit: 100 })).toThrow(RangeError);
    expect(() => encodeBatch(calls(1), { limit: 101 })).toThrow(RangeError);
    expect(() => encodeBatch([])).toThrow(RangeError);
    expect(() => encodeBatch([{ path: 'https://gmail.googleapis.com/gmail/v1/users/me/profile' }])).toThrow(RangeError);
    expect(() => encodeBatch([{ path: '/gmail/v1/users/me/threads/x HTTP/1.1\r\nHost: evil' }])).toThrow(RangeError);
    expect(() => encodeBatch([{ path: '/drive/v3/files' }])).toThrow(RangeError);
    expect(() => encodeBatch([{ path: '/gmail/v1/users/me/profile', headers: { 'X-A': 'b\r\nInjected: 1' } }])).toThrow(RangeError);
  });
});

describe('boundaryOf', () => {
  it.each([
    ['multipart/mixed; boundary=batch_foobarbaz', 'batch_foobarbaz'],
    ['multipart/mixed; boundary="foo bar:baz"', 'foo bar:baz'],
    ['Multipart/Mixed;charset=utf-8;BOUNDARY=abc', 'abc'],
    ['multipart/mixed; x="a; boundary=evil"; boundary=good', 'good'],
    ['multipart/mixed;\r\n boundary=folded', 'folded'],
  ])('%s → %s', (type, boundary) => {
    expect(boundaryOf(type)).toBe(boundary);
  });

  it.each([['application/json'], ['multipart/mixed'], ['multipart/mixed; boundary='], [`multipart/mixed; boundary=${'a'.repeat(71)}`], ['multipart/mixed; boundary="unterminated'], [null]])(
    'refuses %s',
    (type) => {
      expect(boundaryOf(type)).toBeNull();
    },
  );
});

describe('parseBatchResponse on the guide’s sample answer', () => {
  const expected = [
    {
      contentId: 'response-item1:12930812@barnyard.example.com',
      status: 200,
      headers: { 'content-length': 'response_part_1_content_length', etag: '"etag/pony"' },
      body: { kind: 'farm#animal', etag: 'etag/pony', selfLink: '/farm/v1/animals/pony', animalName: 'pony', animalAge: 34, peltColor: 'white' },
    },
    {
      contentId: 'response-item2:12930812@barnyard.example.com',
      status: 200,
      headers: { 'content-type': 'application/json', 'content-length': 'response_part_2_content_length', etag: '"etag/sheep"' },
      body: { kind: 'farm#animal', etag: 'etag/sheep', selfLink: '/farm/v1/animals/sheep', animalName: 'sheep', animalAge: 5, peltColor: 'green' },
    },
    { contentId: 'response-item3:12930812@barnyard.example.com', status: 304, headers: { etag: '"etag/animals"' }, body: null },
  ];

  it.each([1, 2, 3, 5, 13, 64, 100_000])('reads it with CRLF line ends in chunks of %i bytes', async (size) => {
    expect(await parts(SAMPLE_TYPE, chunks(crlf(GUIDE_SAMPLE), size))).toEqual(expected);
  });

  it('reads it with LF line ends, from a node Readable and from a web ReadableStream', async () => {
    expect(await parts(SAMPLE_TYPE, Readable.from(chunks(GUIDE_SAMPLE, 7)))).toEqual(expected);
    expect(await parts(SAMPLE_TYPE, new Response(crlf(GUIDE_SAMPLE)).body!)).toEqual(expected);
  });

  it('splits the delimiter across every chunk border the same way', async () => {
    const text = crlf(GUIDE_SAMPLE);
    for (let cut = 1; cut < text.length; cut += 3) {
      expect(await parts(SAMPLE_TYPE, chunks(text, [cut, text.length]))).toEqual(expected);
    }
  });

  it('ignores a preamble, transport padding after delimiters and the epilogue; takes a quoted boundary', async () => {
    const text = crlf(
      'This is the preamble.\n--batch_foobarbaz and not a delimiter\n' +
        GUIDE_SAMPLE.replace(/--batch_foobarbaz\n/g, '--batch_foobarbaz  \t\n').replace('--batch_foobarbaz--\n', '--batch_foobarbaz--\nepilogue\n--batch_foobarbaz\nHTTP/1.1 500 x\n'),
    );
    expect(await parts('multipart/mixed; boundary="batch_foobarbaz"', chunks(text, 11))).toEqual(expected);
  });

  it('stops reading the body at the close delimiter', async () => {
    let pulledAfterClose = false;
    async function* source() {
      yield Buffer.from(crlf(GUIDE_SAMPLE));
      pulledAfterClose = true;
      yield Buffer.from('more epilogue');
    }
    expect(await parts(SAMPLE_TYPE, source())).toHaveLength(3);
    expect(pulledAfterClose).toBe(false);
  });

  it('keeps boundary-like lines inside a body (a longer line is no delimiter)', async () => {
    const body = JSON.stringify({ raw: '\n--batch_foobarbazX\n--batch_foobarba\n' });
    const text = crlf(`--batch_foobarbaz\nContent-ID: <response-item-1>\n\nHTTP/1.1 200 OK\nContent-Type: application/json\n\n${body}\n--batch_foobarbaz--\n`);
    const [part] = await parts(SAMPLE_TYPE, chunks(text, 4));
    expect(part!.body).toEqual({ raw: '\n--batch_foobarbazX\n--batch_foobarba\n' });
  });

  it('fails a body that is not multipart, holds no part, or ends before its close delimiter (after the whole parts)', async () => {
    await expect(parts('application/json', chunks('{}', 2))).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE', kind: 'malformed' });
    await expect(parts(SAMPLE_TYPE, chunks('just text\r\n', 3))).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE', kind: 'malformed' });
    const text = crlf(GUIDE_SAMPLE);
    const cut = text.slice(0, text.indexOf('"animalName": "sheep"'));
    const seen: BatchPart[] = [];
    await expect(
      (async () => {
        for await (const part of parseBatchResponse(SAMPLE_TYPE, chunks(cut, 50))) seen.push(part);
      })(),
    ).rejects.toMatchObject({ kind: 'malformed', retryable: true });
    expect(seen.map((p) => p.contentId)).toEqual(['response-item1:12930812@barnyard.example.com']);
  });

  it('releases a body it will not read (not multipart)', async () => {
    const body = Readable.from(chunks('<html>proxy error</html>', 4));
    await expect(parts('text/html', body)).rejects.toMatchObject({ kind: 'malformed' });
    expect(body.destroyed).toBe(true);
  });

  it('rejects with the signal’s reason when it aborts mid-stream', async () => {
    const controller = new AbortController();
    const reason = new GatewayError('DEADLINE_EXCEEDED', 'deadline');
    async function* source() {
      yield Buffer.from(crlf(GUIDE_SAMPLE).slice(0, 200));
      controller.abort(reason);
      yield Buffer.from(crlf(GUIDE_SAMPLE).slice(200));
    }
    await expect(parts(SAMPLE_TYPE, source(), { signal: controller.signal })).rejects.toBe(reason);
  });
});

describe('collectBatchResponse', () => {
  const ids = ['item-1', 'item-2', 'item-3'];
  const part = (id: string | null, status: string, body = '{}', headers = '') =>
    `--b\r\nContent-Type: application/http\r\n${id === null ? '' : `Content-ID: <${id}>\r\n`}\r\nHTTP/1.1 ${status}\r\nContent-Type: application/json; charset=UTF-8\r\n${headers}\r\n${body}\r\n`;
  const collect = (text: string, options = {}) => collectBatchResponse('multipart/mixed; boundary=b', chunks(text, 9), ids, options);

  it('puts answers in request order by Content-ID, whatever their order; a part without Content-ID fills its position', async () => {
    const results = await collect(part('response-item-3', '200 OK', '{"n":3}') + part(null, '200 OK', '{"n":2}') + part('response-item-1', '200 OK', '{"n":1}') + '--b--\r\n');
    // The unnamed part is the 2nd part: it answers item-2.
    expect(results.map((r) => (r.ok ? r.body : null))).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it('maps a 429 part (with its own Retry-After), a 503 part and a 404 part; a missing part becomes a retryable error', async () => {
    const quota = JSON.stringify({ error: { code: 429, message: 'Rate Limit Exceeded', errors: [{ reason: 'rateLimitExceeded', domain: 'usageLimits' }], status: 'RESOURCE_EXHAUSTED' } });
    const results = await collectBatchResponse(
      'multipart/mixed; boundary=b',
      chunks(part('response-item-1', '429 Too Many Requests', quota, 'Retry-After: 3\r\n') + part('response-item-2', '503 Service Unavailable', '{"error":{"code":503}}') + '--b--\r\n', 5),
      [...ids, 'item-4'],
    );
    expect(results[0]).toMatchObject({ ok: false, status: 429, error: { code: 'PROVIDER_THROTTLED', retryAfter: 3, retryable: true } });
    expect(results[1]).toMatchObject({ ok: false, status: 503, error: { code: 'PROVIDER_UNAVAILABLE', kind: 'server', retryable: true } });
    for (const missing of results.slice(2)) expect(missing).toMatchObject({ ok: false, error: { code: 'PROVIDER_UNAVAILABLE', kind: 'malformed', retryable: true } });
    const notFound = await collect(part('response-item-1', '404 Not Found', '{"error":{"code":404,"status":"NOT_FOUND"}}') + '--b--');
    expect(notFound[0]).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });

  it('ignores unknown and repeated Content-IDs', async () => {
    const results = await collect(part('response-item-9', '200 OK', '{"n":9}') + part('response-item-1', '200 OK', '{"n":1}') + part('response-item-1', '200 OK', '{"n":"again"}') + '--b--');
    expect(results[0]).toMatchObject({ ok: true, body: { n: 1 } });
    expect(results[1]!.ok).toBe(false);
  });

  it('keeps the parts read before a cut; the calls after it get a retryable error', async () => {
    const text = part('response-item-1', '200 OK', '{"n":1}') + part('response-item-2', '200 OK', '{"n":');
    const results = await collect(text);
    expect(results[0]).toMatchObject({ ok: true, body: { n: 1 } });
    expect(results[1]).toMatchObject({ ok: false, error: { code: 'PROVIDER_UNAVAILABLE', retryable: true } });
    // A connection reset under the body: the same, through the Gmail mapping.
    async function* reset() {
      yield Buffer.from(part('response-item-1', '200 OK', '{"n":1}') + part('response-item-2', '200 OK', '{"n":'));
      throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    }
    const afterReset = await collectBatchResponse('multipart/mixed; boundary=b', reset(), ids);
    expect(afterReset[0]!.ok).toBe(true);
    expect(afterReset[2]).toMatchObject({ ok: false, error: { kind: 'network', retryable: true } });
  });

  it('bounds one part (its call fails alone, not retried) and the whole answer', async () => {
    const big = JSON.stringify({ data: 'x'.repeat(2000) });
    const results = await collect(part('response-item-1', '200 OK', '{"n":1}') + part('response-item-2', '200 OK', big) + part('response-item-3', '200 OK', '{"n":3}') + '--b--', { maxPartBytes: 1000 });
    expect(results[0]).toMatchObject({ ok: true });
    expect(results[1]).toMatchObject({ ok: false, error: { code: 'PROVIDER_UNAVAILABLE', kind: 'malformed', retryable: false } });
    expect(results[2]).toMatchObject({ ok: true, body: { n: 3 } });
    const whole = await collect(part('response-item-1', '200 OK', big) + '--b--', { maxTotalBytes: 1000 });
    expect(whole[0]).toMatchObject({ ok: false, error: { kind: 'malformed', retryable: false } });
  });
});

describe('round trip through a loopback server that answers like Google', () => {
  let server: http.Server;
  let origin: string;
  const seen: { contentType: string | undefined; authorization: string | undefined; requestLines: string[] }[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const body: Buffer[] = [];
      req.on('data', (c: Buffer) => body.push(c));
      req.on('end', () => {
        const boundary = boundaryOf(req.headers['content-type'])!;
        const text = Buffer.concat(body).toString('utf8');
        // The server's own reading of the request: split on the delimiter, part headers, request line.
        const calls = text
          .split(`--${boundary}`)
          .slice(1, -1)
          .map((raw) => {
            const [head, request] = raw.replace(/^\r\n/, '').split('\r\n\r\n');
            const id = /Content-ID: <([^>]+)>/i.exec(head!)![1]!;
            return { id, line: request!.split('\r\n')[0]! };
          });
        seen.push({ contentType: req.headers['content-type'], authorization: req.headers.authorization, requestLines: calls.map((c) => c.line) });
        const out = `batch_${Math.random().toString(36).slice(2)}`;
        res.writeHead(200, { 'content-type': `multipart/mixed; boundary=${out}` });
        // Answers in reverse order, written in small pieces, as Google may.
        const answer = [...calls]
          .reverse()
          .map(({ id, line }) => {
            const threadId = /threads\/([^?\s]+)/.exec(line)?.[1] ?? '';
            const json = JSON.stringify({ id: threadId, historyId: '1', messages: [{ id: `${threadId}-m1`, threadId }] });
            return `--${out}\r\nContent-Type: application/http\r\nContent-ID: <response-${id}>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\nVary: Origin\r\n\r\n${json}\r\n`;
          })
          .join('') + `--${out}--\r\n`;
        const bytes = Buffer.from(answer);
        let at = 0;
        const pump = () => {
          while (at < bytes.length) {
            const piece = bytes.subarray(at, at + 37);
            at += piece.length;
            if (!res.write(piece)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('encoder → server → streamed parser gives each thread to its call, in request order', async () => {
    const threadIds = Array.from({ length: 50 }, (_, i) => `18c${i.toString(16).padStart(5, '0')}`);
    const batch = encodeBatch(threadIds.map((id) => ({ path: gmailPath('users', 'me', 'threads', id), query: { format: 'minimal', fields: 'id,historyId,messages(id,threadId)' } })));
    const response = await fetch(`${origin}/batch/gmail/v1`, { method: 'POST', headers: { 'content-type': batch.contentType, authorization: 'Bearer token' }, body: batch.body });
    const results = await collectBatchResponse(response.headers.get('content-type'), response.body!, batch.contentIds);
    expect(results.map((r) => (r.ok ? (r.body as { id: string }).id : r.error.message))).toEqual(threadIds);
    expect(seen.at(-1)!.requestLines[0]).toBe(`GET /gmail/v1/users/me/threads/${threadIds[0]}?format=minimal&fields=id%2ChistoryId%2Cmessages%28id%2CthreadId%29 HTTP/1.1`);
    expect(seen.at(-1)!.requestLines).toHaveLength(50);
  });
});

describe('hostile answers are read in linear time', () => {
  // Generous ceilings: a quadratic scan takes minutes on these inputs, a linear one well under a second.
  const CEILING_MS = 20_000;

  it('8 MiB without a boundary, in 1-byte-prefix-heavy chunks', async () => {
    const junk = Buffer.alloc(8 * 1024 * 1024, '\n--batch_foobarba');
    const started = performance.now();
    await expect(parts(SAMPLE_TYPE, chunks(junk, 16 * 1024))).rejects.toBeInstanceOf(GmailApiError);
    expect(performance.now() - started).toBeLessThan(CEILING_MS);
  });

  it('8 MiB of boundary-like lines inside one part', async () => {
    const lines = '\r\n--batch_foobarbazX'.repeat(Math.ceil((8 * 1024 * 1024) / 20));
    const text = `--batch_foobarbaz\r\nContent-ID: <response-item-1>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n${lines}\r\n--batch_foobarbaz--\r\n`;
    const started = performance.now();
    const [part] = await parts(SAMPLE_TYPE, chunks(text, [4093, 1, 17]));
    expect(performance.now() - started).toBeLessThan(CEILING_MS);
    expect((part!.body as string).length).toBe(lines.length);
  });

  it('a million tiny parts', async () => {
    const one = Buffer.from('--b\nContent-ID: <response-item-1>\n\nHTTP/1.1 200 OK\n\n{}\n');
    const count = 1_000_000;
    async function* source() {
      const block = Buffer.concat(Array.from({ length: 1000 }, () => one));
      for (let i = 0; i < count / 1000; i++) yield block;
      yield Buffer.from('--b--\n');
    }
    const started = performance.now();
    let n = 0;
    for await (const part of parseBatchResponse('multipart/mixed; boundary=b', source())) {
      if (part.status === 200) n++;
    }
    const elapsed = performance.now() - started;
    expect(n).toBe(count);
    expect(elapsed).toBeLessThan(CEILING_MS);
    console.log(`batch parser: ${count} parts (${((one.length * count) / 1e6).toFixed(0)} MB) in ${elapsed.toFixed(0)} ms`);
  }, 60_000);
});
