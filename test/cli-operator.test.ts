/**
 * The operator CLI as operators and scripts use it: the real bin in a child process, with a
 * private DATA_DIR (SQLite) and, when PostgreSQL is reachable, the same flow over DATABASE_URL.
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(repoRoot, 'bin/attachment-gateway.js');
const PASSWORD = 'Pa55-w0rd-that-must-never-leak';
const STDIN_PASSWORD = 'another-Secret-from-stdin';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string>, input?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      // A clean environment: only what the test sets, plus PATH/HOME for node itself.
      { cwd: repoRoot, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

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
    const ws = await cli(['workspace', 'create', 'acme'], env);
    expect(ws).toMatchObject({ code: 0, stderr: '' });
    expect(ws.stdout).toMatch(/^[0-9a-f-]{36}\n$/);

    const key = await cli(['key', 'create', '--workspace', 'acme'], env);
    expect(key.code).toBe(0);
    expect(key.stdout).toMatch(/^agw_[A-Za-z0-9_-]{43}\n$/);
    expect(key.stdout.split('\n')).toHaveLength(2); // one line, then the final newline
    const key2 = await cli(['key', 'create', '--workspace', 'acme'], env);
    expect(key2.stdout).not.toBe(key.stdout);

    const imap = await cli(
      ['mailbox', 'add', '--workspace', 'acme', '--provider', 'imap', '--host', 'imap.example.org', '--port', '993', '--user', 'alice@example.org', '--tls'],
      { ...env, IMAP_PASSWORD: PASSWORD },
    );
    expect(imap.stderr).toBe('');
    expect(imap.code).toBe(0);
    const imapId = imap.stdout.trim();
    expect(imapId).toMatch(/^[0-9a-f-]{36}$/);

    const viaStdin = await cli(
      ['mailbox', 'add', '--workspace', 'acme', '--provider', 'imap', '--host', 'mail.example.net', '--user', 'bob', '--no-tls', '--address', 'bob@example.net', '--display-name', 'Bob', '--password-stdin'],
      env,
      `${STDIN_PASSWORD}\n`,
    );
    expect(viaStdin.stderr).toBe('');
    expect(viaStdin.code).toBe(0);
    const stdinId = viaStdin.stdout.trim();

    const list = await cli(['mailbox', 'list', '--workspace', 'acme', '--json'], env);
    expect(list.code).toBe(0);
    const listed = JSON.parse(list.stdout) as Record<string, unknown>[];
    expect(listed).toEqual([
      expect.objectContaining({ id: imapId, provider: 'IMAP', address: 'alice@example.org', displayName: null }),
      expect.objectContaining({ id: stdinId, provider: 'IMAP', address: 'bob@example.net', displayName: 'Bob' }),
    ]);

    const table = await cli(['mailbox', 'list'], env);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+PROVIDER\s+ADDRESS$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/))).toEqual([
      [imapId, 'IMAP', 'alice@example.org'],
      [stdinId, 'IMAP', 'bob@example.net'],
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
      [['no-such-command'], {}, /unknown command/],
    ];
    expect((await cli(['workspace', 'create', 'dup'], env)).code).toBe(0);
    // Independent processes: run them side by side to keep the test short.
    const results = await Promise.all(cases.map(([args, extraEnv]) => cli(args, { ...env, ...extraEnv })));
    for (const [i, [args, , message]] of cases.entries()) {
      const result = results[i] as Result;
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
    const add = await cli(['mailbox', 'add', '--workspace', 'w', '--provider', 'imap', '--host', 'h', '--user', 'u'], { ...env, IMAP_PASSWORD: 'p' });
    expect(add.code).toBe(0);
    expect(fs.readFileSync(secretFile, 'utf8')).toBe(first);
    expect(fs.statSync(path.join(dataDir, 'gateway.sqlite')).mode & 0o777).toBe(0o600);
  });

  it('four first commands at once on a new DATA_DIR all succeed, with one secret and one schema', async () => {
    const dataDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'agw-cli-')), 'fresh');
    tmpDirs.push(path.dirname(dataDir));
    const env = { DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
    const results = await Promise.all(['a', 'b', 'c', 'd'].map((name) => cli(['workspace', 'create', name], env)));
    for (const result of results) expect(result, result.stderr).toMatchObject({ code: 0, stderr: '' });
    const ids = results.map((r) => r.stdout.trim());
    expect(new Set(ids).size).toBe(4);
    const key = await cli(['key', 'create', '--workspace', 'c'], env);
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
      const result = await cli(['serve', '--port', String(port)], { DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`Port ${port} on 127.0.0.1 is already in use`);
    } finally {
      holder.close();
    }
  });
});

/** A TCP port nothing listens on (bound once by the OS, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

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
