/**
 * Gmail's consent side (`src/providers/gmail/consent.ts`) against the fake Google: the consent URL
 * Google's guide describes, a code exchanged once with its PKCE verifier (one token request: gaxios
 * retries are off), and what each failure becomes (reason, code), within one deadline and the
 * callback request's signal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeChallengeOf, newPkcePair, newState } from '../src/connect/pkce.ts';
import { ConsentError, type ConsentProvider } from '../src/connect/types.ts';
import { gmailConsent } from '../src/providers/gmail/consent.ts';
import type { GoogleSettings } from '../src/providers/gmail/settings.ts';
import { startFakeGmail, type FakeGmail } from './support/fake-gmail/index.ts';

const OWNER = 'owner@fake-gmail.test';
const SECOND = 'second@fake-gmail.test';
const REDIRECT = 'http://127.0.0.1:9/oauth/callback';
let fake: FakeGmail;
let google: GoogleSettings;

beforeAll(async () => {
  fake = await startFakeGmail({ addresses: [OWNER, SECOND], redirectUris: [REDIRECT] });
  google = { apiRoot: fake.origin, tokenUrl: fake.tokenUrl, authUrl: fake.authUrl, clientId: fake.client.clientId, clientSecret: fake.client.clientSecret };
});
afterAll(async () => fake?.close());

/** Runs the consent at the fake for `provider` and returns the code and the verifier. */
async function consentCode(provider: ConsentProvider, change: (url: URL) => void = () => {}, loginHint: string | null = null): Promise<{ code: string; codeVerifier: string }> {
  const { codeVerifier, codeChallenge } = newPkcePair();
  const url = new URL(provider.authorizationUrl({ state: newState(), codeChallenge, redirectUri: REDIRECT, loginHint }));
  change(url);
  const answer = await fetch(url, { redirect: 'manual' });
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
  return error as ConsentError;
}

const tokenRequests = () => fake.requests.filter((r) => r.path === '/token').length;

describe('gmailConsent', () => {
  it('builds the consent URL of the web-server guide, with login_hint only when given', () => {
    const provider = gmailConsent(google);
    const url = new URL(provider.authorizationUrl({ state: 's'.repeat(43), codeChallenge: codeChallengeOf('v'.repeat(43)), redirectUri: REDIRECT, loginHint: 'a@example.org' }));
    expect(url.origin + url.pathname).toBe(fake.authUrl);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      client_id: fake.client.clientId,
      redirect_uri: REDIRECT,
      response_type: 'code',
      scope: 'https://www.googleapis.com/auth/gmail.readonly',
      access_type: 'offline',
      prompt: 'consent',
      include_granted_scopes: 'true',
      state: 's'.repeat(43),
      code_challenge: codeChallengeOf('v'.repeat(43)),
      code_challenge_method: 'S256',
      login_hint: 'a@example.org',
    });
    expect(new URL(provider.authorizationUrl({ state: 'x', codeChallenge: 'y', redirectUri: REDIRECT, loginHint: null })).searchParams.has('login_hint')).toBe(false);
  });

  it('refuses a gateway without an OAuth client (reason config)', () => {
    expect(() => gmailConsent({ ...google, clientSecret: null })).toThrow(/Gmail connect failed \(config\): this gateway has no Google OAuth client/);
  });

  it('exchanges the code with its verifier for the account address and a refresh token; the code works once', async () => {
    const provider = gmailConsent(google);
    const { code, codeVerifier } = await consentCode(provider);
    const account = await provider.exchangeCode({ code, codeVerifier, redirectUri: REDIRECT, signal: new AbortController().signal });
    expect(account.address).toBe(OWNER);
    expect(Object.keys(account.credentials)).toEqual(['refreshToken']);
    const profile = fake.requests.filter((r) => r.path === '/gmail/v1/users/me/profile').at(-1);
    expect(profile?.query.fields).toBe('emailAddress');
    const again = await failure(provider.exchangeCode({ code, codeVerifier, redirectUri: REDIRECT, signal: new AbortController().signal }));
    expect(again.reason).toBe('credentials');
    expect(again.code).toBe('PROVIDER_AUTH_FAILED');
  });

  it('login_hint preselects the account at the (fake) Google; a scope left unchecked is refused unless granted before (include_granted_scopes)', async () => {
    const provider = gmailConsent(google);
    const hinted = await consentCode(provider, () => {}, SECOND);
    expect((await provider.exchangeCode({ ...hinted, redirectUri: REDIRECT, signal: new AbortController().signal })).address).toBe(SECOND);

    fake.oauth.consent = { decision: 'approve', address: SECOND, scopes: [] };
    try {
      // SECOND granted gmail.readonly above: include_granted_scopes=true keeps it in the new grant.
      const merged = await consentCode(provider);
      expect((await provider.exchangeCode({ ...merged, redirectUri: REDIRECT, signal: new AbortController().signal })).address).toBe(SECOND);
      const narrowed = await consentCode(provider, (url) => url.searchParams.delete('include_granted_scopes'));
      const error = await failure(provider.exchangeCode({ ...narrowed, redirectUri: REDIRECT, signal: new AbortController().signal }));
      expect(error.reason).toBe('scope');
      expect(error.httpStatus).toBe(400);
    } finally {
      fake.oauth.consent = { decision: 'approve' };
    }
  });

  it('a consent without prompt=consent after an earlier one gives no refresh token: refused as offline', async () => {
    const provider = gmailConsent(google);
    const { code, codeVerifier } = await consentCode(provider, (url) => url.searchParams.delete('prompt'));
    const error = await failure(provider.exchangeCode({ code, codeVerifier, redirectUri: REDIRECT, signal: new AbortController().signal }));
    expect(error.reason).toBe('offline');
    expect(error.message).toMatch(/Google issued no refresh token/);
  });

  it('a failing token endpoint is tried once (gaxios retries off): 500 upstream, invalid_client credentials', async () => {
    const provider = gmailConsent(google);
    let { code, codeVerifier } = await consentCode(provider);
    fake.faults.add({ method: 'POST', path: '/token' }, { status: 500, body: 'secret detail from Google' });
    let before = tokenRequests();
    const server = await failure(provider.exchangeCode({ code, codeVerifier, redirectUri: REDIRECT, signal: new AbortController().signal }));
    expect(server.reason).toBe('upstream');
    expect(server.code).toBe('PROVIDER_UNAVAILABLE');
    expect(server.message).not.toContain('secret detail');
    expect(tokenRequests() - before).toBe(1);

    ({ code, codeVerifier } = await consentCode(provider));
    before = tokenRequests();
    const refused = await failure(gmailConsent({ ...google, clientSecret: 'wrong' }).exchangeCode({ code, codeVerifier, redirectUri: REDIRECT, signal: new AbortController().signal }));
    expect(refused.reason).toBe('credentials');
    expect(tokenRequests() - before).toBe(1);
  });

  it('a hung token endpoint ends at the deadline (timeout, 504); an aborted callback ends at once with its reason', async () => {
    const provider = gmailConsent(google, { timeoutMs: 300 });
    const { code, codeVerifier } = await consentCode(provider);
    fake.faults.add({ method: 'POST', path: '/token' }, { hang: true });
    const timedOut = await failure(provider.exchangeCode({ code, codeVerifier, redirectUri: REDIRECT, signal: new AbortController().signal }));
    expect(timedOut.reason).toBe('timeout');
    expect(timedOut.code).toBe('DEADLINE_EXCEEDED');
    expect(timedOut.httpStatus).toBe(504);

    fake.faults.add({ method: 'POST', path: '/token' }, { hang: true });
    const client = new AbortController();
    const gone = new Error('client went away');
    setTimeout(() => client.abort(gone), 50);
    await expect(gmailConsent(google).exchangeCode({ code, codeVerifier, redirectUri: REDIRECT, signal: client.signal })).rejects.toBe(gone);
  });
});
