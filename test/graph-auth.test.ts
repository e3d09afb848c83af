/**
 * The Microsoft Graph token sources (`src/providers/microsoft-graph/auth.ts`) against the fake
 * identity platform over HTTPS, through msal-node: delegated tokens from a rotating refresh token
 * whose rotation is stored (encrypted, in a real SQLite store) before use and survives a restart;
 * application tokens shared per tenant; caching, single flight, the hold after a refused grant,
 * re-consent marks in words, configuration refusals, and network failures, throttling, hangs and
 * aborts as typed errors, with the one retry policy (`retryUpstream`) able to retry them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createStore } from '../src/db/store.ts';
import { isGatewayError } from '../src/errors.ts';
import { ApplicationTokenSource, DelegatedTokenSource, graphTokenSource } from '../src/providers/microsoft-graph/auth.ts';
import { GraphAuthError } from '../src/providers/microsoft-graph/auth-errors.ts';
import type { MicrosoftSettings } from '../src/providers/microsoft-graph/settings.ts';
import { mailboxCredentials } from '../src/providers/registry.ts';
import type { MailboxCredentials } from '../src/providers/types.ts';
import type { Store } from '../src/store/types.ts';
import { retryUpstream } from '../src/upstream/retry.ts';
import { startFakeGraph, type FakeGraph } from './support/fake-graph/index.ts';
import { silentLogger } from './support/logger.ts';
import { freePort } from './support/net.ts';

const ADELE = 'adele.vance@contoso.test';
const MEGAN = 'megan.bowen@contoso.test';
const TOKEN_PATH = '/*/oauth2/v2.0/token';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-gauth-'));
let fake: FakeGraph;
let microsoft: MicrosoftSettings;
let store: Store;

beforeAll(async () => {
  fake = await startFakeGraph({ addresses: [ADELE, MEGAN] });
  microsoft = { graphRoot: fake.graphRoot, loginRoot: fake.loginRoot, tenantId: fake.tenantId, clientId: fake.app.clientId, clientSecret: fake.app.clientSecret };
  store = createStore({ database: { dialect: 'sqlite', file: path.join(tmp, 'gateway.sqlite') } }, 'gauth-test-secret-0123456789-0123456789');
  await store.migrate();
});

afterAll(async () => {
  await store?.close();
  await fake?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  fake.identity.rotation = 'keep';
});

/** Token requests the fake has seen so far. */
const tokenRequests = () => fake.requests.filter((r) => r.kind === 'token').length;

/** A credential writer that records what it is asked to do. */
function recordingWriter(): MailboxCredentials & { saved: Record<string, string>[]; marks: string[] } {
  const saved: Record<string, string>[] = [];
  const marks: string[] = [];
  return {
    saved,
    marks,
    save: async (credentials) => {
      saved.push(credentials);
    },
    markNeedsReconsent: async (reason) => {
      marks.push(reason);
    },
  };
}

/** The user Graph's /me says the token belongs to. */
async function whoAmI(token: string): Promise<string> {
  const response = await fetch(`${fake.serviceRoot}/me`, { headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
  return ((await response.json()) as { userPrincipalName: string }).userPrincipalName;
}

/** The error a promise rejects with. */
async function failure(promise: Promise<unknown>): Promise<GraphAuthError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GraphAuthError);
  return error as GraphAuthError;
}

describe('delegated token source', () => {
  it('redeems the refresh token once for concurrent callers, caches the token, and Graph accepts it', async () => {
    const source = new DelegatedTokenSource({ refreshToken: fake.refreshToken(ADELE) }, recordingWriter(), { microsoft });
    const before = tokenRequests();
    const tokens = await Promise.all([source.accessToken(), source.accessToken(), source.accessToken()]);
    expect(new Set(tokens).size).toBe(1);
    expect(tokenRequests() - before).toBe(1);
    expect(await source.accessToken()).toBe(tokens[0]);
    expect(tokenRequests() - before).toBe(1);
    expect(await whoAmI(tokens[0]!)).toBe(ADELE);

    // A renewal is one token request: msal keeps the OpenID document of the authority.
    source.invalidate();
    const identityBefore = fake.requests.filter((r) => r.kind === 'identity').length;
    const renewed = await source.accessToken();
    expect(tokenRequests() - before).toBe(2);
    expect(fake.requests.filter((r) => r.kind === 'identity').length).toBe(identityBefore);
    expect(await whoAmI(renewed)).toBe(ADELE);
  });

  it('stores each rotated refresh token (encrypted) before use; a restarted source redeems the stored one, the old one is void', async () => {
    fake.identity.rotation = 'revoke';
    const original = fake.refreshToken(MEGAN);
    const workspace = await store.createWorkspace('rotation');
    const added = await store.addMailbox({ workspaceId: workspace.id, provider: 'MICROSOFT_GRAPH', address: MEGAN, displayName: null, settings: { mode: 'delegated' }, credentials: { refreshToken: original } });
    const load = async () => (await store.getMailbox(workspace.id, added.id))!;
    const deps = (mailbox: Awaited<ReturnType<typeof load>>) => ({ dataDir: tmp, logger: silentLogger(), microsoft, credentials: mailboxCredentials(store, mailbox, silentLogger()) });

    const first = await load();
    const source = graphTokenSource(first, deps(first));
    expect(await whoAmI(await source.accessToken())).toBe(MEGAN);
    const rotated = (await load()).credentials?.refreshToken;
    expect(rotated).toBeTruthy();
    expect(rotated).not.toBe(original);
    // At rest the token is ciphertext: the database file never holds it in clear.
    expect(fs.readFileSync(path.join(tmp, 'gateway.sqlite')).includes(rotated!)).toBe(false);

    // The next refresh of the same instance redeems the rotated token and stores its successor.
    source.invalidate();
    await source.accessToken();
    const second = (await load()).credentials?.refreshToken;
    expect(second).not.toBe(rotated);

    // A restart: a new source from what the store holds works; one from the original token is refused.
    const restarted = await load();
    expect(await whoAmI(await graphTokenSource(restarted, deps(restarted)).accessToken())).toBe(MEGAN);
    const stale = new DelegatedTokenSource({ refreshToken: original }, recordingWriter(), { microsoft });
    const error = await failure(stale.accessToken());
    expect(error.code).toBe('PROVIDER_AUTH_FAILED');
    expect(error.aadsts).toBe(70000);
  });

  it('marks a revoked grant for re-consent in words, once, and answers a burst from memory for a minute', async () => {
    const token = fake.refreshToken(ADELE);
    const writer = recordingWriter();
    const source = new DelegatedTokenSource({ refreshToken: token }, writer, { microsoft });
    await source.accessToken();
    const savedBefore = writer.saved.length;
    fake.identity.revokeUser(ADELE);
    source.invalidate();
    const before = tokenRequests();
    const error = await failure(source.accessToken());
    expect(error).toMatchObject({ code: 'PROVIDER_AUTH_FAILED', failure: 'grant', aadsts: 50173, retryable: false, needsReconsent: true });
    expect(error.message).toMatch(/^Microsoft refused the grant \(invalid_grant, AADSTS50173: the grant was revoked/);
    const burst = await Promise.all([1, 2, 3, 4, 5].map(() => source.accessToken().catch((e: unknown) => e)));
    expect(burst.every((e) => e === error)).toBe(true);
    expect(tokenRequests() - before).toBe(1);
    expect(writer.marks).toEqual([error.message]);
    expect(writer.marks[0]).not.toContain(token);
    expect(writer.saved).toHaveLength(savedBefore);
  });

  it('refuses an unknown client secret as configuration, without a re-consent mark', async () => {
    const writer = recordingWriter();
    const source = new DelegatedTokenSource({ refreshToken: fake.refreshToken(MEGAN) }, writer, { microsoft: { ...microsoft, clientSecret: 'not-the-secret' } });
    const error = await failure(source.accessToken());
    expect(error).toMatchObject({ code: 'PROVIDER_AUTH_FAILED', failure: 'client' });
    expect(error.message).toMatch(/refused the gateway's app registration \(invalid_client.*check MS_CLIENT_ID, MS_CLIENT_SECRET/);
    expect(error.message).not.toContain('not-the-secret');
    expect(writer.marks).toEqual([]);
  });

  it('refuses a gateway without an app registration and a mailbox without a token, with no request', async () => {
    const before = fake.requests.length;
    const unconfigured = new DelegatedTokenSource({ refreshToken: 'x' }, undefined, { microsoft: { ...microsoft, clientSecret: null } });
    expect((await failure(unconfigured.accessToken())).message).toMatch(/not configured in this gateway \(MS_CLIENT_SECRET is not set\)/);
    const empty = new DelegatedTokenSource(null, undefined, { microsoft });
    await expect(empty.accessToken()).rejects.toMatchObject({ code: 'PROVIDER_AUTH_FAILED', message: expect.stringMatching(/no refresh token/) });
    const modeless = graphTokenSource({ id: 'm', workspaceId: 'w', provider: 'MICROSOFT_GRAPH', address: ADELE, displayName: null, settings: {}, credentials: null }, { dataDir: tmp, logger: silentLogger(), microsoft });
    await expect(modeless.accessToken()).rejects.toMatchObject({ code: 'PROVIDER_AUTH_FAILED', message: expect.stringMatching(/no valid mode/) });
    expect(fake.requests.length).toBe(before);
  });

  it('names an unknown tenant', async () => {
    const source = new DelegatedTokenSource({ refreshToken: fake.refreshToken(ADELE) }, undefined, { microsoft: { ...microsoft, tenantId: 'no-such-tenant.test' } });
    const error = await failure(source.accessToken());
    expect(error).toMatchObject({ code: 'PROVIDER_AUTH_FAILED', failure: 'tenant' });
    expect(error.message).toMatch(/does not know tenant "no-such-tenant\.test"/);
  });
});

describe('application token source', () => {
  it('shares one client-credentials token among the mailboxes of a tenant and reads a granted mailbox', async () => {
    const settings = { ...microsoft, clientId: fake.identity.addApp({ appGrants: [fake.mailbox(ADELE).user.id] }).clientId };
    settings.clientSecret = fake.identity.apps.get(settings.clientId)!.clientSecret;
    const before = tokenRequests();
    const a = new ApplicationTokenSource(recordingWriter(), { microsoft: settings });
    const b = graphTokenSource({ id: 'b', workspaceId: 'w', provider: 'MICROSOFT_GRAPH', address: MEGAN, displayName: null, settings: { mode: 'application' }, credentials: null }, { dataDir: tmp, logger: silentLogger(), microsoft: settings });
    const [ta, tb] = await Promise.all([a.accessToken(), b.accessToken()]);
    expect(ta).toBe(tb);
    expect(tokenRequests() - before).toBe(1);
    const read = await fetch(`${fake.serviceRoot}/users/${ADELE}`, { headers: { authorization: `Bearer ${ta}` } });
    expect(read.status).toBe(200);
    const other = await fetch(`${fake.serviceRoot}/users/${MEGAN}`, { headers: { authorization: `Bearer ${ta}` } });
    expect(other.status).toBe(403);
  });

  it('refuses a multi-tenant authority before any request', async () => {
    const before = fake.requests.length;
    const error = await failure(new ApplicationTokenSource(undefined, { microsoft: { ...microsoft, tenantId: 'organizations' } }).accessToken());
    expect(error).toMatchObject({ code: 'PROVIDER_AUTH_FAILED', failure: 'tenant' });
    expect(error.message).toMatch(/application mode needs the directory's tenant id .* not "organizations"/);
    expect(fake.requests.length).toBe(before);
  });
});

describe('failures on the wire', () => {
  it('answers 429 as PROVIDER_THROTTLED with Retry-After and 503 as retryable PROVIDER_UNAVAILABLE; msal keeps no throttle of its own', async () => {
    const source = new DelegatedTokenSource({ refreshToken: fake.refreshToken(ADELE) }, undefined, { microsoft });
    fake.faults.add({ method: 'POST', path: TOKEN_PATH }, { status: 429, body: { error: 'temporarily_unavailable' }, retryAfter: 7 }, 1);
    const throttled = await failure(source.accessToken());
    expect(throttled).toMatchObject({ code: 'PROVIDER_THROTTLED', failure: 'throttled', retryAfter: 7, retryable: true });
    // The very next try reaches the endpoint (msal would otherwise refuse it locally for the Retry-After).
    expect(await whoAmI(await source.accessToken())).toBe(ADELE);

    source.invalidate();
    fake.faults.add({ method: 'POST', path: TOKEN_PATH }, { status: 503, body: 'busy' }, 1);
    const before = tokenRequests();
    const token = await retryUpstream(({ signal }) => source.accessToken(signal), { initialDelayMs: 10, maxDelayMs: 20 });
    expect(await whoAmI(token)).toBe(ADELE);
    expect(tokenRequests() - before).toBe(2);
  });

  it('reports a closed port as refused and a hung token endpoint as a timeout at the deadline', async () => {
    const port = await freePort();
    const closed = new DelegatedTokenSource({ refreshToken: 'x' }, undefined, { microsoft: { ...microsoft, loginRoot: `https://127.0.0.1:${port}` } });
    const refused = await failure(closed.accessToken());
    expect(refused).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', failure: 'refused' });
    expect(refused.message).toMatch(/could not be reached \(ECONNREFUSED\)/);

    fake.faults.add({ method: 'POST', path: TOKEN_PATH }, { hang: true }, 1);
    const hung = new DelegatedTokenSource({ refreshToken: fake.refreshToken(ADELE) }, undefined, { microsoft, timeoutMs: 400 });
    const started = Date.now();
    const timedOut = await failure(hung.accessToken());
    expect(timedOut).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', failure: 'timeout', retryable: true });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("ends a caller's wait when its signal aborts, while the shared refresh goes on for the others", async () => {
    fake.faults.add({ method: 'POST', path: TOKEN_PATH }, { delayMs: 300 }, 1);
    const source = new DelegatedTokenSource({ refreshToken: fake.refreshToken(MEGAN) }, undefined, { microsoft });
    const caller = new AbortController();
    const leaving = source.accessToken(caller.signal);
    const staying = source.accessToken();
    caller.abort(new Error('client went away'));
    await expect(leaving).rejects.toThrow('client went away');
    expect(await whoAmI(await staying)).toBe(MEGAN);
    const aborted = new AbortController();
    aborted.abort(new Error('already gone'));
    await expect(source.accessToken(aborted.signal)).rejects.toThrow('already gone');
  });

  it('never puts a token or a secret in an error', async () => {
    const token = fake.refreshToken(ADELE);
    fake.identity.revokeRefreshToken(token);
    const error = await failure(new DelegatedTokenSource({ refreshToken: token }, undefined, { microsoft }).accessToken());
    expect(isGatewayError(error)).toBe(true);
    for (const text of [error.message, JSON.stringify(error)]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(fake.app.clientSecret);
      expect(text).not.toMatch(/provided value for the input parameter/);
    }
  });
});
