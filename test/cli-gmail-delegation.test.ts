/**
 * `mailbox add | update | test --provider gmail --service-account-key-file F` against the fake
 * Gmail + OAuth server on loopback (Google Workspace domain-wide delegation): a key file is checked
 * before anything is stored, the mailbox is stored (encrypted) only after a token for `--address`
 * and its profile were read, without any OAuth client configured; delegation not granted and an
 * unknown subject are refused with what the admin must do; the key is never printed nor stored in
 * clear; the real gateway lists and downloads through it, marks it when delegation is withdrawn,
 * and `mailbox test` clears the mark once the admin granted it again.
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
import { cliInProcess as cli, type CliResult } from './support/cli.ts';
import { METADATA_SCOPE, READ_SCOPES, startFakeGmail, type FakeGmail, type ServiceAccountKey } from './support/fake-gmail/index.ts';
import { mailWithAttachment } from './support/mail.ts';

const OWNER = 'owner@fake-gmail.test';
const OTHER = 'other@fake-gmail.test';
const bytes = Buffer.from('%PDF-1.4 board minutes, delegated');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-gdel-'));
let fake: FakeGmail;
let env: Record<string, string>;
let key: ServiceAccountKey;
let keyFile: string;

/** Writes `content` to a file under the test folder and returns its path. */
function file(name: string, content: string): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, content);
  return p;
}

/** The long lines of a key's PEM body: none may show anywhere. */
const secretsOf = (k: ServiceAccountKey) => k.private_key.split('\n').filter((l) => l.length > 40);

function expectRefused(result: CliResult, code: number, line: RegExp): void {
  expect(result.code, result.stderr).toBe(code);
  expect(result.stdout).toBe('');
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(line);
  for (const secret of secretsOf(key)) expect(result.stderr).not.toContain(secret);
}

async function stored(): Promise<{ id: string; provider: string; address: string | null; needsReconsentAt: string | null; reconsentReason: string | null }[]> {
  return JSON.parse((await cli(['mailbox', 'list', '--workspace', 'dw', '--json'], env)).stdout) as never;
}

/** A GraphQL answer as the tests read it. */
interface Answer {
  data?: { mailboxes: { conversations: { edges: { node: { attachments: { downloadUrl: { url: string } }[] } }[] } }[] };
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** Runs `fn` against a real gateway over the CLI's DATA_DIR with a fresh API key. */
async function withGateway<T>(fn: (gql: (query: string) => Promise<Answer>, origin: string) => Promise<T>): Promise<T> {
  const apiKey = (await cli(['key', 'create', '--workspace', 'dw'], env)).stdout.trim();
  const config = loadConfig({ ...env, PORT: '0', LOG_LEVEL: 'silent' });
  const secret = await resolveSigningSecret(config);
  const store = createStore(config, secret);
  await store.migrate();
  const server = await startServer({ config, store, logger: createLogger('silent'), secret });
  try {
    const gql = async (query: string) => {
      const response = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` }, body: JSON.stringify({ query }) });
      return (await response.json()) as never;
    };
    return await fn(gql, server.url);
  } finally {
    await server.close();
    await store.close();
  }
}

const add = (extra: string[], more: Record<string, string> = {}) => cli(['mailbox', 'add', '--workspace', 'dw', '--provider', 'gmail', ...extra], { ...env, ...more });

beforeAll(async () => {
  fake = await startFakeGmail({ addresses: [OWNER, OTHER] });
  fake.add(mailWithAttachment({ subject: 'Board minutes', filename: 'minutes.pdf', contentType: 'application/pdf', bytes }));
  key = fake.oauth.createServiceAccount([READ_SCOPES[2]!]);
  keyFile = file('key.json', JSON.stringify(key, null, 2));
  // No GOOGLE_CLIENT_ID / SECRET: delegation needs no OAuth client.
  env = {
    DATA_DIR: path.join(tmp, 'data'),
    LOG_LEVEL: 'warn',
    SIGNING_SECRET: 'gdel-test-secret-'.padEnd(48, 'x'),
    GOOGLE_API_ROOT: fake.origin,
    GOOGLE_TOKEN_URL: fake.tokenUrl,
  };
  expect((await cli(['workspace', 'create', 'dw'], env)).code).toBe(0);
}, 30_000);

afterAll(async () => {
  await fake?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('mailbox add --provider gmail --service-account-key-file', () => {
  it('refuses a file that is no service account key before anything is read or stored (exit 2), quoting none of it', async () => {
    const before = fake.requests.length;
    const missing = path.join(tmp, 'absent.json');
    expectRefused(await add(['--address', OWNER, '--service-account-key-file', missing]), 2, /--service-account-key-file .*absent\.json does not exist or is not a file/);
    expectRefused(await add(['--address', OWNER, '--service-account-key-file', file('cut.json', JSON.stringify(key).slice(0, 300))]), 2, /cut\.json is not a Google service account key \(not JSON; a \.p12 key is not supported\)/);
    const user = file('user.json', JSON.stringify({ type: 'authorized_user', client_id: 'c', client_secret: 's', refresh_token: '1//secret-refresh' }));
    const refusedUser = await add(['--address', OWNER, '--service-account-key-file', user]);
    expectRefused(refusedUser, 2, /its type is "authorized_user", not "service_account"/);
    expect(refusedUser.stderr).not.toContain('1//secret-refresh');
    expectRefused(await add(['--address', OWNER, '--service-account-key-file', file('nokey.json', JSON.stringify({ ...key, private_key: 'garbage' }))]), 2, /no "private_key" in PKCS #8 PEM/);
    // Malformed keys are refused even unchecked.
    expectRefused(await add(['--address', OWNER, '--no-verify', '--service-account-key-file', user]), 2, /not "service_account"/);
    expectRefused(await add(['--service-account-key-file', keyFile]), 2, /--service-account-key-file needs --address/);
    expectRefused(await add(['--address', OWNER, '--service-account-key-file', keyFile, '--refresh-token-stdin']), 2, /exclude each other/);
    expectRefused(await cli(['mailbox', 'add', '--workspace', 'dw', '--provider', 'local', '--path', tmp, '--service-account-key-file', keyFile], env), 2, /does not apply to --provider local/);
    expect(fake.requests.length).toBe(before);
    expect(await stored()).toEqual([]);
  });

  it('refuses delegation not granted for gmail.readonly (exit 3) saying what the admin must grant, and a subject outside the domain', async () => {
    const limited = fake.oauth.createServiceAccount([METADATA_SCOPE]);
    const limitedFile = file('limited.json', JSON.stringify(limited));
    const refused = await add(['--address', OWNER, '--service-account-key-file', limitedFile]);
    expectRefused(refused, 3, /Gmail check failed \(credentials\): .*unauthorized_client: domain-wide delegation of https:\/\/www\.googleapis\.com\/auth\/gmail\.readonly is not granted/);
    expect(refused.stderr).toContain(`client ID ${limited.client_id}`);
    expect(refused.stderr).toMatch(/nothing was stored/);
    for (const secret of secretsOf(limited)) expect(refused.stderr).not.toContain(secret);

    expectRefused(await add(['--address', 'nobody@fake-gmail.test', '--service-account-key-file', keyFile]), 3, /Gmail check failed \(credentials\): .*invalid_grant.*not a user of the Workspace domain/);
    expect(await stored()).toEqual([]);
  });

  it('stores a checked delegated mailbox (encrypted, no OAuth client); the gateway lists and downloads through it', async () => {
    const result = await add(['--address', OWNER, '--service-account-key-file', keyFile]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(new RegExp(`^Checked Gmail account ${OWNER} by domain-wide delegation of ${key.client_email.replace(/[.]/g, '\\.')}: token and profile read, 1 message\\(s\\)`));
    const id = result.stdout.trim();
    const list = await stored();
    expect(list).toMatchObject([{ id, provider: 'GMAIL', address: OWNER, needsReconsentAt: null }]);
    for (const secret of secretsOf(key)) {
      expect(result.stderr + result.stdout + JSON.stringify(list)).not.toContain(secret);
      // Stored encrypted: no file under DATA_DIR holds the key in clear.
      for (const name of fs.readdirSync(env.DATA_DIR!, { recursive: true }) as string[]) {
        const p = path.join(env.DATA_DIR!, name);
        if (fs.statSync(p).isFile()) expect(fs.readFileSync(p).includes(secret)).toBe(false);
      }
    }

    await withGateway(async (gql, origin) => {
      const body = await gql('{ mailboxes { address needsReconsent conversations(first: 5) { edges { node { subject attachments { filename size downloadUrl { url } } } } } } }');
      expect(body.errors).toBeUndefined();
      const mailbox = body.data!.mailboxes[0]!;
      expect(mailbox).toMatchObject({ address: OWNER, needsReconsent: false, conversations: { edges: [{ node: { subject: 'Board minutes', attachments: [{ filename: 'minutes.pdf', size: bytes.length }] } }] } });
      fake.attachmentIds.expireAll();
      const url = new URL(mailbox.conversations.edges[0]!.node.attachments[0]!.downloadUrl.url);
      const response = await fetch(`${origin}${url.pathname}`);
      expect(response.status).toBe(200);
      expect(Buffer.from(await response.arrayBuffer()).equals(bytes)).toBe(true);
    });
  }, 30_000);
});

describe('mailbox test and update of a delegated GMAIL mailbox', () => {
  it('withdrawn delegation: the gateway answers PROVIDER_AUTH_FAILED and marks the mailbox with what to grant; test fails, then passes and clears the mark once granted', async () => {
    const [mailbox] = await stored();
    const id = mailbox!.id;
    expect((await cli(['mailbox', 'test', '--workspace', 'dw', id], env)).stdout).toMatch(new RegExp(`^OK ${id}: Gmail account ${OWNER} by domain-wide delegation`));

    fake.oauth.setDelegation(key.client_email, [METADATA_SCOPE]);
    await withGateway(async (gql) => {
      const body = await gql('{ mailboxes { conversations(first: 1) { edges { node { subject } } } } }');
      expect(body.errors?.[0]?.extensions?.code).toBe('PROVIDER_AUTH_FAILED');
      expect(body.errors?.[0]?.message).toMatch(/Domain-wide delegation of the Gmail read scope/);
    });
    const [marked] = await stored();
    expect(marked!.needsReconsentAt).not.toBeNull();
    expect(marked!.reconsentReason).toContain(`a Google Workspace admin must allow client ID ${key.client_id} the scope https://www.googleapis.com/auth/gmail.readonly`);
    expectRefused(await cli(['mailbox', 'test', '--workspace', 'dw', id], env), 3, /Gmail check failed \(credentials\): .*not granted/);

    fake.oauth.setDelegation(key.client_email, [READ_SCOPES[2]!]);
    const passed = await cli(['mailbox', 'test', '--workspace', 'dw', id], env);
    expect(passed.code, passed.stderr).toBe(0);
    expect((await stored())[0]!.needsReconsentAt).toBeNull();
  }, 30_000);

  it('update: a new key is checked against the address and replaces the old one; a wrong address changes nothing', async () => {
    const [mailbox] = await stored();
    const id = mailbox!.id;
    expectRefused(await cli(['mailbox', 'update', '--workspace', 'dw', id, '--address', 'nobody@fake-gmail.test'], env), 3, /Gmail check failed \(credentials\).*nothing was stored/);
    expect((await stored())[0]!.address).toBe(OWNER);
    expectRefused(await cli(['mailbox', 'update', '--workspace', 'dw', id], env), 2, /Nothing to update: give --service-account-key-file, --address or --display-name/);
    expectRefused(await cli(['mailbox', 'update', '--workspace', 'dw', id, '--refresh-token-stdin'], env), 2, /does not apply to a mailbox read by domain-wide delegation/);

    const next = fake.oauth.createServiceAccount();
    const updated = await cli(['mailbox', 'update', '--workspace', 'dw', id, '--service-account-key-file', file('next.json', JSON.stringify(next))], env);
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stderr).toContain(`by domain-wide delegation of ${next.client_email}`);
    // The old key is gone: withdrawing its delegation changes nothing for the mailbox.
    fake.oauth.setDelegation(key.client_email, []);
    expect((await cli(['mailbox', 'test', '--workspace', 'dw', id], env)).stdout).toContain(next.client_email);
  }, 30_000);

  it('update --service-account-key-file turns a refresh-token mailbox into a delegated one, the refresh token dropped', async () => {
    const withClient = { GOOGLE_CLIENT_ID: fake.client.clientId, GOOGLE_CLIENT_SECRET: fake.client.clientSecret };
    const token = fake.refreshToken(OTHER);
    const added = await add(['--address', OTHER], { ...withClient, GOOGLE_REFRESH_TOKEN: token });
    expect(added.code, added.stderr).toBe(0);
    const id = added.stdout.trim();
    expect((await cli(['mailbox', 'test', '--workspace', 'dw', id], { ...env, ...withClient })).stdout).toMatch(/token and profile read/);
    const account = fake.oauth.createServiceAccount();
    const updated = await cli(['mailbox', 'update', '--workspace', 'dw', id, '--service-account-key-file', file('third.json', JSON.stringify(account))], env);
    expect(updated.code, updated.stderr).toBe(0);
    fake.oauth.revoke(token);
    // Without an OAuth client and with the refresh token revoked, it still reads: by delegation.
    expect((await cli(['mailbox', 'test', '--workspace', 'dw', id], env)).stdout).toMatch(new RegExp(`^OK ${id}: Gmail account ${OTHER} by domain-wide delegation`));
  }, 30_000);
});
