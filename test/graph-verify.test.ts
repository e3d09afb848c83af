/**
 * `checkGraphMailbox` against the fake identity platform and Graph over HTTPS: what each answer
 * becomes (reason, code, retryAfter), the `$select` reads it makes, a rotated refresh token handed
 * back, oversized and malformed answers refused, and the one deadline over the whole check.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MicrosoftSettings } from '../src/providers/microsoft-graph/settings.ts';
import { checkGraphMailbox, GraphCheckError, type GraphCheckSettings } from '../src/providers/microsoft-graph/verify.ts';
import { startFakeGraph, type FakeGraph } from './support/fake-graph/index.ts';
import { createTestCa } from './support/fake-graph/tls.ts';

const ADELE = 'adele.vance@contoso.test';
let fake: FakeGraph;
let microsoft: MicrosoftSettings;

beforeAll(async () => {
  fake = await startFakeGraph({ addresses: [ADELE] });
  microsoft = { graphRoot: fake.graphRoot, loginRoot: fake.loginRoot, tenantId: fake.tenantId, clientId: fake.app.clientId, clientSecret: fake.app.clientSecret };
});
afterAll(async () => fake?.close());

const delegated = (): GraphCheckSettings => ({ microsoft, mode: 'delegated', address: ADELE, refreshToken: fake.refreshToken(ADELE) });

/** The GraphCheckError a check throws. */
async function failure(run: Promise<unknown>): Promise<GraphCheckError> {
  const error = await run.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GraphCheckError);
  return error as GraphCheckError;
}

describe('checkGraphMailbox', () => {
  it('passes: reads /me and the inbox with $select, and hands back the rotated refresh token', async () => {
    const settings = delegated();
    const before = fake.requests.length;
    const result = await checkGraphMailbox(settings);
    expect(result).toMatchObject({ mode: 'delegated', address: ADELE });
    expect(result.refreshToken).toMatch(/\S/);
    expect(result.refreshToken).not.toBe(settings.refreshToken);
    const graph = fake.requests.slice(before).filter((r) => r.path.startsWith('/v1.0/'));
    expect(graph.map((r) => [r.path, r.query.$select])).toEqual([
      ['/v1.0/me', 'mail,userPrincipalName,displayName'],
      ['/v1.0/me/mailFolders/inbox', 'displayName,totalItemCount'],
    ]);
    expect(graph.every((r) => r.status === 200)).toBe(true);
  });

  it('refuses what no request can fix as BAD_USER_INPUT, with no request', async () => {
    const before = fake.requests.length;
    expect(await failure(checkGraphMailbox({ ...delegated(), microsoft: { ...microsoft, clientId: null } }))).toMatchObject({ reason: 'config', code: 'BAD_USER_INPUT' });
    expect(await failure(checkGraphMailbox({ ...delegated(), mode: 'application', microsoft: { ...microsoft, tenantId: 'consumers' } }))).toMatchObject({ reason: 'config', code: 'BAD_USER_INPUT' });
    expect(await failure(checkGraphMailbox({ ...delegated(), refreshToken: null }))).toMatchObject({ reason: 'config' });
    expect(fake.requests.length).toBe(before);
  });

  it('maps Graph answers: 401 credentials, 429 throttled with Retry-After, 503 upstream, 403 consent naming the permission, 404 not-found', async () => {
    fake.faults.add({ method: 'GET', path: '/v1.0/me' }, { error: 'invalidToken' }, 1);
    expect(await failure(checkGraphMailbox(delegated()))).toMatchObject({ reason: 'credentials', code: 'PROVIDER_AUTH_FAILED', message: expect.stringMatching(/refused the access token for \/me \(HTTP 401 InvalidAuthenticationToken\)/) });
    fake.faults.add({ method: 'GET', path: '/v1.0/me' }, { status: 429, body: { error: { code: 'TooManyRequests', message: 'slow down' } }, retryAfter: 9 }, 1);
    const throttled = await failure(checkGraphMailbox(delegated()));
    expect(throttled).toMatchObject({ reason: 'throttled', code: 'PROVIDER_THROTTLED', retryAfter: 9 });
    expect(throttled.message).not.toContain('slow down');
    fake.faults.add({ method: 'GET', path: '/v1.0/me' }, { status: 503, body: 'down' }, 1);
    expect(await failure(checkGraphMailbox(delegated()))).toMatchObject({ reason: 'upstream', code: 'PROVIDER_UNAVAILABLE' });
    fake.faults.add({ method: 'GET', path: '/v1.0/me' }, { error: 'accessDenied' }, 1);
    expect(await failure(checkGraphMailbox(delegated()))).toMatchObject({ reason: 'consent', message: expect.stringMatching(/\(HTTP 403 ErrorAccessDenied\); grant the delegated permission User\.Read$/) });
    fake.faults.add({ method: 'GET', path: '/v1.0/me/mailFolders/inbox' }, { error: 'accessDenied' }, 1);
    expect(await failure(checkGraphMailbox(delegated()))).toMatchObject({ reason: 'consent', message: expect.stringMatching(/read \/me\/mailFolders\/inbox \(HTTP 403 ErrorAccessDenied\); grant Mail\.Read/) });
    fake.faults.add({ method: 'GET', path: '/v1.0/me/mailFolders/inbox' }, { error: 'itemNotFound' }, 1);
    expect(await failure(checkGraphMailbox(delegated()))).toMatchObject({ reason: 'not-found', code: 'PROVIDER_AUTH_FAILED' });
  });

  it('refuses an answer that is not a JSON object, one without an address, and one too large (protocol)', async () => {
    fake.faults.add({ method: 'GET', path: '/v1.0/me' }, { status: 200, body: '<html>captive portal</html>' }, 1);
    expect(await failure(checkGraphMailbox(delegated()))).toMatchObject({ reason: 'protocol', message: expect.stringMatching(/something other than a JSON object/) });
    fake.faults.add({ method: 'GET', path: '/v1.0/me' }, { status: 200, body: { displayName: 'Nobody' } }, 1);
    expect(await failure(checkGraphMailbox(delegated()))).toMatchObject({ reason: 'protocol', message: expect.stringMatching(/without mail or userPrincipalName/) });
    fake.faults.add({ method: 'GET', path: '/v1.0/me' }, { status: 200, body: { mail: ADELE, padding: 'x'.repeat(100_000) } }, 1);
    expect(await failure(checkGraphMailbox(delegated()))).toMatchObject({ reason: 'protocol', message: expect.stringMatching(/more than 65536 bytes/) });
  });

  it('names a certificate no trusted CA signed (tls), at the identity platform and at Graph', async () => {
    const untrusted = await startFakeGraph({ addresses: [ADELE], ca: await createTestCa() });
    try {
      const error = await failure(checkGraphMailbox({ ...delegated(), microsoft: { ...microsoft, loginRoot: untrusted.loginRoot } }));
      expect(error).toMatchObject({ reason: 'tls', code: 'PROVIDER_UNAVAILABLE' });
      expect(error.message).toMatch(/the identity platform at https:\/\/127\.0\.0\.1:\d+ could not be reached \([A-Z_]+\)/);
      const graph = await failure(checkGraphMailbox({ ...delegated(), microsoft: { ...microsoft, graphRoot: untrusted.graphRoot } }));
      expect(graph).toMatchObject({ reason: 'tls' });
      expect(graph.message).toMatch(/^Microsoft Graph check failed \(tls\): Microsoft Graph at https:\/\/127\.0\.0\.1:\d+ could not be reached/);
    } finally {
      await untrusted.close();
    }
  });

  it('keeps one deadline over the token and the Graph reads', async () => {
    fake.faults.add({ method: 'GET', path: '/v1.0/me' }, { hang: true }, 1);
    const started = Date.now();
    const error = await failure(checkGraphMailbox(delegated(), { timeoutMs: 500 }));
    expect(error).toMatchObject({ reason: 'timeout', code: 'PROVIDER_UNAVAILABLE' });
    expect(error.message).toMatch(/Microsoft Graph at https:\/\/127\.0\.0\.1:\d+ did not answer within 0\.5 s/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
