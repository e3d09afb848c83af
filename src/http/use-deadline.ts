/**
 * Yoga plugin: the request signal and deadline of every GraphQL request.
 *
 * When yoga starts on a GraphQL request (`onRequestParse`) it creates the request's signal
 * ({@link createRequestSignal}: the client going away or `deadlineMs` passing). The context
 * factory puts it in the context ({@link requestSignalOf}), the loaders hand it to every provider
 * call, and execution runs with it (the executor stops resolving fields once it aborts). When the
 * deadline passes the answer is DEADLINE_EXCEEDED with HTTP 504 and no data, at the deadline,
 * whatever resolvers are still waiting for; a client that left gets no answer. The timer is
 * released with the response.
 */
import type { Plugin } from 'graphql-yoga';
import { DEFAULT_LIMITS } from '../config.ts';
import { createRequestSignal, isDeadlineExceeded, type RequestSignal } from '../request-signal.ts';
import { requestError } from './request-error.ts';

/** Options of {@link useDeadline}. */
export interface UseDeadlineOptions {
  /** Deadline of one request, ms. Default 30 000. */
  deadlineMs?: number;
}

const signals = new WeakMap<Request, RequestSignal>();

/** The signal {@link useDeadline} created for `request`, or null before it ran. */
export function requestSignalOf(request: Request): AbortSignal | null {
  return signals.get(request)?.signal ?? null;
}

/** Creates the request signal, runs execution under it and answers 504 at the deadline. */
export function useDeadline(options: UseDeadlineOptions = {}): Plugin {
  const deadlineMs = options.deadlineMs ?? DEFAULT_LIMITS.deadlineMs;
  return {
    onRequestParse({ request }) {
      signals.set(request, createRequestSignal(request.signal, deadlineMs));
    },
    onExecute({ args, executeFn, setExecuteFn }) {
      const request = (args.contextValue as { request?: Request }).request;
      const signal = request ? requestSignalOf(request) : null;
      if (!signal) return;
      setExecuteFn(async (executeArgs) => {
        try {
          return await executeFn({ ...executeArgs, signal } as typeof executeArgs);
        } catch (error) {
          if (!isDeadlineExceeded(error)) throw error;
          return { errors: [requestError('DEADLINE_EXCEEDED', error.message)] };
        }
      });
    },
    onResponse({ request }) {
      signals.get(request)?.dispose();
      signals.delete(request);
    },
  };
}
