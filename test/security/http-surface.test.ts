/**
 * The HTTP surface as a browser and an attacker's page meet it.
 *
 * Probes: CORS from a foreign origin (no Access-Control-Allow-Origin, preflight refused with 403)
 * and from a listed origin (that origin exactly, never `*`, never credentials); the demo key in
 * GraphiQL never reaches a cross-origin reader (no CORS, CORP same-origin, no framing, no key for a
 * rebound Host or a cross-site subresource load); GraphiQL off by default outside `--demo` and
 * development; GraphiQL compressed, with a strong ETag and 304; `/`, `/README.md` and a JSON 404.
 */
import { request as httpRequest } from 'node:http';
import { gunzipSync, brotliDecompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import { createGateway, startServer } from '../../src/server.ts';
import { fakeAttachment, fakeMessage, setupGateway } from '../support/fake-provider.ts';

const fixture = () => [fakeMessage('m1', 'c1', '2024-01-01T10:00:00Z', [fakeAttachment('2', 'a.txt', Buffer.from('hello'))])];
const DEMO_KEY = 'agw_demo-key-for-the-http-surface-test-000000000';
const EVIL = 'https://evil.example';
const APP = 'https://app.example';
const QUERY = JSON.stringify({ query: '{ mailboxes { displayName } }' });

/** A gateway over setupGateway's store with `overrides` on its config. */
async function gatewayWith(overrides: Partial<Config>, demoApiKey: string | null = null) {
  const t = await setupGateway(fixture());
  const gateway = createGateway({ config: { ...t.config, ...overrides }, store: t.store, logger: t.logger, secret: t.secret, demoApiKey, providers: () => t.provider });
  return { t, gateway };
}

const html = { accept: 'text/html,application/xhtml+xml' };

describe('CORS', () => {
  it('is off by default: a foreign page gets no Access-Control-Allow-Origin and its preflight is refused with 403', async () => {
    const { t, gateway } = await gatewayWith({});
    const post = await gateway.fetch(
      new Request('http://gw.test/graphql', { method: 'POST', headers: { origin: EVIL, 'content-type': 'application/json', authorization: `Bearer ${t.keyA}` }, body: QUERY }),
    );
    expect(post.headers.get('access-control-allow-origin')).toBeNull();
    expect(post.headers.get('access-control-allow-credentials')).toBeNull();
    const preflight = await gateway.fetch(
      new Request('http://gw.test/graphql', { method: 'OPTIONS', headers: { origin: EVIL, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } }),
    );
    expect(preflight.status).toBe(403);
    expect(await preflight.json()).toMatchObject({ code: 'FORBIDDEN' });
    for (const name of ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers', 'access-control-allow-credentials']) {
      expect(preflight.headers.get(name), name).toBeNull();
    }
  });

  it('answers a listed origin with that origin exactly, no wildcard and no credentials; other origins and paths get nothing', async () => {
    const { t, gateway } = await gatewayWith({ corsOrigins: [APP, 'http://localhost:3000'] }, DEMO_KEY);
    const preflight = await gateway.fetch(
      new Request('http://gw.test/graphql', { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } }),
    );
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(APP);
    expect(preflight.headers.get('access-control-allow-credentials')).toBeNull();
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(preflight.headers.get('vary')).toContain('Origin');

    const post = await gateway.fetch(
      new Request('http://gw.test/graphql', { method: 'POST', headers: { origin: APP, 'content-type': 'application/json', authorization: `Bearer ${t.keyA}` }, body: QUERY }),
    );
    expect(post.status).toBe(200);
    expect(await post.json()).toEqual({ data: { mailboxes: [{ displayName: 'Mine' }] } });
    expect(post.headers.get('access-control-allow-origin')).toBe(APP);
    expect(post.headers.get('access-control-allow-credentials')).toBeNull();

    // A foreign origin, a look-alike of a listed one, and a listed origin on other paths.
    for (const origin of [EVIL, 'https://app.example.evil.example', 'http://app.example', 'null']) {
      const r = await gateway.fetch(new Request('http://gw.test/graphql', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } }));
      expect(r.status, origin).toBe(403);
      expect(r.headers.get('access-control-allow-origin'), origin).toBeNull();
    }
    for (const path of ['/attachments/x', '/health', '/']) {
      const r = await gateway.fetch(new Request(`http://gw.test${path}`, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'GET' } }));
      expect(r.status, path).toBe(403);
    }
    const page = await gateway.fetch(new Request('http://gw.test/graphql', { headers: { ...html, origin: APP } }));
    expect(page.status).toBe(200);
    expect(page.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses at start a wildcard, a path, a trailing slash or another scheme in CORS_ORIGINS, and a GRAPHIQL that is no boolean', () => {
    for (const bad of ['*', 'https://app.example/', 'https://app.example/path', 'ftp://app.example', 'app.example', 'https://APP.example', 'https://*.example']) {
      expect(() => loadConfig({ DATA_DIR: '/tmp', CORS_ORIGINS: bad }), bad).toThrow(/CORS_ORIGINS/);
    }
    expect(loadConfig({ DATA_DIR: '/tmp', CORS_ORIGINS: ` ${APP}, http://localhost:3000 ,${APP}` }).corsOrigins).toEqual([APP, 'http://localhost:3000']);
    expect(loadConfig({ DATA_DIR: '/tmp' }).corsOrigins).toEqual([]);
    expect(() => loadConfig({ DATA_DIR: '/tmp', GRAPHIQL: 'maybe' })).toThrow(/GRAPHIQL must be true or false/);
    expect(loadConfig({ DATA_DIR: '/tmp', GRAPHIQL: 'false' }).graphiql).toBe(false);
  });
});

describe('GraphiQL', () => {
  it('is off by default outside --demo and development, on with GRAPHIQL=true or NODE_ENV=development, off with GRAPHIQL=false even in --demo', async () => {
    const cases: [string, Partial<Config>, string | null, boolean][] = [
      ['default', {}, null, false],
      ['GRAPHIQL=true', { graphiql: true }, null, true],
      ['NODE_ENV=development', { development: true }, null, true],
      ['--demo', {}, DEMO_KEY, true],
      ['--demo with GRAPHIQL=false', { graphiql: false }, DEMO_KEY, false],
    ];
    for (const [label, overrides, demoKey, on] of cases) {
      const { gateway } = await gatewayWith(overrides, demoKey);
      const page = await gateway.fetch(new Request('http://gw.test/graphql', { headers: html }));
      expect(page.status, label).toBe(200);
      const text = await page.text();
      expect(text.includes('renderYogaGraphiQL'), label).toBe(on);
      // Off: the small page that says so.
      expect(text.includes('GraphiQL is off'), label).toBe(!on);
      const root = await gateway.fetch(new Request('http://gw.test/', { headers: html, redirect: 'manual' }));
      expect(root.status, label).toBe(on ? 302 : 200);
      if (on) expect(root.headers.get('location')).toBe('/graphql');
    }
  });

  it('is served compressed with a strong ETag, answers 304 to If-None-Match and HEAD without a body, and cannot be framed or embedded', async () => {
    const { gateway } = await gatewayWith({}, DEMO_KEY);
    const plain = await gateway.fetch(new Request('http://gw.test/graphql', { headers: { ...html, 'accept-encoding': 'identity' } }));
    const identity = Buffer.from(await plain.arrayBuffer());
    expect(identity.length).toBeGreaterThan(5_000_000);

    const gz = await gateway.fetch(new Request('http://gw.test/graphql', { headers: { ...html, 'accept-encoding': 'gzip' } }));
    expect(gz.headers.get('content-encoding')).toBe('gzip');
    const gzBytes = Buffer.from(await gz.arrayBuffer());
    expect(gzBytes.length).toBeLessThan(identity.length / 3);
    expect(gunzipSync(gzBytes).equals(identity)).toBe(true);

    // Brotli may still be compressing on the first loads (gzip is offered meanwhile); it is kept once ready.
    let br: Response | null = null;
    for (let i = 0; i < 300 && br?.headers.get('content-encoding') !== 'br'; i++) {
      if (br) await new Promise((resolve) => setTimeout(resolve, 100));
      br = await gateway.fetch(new Request('http://gw.test/graphql', { headers: { ...html, 'accept-encoding': 'gzip, deflate, br' } }));
      if (br.headers.get('content-encoding') !== 'br') await br.arrayBuffer();
    }
    expect(br!.headers.get('content-encoding')).toBe('br');
    const brBytes = Buffer.from(await br!.arrayBuffer());
    expect(brBytes.length).toBeLessThan(gzBytes.length);
    expect(brotliDecompressSync(brBytes).equals(identity)).toBe(true);
    expect(br!.headers.get('vary')).toContain('Accept-Encoding');

    const etag = br!.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+-br"$/);
    expect(gz.headers.get('etag')).not.toBe(etag);
    const again = await gateway.fetch(new Request('http://gw.test/graphql', { headers: { ...html, 'accept-encoding': 'br', 'if-none-match': etag } }));
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    const stale = await gateway.fetch(new Request('http://gw.test/graphql', { headers: { ...html, 'accept-encoding': 'br', 'if-none-match': '"other"' } }));
    expect(stale.status).toBe(200);
    await stale.arrayBuffer();
    const head = await gateway.fetch(new Request('http://gw.test/graphql', { method: 'HEAD', headers: { ...html, 'accept-encoding': 'br' } }));
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(brBytes.length));
    expect(await head.text()).toBe('');

    for (const response of [plain, gz, br!]) {
      expect(response.headers.get('cross-origin-resource-policy')).toBe('same-origin');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  it('puts the demo key in the page only for a same-origin or top-level load on a loopback or configured host', async () => {
    const { gateway } = await gatewayWith({}, DEMO_KEY);
    const load = async (url: string, headers: Record<string, string>) => (await gateway.fetch(new Request(url, { headers: { ...html, 'accept-encoding': 'identity', ...headers } }))).text();
    const withKey = `Bearer ${DEMO_KEY}`;
    // Typed into the address bar, a same-origin reload, a link followed from elsewhere (the linking page cannot read it).
    expect(await load('http://gw.test/graphql', {})).toContain(withKey);
    expect(await load('http://127.0.0.1:4000/graphql', { 'sec-fetch-site': 'none', 'sec-fetch-mode': 'navigate' })).toContain(withKey);
    expect(await load('http://localhost:4000/graphql', { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' })).toContain(withKey);
    expect(await load('http://127.0.0.1:4000/graphql', { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' })).toContain(withKey);
    // A foreign page fetching it, or loading it as a script or in a frame: no key.
    const probes: Record<string, string>[] = [
      { origin: EVIL, 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'cors' },
      { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'script' },
      { 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'iframe' },
    ];
    for (const headers of probes) {
      const page = await load('http://127.0.0.1:4000/graphql', headers);
      expect(page, JSON.stringify(headers)).toContain('PASTE-AN-API-KEY');
      expect(page, JSON.stringify(headers)).not.toContain(DEMO_KEY);
    }
    // DNS rebinding: the attacker's name resolved to the gateway; the browser sees it as same-origin.
    const rebound = await load('http://evil.example:4000/graphql', { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' });
    expect(rebound).not.toContain(DEMO_KEY);
  });

  // The probe: 150 loads at once. Each client reads its 2.4 MB while the others are decoded,
  // longer than Node's default 5 s keep-alive timer, which used to cut every one of them mid-body.
  it('serves 150 concurrent loads over real HTTP compressed and whole, the key only to a loopback Host, and /health answers afterwards', async () => {
    const t = await setupGateway(fixture());
    const server = await startServer({ config: t.config, store: t.store, logger: t.logger, secret: t.secret, demoApiKey: DEMO_KEY, providers: () => t.provider });
    try {
      const started = Date.now();
      const loads = await Promise.all(
        Array.from({ length: 150 }, async () => {
          const response = await fetch(`${server.url}/graphql`, { headers: { ...html, 'accept-encoding': 'gzip' } });
          // fetch decodes gzip: the decoded page is the whole GraphiQL.
          return { status: response.status, encoding: response.headers.get('content-encoding'), length: (await response.arrayBuffer()).byteLength };
        }),
      );
      expect(loads.every((l) => l.status === 200 && l.encoding === 'gzip' && l.length > 5_000_000)).toBe(true);
      expect(Date.now() - started).toBeLessThan(90_000);
      // Over the socket too: the key for the loopback Host, none for a rebound name.
      const page = (host: string) =>
        new Promise<string>((resolve, reject) => {
          const req = httpRequest(`${server.url}/graphql`, { headers: { ...html, host } }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve(Buffer.concat(chunks).toString()));
          });
          req.on('error', reject);
          req.end();
        });
      expect(await page(new URL(server.url).host)).toContain(`Bearer ${DEMO_KEY}`);
      expect(await page('evil.example:4000')).not.toContain(DEMO_KEY);
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe('routes', () => {
  it('answers / with a small page naming the API and linking the README, which is served', async () => {
    const { gateway } = await gatewayWith({});
    const root = await gateway.fetch(new Request('http://gw.test/'));
    expect(root.status).toBe(200);
    expect(root.headers.get('content-type')).toContain('text/html');
    const page = await root.text();
    expect(page.length).toBeLessThan(2000);
    expect(page).toContain('attachment-gateway');
    expect(page).toContain('POST /graphql');
    expect(page).toContain('href="/README.md"');
    const readme = await gateway.fetch(new Request('http://gw.test/README.md'));
    expect(readme.status).toBe(200);
    expect(await readme.text()).toContain('# attachment-gateway');
    const post = await gateway.fetch(new Request('http://gw.test/', { method: 'POST' }));
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect(await post.json()).toMatchObject({ code: 'METHOD_NOT_ALLOWED' });
  });

  it('answers another method on /graphql 405 METHOD_NOT_ALLOWED and an Accept it cannot meet 406 NOT_ACCEPTABLE', async () => {
    const { t, gateway } = await gatewayWith({});
    const body = JSON.stringify({ query: '{ __typename }' });
    const put = await gateway.fetch(new Request('http://gw.test/graphql', { method: 'PUT', headers: { authorization: `Bearer ${t.keyA}`, 'content-type': 'application/json' }, body }));
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST');
    expect(await put.json()).toEqual({ errors: [{ message: expect.any(String), extensions: { code: 'METHOD_NOT_ALLOWED' } }] });
    const plain = await gateway.fetch(
      new Request('http://gw.test/graphql', { method: 'POST', headers: { accept: 'text/plain', authorization: `Bearer ${t.keyA}`, 'content-type': 'application/json' }, body }),
    );
    expect(plain.status).toBe(406);
    expect(await plain.json()).toEqual({ errors: [{ message: expect.any(String), extensions: { code: 'NOT_ACCEPTABLE' } }] });
  });

  it('answers an unknown path with a JSON 404 NOT_FOUND', async () => {
    const { gateway } = await gatewayWith({});
    for (const path of ['/nope', '/graphql/extra', '/attachment', '/.env', '/README.md/x']) {
      const response = await gateway.fetch(new Request(`http://gw.test${path}`));
      expect(response.status, path).toBe(404);
      expect(response.headers.get('content-type')).toContain('application/json');
      expect(await response.json()).toEqual({ error: 'not_found', message: expect.any(String), code: 'NOT_FOUND' });
    }
  });
});
