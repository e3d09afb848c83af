/**
 * The one retry and back-off helper for idempotent upstream reads (Gmail API calls and batches
 * now, Microsoft Graph next). Whatever provider calls it, the policy is the same:
 *
 * | what | default | option |
 * | --- | --- | --- |
 * | tries, the first one included | 3 | `maxAttempts` (1..10) |
 * | total time budget from the first try, waits and tries included | 10,000 ms | `budgetMs` |
 * | back-off between tries | decorrelated jitter, exponential from ~250 ms, at most 4,000 ms | `initialDelayMs`, `maxDelayMs` |
 *
 * - Only retryable failures are retried: a {@link GatewayError} PROVIDER_THROTTLED or
 *   PROVIDER_UNAVAILABLE (a 429, a 5xx, a network error), unless it carries `retryable: false`
 *   (a provider's mapping says so for e.g. a daily quota). AUTH_FAILED, NOT_FOUND, BAD_USER_INPUT
 *   and any other error pass through at once, untouched.
 * - `Retry-After` (RFC 9110 §10.2.3: delta-seconds or an HTTP-date, see {@link parseRetryAfter})
 *   arrives as the error's `retryAfter` (seconds). The next try waits at least that long. When it
 *   would end past the budget, the helper gives up at once and throws that error, which keeps its
 *   `retryAfter` for the client. An error whose `retryAfterSource` is `'default'` carries a
 *   gateway-chosen hint for clients, not a server's demand: its wait is the back-off alone.
 * - The caller's `signal` stops everything: a pending wait ends at once and the helper rejects
 *   with `signal.reason` (never retried, never mapped). Each try gets a signal that also aborts
 *   when the budget is spent, so a hung try ends with PROVIDER_UNAVAILABLE at the budget.
 *
 * The jittered delays come from cockatiel's `ExponentialBackoff` with its decorrelated-jitter
 * generator. cockatiel's own `RetryPolicy` is not used: in 4.0 its wait between tries is a plain
 * `setTimeout` that the AbortSignal does not end (RetryPolicy.js `delay`), and it has no way to
 * give up early on a Retry-After longer than the remaining budget.
 */
import { ExponentialBackoff, decorrelatedJitterGenerator, type IBackoff } from 'cockatiel';
import { ErrorCode, GatewayError, isGatewayError } from '../errors.ts';
import { untilAborted } from '../request-signal.ts';

/** The policy numbers (see the module docstring). */
export const RETRY_DEFAULTS = {
  maxAttempts: 3,
  budgetMs: 10_000,
  initialDelayMs: 250,
  maxDelayMs: 4_000,
} as const;

/** Longest Retry-After (seconds) taken from a server; a larger one is capped to it (one day). */
export const MAX_RETRY_AFTER_SECONDS = 86_400;

/** Options of {@link retryUpstream}. Durations in milliseconds. */
export interface RetryOptions {
  /** The request's signal: aborting it stops the pending try or wait at once. */
  signal?: AbortSignal;
  /** Most tries, the first one included (1..10); default 3. */
  maxAttempts?: number;
  /** Most time from the start of the first try to the end of the last one; default 10,000 ms. */
  budgetMs?: number;
  /** Scale of the first back-off; default 250 ms. */
  initialDelayMs?: number;
  /** Largest back-off between two tries; default 4,000 ms. */
  maxDelayMs?: number;
  /**
   * Turns what a try throws into the error the policy looks at (e.g. a provider's status
   * mapping); default: unchanged. Not called for the caller's abort.
   */
  mapError?: (error: unknown) => unknown;
  /** Called before each wait, for logs and tests. */
  onRetry?: (event: { attempt: number; delayMs: number; error: unknown }) => void;
}

/** What one try is given. */
export interface RetryAttempt {
  /** 1 for the first try. */
  attempt: number;
  /** Aborts when the caller's signal does or when the budget is spent; pass it to the upstream call. */
  signal: AbortSignal;
}

/**
 * True when the policy retries `error`: a GatewayError PROVIDER_THROTTLED or PROVIDER_UNAVAILABLE
 * that does not carry `retryable: false`. Anything else (other codes, plain errors) is final.
 */
export function isRetryableUpstreamError(error: unknown): boolean {
  if (!isGatewayError(error)) return false;
  const flag = (error as { retryable?: unknown }).retryable;
  if (typeof flag === 'boolean') return flag;
  return error.code === ErrorCode.PROVIDER_THROTTLED || error.code === ErrorCode.PROVIDER_UNAVAILABLE;
}

/**
 * Seconds the server asked to wait, from an error's `retryAfter`; undefined when it asked
 * nothing or when the value is only the gateway's default hint (`retryAfterSource: 'default'`).
 */
export function demandedRetryAfter(error: unknown): number | undefined {
  if (!isGatewayError(error)) return undefined;
  if ((error as { retryAfterSource?: unknown }).retryAfterSource === 'default') return undefined;
  const seconds = error.retryAfter;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds > 0 ? seconds : undefined;
}

/**
 * Parses an HTTP `Retry-After` value (RFC 9110 §10.2.3): delta-seconds (`120`) or an HTTP-date
 * (IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, or the obsolete RFC 850 and asctime forms).
 * @param value the header value, or null/undefined when absent
 * @param nowMs the current time for HTTP-dates, ms since the epoch
 * @returns whole seconds to wait (0 for a date in the past, at most {@link MAX_RETRY_AFTER_SECONDS}),
 *   or undefined for an absent or malformed value
 */
export function parseRetryAfter(value: string | null | undefined, nowMs = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === '' || text.length > 64) return undefined;
  if (/^\d+$/.test(text)) return Math.min(Number(text), MAX_RETRY_AFTER_SECONDS);
  // An HTTP-date is always GMT; asctime carries no zone, so say it, or Date.parse reads local time.
  const asctime = /^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/.test(text);
  if (!asctime && !/GMT$/.test(text)) return undefined;
  const at = Date.parse(asctime ? `${text} GMT` : text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, Math.ceil((at - nowMs) / 1000)), MAX_RETRY_AFTER_SECONDS);
}

/**
 * Runs `fn`, an idempotent upstream read, under the retry policy of this module.
 * @param fn one try; it must honour the signal it is given
 * @returns what the first successful try returns
 * @throws the caller's `signal.reason` when it aborts; the last (mapped) error when it is not
 *   retryable, when the tries are used up, or when its Retry-After does not fit the budget;
 *   GatewayError PROVIDER_UNAVAILABLE when the budget ends during a try
 */
export async function retryUpstream<T>(fn: (attempt: RetryAttempt) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const { signal } = options;
  const maxAttempts = options.maxAttempts ?? RETRY_DEFAULTS.maxAttempts;
  const budgetMs = options.budgetMs ?? RETRY_DEFAULTS.budgetMs;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 10) throw new RangeError('maxAttempts must be an integer from 1 to 10');
  if (!(budgetMs > 0)) throw new RangeError('budgetMs must be positive');
  const mapError = options.mapError ?? ((error: unknown) => error);
  const factory = new ExponentialBackoff({
    generator: decorrelatedJitterGenerator,
    initialDelay: options.initialDelayMs ?? RETRY_DEFAULTS.initialDelayMs,
    maxDelay: options.maxDelayMs ?? RETRY_DEFAULTS.maxDelayMs,
  });

  if (signal?.aborted) throw signal.reason;
  const deadline = Date.now() + budgetMs;
  // The tries' signal: the caller's or the budget's, whichever ends first. Combined by hand, not
  // with AbortSignal.any: the request's signal may come from the fetch ponyfill (see request-signal.ts).
  const budget = new AbortController();
  let budgetSpent = false;
  const budgetTimer = setTimeout(() => {
    budgetSpent = true;
    budget.abort(new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, `The mail provider did not answer within ${budgetMs} ms`));
  }, budgetMs);
  const onCallerAbort = () => budget.abort(signal?.reason);
  signal?.addEventListener('abort', onCallerAbort, { once: true });
  const attemptSignal = budget.signal;
  let backoff: IBackoff<unknown> | undefined;
  try {
    for (let attempt = 1; ; attempt++) {
      let failure: unknown;
      try {
        return await untilAborted(fn({ attempt, signal: attemptSignal }), attemptSignal);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (budgetSpent) {
          const reason = budget.signal.reason as GatewayError;
          throw error === reason ? reason : new GatewayError(reason.code, reason.message, { cause: mapError(error) });
        }
        failure = mapError(error);
      }
      if (attempt >= maxAttempts || !isRetryableUpstreamError(failure)) throw failure;
      backoff = backoff ? backoff.next(undefined) : factory.next();
      const demandedMs = (demandedRetryAfter(failure) ?? 0) * 1000;
      const delayMs = Math.max(Math.round(backoff.duration), demandedMs);
      // Waiting past the budget only to be cut there helps nobody: hand the error (and its
      // Retry-After) back now.
      if (Date.now() + delayMs >= deadline) throw failure;
      options.onRetry?.({ attempt, delayMs, error: failure });
      await sleep(delayMs, signal);
    }
  } finally {
    clearTimeout(budgetTimer);
    signal?.removeEventListener('abort', onCallerAbort);
  }
}

/** Resolves after `ms`, or rejects with `signal.reason` as soon as it aborts (the timer is cleared). */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Of two retryable failures of one batch's items, the one that asks for the longer wait (its
 * Retry-After), a throttle over an outage when equal: the batch waits once for all its retries.
 */
export function longerWait(current: GatewayError | undefined, candidate: GatewayError): GatewayError {
  if (!current) return candidate;
  const a = demandedRetryAfter(current) ?? 0;
  const b = demandedRetryAfter(candidate) ?? 0;
  if (b !== a) return b > a ? candidate : current;
  return current.code !== ErrorCode.PROVIDER_THROTTLED && candidate.code === ErrorCode.PROVIDER_THROTTLED ? candidate : current;
}
