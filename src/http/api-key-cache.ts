/**
 * API key lookups with a short-lived cache, so that authenticating a request costs no database
 * query (nor a hash over the network) while its answer is fresh. Unknown keys are cached too, so
 * repeating a bad key does not reach the database either.
 *
 * A key revoked in the store stops working once its entry expires: within `ttlMs` (default
 * 10 s). The cache holds at most `maxEntries` keys (least recently used dropped first) and keys
 * them by their SHA-256 digest, not by the plain key.
 */
import { createHash } from 'node:crypto';
import type { AuthenticatedKey, Store } from '../store/types.ts';

/** Options of {@link createApiKeyCache}. */
export interface ApiKeyCacheOptions {
  /** How long a lookup (found or not) is reused, ms; 0 turns the cache off. Default 10 000. */
  ttlMs?: number;
  /** Most keys kept; the least recently used go first. Default 10 000. */
  maxEntries?: number;
  /** Longest key looked up at all (characters); longer ones are unknown without a lookup. Default 512. */
  maxKeyLength?: number;
  /** The clock, ms (tests). */
  now?: () => number;
}

/** Looks up API keys through the cache. */
export type Authenticate = (apiKey: string) => Promise<AuthenticatedKey | null>;

interface Entry {
  expires: number;
  result: Promise<AuthenticatedKey | null>;
}

/**
 * A cached `store.authenticate`. Concurrent lookups of one key share one store call; a failed
 * store call is not cached (the error reaches the caller, the next request tries again).
 */
export function createApiKeyCache(store: Pick<Store, 'authenticate'>, options: ApiKeyCacheOptions = {}): Authenticate {
  const ttlMs = options.ttlMs ?? 10_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const maxKeyLength = options.maxKeyLength ?? 512;
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();

  return async (apiKey) => {
    // Bounded so an absurd header cannot turn into an expensive hash; real keys are far shorter.
    if (apiKey.length === 0 || apiKey.length > maxKeyLength) return null;
    if (ttlMs === 0) return store.authenticate(apiKey);
    const digest = createHash('sha256').update(apiKey).digest('base64url');
    const cached = entries.get(digest);
    const time = now();
    if (cached && cached.expires > time) {
      // Re-inserted: a Map iterates in insertion order, so the first entry is the least recently used.
      entries.delete(digest);
      entries.set(digest, cached);
      return cached.result;
    }
    const result = store.authenticate(apiKey);
    const entry: Entry = { expires: time + ttlMs, result };
    entries.delete(digest);
    entries.set(digest, entry);
    while (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
    result.catch(() => {
      if (entries.get(digest) === entry) entries.delete(digest);
    });
    return result;
  };
}
