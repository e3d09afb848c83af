/**
 * The signed download route: exact bytes and headers, HEAD, every token failure, hostile
 * filenames, provider failures, and a client that disconnects mid-download, through
 * `gateway.fetch` and through the node:http server of `startServer`.
 */
import { request as httpRequest } from 'node:http';
import { EncryptJWT, jwtDecrypt } from 'jose';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../src/errors.ts';
import { encodeNodeId } from '../src/ids.ts';
import { startServer } from '../src/server.ts';
import { createDownloadSigner, deriveDownloadKey } from '../src/signing.ts';
import { fakeAttachment, fakeMessage, setupGateway, type FakeMessage } from './support/fake-provider.ts';

const PDF = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31 + 7) % 256));
const HOSTILE: [string, string | null][] = [
  ['crlf', 'evil\r\nSet-Cookie: a=b.txt'],
  ['path', '../../etc/passwd'],
  ['windows path', 'C:\\Users\\x\\..\\boot.ini'],
  ['quotes', 'say "hi".txt'],
  ['nul', 'nul\0byte.txt'],
  ['bidi', 'invoice\u202Efdp.exe'],
  ['unicode', 'résumé € 2024.pdf'],
  ['dots only', '..'],
  ['none', null],
];

function fixture(): FakeMessage[] {
  return [
    fakeMessage('m1', 'c1', '2024-01-01T10:00:00Z', [
      fakeAttachment('2', 'report.pdf', PDF, { contentType: 'application/pdf' }),
      fakeAttachment('3', 'estimate.bin', Buffer.from('abc'), { sizeExact: false, size: 4 }),
      fakeAttachment('4', 'weird.bin', Buffer.from('x'), { contentType: 'text/html\r\nX-Evil: 1' }),
      fakeAttachment('5', 'link', Buffer.alloc(0), { kind: 'REFERENCE', downloadable: false }),
    ]),
    fakeMessage('m3', 'c3', '2024-01-03T10:00:00Z', [fakeAttachment('2', 'estimated.pdf', PDF, { sizeExact: false, size: PDF.length + 100 })]),
    fakeMessage('m2', 'c2', '2024-01-02T10:00:00Z', HOSTILE.map(([, name], i) => fakeAttachment(`${i + 1}`, name, Buffer.from(`hostile ${i}`)))),
  ];
}

async function urlFor(t: Awaited<ReturnType<typeof setupGateway>>, messageKey: string, partId: string, expiresIn = 300): Promise<string> {
  const r = await t.gql('query($id: ID!, $e: Int) { node(id: $id) { ... on Attachment { downloadUrl(expiresIn: $e) { url } } } }', {
    id: encodeNodeId('Attachment', [t.mailboxA.id, messageKey, partId]),
    e: expiresIn,
  });
  expect(r.errors).toBeUndefined();
  return (r.data.node.downloadUrl.url as string).replace('http://gw.test', 'http://x');
}

async function fetchJson(t: Awaited<ReturnType<typeof setupGateway>>, url: string, method = 'GET') {
  const response = await t.gateway.fetch(new Request(url, { method }));
  const text = await response.text();
  return { response, status: response.status, body: text ? (JSON.parse(text) as { error: string; message: string; code: string }) : null };
}

describe('GET and HEAD', () => {
  it('streams the exact bytes with the attachment headers', async () => {
    const t = await setupGateway(fixture());
    const response = await t.gateway.fetch(new Request(await urlFor(t, 'm1', '2', 120)));
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(PDF)).toBe(true);
    expect(response.headers.get('content-type')).toBe('application/pdf');
    expect(response.headers.get('content-length')).toBe(String(PDF.length));
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="report.pdf"');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const maxAge = Number(/^private, max-age=(\d+)$/.exec(response.headers.get('cache-control') ?? '')?.[1]);
    expect(maxAge).toBeGreaterThan(100);
    expect(maxAge).toBeLessThanOrEqual(120);
    expect(t.provider.calls.openAttachment).toBe(1);
  });

  it('sends no Content-Length when the size is an estimate', async () => {
    const t = await setupGateway(fixture());
    const response = await t.gateway.fetch(new Request(await urlFor(t, 'm1', '3')));
    expect(response.headers.get('content-length')).toBeNull();
    expect(await response.text()).toBe('abc');
  });

  it('answers HEAD with the headers and no body, without opening the bytes', async () => {
    const t = await setupGateway(fixture());
    const response = await t.gateway.fetch(new Request(await urlFor(t, 'm1', '2'), { method: 'HEAD' }));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(PDF.length));
    expect(response.headers.get('content-type')).toBe('application/pdf');
    expect(await response.text()).toBe('');
    expect(t.provider.calls.openAttachment).toBe(0);
  });

  it('replaces a media type unfit for a header with application/octet-stream', async () => {
    const t = await setupGateway(fixture());
    const response = await t.gateway.fetch(new Request(await urlFor(t, 'm1', '4')));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(response.headers.get('x-evil')).toBeNull();
  });

  it('refuses other methods with 405 METHOD_NOT_ALLOWED and Allow', async () => {
    const t = await setupGateway(fixture());
    const { response, status, body } = await fetchJson(t, await urlFor(t, 'm1', '2'), 'DELETE');
    expect(status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
    expect(body).toMatchObject({ error: 'method_not_allowed', code: 'METHOD_NOT_ALLOWED' });
  });
});

describe('token failures', () => {
  const claimsOf = (t: Awaited<ReturnType<typeof setupGateway>>) => ({ keyId: t.keyIdA, mailboxId: t.mailboxA.id, messageKey: 'm1', partId: '2' });

  it('answers 401 TOKEN_INVALID for an edited ciphertext, a flipped tag bit, garbage and another secret', async () => {
    const t = await setupGateway(fixture());
    const url = await urlFor(t, 'm1', '2');
    const token = url.split('/').pop()!;
    const [header, encryptedKey, iv, ciphertext, tag] = token.split('.') as [string, string, string, string, string];
    const flip = (segment: string) => {
      const bytes = Buffer.from(segment, 'base64url');
      bytes[0]! ^= 1;
      return bytes.toString('base64url');
    };
    const otherSecret = await createDownloadSigner('another-secret-another-secret-0000').sign(claimsOf(t));
    const candidates = [
      [header, encryptedKey, iv, flip(ciphertext), tag].join('.'),
      [header, encryptedKey, iv, ciphertext, flip(tag)].join('.'),
      'not-a-token',
      otherSecret.token,
    ];
    for (const candidate of candidates) {
      const { status, body, response } = await fetchJson(t, `http://x/attachments/${candidate}`);
      expect(status).toBe(401);
      expect(body).toMatchObject({ error: 'invalid_token', code: 'TOKEN_INVALID' });
      expect(response.headers.get('cache-control')).toBe('no-store');
    }
    expect(t.provider.calls.openAttachment).toBe(0);
  });

  it('answers 401 for an unsecured JWT (alg "none") and a signed JWT of the earlier format', async () => {
    const t = await setupGateway(fixture());
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const claims = { ws: t.wsA.id, att: [t.mailboxA.id, 'm1', '2'], aud: 'attachment-download', iat: now, exp: now + 60, jti: 'x' };
    const unsecured = `${enc({ alg: 'none', typ: 'JWT' })}.${enc(claims)}.`;
    for (const token of [unsecured, `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(claims)}.${'A'.repeat(43)}`]) {
      const { status, body } = await fetchJson(t, `http://x/attachments/${token}`);
      expect(status).toBe(401);
      expect(body?.code).toBe('TOKEN_INVALID');
    }
  });

  it('answers 410 TOKEN_EXPIRED past exp', async () => {
    const t = await setupGateway(fixture());
    const signer = createDownloadSigner(t.secret);
    const { token } = await signer.sign(claimsOf(t), 60, new Date(Date.now() - 120_000));
    const { status, body } = await fetchJson(t, `http://x/attachments/${token}`);
    expect(status).toBe(410);
    expect(body).toMatchObject({ error: 'expired', code: 'TOKEN_EXPIRED' });
  });

  it('answers 403 TOKEN_FORBIDDEN for a token we encrypted for another audience', async () => {
    const t = await setupGateway(fixture());
    const signed = await createDownloadSigner(t.secret).sign(claimsOf(t));
    const { payload } = await jwtDecrypt(signed.token, deriveDownloadKey(t.secret));
    const token = await new EncryptJWT({ ...payload, aud: 'something-else' }).setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).encrypt(deriveDownloadKey(t.secret));
    const { status, body } = await fetchJson(t, `http://x/attachments/${token}`);
    expect(status).toBe(403);
    expect(body?.code).toBe('TOKEN_FORBIDDEN');
  });

  it('answers 404 for a mailbox of another workspace, a removed mailbox and a vanished part', async () => {
    const t = await setupGateway(fixture());
    const signer = createDownloadSigner(t.secret);
    const foreign = await signer.sign({ ...claimsOf(t), mailboxId: t.mailboxB.id });
    const gonePart = await signer.sign({ ...claimsOf(t), partId: '9' });
    for (const token of [foreign.token, gonePart.token]) {
      const { status, body } = await fetchJson(t, `http://x/attachments/${token}`);
      expect(status).toBe(404);
      expect(body).toMatchObject({ error: 'not_found', code: 'NOT_FOUND' });
    }
    expect(t.providerB.calls.openAttachment).toBe(0);
    const url = await urlFor(t, 'm1', '2');
    t.store.removeMailbox(t.mailboxA.id);
    expect((await fetchJson(t, url)).status).toBe(404);
  });

  it('answers 409 NOT_DOWNLOADABLE for a reference attachment (HEAD)', async () => {
    const t = await setupGateway(fixture());
    const { token } = await createDownloadSigner(t.secret).sign({ ...claimsOf(t), partId: '5' });
    const { status, body } = await fetchJson(t, `http://x/attachments/${token}`, 'HEAD');
    expect(status).toBe(409);
    expect(body).toBeNull();
    expect((await fetchJson(t, `http://x/attachments/${token}`)).body?.code).toBe('NOT_DOWNLOADABLE');
  });
});

describe('provider failures', () => {
  it('answers 502 for an unexpected provider error, logging it but not leaking it', async () => {
    const t = await setupGateway(fixture());
    const url = await urlFor(t, 'm1', '2');
    t.provider.failOpen = new Error('socket hang up at 10.0.0.7');
    const { status, body } = await fetchJson(t, url);
    expect(status).toBe(502);
    expect(body?.code).toBe('PROVIDER_UNAVAILABLE');
    expect(JSON.stringify(body)).not.toContain('10.0.0.7');
    expect(t.logger.errors.length).toBeGreaterThan(0);
  });

  it('answers 503 with Retry-After when throttled', async () => {
    const t = await setupGateway(fixture());
    const url = await urlFor(t, 'm1', '2');
    t.provider.failOpen = new GatewayError('PROVIDER_THROTTLED', 'Throttled by the provider', { retryAfter: 12 });
    const { status, body, response } = await fetchJson(t, url);
    expect(status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('12');
    expect(body).toEqual({ error: 'service_unavailable', message: 'Throttled by the provider', code: 'PROVIDER_THROTTLED' });
  });
});

describe('hostile filenames', () => {
  it.each(HOSTILE.map(([label, name], i) => [label, name, i] as const))('neutralises %s in Content-Disposition', async (_label, name, i) => {
    const t = await setupGateway(fixture());
    const response = await t.gateway.fetch(new Request(await urlFor(t, 'm2', `${i + 1}`)));
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(`hostile ${i}`);
    const value = response.headers.get('content-disposition')!;
    expect(value.startsWith('attachment; filename="')).toBe(true);
    expect(value).not.toMatch(/[\r\n\0]/);
    expect(response.headers.get('set-cookie')).toBeNull();
    const fallback = /filename="((?:[^"\\]|\\.)*)"/.exec(value)![1]!;
    expect(fallback).toMatch(/^[\x20-\x7e]+$/);
    expect(fallback).not.toMatch(/[/\\"]/);
    expect(fallback.startsWith('.')).toBe(false);
    const star = /filename\*=UTF-8''(.+)$/.exec(value)?.[1];
    const full = star ? decodeURIComponent(star) : fallback;
    // eslint-disable-next-line no-control-regex -- asserting control characters are gone
    expect(full).not.toMatch(/[/\\\u0000-\u001f\u202e]/);
    if (name === 'résumé € 2024.pdf') expect(full).toBe('résumé € 2024.pdf');
    if (name === '../../etc/passwd') expect(full).toBe('passwd');
    if (name === null || name === '..') expect(full).toBe('attachment');
    if (name?.startsWith('invoice')) expect(full).toBe('invoicefdp.exe');
  });
});

describe('node:http server', () => {
  async function serve() {
    const t = await setupGateway(fixture());
    const server = await startServer({ config: t.config, store: t.store, logger: t.logger, secret: t.secret, providers: () => t.provider });
    return { t, server };
  }

  it('listens on 127.0.0.1 with a real port and serves GraphQL and the exact bytes', async () => {
    const { t, server } = await serve();
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const url = (await urlFor(t, 'm1', '2')).replace('http://x', server.url);
      const response = await fetch(url);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-length')).toBe(String(PDF.length));
      expect(Buffer.from(await response.arrayBuffer()).equals(PDF)).toBe(true);
      const gql = await fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${t.keyA}` },
        body: JSON.stringify({ query: '{ mailboxes { displayName } }' }),
      });
      expect(await gql.json()).toEqual({ data: { mailboxes: [{ displayName: 'Mine' }] } });
      const bad = await fetch(`${server.url}/attachments/nope`);
      expect(bad.status).toBe(401);
      expect((await bad.json()).code).toBe('TOKEN_INVALID');
    } finally {
      await server.close();
    }
  });

  it('destroys the provider stream when the client disconnects mid-download', async () => {
    const { t, server } = await serve();
    try {
      t.provider.slowChunkSize = 1024;
      const url = new URL((await urlFor(t, 'm1', '2')).replace('http://x', server.url));
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest(url, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', (e) => (e.message.includes('socket hang up') || (e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
        req.end();
      });
      const stream = t.provider.opened[0]!;
      for (let i = 0; i < 100 && !stream.destroyed; i++) await new Promise((r) => setTimeout(r, 10));
      expect(stream.destroyed).toBe(true);
      expect(stream.readableEnded).toBe(false);
    } finally {
      await server.close();
    }
  });

  it.each([
    ['with Content-Length', 'm1'],
    ['chunked (size estimated)', 'm3'],
  ])('cuts the connection when the provider fails after the headers went out (%s): the client sees a broken transfer, not a short file', async (_label, messageKey) => {
    const { t, server } = await serve();
    try {
      t.provider.slowChunkSize = 256;
      t.provider.failMidStream = new Error('IMAP connection lost');
      const response = await fetch((await urlFor(t, messageKey, '2')).replace('http://x', server.url));
      expect(response.status).toBe(200);
      expect(response.headers.get('content-length')).toBe(messageKey === 'm1' ? String(PDF.length) : null);
      await expect(response.arrayBuffer()).rejects.toThrow();
      // The server survives and keeps serving.
      t.provider.failMidStream = null;
      const again = await fetch((await urlFor(t, messageKey, '2')).replace('http://x', server.url));
      expect(Buffer.from(await again.arrayBuffer()).equals(PDF)).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('destroys the provider stream when a fetch client cancels the body', async () => {
    const t = await setupGateway(fixture());
    t.provider.slowChunkSize = 1024;
    const response = await t.gateway.fetch(new Request(await urlFor(t, 'm1', '2')));
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    const stream = t.provider.opened[0]!;
    for (let i = 0; i < 100 && !stream.destroyed; i++) await new Promise((r) => setTimeout(r, 10));
    expect(stream.destroyed).toBe(true);
  });
});
