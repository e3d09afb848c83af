/**
 * A small cache of asynchronous lookups with a time to live and a bounded size, for answers that
 * may be a little stale but must not cost a database query per request (API keys, key status).
 * Concurrent lookups of one key share one promise; a failed lookup is not kept (the error reaches
 * its callers and the next call tries again); the least recently used entry goes first when full.
 */

/** Options of {@link createLookupCache}. */
export interface LookupCacheOptions {
  /** How long an answer is reused, ms; 0 turns the cache off (every call looks up). */
  ttlMs: number;
  /** Most entries kept. */
  maxEntries: number;
  /** The clock, ms since the epoch (tests). */
  now?: () => number;
}

/** Looks `key` up through the cache; `load` runs only when no fresh answer is kept. */
export type LookupCache<V> = (key: string, load: () => Promise<V>) => Promise<V>;

/** Builds a {@link LookupCache}. */
export function createLookupCache<V>(options: LookupCacheOptions): LookupCache<V> {
  const { ttlMs, maxEntries } = options;
  const now = options.now ?? Date.now;
  const entries = new Map<string, { expires: number; answer: Promise<V> }>();
  return (key, load) => {
    if (ttlMs === 0) return load();
    const time = now();
    const cached = entries.get(key);
    // Re-inserted on every use: a Map iterates in insertion order, so the first entry is the least recently used.
    entries.delete(key);
    if (cached && cached.expires > time) {
      entries.set(key, cached);
      return cached.answer;
    }
    const entry = { expires: time + ttlMs, answer: load() };
    entries.set(key, entry);
    while (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
    entry.answer.catch(() => {
      if (entries.get(key) === entry) entries.delete(key);
    });
    return entry.answer;
  };
}
