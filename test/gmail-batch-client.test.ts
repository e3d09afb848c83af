/**
 * batchGet (src/providers/gmail/batch-client.ts) against a loopback batch endpoint that reads the
 * multipart request and answers per call like Google: splitting to the limit, retrying only the
 * failed calls, whole-batch failures with Retry-After, and the request's AbortSignal.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../src/errors.ts';
import { batchGet } from '../src/providers/gmail/batch-client.ts';
import { boundaryOf, gmailPath } from '../src/providers/gmail/batch.ts';

interface Call {
  contentId: string;
  threadId: string;
}
interface Post {
  at: number;
  authorization: string | undefined;
  calls: Call[];
}
type PartAnswer = { status: number; body?: unknown; headers?: Record<string, string> };
/** How the fake answers: a whole-batch answer, or one answer per call (default: the thread). */
interface Behaviour {
  whole?: (post: number) => { status: number; headers?: Record<string, string>; body: string } | 'hang' | undefined;
  part?: (call: Call, post: number) => PartAnswer | undefined;
}

const posts: Post[] = [];
let behaviour: Behaviour = {};
let server: http.Server;
let root: string;
const hanging = new Set<http.ServerResponse>();

function parseCalls(contentType: string | undefined, text: string): Call[] {
  const boundary = boundaryOf(contentType);
  if (!boundary) throw new Error('not multipart');
  return text
    .split(`--${boundary}`)
    .slice(1, -1)
    .map((raw) => {
      const [head, request] = raw.replace(/^\r\n/, '').split('\r\n\r\n');
      const contentId = /^Content-ID: <([^>]+)>$/im.exec(head!)![1]!;
      const line = request!.split('\r\n')[0]!;
      const m = /^GET \/gmail\/v1\/users\/me\/threads\/([^?\s]+)\?format=minimal HTTP\/1\.1$/.exec(line);
      if (!m) throw new Error(`unexpected request line ${line}`);
      return { contentId, threadId: decodeURIComponent(m[1]!) };
    });
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/batch/gmail/v1') {
        res.writeHead(404).end();
        return;
      }
      const index = posts.length;
      const calls = parseCalls(req.headers['content-type'], Buffer.concat(chunks).toString('utf8'));
      posts.push({ at: performance.now(), authorization: req.headers.authorization, calls });
      const whole = behaviour.whole?.(index);
      if (whole === 'hang') {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      if (whole) {
        res.writeHead(whole.status, { 'content-type': 'application/json; charset=UTF-8', ...whole.headers });
        res.end(whole.body);
        return;
      }
      const boundary = `batch_${index}_x`;
      res.writeHead(200, { 'content-type': `multipart/mixed; boundary=${boundary}` });
      for (const call of calls) {
        const answer = behaviour.part?.(call, index) ?? { status: 200, body: { id: call.threadId, historyId: '7' } };
        const headers = Object.entries({ 'Content-Type': 'application/json; charset=UTF-8', ...answer.headers })
          .map(([k, v]) => `${k}: ${v}\r\n`)
          .join('');
        res.write(`--${boundary}\r\nContent-Type: application/http\r\nContent-ID: <response-${call.contentId}>\r\n\r\nHTTP/1.1 ${answer.status} X\r\n${headers}\r\n${JSON.stringify(answer.body ?? {})}\r\n`);
      }
      res.end(`--${boundary}--\r\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  root = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of hanging) res.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  posts.length = 0;
  behaviour = {};
});

const threads = (n: number) => Array.from({ length: n }, (_, i) => `t${String(i).padStart(4, '0')}`);
const requestsFor = (ids: string[]) => ids.map((id) => ({ path: gmailPath('users', 'me', 'threads', id), query: { format: 'minimal' } }));
const idsOf = (results: Awaited<ReturnType<typeof batchGet>>) => results.map((r) => (r.ok ? (r.body as { id: string }).id : r.error.code));
const quick = { initialDelayMs: 20, maxDelayMs: 100 };

describe('batchGet', () => {
  it('splits 120 calls into 3 POSTs at limit 50, with the bearer token, and answers in request order', async () => {
    const ids = threads(120);
    const results = await batchGet(fetch, `${root}/`, 'ya29.token', requestsFor(ids), { limit: 50 });
    expect(posts.map((p) => p.calls.length).sort((a, b) => b - a)).toEqual([50, 50, 20]);
    expect(posts.every((p) => p.authorization === 'Bearer ya29.token')).toBe(true);
    expect(idsOf(results)).toEqual(ids);
    expect(results.every((r) => r.ok && r.status === 200)).toBe(true);
  });

  it('a 429 on 2 calls inside a 200 batch: only those 2 are sent again, the others are not', async () => {
    const ids = threads(10);
    behaviour.part = (call, post) =>
      post === 0 && (call.threadId === 't0003' || call.threadId === 't0007')
        ? { status: 429, body: { error: { code: 429, message: 'Rate Limit Exceeded', errors: [{ reason: 'rateLimitExceeded', domain: 'usageLimits' }] } } }
        : undefined;
    const results = await batchGet(fetch, root, 'token', requestsFor(ids), { retry: quick });
    expect(posts).toHaveLength(2);
    expect(posts[1]!.calls.map((c) => c.threadId)).toEqual(['t0003', 't0007']);
    expect(idsOf(results)).toEqual(ids);
  });

  it('honours a Retry-After inside a part before resending that call', async () => {
    behaviour.part = (call, post) => (post === 0 && call.threadId === 't0001' ? { status: 503, body: { error: { code: 503 } }, headers: { 'Retry-After': '1' } } : undefined);
    const results = await batchGet(fetch, root, 'token', requestsFor(threads(3)), { retry: quick });
    expect(idsOf(results)).toEqual(threads(3));
    expect(posts[1]!.calls.map((c) => c.threadId)).toEqual(['t0001']);
    expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(990);
  });

  it('a whole-batch 503 with Retry-After: waits at least that long, then resends the whole batch', async () => {
    behaviour.whole = (post) => (post === 0 ? { status: 503, headers: { 'retry-after': '1' }, body: '{"error":{"code":503,"message":"Backend Error","status":"UNAVAILABLE"}}' } : undefined);
    const ids = threads(5);
    const results = await batchGet(fetch, root, 'token', requestsFor(ids), { retry: quick });
    expect(posts).toHaveLength(2);
    expect(posts[1]!.calls).toHaveLength(5);
    expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(990);
    expect(idsOf(results)).toEqual(ids);
  });

  it('gives up at once on a Retry-After past the budget; the calls keep it for the client', async () => {
    behaviour.whole = () => ({ status: 429, headers: { 'retry-after': '120' }, body: '{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}' });
    const results = await batchGet(fetch, root, 'token', requestsFor(threads(3)), { retry: { ...quick, budgetMs: 10_000 } });
    expect(posts).toHaveLength(1);
    for (const r of results) expect(r).toMatchObject({ ok: false, error: { code: 'PROVIDER_THROTTLED', retryAfter: 120 } });
  });

  it('fails only the calls that keep failing, after the tries are used up; a 404 is final at once', async () => {
    behaviour.part = (call) => {
      if (call.threadId === 't0002') return { status: 500, body: { error: { code: 500, errors: [{ reason: 'backendError' }] } } };
      if (call.threadId === 't0004') return { status: 404, body: { error: { code: 404, status: 'NOT_FOUND' } } };
      return undefined;
    };
    const results = await batchGet(fetch, root, 'token', requestsFor(threads(6)), { retry: { ...quick, maxAttempts: 3 } });
    expect(posts.map((p) => p.calls.map((c) => c.threadId))).toEqual([threads(6), ['t0002'], ['t0002']]);
    expect(idsOf(results)).toEqual(['t0000', 't0001', 'PROVIDER_UNAVAILABLE', 't0003', 'NOT_FOUND', 't0005']);
  });

  it('a whole-batch 401 is final: every call gets PROVIDER_AUTH_FAILED after one POST', async () => {
    behaviour.whole = () => ({ status: 401, body: '{"error":{"code":401,"message":"Invalid Credentials","errors":[{"reason":"authError"}]}}' });
    const results = await batchGet(fetch, root, async () => 'expired', requestsFor(threads(4)), { retry: quick });
    expect(posts).toHaveLength(1);
    expect(idsOf(results)).toEqual(Array(4).fill('PROVIDER_AUTH_FAILED'));
  });

  it('abort while the answer is awaited: rejects at once with the reason and closes the connection', async () => {
    behaviour.whole = () => 'hang';
    const controller = new AbortController();
    const reason = new GatewayError('DEADLINE_EXCEEDED', 'deadline');
    const started = performance.now();
    const pending = batchGet(fetch, root, 'token', requestsFor(threads(120)), { signal: controller.signal, limit: 50 });
    while (posts.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(5000);
    for (let i = 0; i < 100 && hanging.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(hanging.size).toBe(0);
    // The third batch never went out: the pool stops with the signal.
    expect(posts).toHaveLength(2);
  });

  it('abort during a Retry-After wait: rejects at once, nothing more is sent', async () => {
    behaviour.whole = () => ({ status: 503, headers: { 'retry-after': '5' }, body: '{}' });
    const controller = new AbortController();
    const reason = new DOMException('The client went away', 'AbortError');
    const pending = batchGet(fetch, root, 'token', requestsFor(threads(2)), { signal: controller.signal, retry: quick });
    while (posts.length < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const abortedAt = performance.now();
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(performance.now() - abortedAt).toBeLessThan(1000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(posts).toHaveLength(1);
  });

  it('refuses a limit over 100 before sending anything', async () => {
    await expect(batchGet(fetch, root, 'token', requestsFor(threads(2)), { limit: 101 })).rejects.toThrow(RangeError);
    expect(posts).toHaveLength(0);
  });
});
