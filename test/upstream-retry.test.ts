/**
 * The shared retry helper (src/upstream/retry.ts) under fake timers: no test sleeps for real.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GatewayError } from '../src/errors.ts';
import { MAX_RETRY_AFTER_SECONDS, parseRetryAfter, retryUpstream, type RetryAttempt } from '../src/upstream/retry.ts';

const unavailable = () => new GatewayError('PROVIDER_UNAVAILABLE', 'down');
const throttled = (retryAfter?: number) => new GatewayError('PROVIDER_THROTTLED', 'slow down', { retryAfter });

/** A try function that throws the given errors in turn, then returns 'ok'; records each call's time. */
function script(...errors: unknown[]) {
  const calls: number[] = [];
  const fn = vi.fn(async (_attempt: RetryAttempt) => {
    calls.push(Date.now());
    const next = errors.shift();
    if (next !== undefined) throw next;
    return 'ok';
  });
  return { fn, calls };
}

/** Settles `promise` into a value the test can inspect without an unhandled rejection. */
function settle<T>(promise: Promise<T>) {
  const state: { done: boolean; value?: T; error?: unknown } = { done: false };
  promise.then(
    (value) => Object.assign(state, { done: true, value }),
    (error: unknown) => Object.assign(state, { done: true, error }),
  );
  return state;
}

describe('retryUpstream', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('retries PROVIDER_UNAVAILABLE and PROVIDER_THROTTLED until a try succeeds, with growing jittered waits', async () => {
    const { fn, calls } = script(unavailable(), throttled());
    const retries: number[] = [];
    const result = settle(retryUpstream(fn, { onRetry: (e) => retries.push(e.delayMs) }));
    await vi.runAllTimersAsync();
    expect(result).toEqual({ done: true, value: 'ok' });
    expect(fn).toHaveBeenCalledTimes(3);
    expect(fn.mock.calls.map(([a]) => a.attempt)).toEqual([1, 2, 3]);
    expect(retries).toHaveLength(2);
    for (const delay of retries) expect(delay).toBeLessThanOrEqual(4000);
    expect(calls[2]! - calls[0]!).toBe(retries[0]! + retries[1]!);
  });

  it('makes at most maxAttempts tries and throws the last error', async () => {
    const errors = [unavailable(), unavailable(), unavailable(), unavailable()];
    const { fn } = script(...errors);
    const result = settle(retryUpstream(fn));
    await vi.runAllTimersAsync();
    expect(fn).toHaveBeenCalledTimes(3);
    expect(result.error).toBe(errors[2]);

    const one = script(unavailable());
    const single = settle(retryUpstream(one.fn, { maxAttempts: 1 }));
    await vi.runAllTimersAsync();
    expect(one.fn).toHaveBeenCalledTimes(1);
    expect(single.error).toBeInstanceOf(GatewayError);
  });

  it.each([
    ['PROVIDER_AUTH_FAILED', new GatewayError('PROVIDER_AUTH_FAILED', 'no')],
    ['NOT_FOUND', new GatewayError('NOT_FOUND', 'gone')],
    ['BAD_USER_INPUT', new GatewayError('BAD_USER_INPUT', 'bad')],
    ['a plain Error', new Error('bug')],
    ['retryable: false', Object.assign(new GatewayError('PROVIDER_THROTTLED', 'daily quota', { retryAfter: 3600 }), { retryable: false })],
  ])('passes %s through at once, untouched', async (_name, error) => {
    const { fn } = script(error);
    const result = settle(retryUpstream(fn));
    await vi.advanceTimersByTimeAsync(0);
    expect(result.done).toBe(true);
    expect(result.error).toBe(error);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it("waits at least the error's Retry-After before the next try", async () => {
    const { fn, calls } = script(throttled(2));
    const result = settle(retryUpstream(fn));
    await vi.advanceTimersByTimeAsync(1999);
    expect(fn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fn).toHaveBeenCalledTimes(2);
    expect(result.value).toBe('ok');
    expect(calls[1]! - calls[0]!).toBe(2000);
  });

  it('honours the Retry-After of a 503 (PROVIDER_UNAVAILABLE with retryAfter) too', async () => {
    const { fn, calls } = script(new GatewayError('PROVIDER_UNAVAILABLE', 'maintenance', { retryAfter: 3 }));
    const result = settle(retryUpstream(fn));
    await vi.runAllTimersAsync();
    expect(result.value).toBe('ok');
    expect(calls[1]! - calls[0]!).toBe(3000);
  });

  it('gives up at once when the Retry-After does not fit the remaining budget; the error keeps it', async () => {
    const error = throttled(30);
    const { fn } = script(error);
    const start = Date.now();
    const result = settle(retryUpstream(fn, { budgetMs: 10_000 }));
    await vi.advanceTimersByTimeAsync(0);
    expect(result.done).toBe(true);
    expect(result.error).toBe(error);
    expect((result.error as GatewayError).retryAfter).toBe(30);
    expect(Date.now() - start).toBe(0);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('counts the waits against the budget: a second Retry-After that would overrun it ends the retries', async () => {
    const second = throttled(0.6);
    const { fn, calls } = script(throttled(0.6), second, unavailable());
    const result = settle(retryUpstream(fn, { budgetMs: 1000 }));
    await vi.runAllTimersAsync();
    expect(fn).toHaveBeenCalledTimes(2);
    expect(calls[1]! - calls[0]!).toBe(600);
    expect(result.error).toBe(second);
  });

  it("treats a default Retry-After (retryAfterSource 'default') as a hint for clients, not a wait", async () => {
    const hinted = Object.assign(throttled(60), { retryAfterSource: 'default' });
    const { fn, calls } = script(hinted);
    const result = settle(retryUpstream(fn, { budgetMs: 10_000 }));
    await vi.runAllTimersAsync();
    expect(result.value).toBe('ok');
    expect(calls[1]! - calls[0]!).toBeLessThanOrEqual(4000);
  });

  it('ends a try that hangs past the budget with PROVIDER_UNAVAILABLE and aborts its signal', async () => {
    let seen: AbortSignal | undefined;
    const fn = vi.fn((attempt: RetryAttempt) => {
      seen = attempt.signal;
      return new Promise<never>(() => {});
    });
    const result = settle(retryUpstream(fn, { budgetMs: 500 }));
    await vi.advanceTimersByTimeAsync(499);
    expect(result.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(result.done).toBe(true);
    expect(result.error).toBeInstanceOf(GatewayError);
    expect((result.error as GatewayError).code).toBe('PROVIDER_UNAVAILABLE');
    expect(seen?.aborted).toBe(true);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('stops a pending wait at once when the signal aborts, with the signal’s reason, and tries no more', async () => {
    const controller = new AbortController();
    const { fn } = script(throttled(5));
    const result = settle(retryUpstream(fn, { signal: controller.signal }));
    await vi.advanceTimersByTimeAsync(1000);
    expect(result.done).toBe(false);
    const reason = new GatewayError('DEADLINE_EXCEEDED', 'request deadline');
    controller.abort(reason);
    await vi.advanceTimersByTimeAsync(0);
    expect(result.done).toBe(true);
    expect(result.error).toBe(reason);
    await vi.runAllTimersAsync();
    expect(fn).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with the reason of an abort during a try (not mapped, not retried), and never starts on an aborted signal', async () => {
    const controller = new AbortController();
    const mapError = vi.fn(() => unavailable());
    const fn = vi.fn(
      ({ signal }: RetryAttempt) =>
        new Promise<never>((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('socket closed')), { once: true })),
    );
    const result = settle(retryUpstream(fn, { signal: controller.signal, mapError }));
    await vi.advanceTimersByTimeAsync(100);
    const reason = new DOMException('The client went away', 'AbortError');
    controller.abort(reason);
    await vi.advanceTimersByTimeAsync(0);
    expect(result.error).toBe(reason);
    expect(mapError).not.toHaveBeenCalled();
    expect(fn).toHaveBeenCalledTimes(1);

    const never = vi.fn(async () => 'ok');
    await expect(retryUpstream(never, { signal: controller.signal })).rejects.toBe(reason);
    expect(never).not.toHaveBeenCalled();
  });

  it('takes a signal that is not a native AbortSignal (the fetch ponyfill gives such signals)', async () => {
    const ponyfill = Object.assign(new EventTarget(), { aborted: false, reason: undefined as unknown });
    const { fn } = script(throttled(5));
    const result = settle(retryUpstream(fn, { signal: ponyfill as unknown as AbortSignal }));
    await vi.advanceTimersByTimeAsync(1000);
    const reason = new Error('client gone');
    Object.assign(ponyfill, { aborted: true, reason });
    ponyfill.dispatchEvent(new Event('abort'));
    await vi.advanceTimersByTimeAsync(0);
    expect(result.error).toBe(reason);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('looks at the mapped error: mapError turns a raw failure into a retryable one', async () => {
    const raw = Object.assign(new Error('Service Unavailable'), { status: 503 });
    const { fn } = script(raw);
    const result = settle(
      retryUpstream(fn, { mapError: (e) => ((e as { status?: number }).status === 503 ? unavailable() : e) }),
    );
    await vi.runAllTimersAsync();
    expect(result.value).toBe('ok');
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it('refuses a nonsensical policy', async () => {
    await expect(retryUpstream(async () => 1, { maxAttempts: 0 })).rejects.toThrow(RangeError);
    await expect(retryUpstream(async () => 1, { budgetMs: 0 })).rejects.toThrow(RangeError);
  });
});

describe('parseRetryAfter (RFC 9110 §10.2.3)', () => {
  const now = Date.parse('1994-11-06T08:49:30Z');

  it('reads delta-seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('99999999999', now)).toBe(MAX_RETRY_AFTER_SECONDS);
  });

  it('reads the three HTTP-date forms as GMT', () => {
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', now)).toBe(7);
    expect(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', now)).toBe(7);
    expect(parseRetryAfter('Sun Nov  6 08:49:37 1994', now)).toBe(7);
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:00:00 GMT', now)).toBe(0);
  });

  it('ignores absent and malformed values', () => {
    for (const value of [undefined, null, '', '-1', '1.5', '12abc', 'soon', 'Sun, 06 Nov 1994 08:49:37 +0100', 'x'.repeat(100)]) {
      expect(parseRetryAfter(value, now)).toBeUndefined();
    }
  });
});
