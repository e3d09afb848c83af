/**
 * Checks at the door of `mailbox add | update | test`: an IMAP mailbox is stored only after the
 * gateway connected, logged in and listed its folders; each failure is one line naming what
 * failed, exit 3, and nothing is stored. Plain-text logins go to loopback hosts only unless
 * --allow-plaintext, and a local --path must hold a message.
 *
 * Every probe runs against loopback only: a private Dovecot, a closed port, a socket that accepts
 * and never greets. The unresolvable host is under `.invalid` (RFC 6761: never resolves), and the
 * non-loopback address 192.0.2.1 (TEST-NET-1) appears only where the refusal must happen before
 * any connection.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapPool } from '../../src/providers/imap/pool.ts';
import { imapflowTransportOptions, isLoopbackHost } from '../../src/providers/imap/transport-security.ts';
import { cliInProcess as cli, type CliResult } from '../support/cli.ts';
import { DOVECOT_MISSING, dovecotAvailable, startDovecot, type DovecotInstance } from '../support/dovecot.ts';
import { silentLogger } from '../support/logger.ts';
import { freePort as closedPort } from '../support/net.ts';

if (!dovecotAvailable()) console.warn(`\n*** ${DOVECOT_MISSING} ***\n`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-door-'));
const env = { DATA_DIR: path.join(tmp, 'data'), LOG_LEVEL: 'warn' };
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** One CLI run with its wall time (ms). */
async function timed(args: string[], extra: Record<string, string> = {}): Promise<CliResult & { ms: number }> {
  const started = Date.now();
  const result = await cli(args, { ...env, ...extra });
  return { ...result, ms: Date.now() - started };
}

/** The mailboxes stored in workspace `door` (JSON of `mailbox list`). */
async function stored(): Promise<{ id: string; settings: Record<string, unknown> }[]> {
  return JSON.parse((await cli(['mailbox', 'list', '--workspace', 'door', '--json'], env)).stdout) as { id: string; settings: Record<string, unknown> }[];
}

/** Expects a refusal: the exit code, one line on stderr matching `line`, nothing on stdout. */
function expectRefused(result: CliResult, code: number, line: RegExp): void {
  expect(result.code, result.stderr).toBe(code);
  expect(result.stdout).toBe('');
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(line);
}

beforeAll(async () => {
  expect((await cli(['workspace', 'create', 'door'], env)).code).toBe(0);
});

describe('transport security of IMAP logins', () => {
  it('loopback is 127.0.0.0/8, ::1 and localhost, nothing else', () => {
    for (const host of ['127.0.0.1', '127.8.9.10', '::1', '[::1]', 'localhost', 'LOCALHOST.', '::ffff:127.0.0.1']) expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['192.0.2.1', '10.0.0.1', '::2', 'imap.example.org', 'localhost.example.org', '128.0.0.1', '0.0.0.0']) expect(isLoopbackHost(host), host).toBe(false);
  });

  it('the pool requires STARTTLS for a plain connection to a non-loopback host without allowPlaintext', () => {
    expect(imapflowTransportOptions({ host: 'imap.example.org', tls: false })).toEqual({ secure: false, doSTARTTLS: true });
    expect(imapflowTransportOptions({ host: 'imap.example.org', tls: false, starttls: true })).toEqual({ secure: false, doSTARTTLS: true });
    expect(imapflowTransportOptions({ host: 'imap.example.org', tls: false, allowPlaintext: true })).toEqual({ secure: false });
    expect(imapflowTransportOptions({ host: '127.0.0.1', tls: false })).toEqual({ secure: false });
    expect(imapflowTransportOptions({ host: 'imap.example.org', tls: true })).toEqual({ secure: true });
  });

  it('with STARTTLS required, a server that lacks it never receives the login', async () => {
    // A loopback IMAP server without STARTTLS that records every line a client sends.
    const received: string[] = [];
    const server = net.createServer((socket) => {
      socket.write('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\r\n');
      socket.on('data', (data) => {
        for (const line of data.toString('latin1').split('\r\n').filter(Boolean)) {
          received.push(line);
          const tag = line.split(' ')[0];
          if (/ CAPABILITY$/i.test(line)) socket.write(`* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n${tag} OK done\r\n`);
          else socket.write(`${tag} OK done\r\n`);
        }
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const pool = new ImapPool({ host: '127.0.0.1', port, user: 'alice', password: 'never-in-clear', tls: false, starttls: true }, silentLogger(), { connectTimeoutMs: 3000 });
    try {
      await expect(pool.acquire()).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE' });
      expect(received.join('\n')).not.toMatch(/LOGIN|AUTHENTICATE|never-in-clear/i);
    } finally {
      await pool.close();
      server.close();
    }
  });

  it('mailbox add --no-tls to a non-loopback host is refused at once, before any connection, and stores nothing', async () => {
    const result = await timed(['mailbox', 'add', '--workspace', 'door', '--provider', 'imap', '--host', '192.0.2.1', '--user', 'u', '--no-tls', '--timeout', '0.1'], { IMAP_PASSWORD: 'p' });
    expectRefused(result, 2, /^attachment-gateway: error: IMAP check failed \(plaintext\): a plain-text login to 192\.0\.2\.1 would send the password unencrypted; it is allowed to loopback hosts only/);
    expect(result.ms).toBeLessThan(5000);
    // Even unchecked: the door is the flag, not the connection.
    const unchecked = await timed(['mailbox', 'add', '--workspace', 'door', '--provider', 'imap', '--host', '192.0.2.1', '--user', 'u', '--no-tls', '--no-verify'], { IMAP_PASSWORD: 'p' });
    expect(unchecked.code).toBe(2);
    expect(await stored()).toEqual([]);
    // --allow-plaintext is the operator's explicit consent (stored unchecked here: no traffic leaves the machine).
    const allowed = await timed(['mailbox', 'add', '--workspace', 'door', '--provider', 'imap', '--host', '192.0.2.1', '--user', 'u', '--no-tls', '--allow-plaintext', '--no-verify'], { IMAP_PASSWORD: 'p' });
    expect(allowed.code, allowed.stderr).toBe(0);
    const [mailbox] = await stored();
    expect(mailbox?.settings).toEqual({ host: '192.0.2.1', port: 143, user: 'u', tls: false, allowPlaintext: true });
    expect((await cli(['mailbox', 'remove', '--workspace', 'door', mailbox?.id ?? ''], env)).code).toBe(0);
  });
});

describe.skipIf(!dovecotAvailable())('mailbox add / update / test against a real Dovecot', () => {
  let dovecot: DovecotInstance;
  let silent: net.Server;
  let silentPort: number;
  beforeAll(async () => {
    dovecot = await startDovecot();
    // Accepts connections and never says a word.
    silent = net.createServer((socket) => socket.on('error', () => undefined));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    silent?.close();
    await dovecot?.close();
  });

  const add = (host: string, port: number, password: string, ...flags: string[]) =>
    timed(['mailbox', 'add', '--workspace', 'door', '--provider', 'imap', '--host', host, '--port', String(port), '--user', dovecot.user, ...flags], { IMAP_PASSWORD: password });

  it('each failure is one line naming it, exit 3, in bounded time, and nothing is stored', async () => {
    const closed = await closedPort();
    const probes: [name: string, run: () => Promise<CliResult & { ms: number }>, line: RegExp, boundMs: number][] = [
      ['wrong password', () => add('127.0.0.1', dovecot.port, 'wrong-password', '--no-tls'), /IMAP check failed \(credentials\): 127\.0\.0\.1:\d+ refused the login of "tester" \(wrong user name or password\); nothing was stored/, 10_000],
      ['closed port', () => add('127.0.0.1', closed, dovecot.password, '--no-tls'), /IMAP check failed \(refused\): 127\.0\.0\.1:\d+ refused the connection/, 5000],
      ['unresolvable host', () => add('no-such-host.invalid', 993, dovecot.password), /IMAP check failed \(dns\): host "no-such-host\.invalid" does not resolve/, 10_000],
      ['TLS to a plain port', () => add('127.0.0.1', dovecot.port, dovecot.password, '--tls'), /IMAP check failed \(tls\): TLS with 127\.0\.0\.1:\d+ failed: .*not a TLS port/, 5000],
      ['STARTTLS required, not offered', () => add('127.0.0.1', dovecot.port, dovecot.password, '--starttls'), /IMAP check failed \(tls\): 127\.0\.0\.1:\d+ offers no STARTTLS/, 5000],
      ['a server that never greets', () => add('127.0.0.1', silentPort, dovecot.password, '--no-tls', '--timeout', '1'), /IMAP check failed \(timeout\): 127\.0\.0\.1:\d+ did not answer within 1 s/, 5000],
    ];
    // One after the other, each within a generous ceiling.
    for (const [name, run, line, boundMs] of probes) {
      const result = await run();
      expectRefused(result, 3, new RegExp(`^attachment-gateway: error: ${line.source}`));
      expect(result.ms, name).toBeLessThan(boundMs);
      expect(result.stderr, name).not.toContain(dovecot.password);
      console.log(`door check: ${name}: exit ${result.code} in ${result.ms} ms`);
    }
    expect(await stored()).toEqual([]);
  });

  it('a good mailbox is checked, stored, tested; a bad update is refused and changes nothing', async () => {
    const ok = await add('127.0.0.1', dovecot.port, dovecot.password, '--no-tls');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/^Checked 127\.0\.0\.1:\d+: logged in as "tester" over plain text, \d+ folder\(s\) listed in \d+\.\d s\n$/);
    const id = ok.stdout.trim();
    expect((await stored()).map((m) => m.id)).toEqual([id]);

    const test = await timed(['mailbox', 'test', '--workspace', 'door', id]);
    expect(test.code, test.stderr).toBe(0);
    expect(test.stdout).toMatch(new RegExp(`^OK ${id}: 127\\.0\\.0\\.1:\\d+: logged in as "tester" over plain text`));

    // A new password that the server refuses is not stored.
    const badUpdate = await timed(['mailbox', 'update', '--workspace', 'door', id], { IMAP_PASSWORD: 'not-the-password' });
    expectRefused(badUpdate, 3, /^attachment-gateway: error: IMAP check failed \(credentials\): .*; nothing was stored/);
    expect((await timed(['mailbox', 'test', '--workspace', 'door', id])).code).toBe(0);

    // Stored unchecked, the same password fails `mailbox test` with the add-time reason.
    expect((await timed(['mailbox', 'update', '--workspace', 'door', id, '--no-verify'], { IMAP_PASSWORD: 'not-the-password' })).code).toBe(0);
    const failing = await timed(['mailbox', 'test', '--workspace', 'door', id]);
    expectRefused(failing, 3, /^attachment-gateway: error: IMAP check failed \(credentials\): 127\.0\.0\.1:\d+ refused the login of "tester"/);

    // The right password again, checked.
    const fixed = await timed(['mailbox', 'update', '--workspace', 'door', id], { IMAP_PASSWORD: dovecot.password });
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.stderr).toMatch(/^Checked 127\.0\.0\.1/);
    expect((await timed(['mailbox', 'test', '--workspace', 'door', id])).code).toBe(0);
    expect((await cli(['mailbox', 'remove', '--workspace', 'door', id], env)).code).toBe(0);
  });
});

describe('a local --path must hold a message', () => {
  it('README.md, an empty file, an empty folder and an empty Maildir are refused; a one-message mbox is added', async () => {
    const empty = path.join(tmp, 'empty.mbox');
    fs.writeFileSync(empty, '');
    const folder = path.join(tmp, 'empty-folder');
    fs.mkdirSync(folder);
    const maildir = path.join(tmp, 'empty-maildir');
    for (const sub of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(maildir, sub), { recursive: true });
    const readme = path.resolve('README.md');
    const local = (p: string, ...flags: string[]) => timed(['mailbox', 'add', '--workspace', 'door', '--provider', 'local', '--path', p, ...flags]);

    expectRefused(await local(readme), 2, /^attachment-gateway: error: --path \S+README\.md is not an mbox: it does not start with a "From " line/);
    expectRefused(await local(empty), 2, /^attachment-gateway: error: --path \S+empty\.mbox is not an mbox/);
    expectRefused(await local(folder), 2, /^attachment-gateway: error: --path \S+empty-folder holds no \.eml message \(and is not a Maildir\)$/m);
    expectRefused(await local(maildir), 2, /^attachment-gateway: error: --path \S+empty-maildir is a Maildir with no message in cur\/ or new\/$/m);
    expect(await stored()).toEqual([]);

    // An empty Maildir that will receive mail later can be stored on purpose.
    const later = await local(maildir, '--no-verify');
    expect(later.code, later.stderr).toBe(0);

    const mbox = path.join(tmp, 'one.mbox');
    fs.writeFileSync(mbox, 'From alice@example.org Thu Jan  1 00:00:00 2026\nFrom: alice@example.org\nSubject: hi\nMessage-ID: <1@example.org>\n\nhello\n');
    const added = await local(mbox);
    expect(added.code, added.stderr).toBe(0);
    const id = added.stdout.trim();
    const test = await timed(['mailbox', 'test', '--workspace', 'door', id]);
    expect(test).toMatchObject({ code: 0, stdout: `OK ${id}: ${mbox} is a mbox holding messages\n` });
    // The store emptied after it was added: `mailbox test` says so (exit 3).
    fs.writeFileSync(mbox, '');
    expectRefused(await timed(['mailbox', 'test', '--workspace', 'door', id]), 3, /^attachment-gateway: error: Local check failed: \S+one\.mbox is not an mbox/);

    // update --path: checked like add (an empty store is refused and nothing changes), then indexed anew.
    expectRefused(await timed(['mailbox', 'update', '--workspace', 'door', id, '--path', folder]), 2, /holds no \.eml message/);
    const moved = path.join(tmp, 'two.mbox');
    fs.writeFileSync(moved, 'From bob@example.org Thu Jan  1 00:00:00 2026\nFrom: bob@example.org\nSubject: moved\n\nhello\n');
    const update = await timed(['mailbox', 'update', '--workspace', 'door', id, '--path', moved]);
    expect(update.code, update.stderr).toBe(0);
    expect(update.stderr).toMatch(/Indexing two\.mbox: 100%/);
    const index = JSON.parse(fs.readFileSync(path.join(env.DATA_DIR, 'local-index', `${id}.json`), 'utf8')) as { source: string; messages: unknown[] };
    expect(index.source).toBe(moved);
    expect(index.messages).toHaveLength(1);
    expect((await timed(['mailbox', 'test', '--workspace', 'door', id])).code).toBe(0);
    for (const m of await stored()) expect((await cli(['mailbox', 'remove', '--workspace', 'door', m.id], env)).code).toBe(0);
  });
});

