/**
 * The fake Microsoft Graph in a child process, for measurements where the fake's own memory and
 * CPU must not count (the download benchmark) and for CLI tests that spawn the gateway. The child
 * speaks the same wire as {@link import('./index.ts').startFakeGraph}; the parent steers it over
 * IPC (add a message from an .eml file, issue tokens, script faults, read the log).
 *
 * TLS: the child signs its certificate with the run's CA (`FAKE_GRAPH_CA_DIR`, inherited); the
 * parent must trust that CA from its start. Under vitest the global setup does both. A plain
 * script (the benchmark) calls {@link relaunchWithTestCa} first thing.
 */
import { spawn } from 'node:child_process';
import { forkChildServer } from '../child-rpc.ts';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FaultAction, FaultMatch, LoggedRequest } from './faults.ts';
import type { RotationPolicy } from './identity.ts';
import type { FakeGraphOptions } from './index.ts';
import { CA_DIR_ENV, createTestCa } from './tls.ts';

/** What the child reports when it listens. */
export interface FakeGraphReady {
  origin: string;
  serviceRoot: string;
  tenantId: string;
  authority: string;
  knownAuthorities: string[];
  clientId: string;
  clientSecret: string;
  /** The mailbox users (address and object id), in the order given. */
  users: { address: string; id: string }[];
}

/** A fake in a child process. */
export interface FakeGraphProcess extends FakeGraphReady {
  pid: number;
  /** Adds the .eml at `path` to a mailbox (default the first) and folder (default `inbox`). */
  add(args: { path: string; address?: string; folder?: string; received?: string }): Promise<{ restId: string; immutableId: string; conversationId: string }>;
  refreshToken(address?: string, scopes?: string[]): Promise<string>;
  /** An access token for a mailbox's user (delegated, Mail.Read) or for the default app. */
  accessToken(kind: 'delegated' | 'application', address?: string): Promise<string>;
  /** Scripts a fault (`match.path` as a string glob: RegExps do not cross the process boundary); default for every match. */
  fault(match: FaultMatch & { path?: string }, action: FaultAction, times?: number): Promise<void>;
  clearFaults(): Promise<void>;
  requests(): Promise<LoggedRequest[]>;
  /** The child's resident set size in bytes. */
  rss(): Promise<number>;
  grantAppAccess(address: string, granted: boolean): Promise<void>;
  revokeUser(address: string): Promise<void>;
  expireAccessTokens(): Promise<void>;
  setRotation(policy: RotationPolicy): Promise<void>;
  /** Ends the child (IPC closed; it closes its server and exits). */
  close(): Promise<void>;
}

/**
 * Starts the fake in a child process (Node with the tsx loader) and waits for it to listen.
 * @throws when no test CA is set up (`FAKE_GRAPH_CA_DIR`), or the child exits or does not report ready within 30 s
 */
export async function spawnFakeGraph(options: Omit<FakeGraphOptions, 'ca'> = {}): Promise<FakeGraphProcess> {
  if (!process.env[CA_DIR_ENV]) throw new Error(`spawnFakeGraph: ${CA_DIR_ENV} is not set (run under vitest, or call relaunchWithTestCa() first)`);
  const { ready, child, call, close } = await forkChildServer<FakeGraphReady>('fake Graph', fileURLToPath(new URL('./serve.ts', import.meta.url)), {
    ...process.env,
    FAKE_GRAPH_OPTIONS: JSON.stringify(options),
  });
  return {
    ...ready,
    pid: child.pid!,
    add: (args) => call('add', args),
    refreshToken: (address, scopes) => call('refreshToken', { address, scopes }),
    accessToken: (kind, address) => call('accessToken', { kind, address }),
    fault: (match, action, times = Infinity) => call('fault', { match, action, times: Number.isFinite(times) ? times : null }),
    clearFaults: () => call('clearFaults'),
    requests: () => call('requests'),
    rss: () => call('rss'),
    grantAppAccess: (address, granted) => call('grantAppAccess', { address, granted }),
    revokeUser: (address) => call('revokeUser', { address }),
    expireAccessTokens: () => call('expireAccessTokens'),
    setRotation: (policy) => call('rotation', { policy }),
    close,
  };
}

/**
 * For scripts outside vitest (the benchmark): when this process has no test CA yet, makes one and
 * runs this same script again in a child that trusts it (`NODE_EXTRA_CA_CERTS` is read only at
 * start), then exits with the child's code; never returns in that case. Returns at once when the
 * CA is already set up (in the relaunched child, or under vitest).
 */
export async function relaunchWithTestCa(): Promise<void> {
  if (process.env[CA_DIR_ENV] && process.env.NODE_EXTRA_CA_CERTS) return;
  const ca = await createTestCa();
  let trusted = path.join(ca.dir, 'ca.pem');
  const previous = process.env.NODE_EXTRA_CA_CERTS;
  if (previous && fs.existsSync(previous)) {
    // Keep a CA the user already trusts (a corporate proxy's).
    trusted = path.join(ca.dir, 'trusted.pem');
    fs.writeFileSync(trusted, `${fs.readFileSync(previous, 'utf8').trimEnd()}\n${ca.cert}`);
  }
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: trusted, [CA_DIR_ENV]: ca.dir },
  });
  const code = await new Promise<number>((resolve) => child.once('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
  fs.rmSync(ca.dir, { recursive: true, force: true });
  process.exit(code);
}
