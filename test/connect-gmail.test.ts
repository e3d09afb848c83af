/**
 * `mailbox connect --provider gmail` end to end on loopback: the fake Google consent and token
 * endpoints (test/support/fake-gmail), a real gateway (`startServer`) whose `/oauth/callback`
 * finishes the flow, and the CLI (a real process where it waits or is interrupted, in-process
 * otherwise). The browser is played by fetch: open the printed URL, follow Google's redirect to
 * the gateway's callback, read the page.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { codeChallengeOf, STATE_FORMAT } from '../src/connect/pkce.ts';
import { createCredentialCipher } from '../src/db/credentials.ts';
import { verifierBinding } from '../src/db/consents.ts';
import { createStore } from '../src/db/store.ts';
import { createLogger } from '../src/logger.ts';
import { startServer } from '../src/server.ts';
import type { Store } from '../src/store/types.ts';
import { cliInProcess as cli, cliSpawn } from './support/cli.ts';
import { startFakeGmail, type FakeGmail } from './support/fake-gmail/index.ts';
import { mailWithAttachment } from './support/mail.ts';
import { freePort } from './support/net.ts';

const OWNER = 'Owner@Fake-Gmail.test';
const OTHER = 'other@fake-gmail.test';
const THIRD = 'third@fake-gmail.test';
const SECRET = 'connect-test-secret-'.padEnd(48, 'x');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-connect-'));
const dataDir = path.join(tmp, 'data');
let fake: FakeGmail;
let env: Record<string, string>;
let publicUrl = '';
let store: Store;
let gateway: { url: string; close(): Promise<void> };
let workspaceId = '';

beforeAll(async () => {
  const port = await freePort();
  publicUrl = `http://127.0.0.1:${port}`;
  fake = await startFakeGmail({ addresses: [OWNER, OTHER, THIRD], redirectUris: [`${publicUrl}/oauth/callback`] });
  fake.add(mailWithAttachment({ subject: 'Quarterly report', filename: 'report.pdf', contentType: 'application/pdf', bytes: Buffer.from('%PDF-1.4 fake report bytes') }));
  env = {
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    SIGNING_SECRET: SECRET,
    PUBLIC_URL: publicUrl,
    GOOGLE_API_ROOT: fake.origin,
    GOOGLE_TOKEN_URL: fake.tokenUrl,
    GOOGLE_AUTH_URL: fake.authUrl,
    GOOGLE_CLIENT_ID: fake.client.clientId,
    GOOGLE_CLIENT_SECRET: fake.client.clientSecret,
  };
  expect((await cli(['workspace', 'create', 'cn'], env)).code).toBe(0);
  const config = loadConfig({ ...env, PORT: String(port), LOG_LEVEL: 'silent' });
  store = createStore(config, SECRET);
  await store.migrate();
  workspaceId = (await store.findWorkspaceByName('cn'))!.id;
  gateway = await startServer({ config, store, logger: createLogger('silent'), secret: SECRET });
}, 30_000);

afterAll(async () => {
  await gateway?.close();
  await store?.close();
  await fake?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** What the browser saw: Google's redirect to the callback, and the callback's page. */
interface Followed {
  callbackUrl: string;
  status: number;
  headers: Headers;
  text: string;
}

/** Opens a consent URL at the fake Google (which answers with its redirect) and follows the redirect to the gateway. */
async function follow(consentUrl: string): Promise<Followed> {
  const consent = await fetch(consentUrl, { redirect: 'manual' });
  expect(consent.status, await consent.clone().text()).toBe(302);
  const callbackUrl = consent.headers.get('location')!;
  expect(callbackUrl.startsWith(`${publicUrl}/oauth/callback?`)).toBe(true);
  return { callbackUrl, ...(await open(callbackUrl)) };
}

async function open(url: string): Promise<Omit<Followed, 'callbackUrl'>> {
  const response = await fetch(url, { redirect: 'manual' });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** `mailbox connect --no-wait` in this process: the printed consent URL. */
async function connectNoWait(extra: string[] = []): Promise<string> {
  const result = await cli(['mailbox', 'connect', '--workspace', 'cn', '--provider', 'gmail', '--no-wait', ...extra], env);
  expect(result.code, result.stderr).toBe(0);
  const lines = result.stdout.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

/** Every row of `oauth_consents`, read behind the store's back. */
function consentRows(): Record<string, unknown>[] {
  const db = new SqliteDatabase(path.join(dataDir, 'gateway.sqlite'), { readonly: true });
  try {
    return db.prepare('SELECT * FROM oauth_consents').all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

function expectSafePage(page: Omit<Followed, 'callbackUrl'>, ...secrets: string[]): void {
  expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(page.headers.get('cache-control')).toBe('no-store');
  expect(page.headers.get('referrer-policy')).toBe('no-referrer');
  expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'none'/);
  for (const secret of [...secrets, fake.client.clientSecret]) expect(page.text).not.toContain(secret);
}

async function graphql(query: string): Promise<{ data?: unknown; errors?: unknown[] }> {
  const { key } = await store.createApiKey(workspaceId);
  const response = await fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ query }) });
  return (await response.json()) as never;
}

const gmailMailboxes = async () => (await store.listMailboxes(workspaceId)).filter((m) => m.provider === 'GMAIL');

describe('mailbox connect --provider gmail', () => {
  it('prints the consent URL, waits, and prints the mailbox the callback stored; the mailbox lists its conversations; the state works once', async () => {
    const run = cliSpawn(['mailbox', 'connect', '--workspace', 'cn', '--provider', 'gmail', '--address', OWNER, '--display-name', 'Owner'], env);
    const url = new URL((await run.waitFor('stdout', /^(http\S+)\n/))[1]!);
    await run.waitFor('stderr', /Waiting for the consent/);
    const p = url.searchParams;
    expect(`${url.origin}${url.pathname}`).toBe(fake.authUrl);
    expect(Object.fromEntries([...p].filter(([k]) => !['state', 'code_challenge'].includes(k)))).toEqual({
      client_id: fake.client.clientId,
      redirect_uri: `${publicUrl}/oauth/callback`,
      response_type: 'code',
      scope: 'https://www.googleapis.com/auth/gmail.readonly',
      access_type: 'offline',
      prompt: 'consent',
      include_granted_scopes: 'true',
      code_challenge_method: 'S256',
      login_hint: OWNER,
    });
    const state = p.get('state')!;
    expect(state).toMatch(STATE_FORMAT);
    expect(p.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const page = await follow(url.toString());
    const code = new URL(page.callbackUrl).searchParams.get('code')!;
    expect(page.status, page.text).toBe(200);
    expect(page.text).toContain(`The Gmail mailbox ${OWNER} is connected to the gateway.`);
    expectSafePage(page, state, code);

    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    const [printedUrl, mailboxId, ...more] = result.stdout.trimEnd().split('\n');
    expect(printedUrl).toBe(url.toString());
    expect(more).toEqual([]);
    expect(result.stderr).toContain(`sends the browser back to ${publicUrl}/oauth/callback`);
    expect(result.stderr).toMatch(new RegExp(`Connected Gmail mailbox ${OWNER} \\(${mailboxId}\\) to workspace cn`));

    const [mailbox] = await gmailMailboxes();
    expect(mailbox).toMatchObject({ id: mailboxId, address: OWNER, displayName: 'Owner', needsReconsentAt: null });
    const refreshToken = (await store.getMailbox(workspaceId, mailboxId!))?.credentials?.refreshToken;
    expect(refreshToken).toMatch(/^1\/\/0/);
    expect(Object.keys((await store.getMailbox(workspaceId, mailboxId!))!.credentials!)).toEqual(['refreshToken']);

    // The row keeps the state's digest and an encrypted verifier whose challenge is the URL's.
    const rows = consentRows();
    const row = rows.find((r) => r.state_hash === crypto.createHash('sha256').update(state).digest('hex'))!;
    expect(row).toMatchObject({ mailbox_id: mailboxId, error: null });
    const verifier = createCredentialCipher(SECRET).decrypt(verifierBinding(String(row.id)), String(row.code_verifier)).codeVerifier!;
    expect(codeChallengeOf(verifier)).toBe(p.get('code_challenge'));
    const raw = JSON.stringify(rows) + fs.readFileSync(path.join(dataDir, 'gateway.sqlite')).toString('latin1');
    for (const secret of [state, verifier, refreshToken!]) expect(raw).not.toContain(secret);

    const body = await graphql('{ mailboxes { address provider conversations(first: 10) { edges { node { subject attachments { filename size } } } } } }');
    expect(body).toEqual({ data: { mailboxes: [{ address: OWNER, provider: 'GMAIL', conversations: { edges: [{ node: { subject: 'Quarterly report', attachments: [{ filename: 'report.pdf', size: 26 }] } }] } }] } });

    // The same callback again (a reload, or someone who saw the URL): refused, nothing changes.
    const tokenCalls = fake.requests.filter((r) => r.path === '/token').length;
    const again = await open(page.callbackUrl);
    expect(again.status).toBe(400);
    expect(again.text).toContain('This consent link was already used');
    expectSafePage(again, state, code);
    expect(fake.requests.filter((r) => r.path === '/token').length).toBe(tokenCalls);
    expect(await gmailMailboxes()).toHaveLength(1);
  }, 40_000);

  it('a denied consent answers 400 in words, records the refusal and stores nothing', async () => {
    fake.oauth.consent = { decision: 'deny' };
    try {
      const url = await connectNoWait();
      const page = await follow(url);
      expect(new URL(page.callbackUrl).searchParams.get('error')).toBe('access_denied');
      expect(page.status).toBe(400);
      expect(page.text).toContain('Gmail: the account owner did not allow the gateway to read the mailbox.');
      expectSafePage(page);
      const state = new URL(url).searchParams.get('state')!;
      expect(await store.consents.findByState(state)).toMatchObject({ state: 'failed', error: 'Gmail connect failed (denied): the account owner did not allow the gateway to read the mailbox' });
      expect(await gmailMailboxes()).toHaveLength(1);
    } finally {
      fake.oauth.consent = { decision: 'approve' };
    }
  });

  it('another error from the provider is named only when it looks like an OAuth error code; nothing of the request is echoed as HTML', async () => {
    const state = new URL(await connectNoWait()).searchParams.get('state')!;
    const scoped = await open(`${publicUrl}/oauth/callback?state=${state}&error=invalid_scope`);
    expect(scoped.status).toBe(400);
    expect(scoped.text).toContain('Gmail: the provider refused the authorization request (invalid_scope).');

    const other = new URL(await connectNoWait()).searchParams.get('state')!;
    const hostile = await open(`${publicUrl}/oauth/callback?state=${other}&error=${encodeURIComponent('<script>alert(1)</script>')}&error_description=${encodeURIComponent('<img src=x>')}`);
    expect(hostile.status).toBe(400);
    expect(hostile.text).toContain('(an unknown error)');
    expect(hostile.text).not.toMatch(/<script|<img|alert/);
  });

  it('another account than --address: 400 page, the waiting command exits 3 with the refusal, nothing stored', async () => {
    fake.oauth.consent = { decision: 'approve', address: OTHER };
    try {
      // In this process (the waiting command's real process is tested above): the browser acts on the printed URL.
      let browser: Promise<Followed> | null = null;
      const result = await cli(['mailbox', 'connect', '--workspace', 'cn', '--provider', 'gmail', '--address', OWNER], env, ({ stdout }) => {
        const printed = /^(http\S+)\n/.exec(stdout);
        if (printed && !browser) browser = follow(printed[1]!);
      });
      const url = result.stdout.split('\n')[0]!;
      const page = await browser!;
      expect(page.status).toBe(400);
      expect(page.text).toContain(`the account that consented is ${OTHER}, not ${OWNER}`);
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(new RegExp(`attachment-gateway: error: Gmail connect failed \\(address\\): the account that consented is ${OTHER}, not ${OWNER}`));
      expect(result.stdout.trimEnd().split('\n')).toEqual([url]);
      expect((await gmailMailboxes()).map((m) => m.address)).toEqual([OWNER]);
    } finally {
      fake.oauth.consent = { decision: 'approve' };
    }
  }, 40_000);

  it('a read scope left unchecked on the consent screen is refused (400)', async () => {
    fake.oauth.consent = { decision: 'approve', address: THIRD, scopes: [] };
    try {
      const page = await follow(await connectNoWait(['--address', THIRD]));
      expect(page.status).toBe(400);
      expect(page.text).toContain('read access to Gmail (gmail.readonly) was not granted');
      expect((await gmailMailboxes()).map((m) => m.address)).toEqual([OWNER]);
    } finally {
      fake.oauth.consent = { decision: 'approve' };
    }
  });

  it('an expired consent is refused (400) without a code exchange', async () => {
    const url = await connectNoWait();
    const state = new URL(url).searchParams.get('state')!;
    const db = new SqliteDatabase(path.join(dataDir, 'gateway.sqlite'));
    try {
      db.prepare('UPDATE oauth_consents SET expires_at = ? WHERE state_hash = ?').run(new Date(Date.now() - 1000).toISOString(), crypto.createHash('sha256').update(state).digest('hex'));
    } finally {
      db.close();
    }
    const tokenCalls = fake.requests.filter((r) => r.path === '/token').length;
    const page = await follow(url);
    expect(page.status).toBe(400);
    expect(page.text).toContain('This consent link has expired');
    expect(fake.requests.filter((r) => r.path === '/token').length).toBe(tokenCalls);
    expect((await store.consents.findByState(state))?.state).toBe('expired');
  });

  it('a code_verifier that does not match the challenge is refused by Google: 502 in words, never its body', async () => {
    const url = new URL(await connectNoWait());
    // The browser's URL carries another challenge than the one of the stored verifier.
    url.searchParams.set('code_challenge', codeChallengeOf(crypto.randomBytes(32).toString('base64url')));
    const page = await follow(url.toString());
    expect(page.status).toBe(502);
    expect(page.text).toContain('Google refused the authorization code (invalid_grant: expired, already used, or the PKCE code_verifier does not match)');
    expect(page.text).not.toContain('Invalid code verifier');
    expect((await store.consents.findByState(url.searchParams.get('state')!))?.error).toMatch(/^Gmail connect failed \(credentials\)/);
  });

  it('re-consent of a mailbox marked needs-reconsent updates the same mailbox and clears the mark', async () => {
    const [mailbox] = await gmailMailboxes();
    const before = (await store.getMailbox(workspaceId, mailbox!.id))!.credentials!.refreshToken!;
    fake.oauth.revoke(before);
    await store.markNeedsReconsent(workspaceId, mailbox!.id, 'Google refused the refresh token (invalid_grant)');
    expect((await cli(['mailbox', 'list', '--workspace', 'cn'], env)).stdout).toMatch(/needs-reconsent/);

    const page = await follow(await connectNoWait(['--address', OWNER.toLowerCase()]));
    expect(page.status, page.text).toBe(200);
    expect(page.text).toContain('is connected to the gateway again: its new grant replaces the revoked one');
    const after = await gmailMailboxes();
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ id: mailbox!.id, needsReconsentAt: null, reconsentReason: null, displayName: 'Owner' });
    const fresh = (await store.getMailbox(workspaceId, mailbox!.id))!.credentials!.refreshToken!;
    expect(fresh).not.toBe(before);
    const body = await graphql('{ mailboxes { needsReconsent conversations(first: 1) { edges { node { subject } } } } }');
    expect(body).toEqual({ data: { mailboxes: [{ needsReconsent: false, conversations: { edges: [{ node: { subject: 'Quarterly report' } }] } }] } });
  });

  it('refuses made-up and missing states with 400, other methods with 405, and writes nothing for them', async () => {
    const before = JSON.stringify(consentRows());
    const cases = ['', '?code=x', '?state=short&code=x', `?state=${crypto.randomBytes(32).toString('base64url')}&code=x`, `?state=${crypto.randomBytes(32).toString('base64url')}&error=access_denied`];
    for (const query of cases) {
      const page = await open(`${gateway.url}/oauth/callback${query}`);
      expect(page.status, query).toBe(400);
      expectSafePage(page);
      expect(page.text).toMatch(/no valid state|is unknown/);
    }
    const post = await fetch(`${gateway.url}/oauth/callback`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
    expect(JSON.stringify(consentRows())).toBe(before);
  });

  it('two gateway instances on one database get the same callback at once: one stores the mailbox, the other refuses', async () => {
    const second = await startServer({ config: loadConfig({ ...env, PORT: '0', LOG_LEVEL: 'silent' }), store, logger: createLogger('silent'), secret: SECRET });
    try {
      fake.oauth.consent = { decision: 'approve', address: OTHER };
      const consent = await fetch(await connectNoWait(['--address', OTHER]), { redirect: 'manual' });
      const callback = new URL(consent.headers.get('location')!);
      const pages = await Promise.all([open(callback.toString()), open(`${second.url}${callback.pathname}${callback.search}`)]);
      expect(pages.map((p) => p.status).sort()).toEqual([200, 400]);
      expect((await gmailMailboxes()).filter((m) => m.address === OTHER)).toHaveLength(1);
    } finally {
      fake.oauth.consent = { decision: 'approve' };
      await second.close();
    }
  });

  it('a gateway without the Google OAuth client records the refusal (config, 502) instead of failing the consent silently', async () => {
    const { GOOGLE_CLIENT_SECRET: _secret, ...withoutSecret } = env;
    const bare = await startServer({ config: loadConfig({ ...withoutSecret, PORT: '0', LOG_LEVEL: 'silent' }), store, logger: createLogger('silent'), secret: SECRET });
    try {
      const consent = await fetch(await connectNoWait(), { redirect: 'manual' });
      const callback = new URL(consent.headers.get('location')!);
      const page = await open(`${bare.url}${callback.pathname}${callback.search}`);
      expect(page.status).toBe(502);
      expect(page.text).toContain('this gateway has no Google OAuth client');
      expect((await store.consents.findByState(callback.searchParams.get('state')!))?.error).toMatch(/^Gmail connect failed \(config\)/);
    } finally {
      await bare.close();
    }
  });

  it('Ctrl-C while waiting cancels the consent: exit 130, and its link no longer works', async () => {
    const run = cliSpawn(['mailbox', 'connect', '--workspace', 'cn', '--provider', 'gmail'], env);
    const url = (await run.waitFor('stdout', /^(http\S+)\n/))[1]!;
    await run.waitFor('stderr', /Waiting for the consent/);
    run.child.kill('SIGINT');
    const result = await run.done;
    expect(result.code, result.stderr).toBe(130);
    expect(result.stderr).toContain('attachment-gateway: interrupted: the consent was cancelled, its link no longer works');
    const page = await follow(url);
    expect(page.status).toBe(400);
    expect(page.text).toContain('This consent link is unknown');
  }, 40_000);

  it('gives up after --timeout (exit 3) and cancels the consent; refuses a missing OAuth client (exit 2) before anything', async () => {
    const result = await cli(['mailbox', 'connect', '--workspace', 'cn', '--provider', 'gmail', '--timeout', '1'], env);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/Gmail connect failed \(timeout\): no consent arrived within 1 s \(--timeout\); the link no longer works/);
    const page = await follow(result.stdout.trim());
    expect(page.status).toBe(400);
    expect(page.text).toContain('is unknown');

    const { GOOGLE_CLIENT_SECRET: _secret, ...withoutSecret } = env;
    const refused = await cli(['mailbox', 'connect', '--workspace', 'cn', '--provider', 'gmail'], withoutSecret);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/GOOGLE_CLIENT_SECRET is not set/);
    expect((await cli(['mailbox', 'connect', '--workspace', 'cn', '--provider', 'gmail', '--address', 'not an address'], env)).code).toBe(2);
    const remote = await cli(['mailbox', 'connect', '--workspace', 'cn', '--provider', 'gmail', '--no-wait'], { ...env, PUBLIC_URL: 'http://gateway.example.org' });
    expect(remote.code).toBe(0);
    expect(remote.stderr).toContain('warning: http://gateway.example.org/oauth/callback is plain http to a non-loopback host');
  }, 20_000);
});
