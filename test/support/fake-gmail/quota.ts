/**
 * Gmail's per-user rate limit (https://developers.google.com/gmail/api/reference/quota): every
 * method costs quota units (messages.get, messages.list, messages.attachments.get 5;
 * threads.get, threads.list 10; getProfile, labels.list, labels.get 1), a user may spend
 * 15,000 units per minute, and past it calls fail with reason `userRateLimitExceeded`. Off unless
 * a test sets {@link Quota.unitsPerMinute}; the window slides over the last 60 s.
 */
import { apiError, type ApiError } from './errors.ts';

/** Quota units per method, keyed by the route's collection and depth. */
export function unitsOf(rest: readonly string[]): number {
  const [collection] = rest;
  if (collection === 'threads') return 10;
  if (collection === 'messages') return 5;
  return 1;
}

/** The per-user quota of one fake server. */
export class Quota {
  /** Units a user may spend per minute; null for no limit (the default). */
  unitsPerMinute: number | null = null;
  /** HTTP status of the refusal: Gmail answers 429 (older answers were 403). */
  status = 429;
  private readonly spent = new Map<string, { at: number; units: number }[]>();

  /** Spends `units` for a user, or returns the refusal when that would pass the limit. */
  charge(user: string, units: number, now = Date.now()): ApiError | null {
    if (this.unitsPerMinute == null) return null;
    const list = (this.spent.get(user) ?? []).filter((e) => e.at > now - 60_000);
    this.spent.set(user, list);
    const used = list.reduce((sum, e) => sum + e.units, 0);
    if (used + units > this.unitsPerMinute) {
      const retryAt = new Date((list[0]?.at ?? now) + 60_000).toISOString();
      return apiError(this.status, `User-rate limit exceeded.  Retry after ${retryAt}`, 'userRateLimitExceeded', { domain: 'usageLimits' });
    }
    list.push({ at: now, units });
    return null;
  }

  /** Forgets what was spent. */
  reset(): void {
    this.spent.clear();
  }
}
