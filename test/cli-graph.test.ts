/**
 * `mailbox add | update | test | list` for Microsoft Graph against the fake identity platform and
 * Graph over HTTPS: a mailbox is stored only after its token (a user's refresh token, or the
 * app's own with `--app-only`) was issued, the account was `--address` (delegated) and its inbox
 * was read; each failure is one line naming what failed, exit 3 (2 for configuration and flag
 * mistakes, refused before anything is read), nothing stored and no token printed. A refused grant
 * met by the provider's token source shows in `mailbox list` and in GraphQL `Mailbox.needsReconsent`
 * until `mailbox update` stores a checked new token.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { createStore } from '../src/db/store.ts';
import { createLogger } from '../src/logger.ts';
import { graphTokenSource } from '../src/providers/microsoft-graph/auth.ts';
import { mailboxCredentials } from '../src/providers/registry.ts';
import { resolveSigningSecret } from '../src/secret.ts';
import { startServer } from '../src/server.ts';
import { cliInProcess as cli, cliProcess, type CliResult } from './support/cli.ts';
import { startFakeGraph, type FakeGraph } from './support/fake-graph/index.ts';
import { silentLogger } from './support/logger.ts';
import { freePort } from './support/net.ts';

const ADELE = 'Adele.Vance@contoso.test';
const MEGAN = 'megan.bowen@contoso.test';
const NOT_GRANTED = 'lynne.robbins@contoso.test';
const TOKEN_PATH = '/*/oauth2/v2.0/token';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-graphcli-'));
let fake: FakeGraph;
let env: Record<string, string>;

beforeAll(async () => {
  fake = await startFakeGraph({ addresses: [ADELE.toLowerCase(), MEGAN, NOT_GRANTED] });
  fake.grantAppAccess(NOT_GRANTED, false);
  env = {
    DATA_DIR: path.join(tmp, 'data'),
    LOG_LEVEL: 'warn',
    SIGNING_SECRET: 'graphcli-test-secret-'.padEnd(48, 'x'),
    MS_GRAPH_ROOT: fake.graphRoot,
    MS_LOGIN_ROOT: fake.loginRoot,
    MS_TENANT_ID: fake.tenantId,
    MS_CLIENT_ID: fake.app.clientId,
    MS_CLIENT_SECRET: fake.app.clientSecret,
  };
  expect((await cli(['workspace', 'create', 'ms'], env)).code).toBe(0);
}, 30_000);

afterAll(async () => {
  await fake?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface Listed {
  id: string;
  provider: string;
  address: string | null;
  settings: Record<string, unknown>;
  needsReconsentAt: string | null;
  reconsentReason: string | null;
}

/** The mailboxes stored in workspace `ms`. */
async function stored(): Promise<Listed[]> {
  return JSON.parse((await cli(['mailbox', 'list', '--workspace', 'ms', '--json'], env)).stdout) as Listed[];
}

/** Expects a refusal: the exit code, one line on stderr matching `line`, nothing on stdout, no token or secret shown. */
function expectRefused(result: CliResult, code: number, line: RegExp, token?: string): void {
  expect(result.code, result.stderr).toBe(code);
  expect(result.stdout).toBe('');
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(line);
  if (token) expect(result.stderr).not.toContain(token);
  expect(result.stderr).not.toContain(fake.app.clientSecret);
}

const add = (extra: string[], more: Record<string, string> = {}) => cli(['mailbox', 'add', '--workspace', 'ms', '--provider', 'microsoft-graph', ...extra], { ...env, ...more });

/** Opens the CLI's store (same DATA_DIR and secret) for `fn`. */
async function withStore<T>(fn: (store: ReturnType<typeof createStore>) => Promise<T>): Promise<T> {
  const config = loadConfig({ ...env, LOG_LEVEL: 'silent' });
  const store = createStore(config, await resolveSigningSecret(config));
  await store.migrate();
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Runs one GraphQL query through a real gateway over the CLI's DATA_DIR (a new API key each time). */
async function queryGateway(query: string): Promise<{ data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] }> {
  const key = (await cli(['key', 'create', '--workspace', 'ms'], env)).stdout.trim();
  const config = loadConfig({ ...env, PORT: '0', LOG_LEVEL: 'silent' });
  const secret = await resolveSigningSecret(config);
  const store = createStore(config, secret);
  await store.migrate();
  const server = await startServer({ config, store, logger: createLogger('silent'), secret });
  try {
    const response = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ query }) });
    return (await response.json()) as never;
  } finally {
    await server.close();
    await store.close();
  }
}

describe('mailbox add --provider microsoft-graph: refusals before anything is read (exit 2)', () => {
  it('refuses a missing app registration, and --app-only on a multi-tenant authority', async () => {
    const before = fake.requests.length;
    const { MS_CLIENT_SECRET: _secret, ...withoutSecret } = env;
    expectRefused(await cli(['mailbox', 'add', '--workspace', 'ms', '--provider', 'microsoft-graph', '--address', ADELE], { ...withoutSecret, MS_REFRESH_TOKEN: 'x' }), 2, /MS_CLIENT_SECRET is not set.*nothing was stored/);
    expectRefused(await add(['--address', ADELE, '--app-only'], { MS_TENANT_ID: 'common' }), 2, /--app-only needs the directory's tenant id or domain in MS_TENANT_ID, not "common"/);
    expectRefused(await add(['--address', ADELE], { MS_LOGIN_ROOT: 'https://login.example.test/tenant' }), 2, /MS_LOGIN_ROOT must be an http\(s\) origin/);
    expect(fake.requests.length).toBe(before);
    expect(await stored()).toEqual([]);
  });

  it('refuses a token argument, a missing token or address, foreign flags and --app-only with a token on stdin', async () => {
    expectRefused(await add(['--address', ADELE, '--refresh-token', 'secret-token-value']), 2, /--refresh-token is refused.*MS_REFRESH_TOKEN/, 'secret-token-value');
    expectRefused(await add(['--address', ADELE]), 2, /No refresh token: set MS_REFRESH_TOKEN or pipe it with --refresh-token-stdin .* or add the mailbox with --app-only/);
    expectRefused(await add([], { MS_REFRESH_TOKEN: 'x' }), 2, /needs --address/);
    expectRefused(await add(['--address', ADELE, '--port', '993'], { MS_REFRESH_TOKEN: 'x' }), 2, /--port does not apply to --provider microsoft-graph/);
    expectRefused(await add(['--address', ADELE, '--app-only', '--refresh-token-stdin']), 2, /--app-only does not take a refresh token/);
    expectRefused(await cli(['mailbox', 'add', '--workspace', 'ms', '--provider', 'gmail', '--address', ADELE, '--app-only'], env), 2, /--app-only applies to --provider microsoft-graph only/);
    expect(await stored()).toEqual([]);
  });
});

describe('mailbox add --provider microsoft-graph: the check (exit 3, nothing stored)', () => {
  it('refuses a revoked refresh token, a wrong client secret and an unknown tenant', async () => {
    const token = fake.refreshToken(ADELE);
    fake.identity.revokeRefreshToken(token);
    expectRefused(await add(['--address', ADELE], { MS_REFRESH_TOKEN: token }), 3, /^attachment-gateway: error: Microsoft Graph check failed \(credentials\): Microsoft refused the refresh token at the identity platform at https:\/\/127\.0\.0\.1:\d+ \(invalid_grant, AADSTS70000: the grant is not valid \(revoked, or issued for another app\)\); nothing was stored \(--no-verify stores it unchecked\)\n$/, token);
    const fresh = fake.refreshToken(ADELE);
    expectRefused(await add(['--address', ADELE], { MS_REFRESH_TOKEN: fresh, MS_CLIENT_SECRET: 'not-the-secret' }), 3, /check failed \(credentials\): .*refused the gateway's app registration \(invalid_client/, fresh);
    expectRefused(await add(['--address', ADELE], { MS_REFRESH_TOKEN: fresh, MS_TENANT_ID: 'unknown.contoso.test' }), 3, /check failed \(not-found\): .*does not know tenant "unknown\.contoso\.test"/, fresh);
    expect(await stored()).toEqual([]);
  });

  it('refuses a refresh token of another account', async () => {
    const token = fake.refreshToken(MEGAN);
    expectRefused(await add(['--address', ADELE], { MS_REFRESH_TOKEN: token }), 3, /check failed \(address\): the refresh token belongs to megan\.bowen@contoso\.test, not Adele\.Vance@contoso\.test/, token);
    expect(await stored()).toEqual([]);
  });

  it('names a closed port (refused) and a hung token endpoint (timeout) within --timeout', async () => {
    const token = fake.refreshToken(ADELE);
    const port = await freePort();
    expectRefused(await add(['--address', ADELE], { MS_REFRESH_TOKEN: token, MS_LOGIN_ROOT: `https://127.0.0.1:${port}` }), 3, /check failed \(refused\): the (token endpoint|identity platform) at https:\/\/127\.0\.0\.1:\d+ could not be reached \(ECONNREFUSED\)/, token);
    fake.faults.add({ method: 'POST', path: TOKEN_PATH }, { hang: true }, 1);
    const started = Date.now();
    expectRefused(await add(['--address', ADELE, '--timeout', '0.5'], { MS_REFRESH_TOKEN: token }), 3, /check failed \(timeout\): the identity platform at .* did not answer within 0\.5 s/, token);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await stored()).toEqual([]);
  });

  it('refuses --app-only for a mailbox the app may not read (consent) or that does not exist (not-found)', async () => {
    expectRefused(await add(['--address', NOT_GRANTED, '--app-only']), 3, /check failed \(consent\): Microsoft Graph at .* does not let the app read .*\(HTTP 403 ErrorAccessDenied\); grant Mail\.Read/);
    expectRefused(await add(['--address', 'nobody@contoso.test', '--app-only']), 3, /check failed \(not-found\): Microsoft Graph at .* has no /);
    expect(await stored()).toEqual([]);
  });
});

describe('stored Microsoft Graph mailboxes', () => {
  let delegatedId = '';

  it('stores a checked delegated mailbox with the rotated refresh token; mailbox test redeems it', async () => {
    fake.identity.rotation = 'revoke';
    try {
      const token = fake.refreshToken(ADELE);
      const result = await add(['--address', ADELE, '--display-name', 'Adele'], { MS_REFRESH_TOKEN: token });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/^Checked Microsoft Graph mailbox adele\.vance@contoso\.test \(delegated\): token, profile and inbox read/);
      expect(result.stderr + result.stdout).not.toContain(token);
      delegatedId = result.stdout.trim();
      const [mailbox] = await stored();
      expect(mailbox).toMatchObject({ id: delegatedId, provider: 'MICROSOFT_GRAPH', address: ADELE, settings: { mode: 'delegated' }, needsReconsentAt: null });
      expect(JSON.stringify(await stored())).not.toContain(token);
      const table = await cli(['mailbox', 'list', '--workspace', 'ms'], env);
      expect(table.stdout).toMatch(new RegExp(`${delegatedId}\\s+MICROSOFT_GRAPH\\s+\\S+\\s+Adele\\.Vance@contoso\\.test\\s+ok\\s+delegated`));
      // The given token was spent by the check (revoked on rotation): only the stored successor works.
      const tested = await cli(['mailbox', 'test', '--workspace', 'ms', delegatedId], env);
      expect(tested.code, tested.stderr).toBe(0);
      expect(tested.stdout).toMatch(new RegExp(`^OK ${delegatedId}: Microsoft Graph mailbox adele\\.vance@contoso\\.test \\(delegated\\)`));
      expect((await cli(['mailbox', 'test', '--workspace', 'ms', delegatedId], env)).code).toBe(0);
    } finally {
      fake.identity.rotation = 'keep';
    }
  }, 30_000);

  it('stores an --app-only mailbox without credentials', async () => {
    const result = await add(['--address', MEGAN, '--app-only']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^Checked Microsoft Graph mailbox megan\.bowen@contoso\.test \(application\): app token and inbox read/);
    const id = result.stdout.trim();
    expect((await stored()).find((m) => m.id === id)).toMatchObject({ provider: 'MICROSOFT_GRAPH', settings: { mode: 'application' } });
    expect((await cli(['mailbox', 'test', '--workspace', 'ms', id], env)).stdout).toMatch(/\(application\): app token and inbox read/);
    // A mark left by an earlier refusal goes once the check passes again (e.g. after an admin's consent).
    await withStore(async (store) => {
      const workspace = (await store.listWorkspaces()).find((w) => w.name === 'ms')!;
      await store.markNeedsReconsent(workspace.id, id, 'the admin withdrew consent');
    });
    expect((await stored()).find((m) => m.id === id)?.reconsentReason).toBe('the admin withdrew consent');
    expect((await cli(['mailbox', 'test', '--workspace', 'ms', id], env)).stdout).toMatch(/app token and inbox read.*; the needs-reconsent mark is cleared\n$/);
    expect((await stored()).find((m) => m.id === id)).toMatchObject({ needsReconsentAt: null, reconsentReason: null, settings: { mode: 'application' } });
    expect((await cli(['mailbox', 'list', '--workspace', 'ms'], env)).stdout).toMatch(new RegExp(`${id}\\s+MICROSOFT_GRAPH\\s+\\S+\\s+megan\\.bowen@contoso\\.test\\s+ok\\s+application`));
  });

  it('a revoked grant met by the token source shows in mailbox list and GraphQL; update with a checked new token clears it', async () => {
    expect(delegatedId).not.toBe('');
    fake.identity.revokeUser(ADELE);
    // The provider's token source, over the CLI's store, meets the revoked grant and marks the mailbox.
    await withStore(async (store) => {
      const workspace = (await store.listWorkspaces()).find((w) => w.name === 'ms')!;
      const mailbox = (await store.getMailbox(workspace.id, delegatedId))!;
      const source = graphTokenSource(mailbox, { dataDir: env.DATA_DIR!, logger: silentLogger(), microsoft: { graphRoot: fake.graphRoot, loginRoot: fake.loginRoot, tenantId: fake.tenantId, clientId: fake.app.clientId, clientSecret: fake.app.clientSecret }, credentials: mailboxCredentials(store, mailbox, silentLogger()) });
      await expect(source.accessToken()).rejects.toMatchObject({ code: 'PROVIDER_AUTH_FAILED' });
    });
    expect((await cli(['mailbox', 'list', '--workspace', 'ms'], env)).stdout).toMatch(new RegExp(`${delegatedId}\\s+MICROSOFT_GRAPH.*needs-reconsent`));
    const marked = (await stored()).find((m) => m.id === delegatedId)!;
    expect(marked.reconsentReason).toMatch(/^Microsoft refused the grant \(invalid_grant, AADSTS50173: the grant was revoked/);
    const body = await queryGateway('{ mailboxes { address needsReconsent reconsentReason } }');
    expect(body.errors).toBeUndefined();
    expect(body.data).toMatchObject({ mailboxes: expect.arrayContaining([{ address: ADELE, needsReconsent: true, reconsentReason: marked.reconsentReason }]) });

    expectRefused(await cli(['mailbox', 'test', '--workspace', 'ms', delegatedId], env), 3, /check failed \(credentials\): .*AADSTS50173/);
    const wrong = fake.refreshToken(MEGAN);
    expectRefused(await cli(['mailbox', 'update', '--workspace', 'ms', delegatedId], { ...env, MS_REFRESH_TOKEN: wrong }), 3, /check failed \(address\).*nothing was stored/, wrong);
    const fresh = fake.refreshToken(ADELE);
    const updated = await cli(['mailbox', 'update', '--workspace', 'ms', delegatedId], { ...env, MS_REFRESH_TOKEN: fresh });
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stdout.trim()).toBe(delegatedId);
    expect((await stored()).find((m) => m.id === delegatedId)).toMatchObject({ needsReconsentAt: null, reconsentReason: null });
    expect((await cli(['mailbox', 'test', '--workspace', 'ms', delegatedId], env)).code).toBe(0);

    expectRefused(await cli(['mailbox', 'update', '--workspace', 'ms', delegatedId, '--host', 'imap.example.test'], env), 2, /--host does not apply to a MICROSOFT_GRAPH mailbox/);
    expectRefused(await cli(['mailbox', 'update', '--workspace', 'ms', delegatedId], env), 2, /Nothing to update/);
  }, 30_000);

  it('update --app-only makes a mailbox application (its token dropped); a new refresh token makes it delegated again', async () => {
    const mailbox = async () =>
      withStore(async (store) => {
        const workspace = (await store.listWorkspaces()).find((w) => w.name === 'ms')!;
        return (await store.getMailbox(workspace.id, delegatedId))!;
      });
    expectRefused(await cli(['mailbox', 'update', '--workspace', 'ms', delegatedId, '--app-only', '--refresh-token-stdin'], env), 2, /--app-only does not take a refresh token/);
    // A lingering MS_REFRESH_TOKEN is not read with --app-only.
    const toApp = await cli(['mailbox', 'update', '--workspace', 'ms', delegatedId, '--app-only'], { ...env, MS_REFRESH_TOKEN: 'lingering' });
    expect(toApp.code, toApp.stderr).toBe(0);
    expect(toApp.stderr).toMatch(/\(application\): app token and inbox read/);
    expect(await mailbox()).toMatchObject({ settings: { mode: 'application' }, credentials: null });
    const token = fake.refreshToken(ADELE);
    const back = await cli(['mailbox', 'update', '--workspace', 'ms', delegatedId], { ...env, MS_REFRESH_TOKEN: token });
    expect(back.code, back.stderr).toBe(0);
    expect(back.stderr).toMatch(/\(delegated\): token, profile and inbox read/);
    const delegated = await mailbox();
    expect(delegated.settings).toEqual({ mode: 'delegated' });
    expect(delegated.credentials?.refreshToken).toMatch(/\S/);
  });

  it('reads the refresh token from standard input in a real process that trusts the CA, and never prints it', async () => {
    // One process only (a start costs seconds here); the refusals are the same code in-process above.
    const fresh = fake.refreshToken(ADELE);
    const added = await cliProcess(['mailbox', 'add', '--workspace', 'ms', '--provider', 'microsoft-graph', '--address', ADELE, '--refresh-token-stdin'], env, `${fresh}\n`);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
    expect(added.stderr + added.stdout).not.toContain(fresh);
  }, 30_000);
});

describe('mailbox add --provider microsoft-graph --no-verify', () => {
  it('stores the mailbox without a single request, and remove takes it away', async () => {
    const before = fake.requests.length;
    const result = await add(['--address', 'unchecked@contoso.test', '--no-verify'], { MS_REFRESH_TOKEN: 'unchecked-token' });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    const id = result.stdout.trim();
    expect(fake.requests.length).toBe(before);
    expect((await stored()).find((m) => m.id === id)).toMatchObject({ provider: 'MICROSOFT_GRAPH', settings: { mode: 'delegated' } });
    expect((await cli(['mailbox', 'remove', '--workspace', 'ms', id], env)).code).toBe(0);
    expect((await stored()).some((m) => m.id === id)).toBe(false);
  });
});
