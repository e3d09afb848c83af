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
import { createLookupCache } from './lookup-cache.ts';

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

/**
 * A cached `store.authenticate`, keyed by the SHA-256 digest of the key (see {@link createLookupCache}).
 */
export function createApiKeyCache(store: Pick<Store, 'authenticate'>, options: ApiKeyCacheOptions = {}): Authenticate {
  const maxKeyLength = options.maxKeyLength ?? 512;
  const cache = createLookupCache<AuthenticatedKey | null>({ ttlMs: options.ttlMs ?? 10_000, maxEntries: options.maxEntries ?? 10_000, ...(options.now ? { now: options.now } : {}) });
  return async (apiKey) => {
    // Bounded so an absurd header cannot turn into an expensive hash; real keys are far shorter.
    if (apiKey.length === 0 || apiKey.length > maxKeyLength) return null;
    return cache(createHash('sha256').update(apiKey).digest('base64url'), () => store.authenticate(apiKey));
  };
}
