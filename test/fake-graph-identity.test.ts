/**
 * The fake Microsoft identity platform and Graph against the real client libraries: msal-node
 * (ConfidentialClientApplication with knownAuthorities) gets tokens in all three grants over HTTPS
 * trusted through the run's test CA, and graph-client reads `/me` with the bearer.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { ConfidentialClientApplication, CryptoProvider } from '@azure/msal-node';
import { Client } from '@microsoft/microsoft-graph-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRAPH_RESOURCE, startFakeGraph, testCaEnv, type FakeGraph } from './support/fake-graph/index.ts';
import { loadTestCa } from './support/fake-graph/tls.ts';

let fake: FakeGraph;
const REDIRECT = 'http://127.0.0.1:4000/auth/microsoft/callback';

beforeAll(async () => {
  fake = await startFakeGraph({ addresses: ['adele.vance@contoso.test', 'megan.bowen@contoso.test'], redirectUris: [REDIRECT] });
});
afterAll(async () => {
  await fake.close();
});

function msal(): ConfidentialClientApplication {
  return new ConfidentialClientApplication({
    auth: { clientId: fake.app.clientId, clientSecret: fake.app.clientSecret, authority: fake.authority, knownAuthorities: fake.knownAuthorities },
  });
}

function graph(token: string): Client {
  return Client.init({ baseUrl: `${fake.graphRoot}/`, customHosts: new Set(['127.0.0.1']), authProvider: (done) => done(null, token) });
}

describe('fake identity platform with msal-node', () => {
  it('runs in a worker started with the run CA in NODE_EXTRA_CA_CERTS (vitest global setup)', () => {
    const file = process.env.NODE_EXTRA_CA_CERTS;
    expect(file, 'NODE_EXTRA_CA_CERTS unset: is test/support/fake-graph/global-setup.ts in vitest.config.ts?').toBeTruthy();
    expect(fs.readFileSync(file!, 'utf8')).toContain(loadTestCa().cert.trim());
  });

  it('serves the OpenID configuration with an issuer on the authority host', async () => {
    const res = await fetch(`${fake.authority}/v2.0/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Record<string, string>;
    expect(doc.issuer).toBe(`${fake.origin}/${fake.tenantId}/v2.0`);
    expect(doc.token_endpoint).toBe(`${fake.authority}/oauth2/v2.0/token`);
    expect(doc.authorization_endpoint).toBe(`${fake.authority}/oauth2/v2.0/authorize`);
    expect(doc.jwks_uri).toMatch(/^https:\/\/127\.0\.0\.1:\d+\//);
  });

  it('gives an app token by client credentials that reads a granted mailbox and only that', async () => {
    const result = await msal().acquireTokenByClientCredential({ scopes: [`${GRAPH_RESOURCE}/.default`] });
    expect(result?.accessToken).toMatch(/^ey/);
    expect(result?.tokenType).toBe('Bearer');
    const client = graph(result!.accessToken);
    const user = (await client.api('/users/adele.vance@contoso.test').get()) as { userPrincipalName: string; id: string };
    expect(user.userPrincipalName).toBe('adele.vance@contoso.test');
    fake.grantAppAccess('megan.bowen@contoso.test', false);
    try {
      await expect(client.api('/users/megan.bowen@contoso.test').get()).rejects.toMatchObject({ statusCode: 403, code: 'ErrorAccessDenied' });
    } finally {
      fake.grantAppAccess('megan.bowen@contoso.test', true);
    }
    await expect(client.api('/me').get()).rejects.toMatchObject({ statusCode: 400, code: 'BadRequest' });
    await expect(client.api('/users/nobody@contoso.test').get()).rejects.toMatchObject({ statusCode: 404, code: 'ErrorInvalidUser' });
  });

  it('refuses client credentials without the /.default scope, with an AAD error body', async () => {
    const res = await fetch(`${fake.authority}/oauth2/v2.0/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: fake.app.clientId, client_secret: fake.app.clientSecret, scope: 'Mail.Read' }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ error: 'invalid_scope', error_codes: [1002012] });
    expect(body.error_description).toMatch(/^AADSTS1002012: /);
    expect(body.timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
    expect(body.trace_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.correlation_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refreshes a delegated token, rotating the refresh token, and graph-client reads /me with it', async () => {
    const refreshToken = fake.refreshToken('adele.vance@contoso.test');
    const result = await msal().acquireTokenByRefreshToken({ refreshToken, scopes: ['https://graph.microsoft.com/Mail.Read'] });
    expect(result?.account?.username).toBe('adele.vance@contoso.test');
    expect(result?.account?.tenantId).toBe(fake.tenantId);
    expect(result?.scopes.map((s) => s.toLowerCase())).toContain('https://graph.microsoft.com/mail.read');
    const me = (await graph(result!.accessToken).api('/me').get()) as { userPrincipalName: string; id: string };
    expect(me.userPrincipalName).toBe('adele.vance@contoso.test');
    expect(me.id).toBe(fake.mailbox().user.id);
    const logged = fake.requests.filter((r) => r.kind === 'profile').at(-1)!;
    expect(logged.headers.authorization).toBe(`Bearer ${result!.accessToken}`);

    // msal-node keeps the rotated refresh token in its cache only; read the wire answer directly.
    const raw = await fetch(`${fake.authority}/oauth2/v2.0/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: fake.app.clientId, client_secret: fake.app.clientSecret, refresh_token: refreshToken, scope: 'offline_access https://graph.microsoft.com/.default' }),
    });
    const answer = (await raw.json()) as { refresh_token: string; client_info: string; id_token: string };
    expect(answer.refresh_token).toMatch(/^1\.A/);
    expect(answer.refresh_token).not.toBe(refreshToken);
    expect(JSON.parse(Buffer.from(answer.client_info, 'base64url').toString())).toEqual({ uid: fake.mailbox().user.id, utid: fake.tenantId });
    const idClaims = JSON.parse(Buffer.from(answer.id_token.split('.')[1]!, 'base64url').toString()) as Record<string, string>;
    expect(idClaims).toMatchObject({ oid: fake.mailbox().user.id, tid: fake.tenantId, preferred_username: 'adele.vance@contoso.test', aud: fake.app.clientId });
  });

  it('serves the multi-tenant authority (common) to msal for delegated tokens, and refuses client credentials there', async () => {
    const common = new ConfidentialClientApplication({
      auth: { clientId: fake.app.clientId, clientSecret: fake.app.clientSecret, authority: `${fake.origin}/common`, knownAuthorities: fake.knownAuthorities },
    });
    const result = await common.acquireTokenByRefreshToken({ refreshToken: fake.refreshToken('adele.vance@contoso.test'), scopes: ['Mail.Read'] });
    expect(result?.account?.tenantId).toBe(fake.tenantId);
    // msal itself refuses client credentials on common; the wire answer for clients that do not.
    const res = await fetch(`${fake.origin}/common/oauth2/v2.0/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: fake.app.clientId, client_secret: fake.app.clientSecret, scope: `${GRAPH_RESOURCE}/.default` }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_request', error_codes: [50059] });
  });

  it('revokes the old refresh token on rotation when told to, and a revoked user gets AADSTS50173', async () => {
    fake.identity.rotation = 'revoke';
    try {
      const first = fake.refreshToken('megan.bowen@contoso.test');
      await msal().acquireTokenByRefreshToken({ refreshToken: first, scopes: ['Mail.Read'] });
      await expect(msal().acquireTokenByRefreshToken({ refreshToken: first, scopes: ['Mail.Read'] })).rejects.toMatchObject({ errorCode: 'invalid_grant', errorMessage: expect.stringMatching(/^AADSTS70000: /) });
    } finally {
      fake.identity.rotation = 'keep';
    }
    const token = fake.refreshToken('megan.bowen@contoso.test');
    const ok = await msal().acquireTokenByRefreshToken({ refreshToken: token, scopes: ['Mail.Read'] });
    fake.identity.revokeUser('megan.bowen@contoso.test');
    await expect(msal().acquireTokenByRefreshToken({ refreshToken: token, scopes: ['Mail.Read'] })).rejects.toMatchObject({ errorCode: 'invalid_grant', errorMessage: expect.stringMatching(/^AADSTS50173: /) });
    await expect(graph(ok!.accessToken).api('/me').get()).rejects.toMatchObject({ statusCode: 401, code: 'InvalidAuthenticationToken' });
  });

  it('keeps a used refresh token valid within a grace window only', async () => {
    let now = Date.now();
    const realNow = Date.now;
    Date.now = () => now;
    fake.identity.rotation = { graceMs: 60_000 };
    try {
      const token = fake.refreshToken('adele.vance@contoso.test');
      await msal().acquireTokenByRefreshToken({ refreshToken: token, scopes: ['Mail.Read'] });
      now += 30_000;
      await msal().acquireTokenByRefreshToken({ refreshToken: token, scopes: ['Mail.Read'] });
      now += 60_000;
      await expect(msal().acquireTokenByRefreshToken({ refreshToken: token, scopes: ['Mail.Read'] })).rejects.toMatchObject({ errorCode: 'invalid_grant', errorMessage: expect.stringMatching(/^AADSTS70000: /) });
    } finally {
      Date.now = realNow;
      fake.identity.rotation = 'keep';
    }
  });

  it('answers an expired refresh token with AADSTS700082 and a scope never consented with AADSTS65001', async () => {
    const token = fake.refreshToken('adele.vance@contoso.test', ['Mail.Read']);
    await expect(msal().acquireTokenByRefreshToken({ refreshToken: token, scopes: ['Mail.Send'] })).rejects.toMatchObject({ errorCode: 'invalid_grant', errorMessage: expect.stringMatching(/^AADSTS65001: /) });
    fake.identity.expireRefreshToken(token);
    await expect(msal().acquireTokenByRefreshToken({ refreshToken: token, scopes: ['Mail.Read'] })).rejects.toMatchObject({ errorCode: 'invalid_grant', errorMessage: expect.stringMatching(/^AADSTS700082: /) });
  });

  it('runs the authorization code flow with PKCE and refuses a wrong verifier', async () => {
    const client = msal();
    const crypto = new CryptoProvider();
    const pkce = await crypto.generatePkceCodes();
    const consentUrl = await client.getAuthCodeUrl({ scopes: ['Mail.Read', 'User.Read'], redirectUri: REDIRECT, codeChallenge: pkce.challenge, codeChallengeMethod: 'S256', state: 'st-1' });
    expect(consentUrl.startsWith(`${fake.authority}/oauth2/v2.0/authorize?`)).toBe(true);
    const redirect = async () => {
      const res = await fetch(consentUrl, { redirect: 'manual' });
      expect(res.status).toBe(302);
      return new URL(res.headers.get('location')!);
    };
    const back = await redirect();
    expect(back.origin + back.pathname).toBe(REDIRECT);
    expect(back.searchParams.get('state')).toBe('st-1');
    const code = back.searchParams.get('code')!;
    await expect(client.acquireTokenByCode({ code, scopes: ['Mail.Read'], redirectUri: REDIRECT, codeVerifier: 'x'.repeat(43) })).rejects.toMatchObject({ errorCode: 'invalid_grant', errorMessage: expect.stringContaining('AADSTS501481: ') });

    const again = await redirect();
    const result = await client.acquireTokenByCode({ code: again.searchParams.get('code')!, scopes: ['Mail.Read'], redirectUri: REDIRECT, codeVerifier: pkce.verifier });
    expect(result.account?.username).toBe('adele.vance@contoso.test');
    const me = (await graph(result.accessToken).api('/me').get()) as { userPrincipalName: string };
    expect(me.userPrincipalName).toBe('adele.vance@contoso.test');
    await expect(client.acquireTokenByCode({ code: again.searchParams.get('code')!, scopes: ['Mail.Read'], redirectUri: REDIRECT, codeVerifier: pkce.verifier })).rejects.toMatchObject({ errorCode: 'invalid_grant', errorMessage: expect.stringContaining('AADSTS54005: ') });

    const hinted = await client.getAuthCodeUrl({ scopes: ['Mail.Read'], redirectUri: REDIRECT, codeChallenge: pkce.challenge, codeChallengeMethod: 'S256', loginHint: 'megan.bowen@contoso.test' });
    const asMegan = new URL((await fetch(hinted, { redirect: 'manual' })).headers.get('location')!);
    const megan = await client.acquireTokenByCode({ code: asMegan.searchParams.get('code')!, scopes: ['Mail.Read'], redirectUri: REDIRECT, codeVerifier: pkce.verifier });
    expect(megan.account?.username).toBe('megan.bowen@contoso.test');

    fake.identity.consent = { decision: 'deny' };
    try {
      const denied = await redirect();
      expect(denied.searchParams.get('error')).toBe('access_denied');
      expect(denied.searchParams.get('error_description')).toMatch(/^AADSTS65004: /);
      expect(denied.searchParams.get('state')).toBe('st-1');
    } finally {
      fake.identity.consent = { decision: 'approve' };
    }
  });

  it('answers a missing or unknown bearer with 401 InvalidAuthenticationToken and Graph headers', async () => {
    const res = await fetch(`${fake.serviceRoot}/me`, { headers: { 'client-request-id': '2b7e2ac5-7b2f-4e0c-9ad3-4a8bb0a6b0f1' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('client-request-id')).toBe('2b7e2ac5-7b2f-4e0c-9ad3-4a8bb0a6b0f1');
    const body = (await res.json()) as { error: { code: string; message: string; innerError: Record<string, string> } };
    expect(body.error.code).toBe('InvalidAuthenticationToken');
    expect(body.error.innerError['client-request-id']).toBe('2b7e2ac5-7b2f-4e0c-9ad3-4a8bb0a6b0f1');
    expect(body.error.innerError['request-id']).toBe(res.headers.get('request-id'));
    const forged = await fetch(`${fake.serviceRoot}/me`, { headers: { authorization: 'Bearer ey.forged.token' } });
    expect(forged.status).toBe(401);
  });

  it('is trusted by a child process given testCaEnv(), and only then', async () => {
    const script = `fetch(process.argv[1] + '/common/discovery/instance').then((r) => console.log(r.status), (e) => console.log(String(e.cause?.code ?? e)))`;
    const run = (env: Record<string, string>) =>
      new Promise<string>((resolve) => execFile(process.execPath, ['-e', script, fake.origin], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 }, (_e, out) => resolve(out.trim())));
    expect(await run(testCaEnv())).toBe('200');
    expect(await run({})).toMatch(/CERT|SIGNATURE|ISSUER/);
  });
});
