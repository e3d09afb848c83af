/**
 * The Gmail status mapping (src/providers/gmail/errors.ts): the error bodies of Gmail's "Resolve
 * errors" page and of Google's token endpoint, as raw answers and as real gaxios errors thrown by
 * the googleapis client talking to a loopback server.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError, errorBody } from '../src/errors.ts';
import { GMAIL_RETRY_AFTER_DEFAULTS, GmailApiError, isGmailFailure, mapGmailError } from '../src/providers/gmail/errors.ts';
import { isRetryableUpstreamError } from '../src/upstream/retry.ts';

const googleError = (code: number, reason: string, message: string, status?: string) => ({
  error: { code, message, errors: [{ domain: 'usageLimits', reason, message }], ...(status ? { status } : {}) },
});

function map(status: number, body: unknown, headers?: Record<string, string>) {
  const error = mapGmailError({ status, body, headers });
  expect(error).toBeInstanceOf(GmailApiError);
  return error as GmailApiError;
}

describe('mapGmailError on raw answers (status, body, headers)', () => {
  it('401 authError (the documented sample) → PROVIDER_AUTH_FAILED, not retried, no re-consent', () => {
    const e = map(401, {
      error: {
        errors: [{ domain: 'global', reason: 'authError', message: 'Invalid Credentials', locationType: 'header', location: 'Authorization' }],
        code: 401,
        message: 'Invalid Credentials',
      },
    });
    expect([e.code, e.kind, e.needsReconsent, isRetryableUpstreamError(e)]).toEqual(['PROVIDER_AUTH_FAILED', 'auth', false, false]);
  });

  it('invalid_grant from the token endpoint → PROVIDER_AUTH_FAILED that asks for re-consent', () => {
    const e = map(400, JSON.stringify({ error: 'invalid_grant', error_description: 'Token has been expired or revoked.' }));
    expect([e.code, e.kind, e.needsReconsent, e.retryable]).toEqual(['PROVIDER_AUTH_FAILED', 'grant-revoked', true, false]);
    expect(map(401, { error: 'invalid_client' }).kind).toBe('auth');
  });

  it.each([
    [403, 'userRateLimitExceeded', 'User Rate Limit Exceeded'],
    [403, 'rateLimitExceeded', 'Rate Limit Exceeded'],
    [429, 'rateLimitExceeded', 'Rate Limit Exceeded'],
    [429, 'somethingNew', 'Too many concurrent requests for user'],
  ])('%i %s → PROVIDER_THROTTLED, retried, a 60 s hint when no Retry-After', (status, reason, message) => {
    const e = map(status, googleError(status, reason, message));
    expect([e.code, e.kind, e.retryable]).toEqual(['PROVIDER_THROTTLED', 'rate-limit', true]);
    expect(e.retryAfter).toBe(GMAIL_RETRY_AFTER_DEFAULTS.rateLimit);
    expect(e.retryAfterSource).toBe('default');
  });

  it('takes retryAfter from Retry-After (seconds or HTTP-date) or google.rpc.RetryInfo', () => {
    expect(map(429, googleError(429, 'rateLimitExceeded', 'x'), { 'Retry-After': '7' })).toMatchObject({ retryAfter: 7, retryAfterSource: 'upstream' });
    const date = new Date(Date.now() + 20_000).toUTCString();
    const fromDate = map(429, googleError(429, 'rateLimitExceeded', 'x'), { 'retry-after': date }).retryAfter!;
    expect(fromDate).toBeGreaterThanOrEqual(19);
    expect(fromDate).toBeLessThanOrEqual(21);
    const rpc = map(429, {
      error: {
        code: 429,
        message: 'Quota exceeded',
        status: 'RESOURCE_EXHAUSTED',
        details: [
          { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'RATE_LIMIT_EXCEEDED', domain: 'googleapis.com' },
          { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '12.5s' },
        ],
      },
    });
    expect(rpc).toMatchObject({ code: 'PROVIDER_THROTTLED', retryAfter: 13, retryAfterSource: 'upstream', reason: 'rate_limit_exceeded' });
  });

  it('403 dailyLimitExceeded → PROVIDER_THROTTLED with an hour hint, not retried within a request', () => {
    const e = map(403, googleError(403, 'dailyLimitExceeded', 'Daily Limit Exceeded'));
    expect([e.code, e.kind, e.retryable, e.retryAfter]).toEqual(['PROVIDER_THROTTLED', 'daily-limit', false, 3600]);
    expect(isRetryableUpstreamError(e)).toBe(false);
  });

  it('403 insufficientPermissions → PROVIDER_AUTH_FAILED asking for re-consent; 403 domainPolicy → forbidden', () => {
    const scope = map(403, googleError(403, 'insufficientPermissions', 'Insufficient Permission', 'PERMISSION_DENIED'));
    expect([scope.code, scope.kind, scope.needsReconsent]).toEqual(['PROVIDER_AUTH_FAILED', 'scope', true]);
    const policy = map(403, googleError(403, 'domainPolicy', 'The domain administrators have disabled Gmail apps.'));
    expect([policy.code, policy.kind, policy.needsReconsent]).toEqual(['PROVIDER_AUTH_FAILED', 'forbidden', false]);
  });

  it('404 → NOT_FOUND; 400 "Invalid attachment token" → a distinguishable stale-attachment-id NOT_FOUND', () => {
    const missing = map(404, { error: { code: 404, message: 'Requested entity was not found.', errors: [{ message: 'Requested entity was not found.', domain: 'global', reason: 'notFound' }], status: 'NOT_FOUND' } });
    expect([missing.code, missing.kind]).toEqual(['NOT_FOUND', 'not-found']);
    const stale = map(400, { error: { code: 400, message: 'Invalid attachment token', errors: [{ message: 'Invalid attachment token', domain: 'global', reason: 'invalidArgument' }], status: 'INVALID_ARGUMENT' } });
    expect([stale.code, stale.kind, stale.retryable]).toEqual(['NOT_FOUND', 'stale-attachment-id', false]);
    expect(isGmailFailure(stale, 'stale-attachment-id')).toBe(true);
    expect(isGmailFailure(missing, 'stale-attachment-id')).toBe(false);
    expect(map(400, googleError(400, 'invalidArgument', 'Invalid id value')).kind).toBe('invalid-id');
  });

  it('400 badRequest (the documented sample) → PROVIDER_UNAVAILABLE, not retried', () => {
    const e = map(400, {
      error: {
        code: 400,
        errors: [{ domain: 'global', location: 'orderBy', locationType: 'parameter', message: 'Sorting is not supported for queries with fullText terms.', reason: 'badRequest' }],
        message: 'Sorting is not supported for queries with fullText terms.',
      },
    });
    expect([e.code, e.kind, e.retryable]).toEqual(['PROVIDER_UNAVAILABLE', 'bad-request', false]);
  });

  it.each([500, 502, 503, 504, 408])('%i → PROVIDER_UNAVAILABLE, retried', (status) => {
    const e = map(status, googleError(status, 'backendError', 'Backend Error'));
    expect([e.code, e.kind, e.retryable]).toEqual(['PROVIDER_UNAVAILABLE', 'server', true]);
    expect(e.retryAfter).toBeUndefined();
  });

  it('a 503 keeps its Retry-After; an HTML body from a proxy maps by status alone', () => {
    expect(map(503, '<html>Service Unavailable</html>', { 'retry-after': '4' })).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', retryAfter: 4, retryAfterSource: 'upstream' });
    expect(map(501, 'nope')).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', retryable: false });
  });

  it('never puts upstream text or tokens in the message or the cause', () => {
    const secret = 'ya29.SECRET-TOKEN user@example.com Subject: salary';
    for (const e of [
      map(400, googleError(400, 'badRequest', secret)),
      map(429, googleError(429, 'rateLimitExceeded', secret)),
      map(400, { error: 'invalid_grant', error_description: secret }),
      mapGmailError(Object.assign(new Error(secret), { code: 'ECONNRESET' })),
      mapGmailError(new Error(secret)),
    ]) {
      expect(e.message).not.toContain('SECRET');
      expect(JSON.stringify(errorBody(e))).not.toContain('SECRET');
      expect(String((e.cause as Error).message)).not.toContain('SECRET');
    }
  });

  it('network errors (also inside cause, as undici wraps them) and timeouts → PROVIDER_UNAVAILABLE, retried', () => {
    const wrapped = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    const cut = new TypeError('terminated', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });
    for (const failure of [wrapped, cut, Object.assign(new Error('x'), { code: 'ETIMEDOUT' }), new DOMException('timed out', 'TimeoutError')]) {
      const e = mapGmailError(failure) as GmailApiError;
      expect([e.code, e.kind, e.retryable]).toEqual(['PROVIDER_UNAVAILABLE', 'network', true]);
    }
    const bug = mapGmailError(new TypeError('x is not a function')) as GmailApiError;
    expect([bug.code, bug.kind, bug.retryable]).toEqual(['PROVIDER_UNAVAILABLE', 'unexpected', false]);
  });

  it('passes a GatewayError through unchanged', () => {
    const original = new GatewayError('NOT_FOUND', 'x');
    expect(mapGmailError(original)).toBe(original);
  });
});

describe('mapGmailError on gaxios errors from the googleapis client (loopback server)', () => {
  let server: http.Server;
  let origin: string;
  // What the fake Gmail answers next, by path prefix.
  const answers = new Map<string, { status: number; headers?: Record<string, string>; body: unknown }>();

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const key = [...answers.keys()].find((prefix) => req.url?.startsWith(prefix));
        const answer = key ? answers.get(key)! : { status: 500, body: {} };
        res.writeHead(answer.status, { 'content-type': 'application/json; charset=UTF-8', ...answer.headers });
        res.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  async function gmailFailure(options: { refreshToken?: string; rootUrl?: string } = {}): Promise<unknown> {
    const { google } = await import('googleapis');
    const auth = new google.auth.OAuth2({ clientId: 'client', clientSecret: 'secret', endpoints: { oauth2TokenUrl: `${origin}/token` } });
    auth.setCredentials(options.refreshToken ? { refresh_token: options.refreshToken } : { access_token: 'ya29.SECRET', expiry_date: Date.now() + 3_600_000 });
    // One retry policy, ours: gaxios' own retries are off.
    const gmail = google.gmail({ version: 'v1', auth, rootUrl: options.rootUrl ?? `${origin}/`, retry: false });
    try {
      await gmail.users.messages.get({ userId: 'me', id: '18c0ffee' });
    } catch (error) {
      return error;
    }
    throw new Error('the call did not fail');
  }

  it('429 with Retry-After → PROVIDER_THROTTLED retryAfter 7', async () => {
    answers.set('/gmail/', { status: 429, headers: { 'retry-after': '7' }, body: googleError(429, 'rateLimitExceeded', 'Rate Limit Exceeded', 'RESOURCE_EXHAUSTED') });
    const raw = await gmailFailure();
    expect((raw as object).constructor.name).toBe('GaxiosError');
    expect(mapGmailError(raw)).toMatchObject({ code: 'PROVIDER_THROTTLED', retryAfter: 7, kind: 'rate-limit' });
  }, 30_000);

  it('404 → NOT_FOUND and 400 invalid attachment token → stale-attachment-id', async () => {
    answers.set('/gmail/', { status: 404, body: { error: { code: 404, message: 'Requested entity was not found.', errors: [{ reason: 'notFound', domain: 'global' }], status: 'NOT_FOUND' } } });
    expect(mapGmailError(await gmailFailure())).toMatchObject({ code: 'NOT_FOUND', kind: 'not-found' });
    answers.set('/gmail/', { status: 400, body: { error: { code: 400, message: 'Invalid attachment token', errors: [{ reason: 'invalidArgument', domain: 'global' }], status: 'INVALID_ARGUMENT' } } });
    expect(mapGmailError(await gmailFailure())).toMatchObject({ code: 'NOT_FOUND', kind: 'stale-attachment-id' });
  }, 30_000);

  it('a refresh refused with invalid_grant → PROVIDER_AUTH_FAILED needing re-consent, the refresh token nowhere in it', async () => {
    answers.set('/token', { status: 400, body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' } });
    const raw = await gmailFailure({ refreshToken: '1//REFRESH-SECRET' });
    const e = mapGmailError(raw) as GmailApiError;
    expect([e.code, e.kind, e.needsReconsent]).toEqual(['PROVIDER_AUTH_FAILED', 'grant-revoked', true]);
    expect(`${e.message} ${(e.cause as Error).message}`).not.toMatch(/SECRET/);
  }, 30_000);

  it('a refused connection → PROVIDER_UNAVAILABLE network, retryable', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const e = mapGmailError(await gmailFailure({ rootUrl: `http://127.0.0.1:${port}/` })) as GmailApiError;
    expect([e.code, e.kind, e.retryable]).toEqual(['PROVIDER_UNAVAILABLE', 'network', true]);
  }, 30_000);
});
