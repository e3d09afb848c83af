/**
 * Authentication before parsing, through real HTTP on loopback: a GraphQL request without a valid
 * key is answered 401 UNAUTHENTICATED before its body is read, so its size and content cost
 * nothing (the probe: `{ __typename ×50000 }`, 550 KB, froze the event loop for 25–39 s);
 * and the key lookup is cached (no store query per request; a revoked key stops within the TTL).
 */
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { createApiKeyCache } from '../../src/http/api-key-cache.ts';
import type { Store } from '../../src/store/types.ts';
import { createFakeProvider, fakeMessage } from '../support/fake-provider.ts';
import { rssMiB, setupLimitsGateway } from '../support/limits-gateway.ts';

const UNAUTHENTICATED_NO_KEY = {
  errors: [{ message: 'An API key is required: send "Authorization: Bearer <key>" or "X-Api-Key: <key>"', extensions: { code: 'UNAUTHENTICATED' } }],
};

async function setup(env: Record<string, string> = {}) {
  const provider = createFakeProvider([fakeMessage('m1', 'c1', '2024-01-01T10:00:00Z', [])]);
  let authenticateCalls = 0;
  // The real store, with its `authenticate` calls counted.
  const wrapStore = (store: Store): Store =>
    new Proxy(store, {
      get(target, property) {
        if (property === 'authenticate') {
          return (key: string) => {
            authenticateCalls++;
            return target.authenticate(key);
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  const t = await setupLimitsGateway({ provider, env, listen: true, wrapStore });
  return { ...t, url: t.url!, provider, authenticateCalls: () => authenticateCalls };
}

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const started = performance.now();
  const response = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await response.text();
  return { status: response.status, contentType: response.headers.get('content-type'), text, ms: performance.now() - started };
}

describe('a request without a valid key', () => {
  it('probe: { __typename ×50000 } (550 KB) is answered 401 in milliseconds while /health stays responsive', async () => {
    const t = await setup();
    const query = `{${' __typename'.repeat(50_000)} }`;
    const body = JSON.stringify({ query });
    expect(body.length).toBeGreaterThan(540_000);
    const rssBefore = rssMiB();
    // /health is asked while the large request is on its way: it must not wait behind it.
    const [answer, health] = await Promise.all([
      post(t.url, body),
      (async () => {
        const started = performance.now();
        const response = await fetch(`${t.url}/health`);
        return { status: response.status, ms: performance.now() - started };
      })(),
    ]);
    const rssAfter = rssMiB();
    console.log(`probe 550KB-unauthenticated: 401 in ${answer.ms.toFixed(1)} ms, /health in ${health.ms.toFixed(1)} ms, RSS ${rssBefore} -> ${rssAfter} MiB`);
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.text)).toEqual(UNAUTHENTICATED_NO_KEY);
    expect(answer.contentType).toMatch(/json/);
    expect(answer.ms).toBeLessThan(500);
    expect(health.status).toBe(200);
    expect(health.ms).toBeLessThan(500);
    expect(rssAfter - rssBefore).toBeLessThan(50);
    // The same document with an unknown key: refused the same way, without a parse.
    const unknown = await post(t.url, body, { authorization: 'Bearer agw_not-a-key' });
    expect(unknown.status).toBe(401);
    expect(JSON.parse(unknown.text).errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(unknown.ms).toBeLessThan(500);
  });

  it('is answered 401 although its body never arrives: the body is not read', async () => {
    const t = await setup();
    const { hostname, port } = new URL(t.url);
    const started = performance.now();
    const status = await new Promise<number>((resolve, reject) => {
      const request = http.request({ host: hostname, port, path: '/graphql', method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } });
      request.on('response', (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
        request.destroy();
      });
      request.on('error', reject);
      // Headers go out, the body never does.
      request.flushHeaders();
      setTimeout(() => {
        request.destroy();
        reject(new Error('no answer within 5 s: the server waits for the body'));
      }, 5000).unref();
    });
    expect(status).toBe(401);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('is answered 401, not 400 or 413: malformed JSON and oversized bodies are never looked at', async () => {
    const t = await setup({ GRAPHQL_MAX_BODY_BYTES: '4096' });
    const malformed = await post(t.url, '{"query": "{ mailboxes { id ');
    expect(malformed.status).toBe(401);
    expect(JSON.parse(malformed.text)).toEqual(UNAUTHENTICATED_NO_KEY);
    const large = await post(t.url, JSON.stringify({ query: '{ mailboxes { id } }', pad: 'x'.repeat(100_000) }));
    expect(large.status).toBe(401);
    // With the key, the same body is refused for its size.
    const sized = await post(t.url, JSON.stringify({ query: '{ mailboxes { id } }', pad: 'x'.repeat(100_000) }), { authorization: `Bearer ${t.key}` });
    expect(sized.status).toBe(413);
    expect(JSON.parse(sized.text).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('never gets field suggestions', async () => {
    const t = await setup();
    const r = await post(t.url, JSON.stringify({ query: '{ mailboxe { id } }' }));
    expect(r.status).toBe(401);
    expect(r.text).not.toMatch(/Did you mean|mailboxes/);
  });

  it('gets 401 on GET too, while GraphiQL and /health stay open', async () => {
    const t = await setup();
    const get = await fetch(`${t.url}/graphql?query=${encodeURIComponent('{ mailboxes { id } }')}`, { headers: { 'x-graphql-yoga-csrf': '1' } });
    expect(get.status).toBe(401);
    const page = await fetch(`${t.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    await page.text();
    expect((await fetch(`${t.url}/health`)).status).toBe(200);
  });
});

describe('the key lookup', () => {
  it('is cached: 20 requests with one key cost one store lookup, and the answer is the same', async () => {
    const t = await setup();
    for (let i = 0; i < 20; i++) {
      const r = await post(t.url, JSON.stringify({ query: '{ mailboxes { displayName } }' }), { authorization: `Bearer ${t.key}` });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.text)).toEqual({ data: { mailboxes: [{ displayName: 'Mine' }] } });
    }
    expect(t.authenticateCalls()).toBe(1);
  });

  it('caches unknown keys as well', async () => {
    const t = await setup();
    for (let i = 0; i < 5; i++) expect((await post(t.url, '{}', { authorization: 'Bearer agw_unknown' })).status).toBe(401);
    expect(t.authenticateCalls()).toBeLessThanOrEqual(1);
  });

  it('stops accepting a revoked key once its entry expires (API_KEY_CACHE_MS)', async () => {
    const t = await setup({ API_KEY_CACHE_MS: '300' });
    const ask = () => post(t.url, JSON.stringify({ query: '{ mailboxes { id } }' }), { authorization: `Bearer ${t.key}` });
    expect((await ask()).status).toBe(200);
    t.revokeKey();
    await new Promise((resolve) => setTimeout(resolve, 400));
    const after = await ask();
    expect(after.status).toBe(401);
    expect(JSON.parse(after.text).errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });
});

describe('createApiKeyCache', () => {
  /** A store whose keys `k0`..`k9` are valid; counts its lookups; `failNext` makes the next one throw. */
  function countingStore() {
    const lookups: string[] = [];
    let failNext = false;
    return {
      lookups,
      failOnce: () => (failNext = true),
      async authenticate(key: string) {
        lookups.push(key);
        if (failNext) {
          failNext = false;
          throw new Error('database down');
        }
        return /^k\d$/.test(key) ? { keyId: `id-${key}`, workspace: { id: 'ws', name: 'ws', createdAt: new Date(0) } } : null;
      },
    };
  }

  it('reuses a lookup for ttlMs, then asks again', async () => {
    let now = 0;
    const store = countingStore();
    const authenticate = createApiKeyCache(store, { ttlMs: 1000, now: () => now });
    expect((await authenticate('k1'))?.keyId).toBe('id-k1');
    now = 999;
    expect((await authenticate('k1'))?.keyId).toBe('id-k1');
    expect(store.lookups).toEqual(['k1']);
    now = 1000;
    await authenticate('k1');
    expect(store.lookups).toEqual(['k1', 'k1']);
  });

  it('keeps at most maxEntries keys, dropping the least recently used', async () => {
    const store = countingStore();
    const authenticate = createApiKeyCache(store, { maxEntries: 2 });
    await authenticate('k1');
    await authenticate('k2');
    await authenticate('k1'); // k1 is now the most recently used
    await authenticate('k3'); // drops k2
    await authenticate('k1');
    await authenticate('k2');
    expect(store.lookups).toEqual(['k1', 'k2', 'k3', 'k2']);
  });

  it('shares one lookup between concurrent requests, does not cache a failed one, and never looks up absurd keys', async () => {
    const store = countingStore();
    const authenticate = createApiKeyCache(store);
    await Promise.all([authenticate('k1'), authenticate('k1'), authenticate('k1')]);
    expect(store.lookups).toEqual(['k1']);
    store.failOnce();
    await expect(authenticate('k2')).rejects.toThrow('database down');
    expect((await authenticate('k2'))?.keyId).toBe('id-k2');
    expect(await authenticate('x'.repeat(513))).toBeNull();
    expect(store.lookups).toEqual(['k1', 'k2', 'k2']);
  });
});
