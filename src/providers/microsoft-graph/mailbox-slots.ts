/**
 * The requests one Graph mailbox may have in flight. Outlook serves at most four concurrent
 * requests per app and mailbox ("MailboxConcurrency",
 * https://learn.microsoft.com/en-us/graph/throttling-limits#outlook-service-limits); a fifth is
 * answered 429. The gateway keeps under it instead of provoking throttling: every HTTP request to
 * the mailbox holds a slot from its start until its answer is read (a download: until its body
 * ended or was dropped), a `$batch` as many as it may run at once ({@link MailboxSlots.acquireUpTo}).
 * Downloads may hold all slots but one, so a listing always gets through while large files stream.
 *
 * Waiters are served first come, first served; a waiter whose signal aborts leaves the queue at
 * once and rejects with the signal's reason.
 */

/** A held slot; release it exactly once (later calls do nothing). */
export type ReleaseSlot = () => void;

/** Slots of one mailbox. */
export class MailboxSlots {
  readonly #max: number;
  readonly #maxDownloads: number;
  #busy = 0;
  #downloads = 0;
  readonly #queue: { download: boolean; grant: () => void }[] = [];

  /**
   * @param max requests in flight at once (Graph: 4)
   * @param maxDownloads of those, downloads at once; default `max - 1` (at least 1)
   */
  constructor(max: number, maxDownloads = Math.max(1, max - 1)) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('max must be a positive integer');
    this.#max = max;
    this.#maxDownloads = Math.min(max, Math.max(1, maxDownloads));
  }

  /** Requests in flight now. */
  get busy(): number {
    return this.#busy;
  }

  /**
   * Waits for a slot.
   * @param download true for a download, which also needs one of the download slots
   * @throws the signal's reason when it aborts first
   */
  acquire(signal?: AbortSignal, download = false): Promise<ReleaseSlot> {
    signal?.throwIfAborted();
    // Queued downloads waiting for a download slot do not hold back a listing that fits now.
    if (this.#fits(download) && !this.#queue.some((w) => this.#fits(w.download))) return Promise.resolve(this.#take(download));
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const entry = {
        download,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.#take(download));
        },
      };
      const onAbort = () => {
        const at = this.#queue.indexOf(entry);
        if (at >= 0) this.#queue.splice(at, 1);
        reject(signal!.reason as Error);
        this.#drain();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(entry);
    });
  }

  /**
   * Waits for at least one slot, then takes as many more as are free, up to `wanted` in all: what
   * a `$batch` uses, since Graph runs up to four of its requests at once against the mailbox.
   * @returns how many slots were taken (1..wanted) and one release for all of them
   * @throws the signal's reason when it aborts first
   */
  async acquireUpTo(wanted: number, signal?: AbortSignal): Promise<{ count: number; release: ReleaseSlot }> {
    const releases = [await this.acquire(signal)];
    while (releases.length < wanted && this.#busy < this.#max && !this.#queue.some((w) => this.#fits(w.download))) releases.push(this.#take(false));
    let released = false;
    return {
      count: releases.length,
      release: () => {
        if (released) return;
        released = true;
        for (const r of releases) r();
      },
    };
  }

  #fits(download: boolean): boolean {
    return this.#busy < this.#max && (!download || this.#downloads < this.#maxDownloads);
  }

  #take(download: boolean): ReleaseSlot {
    this.#busy++;
    if (download) this.#downloads++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#busy--;
      if (download) this.#downloads--;
      this.#drain();
    };
  }

  /** Grants waiting requests in order; a download that cannot start yet lets a listing behind it pass. */
  #drain(): void {
    for (let i = 0; i < this.#queue.length && this.#busy < this.#max; ) {
      const entry = this.#queue[i]!;
      if (!this.#fits(entry.download)) {
        i++;
        continue;
      }
      this.#queue.splice(i, 1);
      entry.grant();
    }
  }
}
