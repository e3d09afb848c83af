/**
 * When to sync a folder of the index: at most once per `minIntervalMs` per folder (the last check
 * time is in the index, so it holds across processes), one sync per folder in this process
 * (concurrent callers share its promise) and across processes (the lease, `./imap-sync.ts`). A
 * caller's AbortSignal stops its wait, never the shared sync.
 */
import { untilAborted } from '../request-signal.ts';
import type { MailIndexStore } from './store.ts';
import type { SyncOutcome } from './imap-sync.ts';

/** Options of {@link SyncCoordinator}. */
export interface SyncCoordinatorOptions {
  index: MailIndexStore;
  /** A folder checked less than this long ago (ms) is taken as current; default 5 000. */
  minIntervalMs?: number;
  /** Runs one sync of the folder (on a pooled connection, under the folder's lease). */
  run: (mailboxId: string, folder: string) => Promise<SyncOutcome>;
}

/** Default `minIntervalMs`. */
export const SYNC_MIN_INTERVAL_MS = 5_000;

/** Shares and rate-limits folder syncs (see the module docs). */
export class SyncCoordinator {
  readonly #index: MailIndexStore;
  readonly #minIntervalMs: number;
  readonly #run: SyncCoordinatorOptions['run'];
  readonly #running = new Map<string, Promise<SyncOutcome>>();

  constructor(options: SyncCoordinatorOptions) {
    this.#index = options.index;
    this.#minIntervalMs = options.minIntervalMs ?? SYNC_MIN_INTERVAL_MS;
    this.#run = options.run;
  }

  /**
   * Makes sure the folder was checked within `minIntervalMs`, syncing it when not.
   * @returns the outcome of the sync waited for, or null when the folder was checked recently
   * @throws the sync's error; the signal's reason when it aborts first (the sync runs on)
   */
  async ensureCurrent(mailboxId: string, folder: string, options: { signal?: AbortSignal | undefined } = {}): Promise<SyncOutcome | null> {
    const key = `${mailboxId}\u0000${folder}`;
    let running = this.#running.get(key);
    if (!running) {
      const state = await this.#index.folder(mailboxId, folder);
      if (state?.syncState === 'current' && state.checkedAt && Date.now() - state.checkedAt.getTime() < this.#minIntervalMs) return null;
      running = this.#running.get(key);
      if (!running) {
        running = this.#run(mailboxId, folder).finally(() => this.#running.delete(key));
        this.#running.set(key, running);
      }
    }
    return untilAborted(running, options.signal);
  }
}
