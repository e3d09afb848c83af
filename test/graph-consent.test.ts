/**
 * Microsoft's consent side (`src/providers/microsoft-graph/consent.ts`) against the fake identity
 * platform and Graph over HTTPS: one token request per exchange (no retry of its own), and what
 * each failure becomes (reason, code, retryAfter) within one deadline and the callback request's
 * signal; nothing of Microsoft's text in a message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newPkcePair, newState } from '../src/connect/pkce.ts';
import { ConsentError, type ConsentProvider } from '../src/connect/types.ts';
import { ErrorCode } from '../src/errors.ts';
import { graphConsent } from '../src/providers/microsoft-graph/consent.ts';
import type { MicrosoftSettings } from '../src/providers/microsoft-graph/settings.ts';
import { startFakeGraph, type FakeGraph } from './support/fake-graph/index.ts';

const ADELE = 'adele.vance@contoso.test';
const REDIRECT = 'http://127.0.0.1:9/oauth/callback';
const TOKEN_PATH = '/*/oauth2/v2.0/token';
let fake: FakeGraph;
let microsoft: MicrosoftSettings;

beforeAll(async () => {
  fake = await startFakeGraph({ addresses: [ADELE], redirectUris: [REDIRECT] });
  microsoft = { graphRoot: fake.graphRoot, loginRoot: fake.loginRoot, tenantId: fake.tenantId, clientId: fake.app.clientId, clientSecret: fake.app.clientSecret };
});
afterAll(async () => fake?.close());

/** Runs the consent at the fake and returns the code and its verifier. */
async function consentCode(provider: ConsentProvider): Promise<{ code: string; codeVerifier: string }> {
  const { codeVerifier, codeChallenge } = newPkcePair();
  const answer = await fetch(provider.authorizationUrl({ state: newState(), codeChallenge, redirectUri: REDIRECT, loginHint: ADELE }), { redirect: 'manual' });
  const code = new URL(answer.headers.get('location')!).searchParams.get('code');
  expect(code).toBeTruthy();
  return { code: code!, codeVerifier };
}

async function failure(run: Promise<unknown>): Promise<ConsentError> {
  const error = await run.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConsentError);
  expect((error as Error).message).not.toMatch(/AADSTS\d+: [A-Z]|Access is denied|Too many requests/);
  return error as ConsentError;
}

const exchange = async (provider: ConsentProvider, signal = new AbortController().signal) => provider.exchangeCode({ ...(await consentCode(provider)), redirectUri: REDIRECT, signal });
const tokenRequests = () => fake.requests.filter((r) => r.kind === 'token').length;

describe('graphConsent', () => {
  it('refuses a gateway without an app registration (config)', () => {
    expect(() => graphConsent({ ...microsoft, clientSecret: null })).toThrow(/Microsoft 365 connect failed \(config\): .*MS_CLIENT_ID and MS_CLIENT_SECRET are not both set/);
  });

  it('a 429 of the token endpoint is `throttled` with its Retry-After, after one token request', async () => {
    const provider = graphConsent(microsoft);
    const { code, codeVerifier } = await consentCode(provider);
    fake.faults.add({ path: TOKEN_PATH, method: 'POST' }, { status: 429, body: { error: 'temporarily_unavailable' }, retryAfter: 7 }, 1);
    const before = tokenRequests();
    const error = await failure(provider.exchangeCode({ code, codeVerifier, redirectUri: REDIRECT, signal: new AbortController().signal }));
    expect(error).toMatchObject({ reason: 'throttled', code: ErrorCode.PROVIDER_THROTTLED, retryAfter: 7 });
    expect(tokenRequests() - before).toBe(1);
  });

  it('a token endpoint that hangs is `timeout` at the deadline; a callback that goes away ends the exchange with its reason', async () => {
    const provider = graphConsent(microsoft, { timeoutMs: 400 });
    fake.faults.add({ path: TOKEN_PATH, method: 'POST' }, { hang: true }, 1);
    const error = await failure(exchange(provider));
    expect(error).toMatchObject({ reason: 'timeout', code: ErrorCode.DEADLINE_EXCEEDED });
    expect(error.message).toContain(`the identity platform at ${fake.loginRoot}`);

    const slow = graphConsent(microsoft, { timeoutMs: 10_000 });
    const browser = new AbortController();
    const gone = new Error('client went away');
    fake.faults.add({ path: TOKEN_PATH, method: 'POST' }, { hang: true }, 1);
    const started = exchange(slow, browser.signal);
    setTimeout(() => browser.abort(gone), 200);
    await expect(started).rejects.toBe(gone);
  });

  it('an inbox the token may not read is `scope` (400), naming Mail.Read; a throttled /me is `throttled`', async () => {
    const provider = graphConsent(microsoft);
    fake.faults.add({ path: '/v1.0/me/mailFolders/inbox' }, { error: 'accessDenied' }, 1);
    const denied = await failure(exchange(provider));
    expect(denied).toMatchObject({ reason: 'scope', code: ErrorCode.BAD_USER_INPUT, httpStatus: 400 });
    expect(denied.message).toContain('Mail.Read');

    fake.faults.add({ path: '/v1.0/me' }, { error: 'tooManyRequests', retryAfter: 3 }, 1);
    expect(await failure(exchange(provider))).toMatchObject({ reason: 'throttled', retryAfter: 3 });
  });

  it('an unreachable identity platform is `unreachable`', async () => {
    const provider = graphConsent({ ...microsoft, loginRoot: 'https://127.0.0.1:9' });
    const error = await failure(provider.exchangeCode({ code: 'x', codeVerifier: 'y'.repeat(43), redirectUri: REDIRECT, signal: new AbortController().signal }));
    expect(error).toMatchObject({ reason: 'unreachable', code: ErrorCode.PROVIDER_UNAVAILABLE });
  });
});
