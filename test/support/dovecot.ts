/**
 * A private Dovecot IMAP server for tests: its own config, base_dir, passwd-file and Maildir under
 * a temp folder, listening on 127.0.0.1 on a free port. Several test files may each start one at
 * the same time. Capabilities can be switched off (Dovecot's `imap_capability` setting) so the
 * provider's fallbacks run: no THREAD, no BINARY, no SPECIAL-USE.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { freePort } from './net.ts';

/** Capabilities a test may take away from the server. */
export type OptionalCapability = 'THREAD' | 'BINARY' | 'SPECIAL-USE' | 'CONDSTORE';

/** Options of {@link startDovecot}. */
export interface DovecotOptions {
  /** Capabilities to hide from clients (the server then also refuses nothing: clients must not use them). */
  without?: OptionalCapability[];
  /** Name of the sent folder; default `Sent`. */
  sentFolder?: string;
  /** Mark the sent folder `\Sent` (RFC 6154); default true. */
  sentSpecialUse?: boolean;
}

/** A running private Dovecot. */
export interface DovecotInstance {
  host: string;
  port: number;
  user: string;
  password: string;
  sentFolder: string;
  /** The base capability list advertised after login (after {@link DovecotOptions.without}). */
  capabilities: string[];
  /** Appends one raw RFC 5322 message to `folder` (created when missing); returns its UID. */
  append(folder: string, raw: Buffer, date?: Date): Promise<number>;
  /** Appends many messages over one connection; returns their UIDs in order. */
  appendMany(items: { folder: string; raw: Buffer; date?: Date }[]): Promise<number[]>;
  /** A logged-in admin client for test setup (delete/recreate folders, ...). Caller logs out. */
  client(): Promise<ImapFlow>;
  /** Cuts every IMAP connection of the user (`doveadm kick`), as a crash or a network loss would. */
  kick(): void;
  /**
   * Freezes the server: SIGSTOP to the master and every process under it, so it accepts TCP
   * connections (the kernel does) but answers nothing, like a hung host. Call {@link thaw} in cleanup.
   */
  freeze(): void;
  /** SIGCONT to the processes {@link freeze} stopped. */
  thaw(): void;
  /** Stops the server and starts it again on the same port with the same mail (every connection is cut). */
  restart(): Promise<void>;
  /** Stops the server and removes its files. */
  close(): Promise<void>;
}

/**
 * The stored-mailbox fields of an IMAP mailbox on `dovecot` (plain text on loopback, the
 * instance's user and password), for `Store.addMailbox` without its `workspaceId`.
 */
export function dovecotMailbox(dovecot: DovecotInstance, owner: { address: string; displayName: string }) {
  return {
    provider: 'IMAP' as const,
    address: owner.address,
    displayName: owner.displayName,
    settings: { host: dovecot.host, port: dovecot.port, user: dovecot.user, tls: false },
    credentials: { password: dovecot.password },
  };
}

/** Message to show when Dovecot is missing. */
export const DOVECOT_MISSING = 'Dovecot is not installed: apt-get install dovecot-imapd (IMAP tests skipped)';

/** True when the `dovecot` binary is on this machine. */
export function dovecotAvailable(): boolean {
  return ['/usr/sbin/dovecot', '/usr/local/sbin/dovecot'].some((p) => existsSync(p));
}

function dovecotBinary(): string {
  return ['/usr/sbin/dovecot', '/usr/local/sbin/dovecot'].find((p) => existsSync(p)) ?? 'dovecot';
}


async function waitForGreeting(port: number, deadlineMs: number): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.setTimeout(1000);
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString().startsWith('* OK'));
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`Dovecot did not answer on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Dovecot 2.3's default post-login IMAP capability list (imap_capability unset). */
const BASE_CAPABILITIES =
  'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE';

function capabilityList(without: OptionalCapability[]): string[] {
  return BASE_CAPABILITIES.split(' ').filter((cap) => {
    if (without.includes('THREAD') && cap.startsWith('THREAD=')) return false;
    if (without.includes('BINARY') && cap === 'BINARY') return false;
    if (without.includes('SPECIAL-USE') && cap === 'SPECIAL-USE') return false;
    if (without.includes('CONDSTORE') && (cap === 'CONDSTORE' || cap === 'QRESYNC')) return false;
    return true;
  });
}

/**
 * Starts a private Dovecot. Call {@link DovecotInstance.close} in `afterAll`.
 * @throws Error when Dovecot is not installed (check {@link dovecotAvailable} first) or does not start within 15 s
 */
export async function startDovecot(options: DovecotOptions = {}): Promise<DovecotInstance> {
  if (!dovecotAvailable()) throw new Error(DOVECOT_MISSING);
  const without = options.without ?? [];
  const sentFolder = options.sentFolder ?? 'Sent';
  const sentSpecialUse = options.sentSpecialUse ?? true;
  const dir = mkdtempSync(path.join(tmpdir(), 'gw-dovecot-'));
  // mkdtemp is 0700; Dovecot's auth and mail processes run as other users and must read it.
  chmodSync(dir, 0o755);
  const baseDir = path.join(dir, 'run');
  const mailDir = path.join(dir, 'mail');
  mkdirSync(baseDir, { mode: 0o755 });
  mkdirSync(mailDir, { mode: 0o777 });
  chmodSync(mailDir, 0o777);
  const user = 'tester';
  const password = 'secret-' + Math.random().toString(36).slice(2);
  const port = await freePort();
  const isRoot = process.getuid?.() === 0;
  const mailUser = isRoot ? 'mail' : (process.env.USER ?? 'nobody');
  writeFileSync(path.join(dir, 'passwd'), `${user}:{PLAIN}${password}::::::\n`, { mode: 0o644 });
  const capabilities = capabilityList(without);
  // One setting per line: Dovecot's parser refuses text after `{`.
  const config = [
    `base_dir = ${baseDir}`,
    `state_dir = ${path.join(dir, 'state')}`,
    `instance_name = gw-${port}`,
    `protocols = imap`,
    `listen = 127.0.0.1`,
    `ssl = no`,
    `disable_plaintext_auth = no`,
    `auth_mechanisms = plain login`,
    `mail_location = maildir:${mailDir}/%u`,
    `mail_uid = ${mailUser}`,
    `mail_gid = ${mailUser}`,
    `first_valid_uid = 0`,
    `log_path = ${path.join(dir, 'dovecot.log')}`,
    `default_login_user = ${isRoot ? 'dovenull' : mailUser}`,
    `default_internal_user = ${isRoot ? 'dovecot' : mailUser}`,
    `imap_capability = ${capabilities.join(' ')}`,
    `passdb {`,
    `driver = passwd-file`,
    `args = scheme=PLAIN ${path.join(dir, 'passwd')}`,
    `}`,
    `userdb {`,
    `driver = static`,
    `args = uid=${mailUser} gid=${mailUser} home=${mailDir}/%u`,
    `}`,
    `service imap-login {`,
    `inet_listener imap {`,
    `address = 127.0.0.1`,
    `port = ${port}`,
    `}`,
    `inet_listener imaps {`,
    `port = 0`,
    `}`,
    `}`,
    `service anvil {`,
    `chroot =`,
    `}`,
    `service imap-login {`,
    `chroot =`,
    `}`,
    `namespace inbox {`,
    `inbox = yes`,
    `separator = /`,
    `mailbox ${JSON.stringify(sentFolder)} {`,
    `auto = create`,
    ...(sentSpecialUse ? ['special_use = \\Sent'] : []),
    `}`,
    `}`,
    '',
  ].join('\n');
  mkdirSync(path.join(dir, 'state'), { mode: 0o755 });
  const configFile = path.join(dir, 'dovecot.conf');
  writeFileSync(configFile, config, { mode: 0o644 });

  /** Starts the daemons and waits for the greeting. */
  const launch = async (): Promise<void> => {
    // stdio 'ignore': Dovecot's daemons keep the stderr they were started with.
    const child = spawn(dovecotBinary(), ['-c', configFile], { stdio: 'ignore', detached: false });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const code = await exited;
    if (code !== 0) {
      const log = existsSync(path.join(dir, 'dovecot.log')) ? readFileSync(path.join(dir, 'dovecot.log'), 'utf8') : '';
      throw new Error(`dovecot exited with ${code}: ${log.slice(-2000)}`);
    }
    await waitForGreeting(port, 15_000);
  };
  try {
    await launch();
  } catch (error) {
    stopDovecot(configFile, baseDir);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  let frozen: number[] = [];

  // A test process that dies before afterAll must not leave the daemons behind.
  const onExit = (): void => stopDovecot(configFile, baseDir);
  process.once('exit', onExit);

  const client = async (): Promise<ImapFlow> => {
    const c = new ImapFlow({ host: '127.0.0.1', port, secure: false, auth: { user, pass: password }, logger: false });
    await c.connect();
    return c;
  };

  const appendMany = async (items: { folder: string; raw: Buffer; date?: Date }[]): Promise<number[]> => {
    const c = await client();
    try {
      const known = new Set((await c.list()).map((f) => f.path));
      const uids: number[] = [];
      for (const item of items) {
        if (!known.has(item.folder)) {
          await c.mailboxCreate(item.folder);
          known.add(item.folder);
        }
        const result = await c.append(item.folder, item.raw, ['\\Seen'], item.date);
        if (!result || typeof result.uid !== 'number') throw new Error(`APPEND to ${item.folder} returned no UID`);
        uids.push(result.uid);
      }
      return uids;
    } finally {
      await c.logout().catch(() => undefined);
    }
  };

  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    sentFolder,
    capabilities,
    client,
    appendMany,
    async append(folder, raw, date) {
      const [uid] = await appendMany([{ folder, raw, ...(date ? { date } : {}) }]);
      return uid!;
    },
    kick() {
      execFileSync('doveadm', ['-c', configFile, 'kick', user], { stdio: 'ignore', timeout: 10_000 });
    },
    freeze() {
      frozen = processTree(Number(readFileSync(path.join(baseDir, 'master.pid'), 'utf8').trim()));
      for (const pid of frozen) signal(pid, 'SIGSTOP');
    },
    thaw() {
      for (const pid of frozen) signal(pid, 'SIGCONT');
      frozen = [];
    },
    async restart() {
      stopDovecot(configFile, baseDir);
      await launch();
    },
    async close() {
      for (const pid of frozen) signal(pid, 'SIGCONT');
      process.removeListener('exit', onExit);
      stopDovecot(configFile, baseDir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `pid` and every process under it (children first found by `ps`), root first. */
function processTree(pid: number): number[] {
  const table = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of table) if (parent === tree[i]) tree.push(child);
  return tree;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone
  }
}

function stopDovecot(configFile: string, baseDir: string): void {
  const pidFile = path.join(baseDir, 'master.pid');
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : NaN;
  try {
    execFileSync('doveadm', ['-c', configFile, 'stop'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }
  // `doveadm stop` returns before the master has reaped its children; wait so no stray
  // processes outlive the test run.
  if (Number.isInteger(pid) && pid > 0) {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      execFileSync('sleep', ['0.05']);
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
