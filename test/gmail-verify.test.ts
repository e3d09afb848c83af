/**
 * `checkGmailMailbox` against the fake Gmail + OAuth server: what each upstream answer becomes
 * (reason, code, retryAfter), a rotated refresh token handed back, an oversized or foreign profile
 * answer refused, and the one deadline over the whole check.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkGmailMailbox, GmailCheckError, type GmailCheckSettings } from '../src/providers/gmail/verify.ts';
import { startFakeGmail, type FakeGmail } from './support/fake-gmail/index.ts';

const OWNER = 'owner@fake-gmail.test';
let fake: FakeGmail;
let settings: () => GmailCheckSettings;

beforeAll(async () => {
  fake = await startFakeGmail({ addresses: [OWNER] });
  settings = () => ({
    google: { apiRoot: fake.origin, tokenUrl: fake.tokenUrl, authUrl: fake.authUrl, clientId: fake.client.clientId, clientSecret: fake.client.clientSecret },
    refreshToken: fake.refreshToken(OWNER),
    address: OWNER,
  });
});
afterAll(async () => fake?.close());

/** The GmailCheckError a check throws. */
async function failure(run: Promise<unknown>): Promise<GmailCheckError> {
  const error = await run.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GmailCheckError);
  return error as GmailCheckError;
}

describe('checkGmailMailbox', () => {
  it('passes with the profile counts and sends a fields mask to users/me/profile', async () => {
    const result = await checkGmailMailbox(settings());
    expect(result).toMatchObject({ emailAddress: OWNER, messagesTotal: 0, threadsTotal: 0 });
    const profile = fake.requests.find((r) => r.path.endsWith('/profile'));
    expect(profile?.path).toBe('/gmail/v1/users/me/profile');
    expect(profile?.query.fields).toBe('emailAddress,messagesTotal,threadsTotal');
    expect(profile?.status).toBe(200);
  });

  it('a refused configuration is BAD_USER_INPUT with no request', async () => {
    const before = fake.requests.length;
    const s = settings();
    const error = await failure(checkGmailMailbox({ ...s, google: { ...s.google, clientId: null } }));
    expect(error.reason).toBe('config');
    expect(error.code).toBe('BAD_USER_INPUT');
    expect(fake.requests.length).toBe(before);
  });

  it('429 on the profile is throttled with the server Retry-After; 500 is upstream; both PROVIDER_*', async () => {
    fake.faults.add({ path: '/gmail/v1/users/*/profile' }, { error: 'rateLimitExceeded', retryAfter: 7 });
    const throttled = await failure(checkGmailMailbox(settings()));
    expect(throttled.reason).toBe('throttled');
    expect(throttled.code).toBe('PROVIDER_THROTTLED');
    expect(throttled.retryAfter).toBe(7);

    fake.faults.add({ path: '/gmail/v1/users/*/profile' }, { error: 'backendError' });
    const upstream = await failure(checkGmailMailbox(settings()));
    expect(upstream.reason).toBe('upstream');
    expect(upstream.code).toBe('PROVIDER_UNAVAILABLE');
    expect(upstream.message).toMatch(/^Gmail check failed \(upstream\): the Gmail API at http:\/\/127\.0\.0\.1:\d+ answered with an error \(HTTP 500/);
  });

  it('returns the refresh token Google rotated to during the check', async () => {
    const s = settings();
    // A real access token for the account, handed out with a new refresh token as Google may do.
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: s.refreshToken, client_id: s.google.clientId!, client_secret: s.google.clientSecret! });
    const minted = (await (await fetch(fake.tokenUrl, { method: 'POST', body: form })).json()) as { access_token: string };
    fake.faults.add({ method: 'POST', path: '/token' }, { status: 200, body: { access_token: minted.access_token, expires_in: 3599, token_type: 'Bearer', scope: 'https://www.googleapis.com/auth/gmail.readonly', refresh_token: 'rotated-token' } });
    const result = await checkGmailMailbox(s);
    expect(result.refreshToken).toBe('rotated-token');
  });

  it('refuses a profile answer that is too large or has no emailAddress, in bounded time', async () => {
    const huge = new Response(`{"emailAddress":"${'a'.repeat(8 * 1024 * 1024)}"}`, { status: 200, headers: { 'content-type': 'application/json' } });
    const started = Date.now();
    const large = await failure(checkGmailMailbox(settings(), { fetch: async () => huge }));
    expect(large.message).toMatch(/larger than 65536 bytes/);
    expect(Date.now() - started).toBeLessThan(5_000);

    const empty = await failure(checkGmailMailbox(settings(), { fetch: async () => Response.json({ messagesTotal: 1 }) }));
    expect(empty.message).toMatch(/without an emailAddress/);
    const html = await failure(checkGmailMailbox(settings(), { fetch: async () => new Response('<html>captive portal</html>') }));
    expect(html.message).toMatch(/something other than JSON/);
  });

  it('one deadline covers the whole check', async () => {
    fake.faults.add({ path: '/gmail/v1/users/*/profile' }, { delayMs: 5_000 });
    const started = Date.now();
    const error = await failure(checkGmailMailbox(settings(), { timeoutMs: 300 }));
    expect(error.reason).toBe('timeout');
    expect(error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(4_000);
  });
});
