/**
 * Messages a cloud provider read lately (with their thread or conversation), kept a short while so
 * that a listed message costs no second upstream read and a download finds its attachment's
 * metadata. Bounded by weight, not count: a message weighs 1 plus its attachments, so hostile
 * messages with thousands of parts cannot fill memory. Oldest entries go first.
 */
import type { MessageInfo } from '../domain/mail.ts';

/** How long a message is reused, ms. */
export const MESSAGE_CACHE_TTL_MS = 60_000;
/** Most weight kept per mailbox (a message weighs 1 plus its attachments). */
export const MESSAGE_CACHE_MAX_WEIGHT = 50_000;

/** One mailbox's recently read messages by key. */
export class MessageCache {
  readonly #entries = new Map<string, { info: MessageInfo; at: number; weight: number }>();
  #weight = 0;

  constructor(
    private readonly ttlMs = MESSAGE_CACHE_TTL_MS,
    private readonly maxWeight = MESSAGE_CACHE_MAX_WEIGHT,
  ) {}

  /** The message when it was read less than the TTL ago, else null (and forgotten). */
  get(key: string): MessageInfo | null {
    const hit = this.#entries.get(key);
    if (!hit) return null;
    if (Date.now() - hit.at > this.ttlMs) {
      this.#forget(key);
      return null;
    }
    return hit.info;
  }

  /** Keeps `info` (replacing an older read); a message heavier than the whole cache is not kept. */
  remember(info: MessageInfo): void {
    this.#forget(info.key);
    const weight = 1 + info.attachments.length;
    if (weight > this.maxWeight) return;
    this.#entries.set(info.key, { info, at: Date.now(), weight });
    this.#weight += weight;
    while (this.#weight > this.maxWeight) this.#forget(this.#entries.keys().next().value!);
  }

  /** Forgets everything (the provider is closing). */
  clear(): void {
    this.#entries.clear();
    this.#weight = 0;
  }

  #forget(key: string): void {
    const hit = this.#entries.get(key);
    if (!hit) return;
    this.#entries.delete(key);
    this.#weight -= hit.weight;
  }
}
