/**
 * `mailbox add | update | test` for Gmail against the fake Gmail + OAuth server on loopback: a
 * mailbox is stored only after its refresh token gave an access token and the profile's address
 * was `--address`; each failure is one line naming what failed, exit 3 (2 for configuration and
 * flag mistakes), nothing stored and no token printed. A stored mailbox then answers a GraphQL
 * listing through the real gateway over the same DATA_DIR.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { createStore } from '../src/db/store.ts';
import { createLogger } from '../src/logger.ts';
import { resolveSigningSecret } from '../src/secret.ts';
import { startServer } from '../src/server.ts';
import { cliInProcess as cli, cliProcess, type CliResult } from './support/cli.ts';
import { startFakeGmail, type FakeGmail } from './support/fake-gmail/index.ts';
import { mailWithAttachment } from './support/mail.ts';
import { freePort } from './support/net.ts';

const OWNER = 'Owner@Fake-Gmail.test';
const OTHER = 'other@fake-gmail.test';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-gcli-'));
let fake: FakeGmail;
let env: Record<string, string>;
/** The refresh token the successful add stored. */
let storedToken = '';

beforeAll(async () => {
  fake = await startFakeGmail({ addresses: [OWNER, OTHER] });
  fake.add(mailWithAttachment({ subject: 'Quarterly report', filename: 'report.pdf', contentType: 'application/pdf', bytes: Buffer.from('%PDF-1.4 fake report bytes') }));
  env = {
    DATA_DIR: path.join(tmp, 'data'),
    LOG_LEVEL: 'warn',
    SIGNING_SECRET: 'gcli-test-secret-'.padEnd(48, 'x'),
    GOOGLE_API_ROOT: fake.origin,
    GOOGLE_TOKEN_URL: fake.tokenUrl,
    GOOGLE_CLIENT_ID: fake.client.clientId,
    GOOGLE_CLIENT_SECRET: fake.client.clientSecret,
  };
  expect((await cli(['workspace', 'create', 'gm'], env)).code).toBe(0);
}, 30_000);

afterAll(async () => {
  await fake?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The mailboxes stored in workspace `gm`. */
async function stored(): Promise<{ id: string; provider: string; address: string | null }[]> {
  return JSON.parse((await cli(['mailbox', 'list', '--workspace', 'gm', '--json'], env)).stdout) as { id: string; provider: string; address: string | null }[];
}

/** Expects a refusal: the exit code, one line on stderr matching `line`, nothing on stdout, no token shown. */
function expectRefused(result: CliResult, code: number, line: RegExp, token?: string): void {
  expect(result.code, result.stderr).toBe(code);
  expect(result.stdout).toBe('');
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(line);
  if (token) expect(result.stderr).not.toContain(token);
  expect(result.stderr).not.toContain(fake.client.clientSecret);
}

/** Runs one GraphQL query through a real gateway over the CLI's DATA_DIR (a new API key each time). */
async function queryGateway(query: string): Promise<{ data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] }> {
  const key = (await cli(['key', 'create', '--workspace', 'gm'], env)).stdout.trim();
  const config = loadConfig({ ...env, PORT: '0', LOG_LEVEL: 'silent' });
  const secret = await resolveSigningSecret(config);
  const store = createStore(config, secret);
  await store.migrate();
  const server = await startServer({ config, store, logger: createLogger('silent'), secret });
  try {
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query }),
    });
    return (await response.json()) as never;
  } finally {
    await server.close();
    await store.close();
  }
}

const add = (extra: string[], more: Record<string, string>) => cli(['mailbox', 'add', '--workspace', 'gm', '--provider', 'gmail', ...extra], { ...env, ...more });

describe('mailbox add --provider gmail', () => {
  it('refuses a missing OAuth client (exit 2) before reading anything', async () => {
    const token = fake.refreshToken(OWNER);
    const before = fake.requests.length;
    const { GOOGLE_CLIENT_SECRET: _secret, ...withoutSecret } = env;
    const result = await cli(['mailbox', 'add', '--workspace', 'gm', '--provider', 'gmail', '--address', OWNER], { ...withoutSecret, GOOGLE_REFRESH_TOKEN: token });
    expectRefused(result, 2, /GOOGLE_CLIENT_SECRET is not set/);
    expect(fake.requests.length).toBe(before);
    expect(await stored()).toEqual([]);
  });

  it('refuses a token argument, a missing token, a missing address and IMAP flags (exit 2)', async () => {
    expectRefused(await add(['--address', OWNER, '--refresh-token', 'secret-token-value'], {}), 2, /--refresh-token is refused/, 'secret-token-value');
    expectRefused(await add(['--address', OWNER], {}), 2, /No refresh token: set GOOGLE_REFRESH_TOKEN or pipe it with --refresh-token-stdin/);
    expectRefused(await add([], { GOOGLE_REFRESH_TOKEN: 'x' }), 2, /needs --address/);
    expectRefused(await add(['--address', OWNER, '--host', 'imap.example.test'], { GOOGLE_REFRESH_TOKEN: 'x' }), 2, /--host does not apply to --provider gmail/);
    expect(await stored()).toEqual([]);
  });

  it('refuses a revoked refresh token: one line, exit 3, nothing stored', async () => {
    const token = fake.refreshToken(OWNER);
    fake.oauth.revoke(token);
    expectRefused(await add(['--address', OWNER], { GOOGLE_REFRESH_TOKEN: token }), 3, /^attachment-gateway: error: Gmail check failed \(credentials\): Google refused the refresh token .*invalid_grant.*nothing was stored/, token);
    expect(await stored()).toEqual([]);
  });

  it('refuses a client Google does not know (invalid_client): exit 3, credentials', async () => {
    const token = fake.refreshToken(OWNER);
    const result = await add(['--address', OWNER], { GOOGLE_REFRESH_TOKEN: token, GOOGLE_CLIENT_SECRET: 'not-the-secret' });
    expectRefused(result, 3, /Gmail check failed \(credentials\): .*refused the credentials/, token);
    expect(await stored()).toEqual([]);
  });

  it('refuses an address that is not the account the token belongs to', async () => {
    const token = fake.refreshToken(OTHER);
    expectRefused(await add(['--address', OWNER], { GOOGLE_REFRESH_TOKEN: token }), 3, /Gmail check failed \(address\): the refresh token belongs to other@fake-gmail\.test, not Owner@Fake-Gmail\.test/, token);
    expect(await stored()).toEqual([]);
  });

  it('reports a closed token port as unreachable and a hung profile read as a timeout', async () => {
    const token = fake.refreshToken(OWNER);
    const port = await freePort();
    expectRefused(await add(['--address', OWNER], { GOOGLE_REFRESH_TOKEN: token, GOOGLE_TOKEN_URL: `http://127.0.0.1:${port}/token` }), 3, /Gmail check failed \(unreachable\): the token endpoint http:\/\/127\.0\.0\.1:\d+\/token could not be reached \(ECONNREFUSED\)/, token);
    expectRefused(await add(['--address', OWNER], { GOOGLE_REFRESH_TOKEN: token, GOOGLE_API_ROOT: `http://127.0.0.1:${port}` }), 3, /Gmail check failed \(unreachable\): the Gmail API at http:\/\/127\.0\.0\.1:\d+ could not be reached/, token);

    fake.faults.add({ method: 'POST', path: '/token' }, { hang: true });
    expectRefused(await add(['--address', OWNER, '--timeout', '0.5'], { GOOGLE_REFRESH_TOKEN: token }), 3, /Gmail check failed \(timeout\): the token endpoint .* did not answer within 0\.5 s/, token);

    fake.faults.add({ path: '/gmail/v1/users/*/profile' }, { hang: true });
    const started = Date.now();
    expectRefused(await add(['--address', OWNER, '--timeout', '0.5'], { GOOGLE_REFRESH_TOKEN: token }), 3, /Gmail check failed \(timeout\): the Gmail API at .* did not answer within 0\.5 s/, token);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await stored()).toEqual([]);
  }, 20_000);

  it('stores a checked mailbox, lists it, and the gateway lists its conversations', async () => {
    const token = fake.refreshToken(OWNER);
    const result = await add(['--address', OWNER, '--display-name', 'Owner'], { GOOGLE_REFRESH_TOKEN: token });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^Checked Gmail account Owner@Fake-Gmail\.test: token and profile read, 1 message\(s\) in 1 thread\(s\)/);
    expect(result.stderr + result.stdout).not.toContain(token);
    storedToken = token;
    const id = result.stdout.trim();
    const list = await stored();
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ id, provider: 'GMAIL', address: OWNER });
    expect(JSON.stringify(list)).not.toContain(token);
    const table = await cli(['mailbox', 'list', '--workspace', 'gm'], env);
    expect(table.stdout).toMatch(new RegExp(`${id}\\s+GMAIL\\s+\\S+\\s+Owner@Fake-Gmail\\.test\\s+ok`));

    // The real gateway over the same DATA_DIR and secret reads the stored (encrypted) token.
    const body = await queryGateway('{ mailboxes { address provider conversations(first: 10) { edges { node { messages(first: 10) { edges { node { subject attachments { filename size } } } } } } } } }');
    expect(body.errors).toBeUndefined();
    expect(body.data).toEqual({
      mailboxes: [
        {
          address: OWNER,
          provider: 'GMAIL',
          conversations: { edges: [{ node: { messages: { edges: [{ node: { subject: 'Quarterly report', attachments: [{ filename: 'report.pdf', size: 26 }] } }] } } }] },
        },
      ],
    });
  }, 30_000);
});

describe('mailbox test and update of a GMAIL mailbox', () => {
  it('test fails once the grant is revoked; update with a new token is checked, stored, and test passes again', async () => {
    const [mailbox] = await stored();
    expect(mailbox).toBeDefined();
    const id = mailbox!.id;
    expect((await cli(['mailbox', 'test', '--workspace', 'gm', id], env)).stdout).toMatch(new RegExp(`^OK ${id}: Gmail account Owner@Fake-Gmail\\.test: token and profile read`));

    expect(fake.oauth.revoke(storedToken)).toBe(true);
    expectRefused(await cli(['mailbox', 'test', '--workspace', 'gm', id], env), 3, /Gmail check failed \(credentials\)/, storedToken);
    // The gateway meets the revoked grant too, and marks the mailbox for re-consent.
    const revoked = await queryGateway('{ mailboxes { needsReconsent conversations(first: 1) { edges { node { id } } } } }');
    expect(revoked.errors?.[0]?.extensions?.code).toBe('PROVIDER_AUTH_FAILED');
    expect((await cli(['mailbox', 'list', '--workspace', 'gm'], env)).stdout).toMatch(new RegExp(`${id}\\s+GMAIL.*needs-reconsent`));

    // A token of another account is refused and changes nothing.
    const wrong = fake.refreshToken(OTHER);
    expectRefused(await cli(['mailbox', 'update', '--workspace', 'gm', id], { ...env, GOOGLE_REFRESH_TOKEN: wrong }), 3, /Gmail check failed \(address\).*nothing was stored/, wrong);

    const fresh = fake.refreshToken(OWNER);
    const updated = await cli(['mailbox', 'update', '--workspace', 'gm', id], { ...env, GOOGLE_REFRESH_TOKEN: fresh });
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stdout.trim()).toBe(id);
    expect((await cli(['mailbox', 'test', '--workspace', 'gm', id], env)).code).toBe(0);
    // New credentials clear the mark.
    expect((await cli(['mailbox', 'list', '--workspace', 'gm'], env)).stdout).toMatch(new RegExp(`${id}\\s+GMAIL.*\\sok\\s`));

    expectRefused(await cli(['mailbox', 'update', '--workspace', 'gm', id, '--port', '993'], env), 2, /--port does not apply to a GMAIL mailbox/);
    expectRefused(await cli(['mailbox', 'update', '--workspace', 'gm', id], env), 2, /Nothing to update/);
  }, 30_000);

  it('reads the refresh token from standard input in the real process (and refuses an empty one)', async () => {
    const token = fake.refreshToken(OWNER);
    const args = ['mailbox', 'add', '--workspace', 'gm', '--provider', 'gmail', '--address', OWNER, '--display-name', 'from-stdin', '--refresh-token-stdin'];
    expectRefused(await cliProcess(args, env, ''), 2, /--refresh-token-stdin was given but standard input was empty/);
    const result = await cliProcess(args, env, `${token}\n`);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^Checked Gmail account Owner@Fake-Gmail\.test/);
    const listed = JSON.parse((await cli(['mailbox', 'list', '--workspace', 'gm', '--json'], env)).stdout) as { id: string; displayName: string | null }[];
    expect(listed.find((m) => m.id === result.stdout.trim())?.displayName).toBe('from-stdin');
  }, 60_000);

  it('--no-verify stores without a request to Google', async () => {
    const before = fake.requests.length;
    const result = await add(['--address', OTHER, '--no-verify'], { GOOGLE_REFRESH_TOKEN: 'unchecked-token' });
    expect(result.code, result.stderr).toBe(0);
    expect(fake.requests.length).toBe(before);
    expect((await stored()).map((m) => m.address)).toContain(OTHER);
  });
});
