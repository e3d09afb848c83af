/**
 * A bounded pool of logged-in imapflow connections for one mailbox, where every wait is bounded.
 *
 * - At most `max` connections exist; callers beyond that wait in FIFO order, at most
 *   `acquireTimeoutMs` (then PROVIDER_UNAVAILABLE) and no longer than their AbortSignal.
 * - Downloads hold a connection for the life of their stream, so they may hold at most
 *   `maxDownloads` (default `max - 1`) of them: one connection always stays for metadata (listings,
 *   sizes), and a download beyond the cap is refused at once with PROVIDER_THROTTLED and a
 *   `retryAfter` instead of queueing behind slow readers.
 * - Connecting has a TCP/TLS deadline (`connectTimeoutMs`) and a greeting deadline
 *   (`greetingTimeoutMs`); every command (LOGIN and NOOP included) fails when the server sends
 *   nothing for `commandTimeoutMs` while it is pending. A command past that deadline, or one whose
 *   caller's signal aborts, closes its connection (the only way to stop an IMAP command in flight)
 *   and the caller gets PROVIDER_UNAVAILABLE (or the signal's reason).
 * - A connection idle for `idleTimeoutMs` is logged out; one idle for more than
 *   `healthCheckAfterMs` is checked with NOOP before it is handed out, and a broken one is
 *   discarded and replaced. Every command sent is counted in {@link ImapPool.stats}.
 *
 * Own code rather than `generic-pool`: generic-pool cannot withdraw a queued acquire when the
 * request's AbortSignal fires (only a pool-wide acquire timeout), it has no notion of a per-purpose
 * cap, and the command deadline must sit on imapflow's command queue anyway.
 */
import { ImapFlow } from 'imapflow';
import type { Logger as ImapFlowLogger } from 'imapflow';
import { GatewayError } from '../../errors.ts';
import type { Logger } from '../../domain/logger.ts';
import { mapImapError } from './errors.ts';
import { imapflowTransportOptions } from './transport-security.ts';

/** Connection settings of an IMAP mailbox. */
export interface ImapConnectionSettings {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Implicit TLS (port 993 style). Without it imapflow upgrades with STARTTLS when offered. */
  tls: boolean;
  /** Without `tls`: STARTTLS is required (never a login in clear). See `./transport-security.ts`. */
  starttls?: boolean;
  /** Without `tls`: a non-loopback server lacking STARTTLS may get the password in clear. */
  allowPlaintext?: boolean;
}

/** Options of {@link ImapPool}; every duration is in milliseconds. */
export interface ImapPoolOptions {
  /** Most connections open at once; default 3. */
  max?: number;
  /** Most connections held by downloads at once; default `max - 1` (at least 1). */
  maxDownloads?: number;
  /** Log out a connection unused for this long; default 60 000. */
  idleTimeoutMs?: number;
  /** NOOP a connection unused for this long before reuse; default 30 000. */
  healthCheckAfterMs?: number;
  /** TCP (and TLS) connect deadline; default 10 000. */
  connectTimeoutMs?: number;
  /** Deadline for the server's greeting once connected; default 10 000. */
  greetingTimeoutMs?: number;
  /** A pending IMAP command fails when the server sends nothing for this long; default 20 000. */
  commandTimeoutMs?: number;
  /** Longest wait for a free connection when all `max` are lent; default 10 000. */
  acquireTimeoutMs?: number;
  /** `retryAfter` (seconds) of a download refused because `maxDownloads` are running; default 5. */
  downloadRetryAfterSeconds?: number;
}

/** The defaults of {@link ImapPoolOptions}. */
export const IMAP_POOL_DEFAULTS = {
  max: 3,
  idleTimeoutMs: 60_000,
  healthCheckAfterMs: 30_000,
  connectTimeoutMs: 10_000,
  greetingTimeoutMs: 10_000,
  commandTimeoutMs: 20_000,
  acquireTimeoutMs: 10_000,
  downloadRetryAfterSeconds: 5,
} as const;

/** Counters of a pool. */
export interface ImapStats {
  /** IMAP commands sent (LOGIN, SELECT, FETCH, ... on every connection). */
  commands: number;
  /** Connections opened. */
  connections: number;
}

/** What a connection is borrowed for: downloads are capped (see the module docs). */
export type LeasePurpose = 'metadata' | 'download';

/** Options of {@link ImapPool.acquire} and {@link ImapPool.use}. */
export interface AcquireOptions {
  /** The request's signal: aborting withdraws the wait (and, in `use`, closes the connection mid-command). */
  signal?: AbortSignal | undefined;
  /** Default `metadata`. */
  purpose?: LeasePurpose;
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

interface Waiter {
  resolve(client: ImapFlow): void;
  reject(error: unknown): void;
}

function poolClosed(): GatewayError {
  return mapImapError(Object.assign(new Error('pool closed'), { code: 'NoConnection' }));
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
  readonly #maxDownloads: number;
  readonly #idleTimeoutMs: number;
  readonly #healthCheckAfterMs: number;
  readonly #connectTimeoutMs: number;
  readonly #greetingTimeoutMs: number;
  readonly #commandTimeoutMs: number;
  readonly #acquireTimeoutMs: number;
  readonly #downloadRetryAfter: number;
  readonly #idle: Idle[] = [];
  readonly #waiters: Waiter[] = [];
  #open = 0;
  #downloads = 0;
  #closed = false;

  constructor(settings: ImapConnectionSettings, logger: Logger, options: ImapPoolOptions = {}) {
    const d = IMAP_POOL_DEFAULTS;
    this.#settings = settings;
    this.#logger = logger;
    this.#max = Math.max(1, options.max ?? d.max);
    this.#maxDownloads = Math.max(1, Math.min(options.maxDownloads ?? this.#max - 1, this.#max));
    this.#idleTimeoutMs = options.idleTimeoutMs ?? d.idleTimeoutMs;
    this.#healthCheckAfterMs = options.healthCheckAfterMs ?? d.healthCheckAfterMs;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? d.connectTimeoutMs;
    this.#greetingTimeoutMs = options.greetingTimeoutMs ?? d.greetingTimeoutMs;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? d.commandTimeoutMs;
    this.#acquireTimeoutMs = options.acquireTimeoutMs ?? d.acquireTimeoutMs;
    this.#downloadRetryAfter = options.downloadRetryAfterSeconds ?? d.downloadRetryAfterSeconds;
  }

  /** Connections currently open (idle or lent). */
  get size(): number {
    return this.#open;
  }

  /** Connections currently lent out. */
  get inUse(): number {
    return this.#open - this.#idle.length;
  }

  /** Connections currently held by downloads. */
  get downloads(): number {
    return this.#downloads;
  }

  /**
   * Borrows a connection: an idle one, a new one when below `max`, else the next one released.
   * @throws GatewayError PROVIDER_THROTTLED (with `retryAfter`) for a download beyond `maxDownloads`;
   *   PROVIDER_UNAVAILABLE when no connection frees up within `acquireTimeoutMs` or a deadline of
   *   connecting passes; PROVIDER_AUTH_FAILED; the signal's reason when it aborts
   */
  async acquire(options: AcquireOptions = {}): Promise<Lease> {
    const { signal, purpose = 'metadata' } = options;
    if (this.#closed) throw poolClosed();
    signal?.throwIfAborted();
    if (purpose === 'download') {
      if (this.#downloads >= this.#maxDownloads) {
        throw new GatewayError(
          'PROVIDER_THROTTLED',
          `This mailbox is already serving ${this.#maxDownloads} download${this.#maxDownloads === 1 ? '' : 's'} at once; retry in a few seconds`,
          { retryAfter: this.#downloadRetryAfter },
        );
      }
      this.#downloads++;
    }
    try {
      return this.#lease(await this.#obtain(signal), purpose);
    } catch (error) {
      if (purpose === 'download') this.#downloads--;
      throw error;
    }
  }

  /**
   * Runs `fn` with a borrowed connection. A connection whose command failed at socket level, ran
   * past its deadline or was cut by the signal is discarded.
   * @throws what {@link acquire} throws; the signal's reason when it aborts while `fn` runs; what `fn` throws
   */
  async use<T>(fn: (client: ImapFlow) => Promise<T>, options: AcquireOptions = {}): Promise<T> {
    const { signal } = options;
    const lease = await this.acquire(options);
    const untie = closeOnAbort(lease, signal);
    try {
      const result = await fn(lease.client);
      lease.release();
      return result;
    } catch (error) {
      lease.release(!lease.client.usable);
      if (signal?.aborted) throw signal.reason;
      throw error;
    } finally {
      untie();
    }
  }

  /** Logs out every connection; waiting callers get PROVIDER_UNAVAILABLE. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(poolClosed());
    const idle = this.#idle.splice(0);
    await Promise.allSettled(
      idle.map(async ({ client, timer }) => {
        clearTimeout(timer);
        this.#open--;
        await client.logout();
      }),
    );
  }

  /** An idle connection (health-checked), a new one, or the next one released. */
  async #obtain(signal: AbortSignal | undefined): Promise<ImapFlow> {
    while (this.#idle.length > 0) {
      const idle = this.#idle.pop()!;
      clearTimeout(idle.timer);
      if (!idle.client.usable) {
        this.#discard(idle.client);
        continue;
      }
      if (Date.now() - idle.since > this.#healthCheckAfterMs) {
        try {
          await idle.client.noop(); // bounded by the command deadline
        } catch {
          this.#discard(idle.client);
          continue;
        }
        if (!idle.client.usable) {
          this.#discard(idle.client);
          continue;
        }
      }
      return idle.client;
    }
    if (this.#open < this.#max) {
      this.#open++;
      try {
        return await this.#connect(signal);
      } catch (error) {
        this.#open--;
        this.#wakeNext();
        throw signal?.aborted ? signal.reason : mapImapError(error);
      }
    }
    return this.#wait(signal);
  }

  /** Queues for the next released connection, at most `acquireTimeoutMs` and until `signal` aborts. */
  #wait(signal: AbortSignal | undefined): Promise<ImapFlow> {
    return new Promise<ImapFlow>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
      };
      const waiter: Waiter = {
        resolve: (client) => {
          done();
          resolve(client);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        waiter.reject(
          new GatewayError('PROVIDER_UNAVAILABLE', `No connection to the IMAP server of this mailbox became free within ${this.#acquireTimeoutMs} ms`),
        );
      }, this.#acquireTimeoutMs);
      const onAbort = (): void => waiter.reject(signal!.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  #lease(client: ImapFlow, purpose: LeasePurpose): Lease {
    let released = false;
    return {
      client,
      release: (broken = false) => {
        if (released) return;
        released = true;
        if (purpose === 'download') this.#downloads--;
        if (broken || this.#closed || !client.usable) {
          this.#discard(client);
          return;
        }
        this.#giveBack(client);
      },
    };
  }

  /** Hands a usable connection to the next waiter, else keeps it idle. */
  #giveBack(client: ImapFlow): void {
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter.resolve(client);
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

  /** The first waiter may now get a connection of its own (one was discarded or failed to open). */
  #wakeNext(): void {
    if (this.#closed || this.#waiters.length === 0 || this.#open >= this.#max) return;
    const first = this.#waiters[0]!;
    this.#open++;
    this.#connect(undefined).then(
      // Whoever waits first when it is ready gets it (`first` may have timed out meanwhile).
      (client) => (this.#closed ? this.#discard(client) : this.#giveBack(client)),
      (error: unknown) => {
        this.#open--;
        first.reject(mapImapError(error));
        this.#wakeNext();
      },
    );
  }

  async #connect(signal: AbortSignal | undefined): Promise<ImapFlow> {
    const log = this.#logger;
    const client = new ImapFlow({
      host: this.#settings.host,
      port: this.#settings.port,
      // Implicit TLS, required STARTTLS, or plain text only where allowed (loopback, allowPlaintext).
      ...imapflowTransportOptions(this.#settings),
      auth: { user: this.#settings.user, pass: this.#settings.password },
      // A pooled connection idles between leases; IDLE would only add commands and races.
      disableAutoIdle: true,
      connectionTimeout: this.#connectTimeoutMs,
      greetingTimeout: this.#greetingTimeoutMs,
      socketTimeout: 5 * 60_000,
      logger: imapflowLogger(log),
    });
    // imapflow sends every command (LOGIN, CAPABILITY, SELECT, FETCH, ...) through exec(): count
    // each one and give it a deadline of silence. A command fails when the server sends no byte
    // for `commandTimeoutMs` while it is pending (checked every quarter of it), so a FETCH of a
    // large folder that keeps streaming is not cut, and a server that stops answering is. Failing
    // closes the connection, which rejects the command and everything queued behind it; the caller
    // sees PROVIDER_UNAVAILABLE.
    const raw = client as unknown as { exec: (...args: unknown[]) => Promise<unknown>; socket?: { bytesRead?: number } | false };
    const exec = raw.exec.bind(client);
    const bytesRead = (): number => (raw.socket ? (raw.socket.bytesRead ?? 0) : 0);
    const commandTimeoutMs = this.#commandTimeoutMs;
    const step = Math.max(25, Math.floor(commandTimeoutMs / 4));
    raw.exec = (...args: unknown[]) => {
      this.stats.commands++;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const pending = exec(...args).finally(() => {
        settled = true;
        clearTimeout(timer);
      });
      const deadline = new Promise<never>((_resolve, reject) => {
        let seen = bytesRead();
        let heardAt = Date.now();
        const check = (): void => {
          if (settled) return;
          const now = bytesRead();
          if (now !== seen) {
            seen = now;
            heardAt = Date.now();
          }
          if (Date.now() - heardAt < commandTimeoutMs) {
            timer = setTimeout(check, step);
            return;
          }
          reject(new GatewayError('PROVIDER_UNAVAILABLE', `The IMAP server sent nothing for ${commandTimeoutMs} ms while a command was pending`));
          client.close();
        };
        timer = setTimeout(check, step);
      });
      return Promise.race([pending, deadline]);
    };
    client.on('error', (error: unknown) => log.debug({ err: error }, 'imap connection error'));
    const onAbort = (): void => client.close();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await client.connect();
    } catch (error) {
      client.close();
      throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    this.stats.connections++;
    return client;
  }
}

/**
 * Ties a lease to a request's signal: an abort closes the lease's connection, since closing is the
 * only way to stop an IMAP command in flight (imapflow then rejects every pending command).
 * @returns the function that unties them again (call it once the commands are done)
 * @throws the signal's reason, after releasing the lease, when the signal has already aborted
 */
export function closeOnAbort(lease: Lease, signal: AbortSignal | undefined): () => void {
  if (!signal) return () => undefined;
  if (signal.aborted) {
    lease.release();
    throw signal.reason;
  }
  const onAbort = (): void => lease.client.close();
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}
