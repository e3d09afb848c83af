/**
 * `mailbox connect --provider microsoft-graph` end to end on loopback: the fake identity platform
 * and Graph over HTTPS (test/support/fake-graph, driven by msal-node through the gateway's own
 * code), a real gateway (`startServer`) whose `/oauth/callback` redeems the code, and the CLI (a
 * real process where it waits, in-process otherwise). The browser is played by fetch: open the
 * printed URL, follow the consent's redirect to the gateway's callback, read the page.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { codeChallengeOf, STATE_FORMAT } from '../src/connect/pkce.ts';
import { createStore } from '../src/db/store.ts';
import { createLogger } from '../src/logger.ts';
import { graphTokenSource } from '../src/providers/microsoft-graph/auth.ts';
import { mailboxCredentials } from '../src/providers/registry.ts';
import { startServer } from '../src/server.ts';
import type { Store } from '../src/store/types.ts';
import { cliInProcess as cli, cliSpawn } from './support/cli.ts';
import { aadError, startFakeGraph, type FakeGraph } from './support/fake-graph/index.ts';
import { silentLogger } from './support/logger.ts';
import { mailWithAttachment } from './support/mail.ts';
import { freePort } from './support/net.ts';

const ADELE = 'Adele.Vance@contoso.test';
const MEGAN = 'megan.bowen@contoso.test';
const LYNNE = 'lynne.robbins@contoso.test';
const SECRET = 'msconnect-test-secret-'.padEnd(48, 'x');
const TOKEN_PATH = '/*/oauth2/v2.0/token';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-msconnect-'));
const dataDir = path.join(tmp, 'data');
let fake: FakeGraph;
let env: Record<string, string>;
let publicUrl = '';
let store: Store;
let gateway: { url: string; close(): Promise<void> };
let workspaceId = '';

beforeAll(async () => {
  const port = await freePort();
  publicUrl = `http://127.0.0.1:${port}`;
  fake = await startFakeGraph({ addresses: [ADELE, MEGAN, LYNNE], redirectUris: [`${publicUrl}/oauth/callback`] });
  fake.add(mailWithAttachment({ subject: 'Quarterly numbers', filename: 'q3.xlsx', bytes: Buffer.from('numbers') }), ADELE);
  env = {
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    SIGNING_SECRET: SECRET,
    PUBLIC_URL: publicUrl,
    MS_GRAPH_ROOT: fake.graphRoot,
    MS_LOGIN_ROOT: fake.loginRoot,
    MS_TENANT_ID: fake.tenantId,
    MS_CLIENT_ID: fake.app.clientId,
    MS_CLIENT_SECRET: fake.app.clientSecret,
  };
  expect((await cli(['workspace', 'create', 'ms'], env)).code).toBe(0);
  const config = loadConfig({ ...env, PORT: String(port), LOG_LEVEL: 'silent' });
  store = createStore(config, SECRET);
  await store.migrate();
  workspaceId = (await store.findWorkspaceByName('ms'))!.id;
  gateway = await startServer({ config, store, logger: createLogger('silent'), secret: SECRET });
}, 30_000);

afterAll(async () => {
  await gateway?.close();
  await store?.close();
  await fake?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface Page {
  status: number;
  text: string;
}

/** Opens a consent URL at the fake (which answers with its redirect) and follows the redirect to the gateway. */
async function follow(consentUrl: string): Promise<Page & { callbackUrl: string }> {
  const consent = await fetch(consentUrl, { redirect: 'manual' });
  expect(consent.status, await consent.clone().text()).toBe(302);
  const callbackUrl = consent.headers.get('location')!;
  expect(callbackUrl.startsWith(`${publicUrl}/oauth/callback?`)).toBe(true);
  const response = await fetch(callbackUrl, { redirect: 'manual' });
  return { callbackUrl, status: response.status, text: await response.text() };
}

/** `mailbox connect --no-wait` in this process: the printed consent URL. */
async function connectNoWait(extra: string[] = []): Promise<string> {
  const result = await cli(['mailbox', 'connect', '--workspace', 'ms', '--provider', 'microsoft-graph', '--no-wait', ...extra], env);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.trim();
}

/** Runs `body` with the fake's consent page behaving as `consent`, then restores approval. */
async function withConsent(consent: FakeGraph['identity']['consent'], body: () => Promise<void>): Promise<void> {
  fake.identity.consent = consent;
  try {
    await body();
  } finally {
    fake.identity.consent = { decision: 'approve' };
  }
}

const graphMailboxes = async () => (await store.listMailboxes(workspaceId)).filter((m) => m.provider === 'MICROSOFT_GRAPH');
const tokenCalls = () => fake.requests.filter((r) => r.kind === 'token').length;
const errorOf = async (url: string) => (await store.consents.findByState(new URL(url).searchParams.get('state')!))?.error;

/** A token of the stored mailbox through the provider's own token source, and whom Graph says it speaks for. */
async function meThroughStoredToken(mailboxId: string): Promise<string> {
  const mailbox = (await store.getMailbox(workspaceId, mailboxId))!;
  const microsoft = { graphRoot: fake.graphRoot, loginRoot: fake.loginRoot, tenantId: fake.tenantId, clientId: fake.app.clientId, clientSecret: fake.app.clientSecret };
  const source = graphTokenSource(mailbox, { dataDir, logger: silentLogger(), microsoft, credentials: mailboxCredentials(store, mailbox, silentLogger()) });
  const token = await source.accessToken();
  const me = await fetch(`${fake.serviceRoot}/me/mailFolders/inbox`, { headers: { authorization: `Bearer ${token}` } });
  expect(me.status).toBe(200);
  const profile = (await (await fetch(`${fake.serviceRoot}/me`, { headers: { authorization: `Bearer ${token}` } })).json()) as { userPrincipalName: string };
  return profile.userPrincipalName;
}

describe('mailbox connect --provider microsoft-graph', () => {
  it('prints the consent URL, waits, and prints the mailbox the callback stored, delegated, whose refresh token works', async () => {
    const run = cliSpawn(['mailbox', 'connect', '--workspace', 'ms', '--provider', 'microsoft-graph', '--address', ADELE, '--display-name', 'Adele'], env);
    const url = new URL((await run.waitFor('stdout', /^(http\S+)\n/))[1]!);
    await run.waitFor('stderr', /Waiting for the consent/);
    expect(`${url.origin}${url.pathname}`).toBe(`${fake.authority}/oauth2/v2.0/authorize`);
    const p = url.searchParams;
    expect(Object.fromEntries([...p].filter(([k]) => !['state', 'code_challenge'].includes(k)))).toEqual({
      client_id: fake.app.clientId,
      response_type: 'code',
      redirect_uri: `${publicUrl}/oauth/callback`,
      response_mode: 'query',
      scope: 'openid profile offline_access https://graph.microsoft.com/Mail.Read https://graph.microsoft.com/User.Read',
      prompt: 'select_account',
      code_challenge_method: 'S256',
      login_hint: ADELE,
    });
    const state = p.get('state')!;
    expect(state).toMatch(STATE_FORMAT);
    expect(p.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const page = await follow(url.toString());
    expect(page.status, page.text).toBe(200);
    // The account is known by its mail and its sign-in name; the one asked for is kept.
    expect(page.text).toContain(`The Microsoft 365 mailbox ${ADELE} is connected to the gateway.`);
    const code = new URL(page.callbackUrl).searchParams.get('code')!;
    for (const secret of [state, code, fake.app.clientSecret]) expect(page.text).not.toContain(secret);

    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    const [printedUrl, mailboxId, ...more] = result.stdout.trimEnd().split('\n');
    expect(printedUrl).toBe(url.toString());
    expect(more).toEqual([]);
    expect(result.stderr).toContain(`Microsoft 365 sends the browser back to ${publicUrl}/oauth/callback`);
    expect(result.stderr).toContain(`Connected Microsoft 365 mailbox ${ADELE} (${mailboxId}) to workspace ms`);

    const stored = (await store.getMailbox(workspaceId, mailboxId!))!;
    expect(stored).toMatchObject({ provider: 'MICROSOFT_GRAPH', address: ADELE, displayName: 'Adele', settings: { mode: 'delegated' } });
    expect(Object.keys(stored.credentials!)).toEqual(['refreshToken']);
    const raw = fs.readFileSync(path.join(dataDir, 'gateway.sqlite')).toString('latin1');
    expect(raw).not.toContain(stored.credentials!.refreshToken!);
    expect(await meThroughStoredToken(mailboxId!)).toBe(ADELE);
    // The connected mailbox answers through the gateway's API.
    const key = (await cli(['key', 'create', '--workspace', 'ms'], env)).stdout.trim();
    const answer = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: '{ mailboxes { address provider conversations(first: 5) { edges { node { subject attachments { filename } } } } } }' }),
    });
    const listed = (await answer.json()) as { data: { mailboxes: { address: string; provider: string; conversations: { edges: { node: unknown }[] } }[] }; errors?: unknown };
    expect(listed.errors).toBeUndefined();
    expect(listed.data.mailboxes.find((m) => m.address === ADELE)).toEqual({
      address: ADELE,
      provider: 'MICROSOFT_GRAPH',
      conversations: { edges: [{ node: { subject: 'Quarterly numbers', attachments: [{ filename: 'q3.xlsx' }] } }] },
    });

    const again = await fetch(page.callbackUrl);
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('This consent link was already used');
  }, 30_000);

  it('a denied consent answers 400 in words, records the refusal and stores nothing', async () => {
    await withConsent({ decision: 'deny' }, async () => {
      const calls = tokenCalls();
      const url = await connectNoWait(['--address', MEGAN]);
      const page = await follow(url);
      expect(page.status).toBe(400);
      expect(page.text).toContain('Microsoft 365: the account owner did not allow the gateway to read the mailbox.');
      expect(page.text).not.toContain('AADSTS65004');
      expect(tokenCalls()).toBe(calls);
      expect(await errorOf(url)).toMatch(/^Microsoft 365 connect failed \(denied\)/);
      expect((await graphMailboxes()).map((m) => m.address)).toEqual([ADELE]);
    });
  });

  it('another account than --address: 400 page, the waiting command exits 3 with the refusal, nothing stored', async () => {
    await withConsent({ decision: 'approve', address: LYNNE }, async () => {
      let browser: Promise<Page> | null = null;
      const result = await cli(['mailbox', 'connect', '--workspace', 'ms', '--provider', 'microsoft-graph', '--address', MEGAN], env, ({ stdout }) => {
        const printed = /^(http\S+)\n/.exec(stdout);
        if (printed && !browser) browser = follow(printed[1]!);
      });
      const page = await browser!;
      expect(page.status).toBe(400);
      expect(page.text).toContain(`the account that consented is ${LYNNE}, not ${MEGAN}`);
      expect(result.code).toBe(3);
      expect(result.stderr).toContain(`attachment-gateway: error: Microsoft 365 connect failed (address): the account that consented is ${LYNNE}, not ${MEGAN}`);
      expect((await graphMailboxes()).map((m) => m.address)).toEqual([ADELE]);
    });
  }, 30_000);

  it('offline_access not granted: no refresh token, refused (502) in words, nothing stored', async () => {
    await withConsent({ decision: 'approve', address: MEGAN, withheld: ['offline_access'] }, async () => {
      const url = await connectNoWait(['--address', MEGAN]);
      const page = await follow(url);
      expect(page.status).toBe(502);
      expect(page.text).toContain('Microsoft issued no refresh token (offline_access');
      expect(await errorOf(url)).toMatch(/^Microsoft 365 connect failed \(offline\)/);
      expect((await graphMailboxes()).map((m) => m.address)).toEqual([ADELE]);
    });
  });

  it('Mail.Read not granted: refused (400) before any Graph read', async () => {
    await withConsent({ decision: 'approve', address: MEGAN, withheld: ['Mail.Read'] }, async () => {
      fake.requests.length = 0;
      const url = await connectNoWait(['--address', MEGAN]);
      const page = await follow(url);
      expect(page.status).toBe(400);
      expect(page.text).toContain('read access to the mailbox (Mail.Read) was not granted');
      expect(fake.graphCalls()).toEqual([]);
      expect(await errorOf(url)).toMatch(/^Microsoft 365 connect failed \(scope\)/);
    });
  });

  it('a code_verifier that does not match the challenge is refused by Microsoft: 502 in words, never its text', async () => {
    const url = new URL(await connectNoWait(['--address', MEGAN]));
    url.searchParams.set('code_challenge', codeChallengeOf(crypto.randomBytes(32).toString('base64url')));
    const page = await follow(url.toString());
    expect(page.status).toBe(502);
    expect(page.text).toContain('Microsoft refused the authorization code (invalid_grant, AADSTS501481: the PKCE code_verifier does not match the code_challenge); connect again');
    expect(page.text).not.toContain('Code_Verifier does not match');
    expect(await errorOf(url.toString())).toMatch(/^Microsoft 365 connect failed \(credentials\)/);
  });

  it('an AADSTS error of the token endpoint is shown in words, never Microsoft text', async () => {
    const expired = aadError('invalid_client', 7000222, `The provided client secret keys for app '${fake.app.clientId}' are expired. Visit the Azure portal to create new keys.`);
    fake.faults.add({ path: TOKEN_PATH, method: 'POST' }, { status: expired.status, body: expired.body }, 1);
    const url = await connectNoWait(['--address', MEGAN]);
    const page = await follow(url);
    expect(page.status).toBe(502);
    expect(page.text).toContain('AADSTS7000222: the client secret has expired');
    expect(page.text).toContain('check MS_CLIENT_ID, MS_CLIENT_SECRET');
    expect(page.text).not.toContain('Azure portal');
    expect(await errorOf(url)).not.toContain('Azure portal');
    expect((await graphMailboxes()).map((m) => m.address)).toEqual([ADELE]);
  });

  it('re-consent of a mailbox marked needs-reconsent updates the same mailbox and clears the mark; an application-mode mailbox becomes delegated', async () => {
    const [adele] = await graphMailboxes();
    const before = (await store.getMailbox(workspaceId, adele!.id))!.credentials!.refreshToken!;
    fake.identity.revokeUser(ADELE);
    await store.markNeedsReconsent(workspaceId, adele!.id, 'Microsoft refused the grant (invalid_grant, AADSTS50173)');
    expect((await cli(['mailbox', 'list', '--workspace', 'ms'], env)).stdout).toMatch(/needs-reconsent/);

    const page = await follow(await connectNoWait(['--address', ADELE.toLowerCase()]));
    expect(page.status, page.text).toBe(200);
    expect(page.text).toContain('is connected to the gateway again: its new grant replaces the revoked one');
    const after = (await graphMailboxes()).find((m) => m.id === adele!.id);
    expect(after).toMatchObject({ needsReconsentAt: null, reconsentReason: null, displayName: 'Adele' });
    expect((await store.getMailbox(workspaceId, adele!.id))!.credentials!.refreshToken).not.toBe(before);
    expect(await meThroughStoredToken(adele!.id)).toBe(ADELE);

    const added = await cli(['mailbox', 'add', '--workspace', 'ms', '--provider', 'microsoft-graph', '--app-only', '--address', MEGAN], env);
    expect(added.code, added.stderr).toBe(0);
    const meganId = added.stdout.trim();
    const connected = await follow(await connectNoWait(['--address', MEGAN]));
    expect(connected.status, connected.text).toBe(200);
    const megan = (await store.getMailbox(workspaceId, meganId))!;
    expect(megan.settings).toEqual({ mode: 'delegated' });
    expect(Object.keys(megan.credentials!)).toEqual(['refreshToken']);
    expect(await meThroughStoredToken(meganId)).toBe(MEGAN);
    expect(await graphMailboxes()).toHaveLength(2);
  }, 20_000);

  it('a gateway without the Microsoft app registration records the refusal (config, 502) and stores nothing', async () => {
    const { MS_CLIENT_SECRET: _secret, ...withoutSecret } = env;
    const bare = await startServer({ config: loadConfig({ ...withoutSecret, PORT: '0', LOG_LEVEL: 'silent' }), store, logger: createLogger('silent'), secret: SECRET });
    try {
      const calls = tokenCalls();
      const consent = await fetch(await connectNoWait(['--address', LYNNE]), { redirect: 'manual' });
      const callback = new URL(consent.headers.get('location')!);
      const response = await fetch(`${bare.url}${callback.pathname}${callback.search}`);
      expect(response.status).toBe(502);
      expect(await response.text()).toContain('this gateway has no Microsoft app registration');
      expect(await errorOf(callback.toString())).toMatch(/^Microsoft 365 connect failed \(config\)/);
      expect(tokenCalls()).toBe(calls);
      expect((await graphMailboxes()).map((m) => m.address)).not.toContain(LYNNE);
    } finally {
      await bare.close();
    }
  });

  it('refuses --app-only in words and a missing app registration (exit 2) before anything', async () => {
    const appOnly = await cli(['mailbox', 'connect', '--workspace', 'ms', '--provider', 'microsoft-graph', '--app-only'], env);
    expect(appOnly.code).toBe(2);
    expect(appOnly.stdout).toBe('');
    expect(appOnly.stderr).toContain('--app-only is not a connect mode: application mode');
    expect(appOnly.stderr).toContain('mailbox add --provider microsoft-graph --app-only');

    const { MS_CLIENT_SECRET: _secret, ...withoutSecret } = env;
    const refused = await cli(['mailbox', 'connect', '--workspace', 'ms', '--provider', 'microsoft-graph'], withoutSecret);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/MS_CLIENT_SECRET is not set/);
  });
});
