/**
 * A bounded pool of logged-in imapflow connections for one mailbox.
 *
 * At most `max` connections exist; callers beyond that wait in FIFO order. A connection idle for
 * `idleTimeoutMs` is logged out; one idle for more than `healthCheckAfterMs` is checked with NOOP
 * before it is handed out, and a broken one (closed socket, failed NOOP, or released as broken)
 * is discarded and replaced. Every IMAP command sent on any connection is counted in
 * {@link ImapPool.stats} so tests and benchmarks can measure round trips.
 */
import { ImapFlow } from 'imapflow';
import type { Logger as ImapFlowLogger } from 'imapflow';
import type { Logger } from '../types.ts';
import { mapImapError } from './errors.ts';

/** Connection settings of an IMAP mailbox. */
export interface ImapConnectionSettings {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Implicit TLS (port 993 style). Without it imapflow upgrades with STARTTLS when offered. */
  tls: boolean;
}

/** Options of {@link ImapPool}. */
export interface ImapPoolOptions {
  /** Most connections open at once; default 3. */
  max?: number;
  /** Log out a connection unused for this long, in ms; default 60 000. */
  idleTimeoutMs?: number;
  /** NOOP a connection unused for this long before reuse, in ms; default 30 000. */
  healthCheckAfterMs?: number;
  /** Connect and greeting timeout, ms; default 10 000. */
  connectTimeoutMs?: number;
}

/** Counters of a pool. */
export interface ImapStats {
  /** IMAP commands sent (LOGIN, SELECT, FETCH, ... on every connection). */
  commands: number;
  /** Connections opened. */
  connections: number;
}

/** A connection lent by the pool; release it exactly once. */
export interface Lease {
  client: ImapFlow;
  /** Returns the connection; `broken` discards it instead (e.g. a download aborted mid-literal). */
  release(broken?: boolean): void;
}

interface Idle {
  client: ImapFlow;
  since: number;
  timer: NodeJS.Timeout;
}

/**
 * imapflow's logger on top of ours: its warnings and errors go to `log`; its per-command debug
 * records (the protocol trace, with credentials masked by imapflow) go to `log.trace`, shown with
 * `LOG_LEVEL=trace`; its info records (connection chatter) are dropped. imapflow's records carry
 * their text in `msg`, which pino writes too: the text moves to `imapMsg` so that each JSON line
 * has one `msg` (ours, "imap") and JSON parsers that keep the last duplicate lose nothing.
 */
export function imapflowLogger(log: Logger): ImapFlowLogger {
  const record = (obj: unknown): object => {
    if (typeof obj !== 'object' || obj === null) return { imapMsg: String(obj) };
    const { msg, ...rest } = obj as { msg?: unknown };
    return msg === undefined ? rest : { ...rest, imapMsg: msg };
  };
  return {
    debug: (obj: unknown) => log.trace(record(obj), 'imap'),
    info: () => undefined,
    warn: (obj: unknown) => log.warn(record(obj), 'imap'),
    error: (obj: unknown) => log.error(record(obj), 'imap'),
  };
}

/** See the module docs. */
export class ImapPool {
  readonly stats: ImapStats = { commands: 0, connections: 0 };
  readonly #settings: ImapConnectionSettings;
  readonly #logger: Logger;
  readonly #max: number;
  readonly #idleTimeoutMs: number;
  readonly #healthCheckAfterMs: number;
  readonly #connectTimeoutMs: number;
  readonly #idle: Idle[] = [];
  readonly #waiters: { resolve: (lease: Lease) => void; reject: (error: unknown) => void }[] = [];
  #open = 0;
  #closed = false;

  constructor(settings: ImapConnectionSettings, logger: Logger, options: ImapPoolOptions = {}) {
    this.#settings = settings;
    this.#logger = logger;
    this.#max = options.max ?? 3;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.#healthCheckAfterMs = options.healthCheckAfterMs ?? 30_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  }

  /** Connections currently open (idle or lent). */
  get size(): number {
    return this.#open;
  }

  /** Connections currently lent out. */
  get inUse(): number {
    return this.#open - this.#idle.length;
  }

  /**
   * Borrows a connection, opening one when below `max`, else waiting for a release.
   * @throws GatewayError PROVIDER_AUTH_FAILED / PROVIDER_UNAVAILABLE / PROVIDER_THROTTLED when connecting fails
   */
  async acquire(): Promise<Lease> {
    if (this.#closed) throw mapImapError(Object.assign(new Error('pool closed'), { code: 'NoConnection' }));
    while (this.#idle.length > 0) {
      const idle = this.#idle.pop()!;
      clearTimeout(idle.timer);
      if (!idle.client.usable) {
        this.#discard(idle.client);
        continue;
      }
      if (Date.now() - idle.since > this.#healthCheckAfterMs) {
        try {
          await idle.client.noop();
        } catch {
          this.#discard(idle.client);
          continue;
        }
        if (!idle.client.usable) {
          this.#discard(idle.client);
          continue;
        }
      }
      return this.#lease(idle.client);
    }
    if (this.#open < this.#max) {
      this.#open++;
      try {
        return this.#lease(await this.#connect());
      } catch (error) {
        this.#open--;
        this.#wakeNext();
        throw mapImapError(error);
      }
    }
    return new Promise<Lease>((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Runs `fn` with a borrowed connection; a connection whose command failed at socket level is discarded. */
  async use<T>(fn: (client: ImapFlow) => Promise<T>): Promise<T> {
    const lease = await this.acquire();
    try {
      const result = await fn(lease.client);
      lease.release();
      return result;
    } catch (error) {
      lease.release(!lease.client.usable);
      throw error;
    }
  }

  /** Logs out every connection; waiting callers get PROVIDER_UNAVAILABLE. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(mapImapError(Object.assign(new Error('pool closed'), { code: 'NoConnection' })));
    const idle = this.#idle.splice(0);
    await Promise.allSettled(
      idle.map(async ({ client, timer }) => {
        clearTimeout(timer);
        this.#open--;
        await client.logout();
      }),
    );
  }

  #lease(client: ImapFlow): Lease {
    let released = false;
    return {
      client,
      release: (broken = false) => {
        if (released) return;
        released = true;
        if (broken || this.#closed || !client.usable) {
          this.#discard(client);
          return;
        }
        const waiter = this.#waiters.shift();
        if (waiter) {
          waiter.resolve(this.#lease(client));
          return;
        }
        const timer = setTimeout(() => {
          const index = this.#idle.findIndex((i) => i.client === client);
          if (index >= 0) {
            this.#idle.splice(index, 1);
            this.#open--;
            client.logout().catch(() => client.close());
          }
        }, this.#idleTimeoutMs);
        timer.unref();
        this.#idle.push({ client, since: Date.now(), timer });
      },
    };
  }

  #discard(client: ImapFlow): void {
    this.#open--;
    try {
      client.close();
    } catch {
      // already closed
    }
    this.#wakeNext();
  }

  /** A waiter may now open a connection of its own. */
  #wakeNext(): void {
    if (this.#closed || this.#waiters.length === 0 || this.#open >= this.#max) return;
    const waiter = this.#waiters.shift()!;
    this.#open++;
    this.#connect().then(
      (client) => waiter.resolve(this.#lease(client)),
      (error: unknown) => {
        this.#open--;
        waiter.reject(mapImapError(error));
        this.#wakeNext();
      },
    );
  }

  async #connect(): Promise<ImapFlow> {
    const log = this.#logger;
    const client = new ImapFlow({
      host: this.#settings.host,
      port: this.#settings.port,
      secure: this.#settings.tls,
      auth: { user: this.#settings.user, pass: this.#settings.password },
      // A pooled connection idles between leases; IDLE would only add commands and races.
      disableAutoIdle: true,
      connectionTimeout: this.#connectTimeoutMs,
      greetingTimeout: this.#connectTimeoutMs,
      socketTimeout: 5 * 60_000,
      logger: imapflowLogger(log),
    });
    // Count every command on the wire: imapflow sends all of them through exec().
    const raw = client as unknown as { exec: (...args: unknown[]) => Promise<unknown> };
    const exec = raw.exec.bind(client);
    raw.exec = (...args: unknown[]) => {
      this.stats.commands++;
      return exec(...args);
    };
    client.on('error', (error: unknown) => log.debug({ err: error }, 'imap connection error'));
    await client.connect();
    this.stats.connections++;
    return client;
  }
}
