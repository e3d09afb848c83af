/**
 * The one AbortSignal of a GraphQL request: it aborts when the client goes away (the HTTP
 * request's own signal) or when the request's deadline passes, whichever comes first. Providers
 * and loaders stop their work on it and reject with its `reason`: a DOMException `AbortError`
 * for a client that left, a GatewayError DEADLINE_EXCEEDED for the deadline.
 */
import { GatewayError } from './errors.ts';

/** A request's signal and the means to release its timer and listener. */
export interface RequestSignal {
  signal: AbortSignal;
  /** Stops the deadline timer and detaches from the client's signal (call when the response is sent). */
  dispose(): void;
}

/**
 * Combines `client` (the HTTP request's signal; may be absent) with a deadline of `deadlineMs`
 * milliseconds from now. Combined by hand rather than with `AbortSignal.any`: the request's
 * signal may come from the fetch ponyfill (not a native AbortSignal), and the listener is removed
 * when the request ends instead of living as long as the client's signal.
 */
export function createRequestSignal(client: AbortSignal | null | undefined, deadlineMs: number): RequestSignal {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort(new GatewayError('DEADLINE_EXCEEDED', `The request ran longer than its deadline of ${deadlineMs} ms and was stopped`));
  }, deadlineMs);
  // The timer must never keep a process alive on its own.
  timer.unref?.();
  const onClientAbort = () => {
    clearTimeout(timer);
    controller.abort(client?.reason ?? new DOMException('The client went away', 'AbortError'));
  };
  if (client?.aborted) onClientAbort();
  else client?.addEventListener('abort', onClientAbort, { once: true });
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      client?.removeEventListener('abort', onClientAbort);
    },
  };
}

/** True when `error` is the deadline's reason (a GatewayError DEADLINE_EXCEEDED). */
export function isDeadlineExceeded(error: unknown): error is GatewayError {
  return error instanceof GatewayError && error.code === 'DEADLINE_EXCEEDED';
}

/**
 * `promise`, or a rejection with `signal.reason` as soon as `signal` aborts (at once when it
 * already has). The work behind `promise` goes on; use it for waits shared with other requests.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}
