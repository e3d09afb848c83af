/**
 * The operator CLI as operators and scripts use it, with a private DATA_DIR (SQLite) and, when
 * PostgreSQL is reachable, the same flow over DATABASE_URL. Most runs call the commander program
 * in this process (see test/support/cli.ts); the real bin runs in a child process, one at a time,
 * where the process itself matters (stdin, exit on a port in use, first starts racing).
 */
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { createStore } from '../src/db/store.ts';
import { decodeNodeId } from '../src/ids.ts';
import { createLogger } from '../src/logger.ts';
import { startServer } from '../src/server.ts';
import { cliInProcess as cli, cliProcess, repoRoot } from './support/cli.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';
import { freePort as closedPort } from './support/net.ts';

const PASSWORD = 'Pa55-w0rd-that-must-never-leak';
const STDIN_PASSWORD = 'another-Secret-from-stdin';

let pgDb: TestDatabase | null = null;
const tmpDirs: string[] = [];
beforeAll(async () => {
  pgDb = await createTestDatabase();
});
afterAll(async () => {
  await pgDb?.drop();
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe.each(['sqlite', 'postgres'] as const)('CLI on %s', (dialect) => {
  let env: Record<string, string>;
  let dataDir: string;

  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-cli-'));
    tmpDirs.push(dataDir);
    env = { DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
    if (dialect === 'postgres' && pgDb) env.DATABASE_URL = pgDb.url;
  });

  const test = (name: string, fn: () => Promise<void>) =>
    it(name, async (ctx) => {
      if (dialect === 'postgres' && !pgDb) ctx.skip('PostgreSQL is not reachable (see the warning above)');
      await fn();
    });

  /** Every byte the database holds, to check no secret is stored in clear. */
  async function databaseDump(): Promise<string> {
    if (dialect === 'sqlite') {
      return fs
        .readdirSync(dataDir)
        .filter((f) => f.startsWith('gateway.sqlite'))
        .map((f) => fs.readFileSync(path.join(dataDir, f)).toString('latin1'))
        .join('\n');
    }
    const client = new pg.Client({ connectionString: pgDb?.url });
    await client.connect();
    try {
      const rows: unknown[] = [];
      for (const table of ['workspaces', 'api_keys', 'mailboxes']) rows.push((await client.query(`SELECT * FROM ${table}`)).rows);
      return JSON.stringify(rows);
    } finally {
      await client.end();
    }
  }

  test('workspace → key → IMAP mailboxes (env and stdin password) → list, with no password anywhere', async () => {
    // The real bin on one dialect (the id reaches a pipe before the process exits); the program in-process on the other.
    const ws = dialect === 'sqlite' ? await cliProcess(['workspace', 'create', 'acme'], env) : await cli(['workspace', 'create', 'acme'], env);
    expect(ws).toMatchObject({ code: 0, stderr: '' });
    expect(ws.stdout).toMatch(/^[0-9a-f-]{36}\n$/);

    const key = await cli(['key', 'create', '--workspace', 'acme'], env);
    expect(key.code).toBe(0);
    expect(key.stdout).toMatch(/^agw_[A-Za-z0-9_-]{43}\n$/);
    expect(key.stdout.split('\n')).toHaveLength(2); // one line, then the final newline
    const key2 = await cli(['key', 'create', '--workspace', 'acme'], env);
    expect(key2.stdout).not.toBe(key.stdout);

    const imap = await cli(
      ['mailbox', 'add', '--workspace', 'acme', '--provider', 'imap', '--host', 'imap.example.org', '--port', '993', '--user', 'alice@example.org', '--tls', '--no-verify'],
      { ...env, IMAP_PASSWORD: PASSWORD },
    );
    expect(imap.stderr).toBe('');
    expect(imap.code).toBe(0);
    const imapId = imap.stdout.trim();
    expect(imapId).toMatch(/^[0-9a-f-]{36}$/);

    // The real bin reads the password from standard input (on PostgreSQL the same add takes it from the environment).
    const bobArgs = ['mailbox', 'add', '--workspace', 'acme', '--provider', 'imap', '--host', 'mail.example.net', '--user', 'bob', '--starttls', '--address', 'bob@example.net', '--display-name', 'Bob', '--no-verify'];
    const viaStdin = dialect === 'sqlite' ? await cliProcess([...bobArgs, '--password-stdin'], env, `${STDIN_PASSWORD}\n`) : await cli(bobArgs, { ...env, IMAP_PASSWORD: STDIN_PASSWORD });
    expect(viaStdin.stderr).toBe('');
    expect(viaStdin.code).toBe(0);
    const stdinId = viaStdin.stdout.trim();

    const list = await cli(['mailbox', 'list', '--workspace', 'acme', '--json'], env);
    expect(list.code).toBe(0);
    const listed = JSON.parse(list.stdout) as Record<string, unknown>[];
    expect(listed).toEqual([
      expect.objectContaining({ id: imapId, provider: 'IMAP', address: 'alice@example.org', displayName: null, location: 'imap.example.org:993' }),
      expect.objectContaining({ id: stdinId, provider: 'IMAP', address: 'bob@example.net', displayName: 'Bob', location: 'mail.example.net:143' }),
    ]);
    expect(listed[0]?.settings).toEqual({ host: 'imap.example.org', port: 993, user: 'alice@example.org', tls: true });
    expect(listed[1]?.settings).toEqual({ host: 'mail.example.net', port: 143, user: 'bob', tls: false, starttls: true });
    // The GraphQL ID is the API's own global ID of the mailbox.
    for (const m of listed) expect(decodeNodeId('Mailbox', m.graphqlId as string)).toEqual([m.id]);

    const table = await cli(['mailbox', 'list'], env);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+PROVIDER\s+GRAPHQL ID\s+ADDRESS\s+STATUS\s+LOCATION$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/))).toEqual([
      [imapId, 'IMAP', listed[0]?.graphqlId, 'alice@example.org', 'ok', 'imap.example.org:993'],
      [stdinId, 'IMAP', listed[1]?.graphqlId, 'bob@example.net', 'ok', 'mail.example.net:143'],
    ]);
    expect(listed.map((m) => [m.needsReconsentAt, m.reconsentReason])).toEqual([
      [null, null],
      [null, null],
    ]);

    const everything = [ws, key, imap, viaStdin, list, table].map((r) => r.stdout + r.stderr).join('\n');
    const stored = await databaseDump();
    for (const secret of [PASSWORD, STDIN_PASSWORD]) {
      expect(everything).not.toContain(secret);
      expect(stored).not.toContain(secret);
    }
    expect(stored).not.toContain(key.stdout.trim());
  });

  test('user errors: one clear line on stderr, exit code 2', async () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['workspace', 'create', 'bad name'], {}, /Invalid workspace name/],
      [['key', 'create', '--workspace', 'nope'], {}, /Workspace "nope" not found/],
      [['mailbox', 'list', '--workspace', 'nope'], {}, /Workspace "nope" not found/],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'imap', '--host', 'h', '--user', 'u'], {}, /No IMAP password: set IMAP_PASSWORD or pipe it with --password-stdin/],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'imap', '--host', 'h', '--user', 'u', '--password', 'x'], {}, /--password is refused/],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'imap', '--host', 'h', '--user', 'u', '--port', '70000'], { IMAP_PASSWORD: 'p' }, /'--port <port>' argument '70000' is invalid/],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'imap', '--host', 'h', '--user', 'u', '--port', 'abc'], { IMAP_PASSWORD: 'p' }, /is invalid/],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'pop3', '--host', 'h'], {}, /Allowed choices are imap, local/],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'imap', '--user', 'u'], { IMAP_PASSWORD: 'p' }, /needs --host/],
      [['mailbox', 'add', '--workspace', 'nope', '--provider', 'imap', '--host', 'h', '--user', 'u'], { IMAP_PASSWORD: 'p' }, /Workspace "nope" not found/],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'local', '--path', '/nonexistent/mail.mbox'], {}, /\/nonexistent\/mail\.mbox does not exist/],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'local'], {}, /needs --path/],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'local', '--path', repoRoot, '--host', 'h'], {}, /--host does not apply to --provider local/],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'imap', '--host', 'h', '--user', 'u', '--path', repoRoot], { IMAP_PASSWORD: 'p' }, /--path does not apply to --provider imap/],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'local', '--path', repoRoot, '--tls'], {}, /^attachment-gateway: error: --tls does not apply to --provider local$/m],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'local', '--path', repoRoot, '--no-tls'], {}, /^attachment-gateway: error: --no-tls does not apply to --provider local$/m],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'local', '--path', repoRoot, '--port', '993'], {}, /^attachment-gateway: error: --port does not apply to --provider local$/m],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'local', '--path', repoRoot, '--user', 'u'], {}, /^attachment-gateway: error: --user does not apply to --provider local$/m],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'local', '--path', repoRoot, '--password-stdin'], {}, /^attachment-gateway: error: --password-stdin does not apply to --provider local$/m],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'local', '--path', repoRoot, '--address', 'alice at example'], {}, /^attachment-gateway: error: --address "alice at example" is not an email address$/m],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'local', '--path', repoRoot, '--host', 'h', '--tls'], {}, /^attachment-gateway: error: --host, --tls do not apply to --provider local$/m],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'imap', '--host', 'h', '--user', 'u', '--tls', '--starttls'], { IMAP_PASSWORD: 'p' }, /--tls and --starttls exclude each other/],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'imap', '--host', 'h', '--user', 'u', '--allow-plaintext'], { IMAP_PASSWORD: 'p' }, /--allow-plaintext applies to --no-tls only/],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'imap', '--host', 'h', '--user', 'u', '--timeout', '0'], { IMAP_PASSWORD: 'p' }, /'--timeout <seconds>' argument '0' is invalid/],
      [['mailbox', 'add', '--workspace', 'dup', '--provider', 'local', '--path', path.join(repoRoot, 'README.md')], {}, /README\.md is not an mbox: it does not start with a "From " line/],
      [['workspace', 'list', 'extra'], {}, /too many arguments/],
      [['key', 'list'], {}, /required option '--workspace <name>' not specified/],
      [['key', 'list', '--workspace', 'nope'], {}, /Workspace "nope" not found/],
      [['key', 'revoke', '--workspace', 'dup', 'agw_notanid'], {}, /"agw_notanid" is not a key id/],
      [['key', 'revoke', '--workspace', 'dup', '00000000-0000-4000-8000-000000000000'], {}, /Key 00000000-0000-4000-8000-000000000000 not found in workspace "dup"/],
      [['mailbox', 'remove', '--workspace', 'dup', 'not-an-id'], {}, /"not-an-id" is not a mailbox id/],
      [['mailbox', 'remove', '--workspace', 'dup', '00000000-0000-4000-8000-000000000000'], {}, /Mailbox 00000000-0000-4000-8000-000000000000 not found in workspace "dup"/],
      [['mailbox', 'test', '--workspace', 'dup', '00000000-0000-4000-8000-000000000000'], {}, /not found in workspace "dup"/],
      [['mailbox', 'update', '--workspace', 'dup', '00000000-0000-4000-8000-000000000000', '--display-name', 'x'], {}, /not found in workspace "dup"/],
      [['mailbox', 'update', '--workspace', 'dup', 'x', '--password', 'p'], {}, /--password is refused/],
      [['no-such-command'], {}, /unknown command/],
    ];
    expect((await cli(['workspace', 'create', 'dup'], env)).code).toBe(0);
    for (const [args, extraEnv, message] of cases) {
      const result = await cli(args, { ...env, ...extraEnv });
      const where = `attachment-gateway ${args.join(' ')}`;
      expect(result.code, where).toBe(2);
      expect(result.stdout, where).toBe('');
      expect(result.stderr, where).toMatch(message);
      expect(result.stderr.trimEnd().split('\n'), where).toHaveLength(1);
    }
    const dup = await cli(['workspace', 'create', 'dup'], env);
    expect(dup).toMatchObject({ code: 2, stdout: '' });
    expect(dup.stderr).toMatch(/already exists/);
    // Nothing was added by the refused commands.
    expect(JSON.parse((await cli(['mailbox', 'list', '--workspace', 'dup', '--json'], env)).stdout)).toEqual([]);
  });

  test('operator commands: workspace list, key list / revoke (a new server refuses the key), mailbox update / remove', async () => {
    const run = async (args: string[], extra: Record<string, string> = {}) => {
      const result = await cli(args, { ...env, ...extra });
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      return result;
    };
    await run(['workspace', 'create', 'ops']);
    await run(['workspace', 'create', 'other']);
    const keep = (await run(['key', 'create', '--workspace', 'ops'])).stdout.trim();
    const doomed = (await run(['key', 'create', '--workspace', 'ops'])).stdout.trim();
    await run(['mailbox', 'add', '--workspace', 'ops', '--provider', 'imap', '--host', 'imap.example.org', '--user', 'ops@example.org', '--no-verify'], { IMAP_PASSWORD: PASSWORD });

    const workspaces = JSON.parse((await run(['workspace', 'list', '--json'])).stdout) as { name: string; mailboxes: number }[];
    expect(workspaces.filter((w) => w.name === 'ops' || w.name === 'other')).toEqual([
      expect.objectContaining({ name: 'ops', mailboxes: 1 }),
      expect.objectContaining({ name: 'other', mailboxes: 0 }),
    ]);
    expect((await run(['workspace', 'list'])).stdout).toMatch(/^ID\s+NAME\s+CREATED\s+MAILBOXES\n/);

    const keys = JSON.parse((await run(['key', 'list', '--workspace', 'ops', '--json'])).stdout) as { id: string; prefix: string; lastUsedAt: string | null; revokedAt: string | null }[];
    expect(keys).toHaveLength(2);
    expect(keys.map((k) => k.prefix)).toEqual([keep.slice(0, 12), doomed.slice(0, 12)]);
    expect(keys.every((k) => k.lastUsedAt === null && k.revokedAt === null)).toBe(true);
    const table = (await run(['key', 'list', '--workspace', 'ops'])).stdout;
    expect(table).toMatch(/^ID\s+PREFIX\s+CREATED\s+LAST USED\s+REVOKED\n/);
    for (const listing of [table, JSON.stringify(keys)]) {
      expect(listing).not.toContain(keep);
      expect(listing).not.toContain(doomed);
    }
    const doomedId = keys[1]?.id ?? '';

    // Another workspace cannot revoke it.
    const foreign = await cli(['key', 'revoke', '--workspace', 'other', doomedId], env);
    expect(foreign).toMatchObject({ code: 2, stdout: '' });
    expect(foreign.stderr).toMatch(/^attachment-gateway: error: Key \S+ not found in workspace "other"/);
    // The real bin revokes; a server started afterwards (no cache can hide it) refuses the key at once.
    const revoked = await cliProcess(['key', 'revoke', '--workspace', 'ops', doomedId], env);
    expect(revoked).toEqual({ code: 0, stdout: `${doomedId}\n`, stderr: '' });
    const again = await run(['key', 'revoke', '--workspace', 'ops', doomedId]);
    expect(again.stderr).toMatch(/was already revoked at/);
    const afterRevoke = JSON.parse((await run(['key', 'list', '--workspace', 'ops', '--json'])).stdout) as { id: string; revokedAt: string | null }[];
    expect(afterRevoke[0]?.revokedAt).toBeNull();
    expect(afterRevoke[1]?.revokedAt).toEqual(expect.any(String));

    const config = loadConfig({ ...env, PORT: '0', LOG_LEVEL: 'silent' });
    const secret = fs.readFileSync(path.join(dataDir, 'secret'), 'utf8').trim();
    const store = createStore(config, secret);
    const server = await startServer({ config, store, logger: createLogger('silent'), secret });
    try {
      const ask = (key: string) =>
        fetch(`${server.url}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ mailboxes { id } }' }) });
      const refused = await ask(doomed);
      expect(refused.status).toBe(401);
      expect(JSON.stringify(await refused.json())).toContain('UNAUTHENTICATED');
      const accepted = await ask(keep);
      expect(accepted.status).toBe(200);
      // The GRAPHQL ID of `mailbox list` is the id the API answers.
      const listedIds = (JSON.parse((await run(['mailbox', 'list', '--workspace', 'ops', '--json'])).stdout) as { graphqlId: string }[]).map((m) => ({ id: m.graphqlId }));
      expect(((await accepted.json()) as { data: { mailboxes: unknown[] } }).data.mailboxes).toEqual(listedIds);
    } finally {
      await server.close();
      await store.close();
    }
    // The key that worked now shows when it was last used.
    const used = JSON.parse((await run(['key', 'list', '--workspace', 'ops', '--json'])).stdout) as { lastUsedAt: string | null }[];
    expect(used[0]?.lastUsedAt).toEqual(expect.any(String));

    // update: settings merged, the TLS mode's default port follows, the password replaced (never printed).
    const [imap] = JSON.parse((await run(['mailbox', 'list', '--workspace', 'ops', '--json'])).stdout) as { id: string; graphqlId: string }[];
    const id = imap?.id ?? '';
    const updated = await run(['mailbox', 'update', '--workspace', 'ops', imap?.graphqlId ?? '', '--starttls', '--display-name', 'Ops', '--no-verify'], { IMAP_PASSWORD: STDIN_PASSWORD });
    expect(updated.stdout).toBe(`${id}\n`);
    const [after] = JSON.parse((await run(['mailbox', 'list', '--workspace', 'ops', '--json'])).stdout) as { displayName: string; settings: unknown }[];
    expect(after?.displayName).toBe('Ops');
    expect(after?.settings).toEqual({ host: 'imap.example.org', port: 143, user: 'ops@example.org', tls: false, starttls: true });
    expect(await databaseDump()).not.toContain(STDIN_PASSWORD);
    // A plain-text login to a non-loopback host is refused without --allow-plaintext, and nothing changes.
    const plain = await cli(['mailbox', 'update', '--workspace', 'ops', id, '--no-tls', '--no-verify'], env);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/^attachment-gateway: error: IMAP check failed \(plaintext\): a plain-text login to imap\.example\.org would send the password unencrypted/);
    const nothing = await cli(['mailbox', 'update', '--workspace', 'ops', id], env);
    expect(nothing).toMatchObject({ code: 2, stdout: '' });
    expect(nothing.stderr).toMatch(/Nothing to update/);
    await run(['mailbox', 'update', '--workspace', 'ops', id, '--no-tls', '--allow-plaintext', '--no-verify']);
    const [plainNow] = JSON.parse((await run(['mailbox', 'list', '--workspace', 'ops', '--json'])).stdout) as { settings: unknown }[];
    expect(plainNow?.settings).toEqual({ host: 'imap.example.org', port: 143, user: 'ops@example.org', tls: false, allowPlaintext: true });

    // remove: by id, from its own workspace only.
    expect((await cli(['mailbox', 'remove', '--workspace', 'other', id], env)).code).toBe(2);
    const removed = await run(['mailbox', 'remove', '--workspace', 'ops', id]);
    expect(removed.stdout).toBe(`${id}\n`);
    expect(JSON.parse((await run(['mailbox', 'list', '--workspace', 'ops', '--json'])).stdout)).toEqual([]);
  });

  test('configuration errors list every bad variable and exit 2', async () => {
    const result = await cli(['mailbox', 'list'], { ...env, PORT: 'eighty', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://x' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/PORT must be an integer/);
    expect(result.stderr).toMatch(/LOG_LEVEL must be one of/);
    expect(result.stderr).toMatch(/DATABASE_URL must start with/);
  });
});

describe('CLI files', () => {
  it('generates DATA_DIR/secret once with mode 0600 and keeps using it', async () => {
    const dataDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'agw-cli-')), 'nested', 'data');
    tmpDirs.push(path.dirname(path.dirname(dataDir)));
    const env = { DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
    expect((await cli(['workspace', 'create', 'w'], env)).code).toBe(0);
    const secretFile = path.join(dataDir, 'secret');
    const first = fs.readFileSync(secretFile, 'utf8');
    expect(first.trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fs.statSync(secretFile).mode & 0o777).toBe(0o600);
    // A mailbox stored with the generated secret is readable by the next run only if the secret is reused.
    const add = await cli(['mailbox', 'add', '--workspace', 'w', '--provider', 'imap', '--host', 'h', '--user', 'u', '--no-verify'], { ...env, IMAP_PASSWORD: 'p' });
    expect(add.code).toBe(0);
    expect(fs.readFileSync(secretFile, 'utf8')).toBe(first);
    expect(fs.statSync(path.join(dataDir, 'gateway.sqlite')).mode & 0o777).toBe(0o600);
  });

  it('two first commands at once on a new DATA_DIR both succeed, with one secret and one schema', async () => {
    const dataDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'agw-cli-')), 'fresh');
    tmpDirs.push(path.dirname(dataDir));
    const env = { DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
    // Two processes (not more: the machine has 2 cores) racing for the secret file and the migration.
    const results = await Promise.all(['a', 'b'].map((name) => cliProcess(['workspace', 'create', name], env)));
    for (const result of results) expect(result, result.stderr).toMatchObject({ code: 0, stderr: '' });
    const ids = results.map((r) => r.stdout.trim());
    expect(new Set(ids).size).toBe(2);
    const key = await cli(['key', 'create', '--workspace', 'b'], env);
    expect(key.code).toBe(0);
  });

  it('uses SIGNING_SECRET when set (no secret file) and refuses a short one', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-cli-'));
    tmpDirs.push(dataDir);
    const ok = await cli(['workspace', 'create', 'w'], { DATA_DIR: dataDir, SIGNING_SECRET: 's'.repeat(32) });
    expect(ok.code).toBe(0);
    expect(fs.existsSync(path.join(dataDir, 'secret'))).toBe(false);
    const short = await cli(['workspace', 'create', 'w2'], { DATA_DIR: dataDir, SIGNING_SECRET: 'short' });
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/SIGNING_SECRET must be at least 32 characters/);
  });

  it('a refused mailbox add touches nothing: no DATA_DIR, no secret, no database', async () => {
    const dataDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'agw-cli-')), 'untouched');
    tmpDirs.push(path.dirname(dataDir));
    const env = { DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
    for (const flags of [['--provider', 'local', '--path', repoRoot, '--tls'], ['--provider', 'imap', '--host', 'h', '--user', 'u', '--path', repoRoot]]) {
      const result = await cli(['mailbox', 'add', '--workspace', 'w', ...flags], { ...env, IMAP_PASSWORD: 'p' });
      expect(result).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toMatch(/^attachment-gateway: error: --\S+ does not apply to --provider \w+\n$/);
    }
    expect(fs.existsSync(dataDir)).toBe(false);
  });

  it('serve on a port in use: one clear line, exit 2', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-cli-'));
      tmpDirs.push(dataDir);
      const result = await cliProcess(['serve', '--port', String(port)], { DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`Port ${port} on 127.0.0.1 is already in use`);
    } finally {
      holder.close();
    }
  });
});


describe('configuration and database errors: one line on stderr, no stack, no password', () => {
  const run = (args: string[], env: Record<string, string>) => cli(args, { LOG_LEVEL: 'warn', ...env });
  const freshDir = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-cli-'));
    tmpDirs.push(dir);
    return dir;
  };

  it('DATA_DIR that cannot be a directory: exit 2 naming the path and the reason', async () => {
    const viaDevNull = await run(['serve'], { DATA_DIR: '/dev/null/x' });
    expect(viaDevNull).toEqual({
      code: 2,
      stdout: '',
      stderr: 'attachment-gateway: error: Invalid configuration: DATA_DIR /dev/null/x is not a usable directory (it cannot be created or written): /dev/null is not a directory\n',
    });
    const file = path.join(freshDir(), 'a-file');
    fs.writeFileSync(file, 'not a directory');
    const viaFile = await run(['workspace', 'create', 'w'], { DATA_DIR: file });
    expect(viaFile).toEqual({
      code: 2,
      stdout: '',
      stderr: `attachment-gateway: error: Invalid configuration: DATA_DIR ${file} is not a usable directory (it cannot be created or written): ${file} is not a directory\n`,
    });
  });

  it('DATABASE_URL without host, user or database is refused at start with exit 2', async () => {
    const dataDir = freshDir();
    const bare = await run(['mailbox', 'list'], { DATA_DIR: dataDir, DATABASE_URL: 'postgres://' });
    expect(bare).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'attachment-gateway: error: Invalid configuration: DATABASE_URL lacks a host, a user name (and neither PGUSER nor USER is set) and a database name; expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE\n',
    });
    const noDatabase = await run(['mailbox', 'list'], { DATA_DIR: dataDir, DATABASE_URL: 'postgresql://alice:Pa55@db.example.org:5433' });
    expect(noDatabase.code).toBe(2);
    expect(noDatabase.stderr).toBe('attachment-gateway: error: Invalid configuration: DATABASE_URL lacks a database name; expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE\n');
    const unparsable = await run(['mailbox', 'list'], { DATA_DIR: dataDir, DATABASE_URL: 'postgres://alice:Pa55@[db/gw' });
    expect(unparsable.code).toBe(2);
    expect(unparsable.stderr).toBe('attachment-gateway: error: Invalid configuration: DATABASE_URL is not a valid URL; expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE\n');
    expect(fs.readdirSync(dataDir)).toEqual([]);
  });

  it('an unreachable PostgreSQL is reported as a connection failure, without the password', async () => {
    const port = await closedPort();
    const result = await run(['workspace', 'create', 'w'], { DATA_DIR: freshDir(), DATABASE_URL: `postgres://alice:${PASSWORD}@127.0.0.1:${port}/gateway?sslmode=disable` });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `attachment-gateway: error: Cannot connect to the database postgres://127.0.0.1:${port}/gateway (credentials hidden): connect ECONNREFUSED 127.0.0.1:${port}\n`,
    });
  });

  it('a database PostgreSQL refuses is a connection failure too', async (ctx) => {
    if (!pgDb) ctx.skip('PostgreSQL is not reachable (see the warning above)');
    const url = new URL(pgDb?.url ?? '');
    url.pathname = '/agw_no_such_database';
    const result = await run(['mailbox', 'list'], { DATA_DIR: freshDir(), DATABASE_URL: url.toString() });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `attachment-gateway: error: Cannot connect to the database postgres://${url.hostname}:${url.port || '5432'}/agw_no_such_database (credentials hidden): database "agw_no_such_database" does not exist\n`,
    });
  });

  it('a failing migration is named', async () => {
    const dataDir = freshDir();
    // A table in the way makes the first migration fail.
    const db = new Database(path.join(dataDir, 'gateway.sqlite'));
    db.exec('CREATE TABLE workspaces (x TEXT)');
    db.close();
    const result = await run(['mailbox', 'list'], { DATA_DIR: dataDir });
    expect(result).toEqual({ code: 1, stdout: '', stderr: 'attachment-gateway: error: Database migration 0001_initial failed: table "workspaces" already exists\n' });
  });
});
