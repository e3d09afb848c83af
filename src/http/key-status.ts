/**
 * Which API keys may still back a download URL: a short-lived, bounded cache over
 * {@link Store.activeApiKeyWorkspace}, so that a burst of downloads costs one query per key and
 * per {@link DEFAULT_KEY_STATUS_TTL_MS}, not one per request. Revoking a key (or deleting its
 * workspace) therefore stops the URLs it minted within that time.
 */
import type { Store } from '../store/types.ts';
import { createLookupCache } from './lookup-cache.ts';

/** How long (ms) the answer for one key is reused: a revoked key's URLs stop working within this time. */
export const DEFAULT_KEY_STATUS_TTL_MS = 30_000;
/** Most keys remembered at once; the oldest entry is dropped beyond it. Only keys of genuine tokens get here. */
export const MAX_KEY_STATUS_ENTRIES = 10_000;

/** Looks up the workspace of a usable API key. */
export interface KeyStatus {
  /**
   * The workspace id of the key while it is neither revoked nor gone (nor its workspace), else null.
   * @throws whatever the store throws (a failed lookup is not remembered)
   */
  workspaceOf(keyId: string): Promise<string | null>;
}

/** Options of {@link createKeyStatus}. */
export interface KeyStatusOptions {
  /** Milliseconds an answer is reused (default {@link DEFAULT_KEY_STATUS_TTL_MS}); 0 asks the store every time. */
  ttlMs?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/** A {@link KeyStatus} over `store`; concurrent lookups of one key share one query. */
export function createKeyStatus(store: Pick<Store, 'activeApiKeyWorkspace'>, options: KeyStatusOptions = {}): KeyStatus {
  const cache = createLookupCache<string | null>({ ttlMs: options.ttlMs ?? DEFAULT_KEY_STATUS_TTL_MS, maxEntries: MAX_KEY_STATUS_ENTRIES, ...(options.now ? { now: options.now } : {}) });
  return { workspaceOf: (keyId) => cache(keyId, () => store.activeApiKeyWorkspace(keyId)) };
}
