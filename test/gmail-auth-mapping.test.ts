/**
 * The pieces under the Gmail provider: the Google configuration (GOOGLE_*), the token source
 * (`src/providers/gmail/auth.ts`: caching, a rotated refresh token saved before use, no retries
 * of its own, the caller's abort) against a token endpoint on loopback, and the mapping of hostile
 * part trees within the MIME limits in linear time.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { isGatewayError } from '../src/errors.ts';
import { GmailTokenSource } from '../src/providers/gmail/auth.ts';
import { attachmentsOf, messageInfoOf, type GmailPart } from '../src/providers/gmail/mapping.ts';

const base = { DATA_DIR: os.tmpdir() };

describe('Google configuration', () => {
  it('defaults to Google and no OAuth client', () => {
    expect(loadConfig(base).google).toEqual({ apiRoot: 'https://gmail.googleapis.com', tokenUrl: 'https://oauth2.googleapis.com/token', authUrl: 'https://accounts.google.com/o/oauth2/v2/auth', clientId: null, clientSecret: null });
  });

  it('reads every variable', () => {
    const config = loadConfig({ ...base, GOOGLE_API_ROOT: 'http://127.0.0.1:8080/', GOOGLE_TOKEN_URL: 'http://127.0.0.1:8080/token', GOOGLE_AUTH_URL: 'http://127.0.0.1:8080/o/oauth2/v2/auth', GOOGLE_CLIENT_ID: 'id.apps', GOOGLE_CLIENT_SECRET: 'GOCSPX-x' });
    expect(config.google).toEqual({ apiRoot: 'http://127.0.0.1:8080', tokenUrl: 'http://127.0.0.1:8080/token', authUrl: 'http://127.0.0.1:8080/o/oauth2/v2/auth', clientId: 'id.apps', clientSecret: 'GOCSPX-x' });
  });

  it('refuses a root with a path, a token URL that is no http(s) URL and a secret with spaces, one line each', () => {
    expect(() => loadConfig({ ...base, GOOGLE_API_ROOT: 'https://example.org/gmail', GOOGLE_TOKEN_URL: 'ftp://x/token', GOOGLE_AUTH_URL: 'accounts.google.com/o/oauth2/v2/auth', GOOGLE_CLIENT_SECRET: 'a b' })).toThrow(
      /GOOGLE_API_ROOT must be an http\(s\) origin[\s\S]*GOOGLE_TOKEN_URL must be an http\(s\) URL[\s\S]*GOOGLE_AUTH_URL must be an http\(s\) URL[\s\S]*GOOGLE_CLIENT_SECRET must be one token/,
    );
  });
});

/** A token endpoint on loopback answering with `answer(form)`; counts its requests. */
async function tokenServer(answer: (form: URLSearchParams) => { status: number; body: object; delayMs?: number }) {
  const forms: URLSearchParams[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString());
      forms.push(form);
      const a = answer(form);
      setTimeout(() => res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body)), a.delayMs ?? 0);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  const close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return { url, forms, close };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

function source(tokenUrl: string, refreshToken: string, writer = { saved: [] as Record<string, string>[], marks: [] as string[] }) {
  const tokens = new GmailTokenSource({
    google: { apiRoot: 'http://127.0.0.1:9', tokenUrl, authUrl: 'http://127.0.0.1:9/o/oauth2/v2/auth', clientId: 'client', clientSecret: 'secret' },
    credentials: { refreshToken, other: 'kept' },
    writer: {
      save: async (c) => void writer.saved.push(c),
      markNeedsReconsent: async (r) => void writer.marks.push(r),
    },
  });
  return { tokens, writer };
}

describe('Gmail token source', () => {
  it('caches the access token, saves a rotated refresh token before use and refreshes with it next time', async () => {
    let n = 0;
    const server = await tokenServer((form) => {
      n++;
      return { status: 200, body: { access_token: `at-${n}-${form.get('refresh_token')}`, expires_in: n === 1 ? 30 : 3599, token_type: 'Bearer', ...(n === 1 ? { refresh_token: 'rotated' } : {}) } };
    });
    closers.push(server.close);
    const { tokens, writer } = source(server.url, 'original');
    const [a, b] = await Promise.all([tokens.accessToken(), tokens.accessToken()]);
    expect(a).toBe('at-1-original');
    expect(b).toBe(a);
    expect(server.forms).toHaveLength(1);
    expect(Object.fromEntries(server.forms[0]!)).toMatchObject({ grant_type: 'refresh_token', refresh_token: 'original', client_id: 'client', client_secret: 'secret' });
    expect(writer.saved).toEqual([{ refreshToken: 'rotated', other: 'kept' }]);
    // expires_in 30 s is inside the one-minute margin: the next call refreshes, with the rotated token.
    expect(await tokens.accessToken()).toBe('at-2-rotated');
    expect(await tokens.accessToken()).toBe('at-2-rotated');
    expect(server.forms).toHaveLength(2);
  });

  it('tries a failing token endpoint once per call (no retries of its own) and answers PROVIDER_UNAVAILABLE', async () => {
    const server = await tokenServer(() => ({ status: 503, body: { error: { code: 503, message: 'unavailable', status: 'UNAVAILABLE' } } }));
    closers.push(server.close);
    const { tokens, writer } = source(server.url, 'x');
    const error = await tokens.accessToken().catch((e: unknown) => e);
    expect(isGatewayError(error) && error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(server.forms).toHaveLength(1);
    expect(writer.marks).toEqual([]);
  });

  it('invalid_grant: PROVIDER_AUTH_FAILED, one mark, and no new token call for a while', async () => {
    const server = await tokenServer(() => ({ status: 400, body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' } }));
    closers.push(server.close);
    const { tokens, writer } = source(server.url, 'x');
    for (let i = 0; i < 3; i++) {
      const error = await tokens.accessToken().catch((e: unknown) => e);
      expect(isGatewayError(error) && error.code).toBe('PROVIDER_AUTH_FAILED');
    }
    expect(server.forms).toHaveLength(1);
    expect(writer.marks).toHaveLength(1);
  });

  it('stops waiting when the caller aborts', async () => {
    const server = await tokenServer(() => ({ status: 200, body: { access_token: 'late', expires_in: 3599 }, delayMs: 2000 }));
    closers.push(server.close);
    const { tokens } = source(server.url, 'x');
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('client gone')), 50);
    await expect(tokens.accessToken(controller.signal)).rejects.toThrow('client gone');
    expect(Date.now() - started).toBeLessThan(1500);
  });
});

describe('Gmail mapping of hostile part trees', () => {
  const leaf = (partId: string, i: number): GmailPart => ({
    partId,
    mimeType: 'application/octet-stream',
    filename: `f${i}.bin`,
    headers: [{ name: 'Content-Disposition', value: `attachment; filename="f${i}.bin"` }],
    body: { size: 1, attachmentId: `A${i}` },
  });

  it('reads at most the part budget of a 200,000-part payload, says it is truncated, in linear time', () => {
    const parts = Array.from({ length: 200_000 }, (_, i) => leaf(String(i), i));
    const started = performance.now();
    const listing = attachmentsOf('m1', { partId: '', mimeType: 'multipart/mixed', headers: [{ name: 'Content-Type', value: 'multipart/mixed; boundary=x' }], body: { size: 0 }, parts });
    expect(performance.now() - started).toBeLessThan(5000);
    expect(listing.truncated).toBe(true);
    expect(listing.attachments).toHaveLength(10_000);
    expect(listing.attachments[1]).toMatchObject({ partId: '1', filename: 'f1.bin', size: 1, providerRef: { messageId: 'm1', partId: '1', attachmentId: 'A1' } });
  });

  it('stops at the depth limit of a payload nested 50,000 deep without recursion', () => {
    let node: GmailPart = leaf('x', 0);
    for (let d = 0; d < 50_000; d++) node = { partId: String(d), mimeType: 'multipart/mixed', body: { size: 0 }, parts: [node, leaf(`${d}.1`, d)] };
    const listing = attachmentsOf('m2', node);
    expect(listing.truncated).toBe(true);
    expect(listing.attachments.length).toBeGreaterThan(0);
  });

  it('keys the payload part of a single-part message as "root" and falls back to internalDate', () => {
    const info = messageInfoOf({
      id: 'm3',
      threadId: 't3',
      labelIds: ['SENT'],
      internalDate: '1700000000000',
      payload: { partId: '', mimeType: 'application/pdf', filename: 'only.pdf', headers: [{ name: 'Content-Type', value: 'application/pdf; name="only.pdf"' }, { name: 'Subject', value: 'Ça' }], body: { size: 5, attachmentId: 'Z' } },
    });
    expect(info).toMatchObject({ key: 'm3', conversationKey: 't3', direction: 'SENT', subject: 'Ça', date: new Date(1_700_000_000_000), attachmentCount: 1 });
    expect(info!.attachments[0]).toMatchObject({ partId: 'root', filename: 'only.pdf', size: 5 });
  });
});
