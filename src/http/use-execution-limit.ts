/**
 * Yoga plugin: how many GraphQL operations execute at once, in the whole process and per
 * workspace (cockatiel bulkheads).
 *
 * Why: the static cost limit estimates list sizes (an attachment list counts as 10), but a real
 * mail can hold 10,000 attachments, and executing such a listing costs about a second of CPU and
 * tens of MiB until it is answered. Each request is bounded in time by its deadline; this bounds
 * them together: at most `maxConcurrent` operations execute at once (`maxConcurrentPerWorkspace`
 * for one workspace, so one tenant's burst cannot take every slot), up to `maxQueued` more wait
 * for a turn, and one more is answered at once with 503 SERVER_BUSY and `Retry-After`.
 *
 * A waiting operation waits within its request's signal (see `useDeadline`): past the deadline it
 * is answered DEADLINE_EXCEEDED, and a client that went away leaves the queue at once; its turn,
 * when it comes, is skipped without executing anything. List this plugin before `useDeadline`, so
 * the deadline covers the wait.
 */
import { bulkhead, BulkheadRejectedError, type BulkheadPolicy } from 'cockatiel';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { ERROR_CODES } from '../errors.ts';
import { untilAborted } from '../request-signal.ts';
import { requestSignalOf } from './use-deadline.ts';

/** Options of {@link useExecutionLimit}; counts of operations. */
export interface UseExecutionLimitOptions {
  /** Operations executing at once in the process. */
  maxConcurrent: number;
  /** Operations of one workspace executing at once. */
  maxConcurrentPerWorkspace: number;
  /** Operations waiting for a turn, in the process and again per workspace; beyond it SERVER_BUSY. */
  maxQueued: number;
}

/** Seconds a client is asked to wait after SERVER_BUSY (`Retry-After`, `extensions.retryAfter`). */
export const SERVER_BUSY_RETRY_AFTER = 1;

/** The answer to an operation that found every slot and the queue taken. */
function serverBusy() {
  return createGraphQLError('The gateway is executing as many operations as it allows; retry shortly', {
    extensions: {
      code: 'SERVER_BUSY',
      retryAfter: SERVER_BUSY_RETRY_AFTER,
      http: { status: ERROR_CODES.SERVER_BUSY.status, headers: { 'Retry-After': String(SERVER_BUSY_RETRY_AFTER) } },
    },
  });
}

/** Bounds concurrent executions as the module docs say. */
export function useExecutionLimit(options: UseExecutionLimitOptions): Plugin {
  const processWide = bulkhead(options.maxConcurrent, options.maxQueued);
  // One bulkhead per workspace with operations in flight; dropped when its last one ends.
  const workspaces = new Map<string, { policy: BulkheadPolicy; inFlight: number }>();

  const enter = (workspaceId: string) => {
    let entry = workspaces.get(workspaceId);
    if (!entry) workspaces.set(workspaceId, (entry = { policy: bulkhead(options.maxConcurrentPerWorkspace, options.maxQueued), inFlight: 0 }));
    entry.inFlight++;
    return entry;
  };
  const leave = (workspaceId: string) => {
    const entry = workspaces.get(workspaceId);
    if (entry && --entry.inFlight === 0) workspaces.delete(workspaceId);
  };

  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const context = args.contextValue as { request?: Request; workspace?: { id: string } };
      const signal = (context.request ? requestSignalOf(context.request) : null) ?? undefined;
      const workspaceId = context.workspace?.id ?? '';
      setExecuteFn(async (executeArgs) => {
        const workspace = enter(workspaceId);
        const run = workspace.policy.execute(() => processWide.execute(() => executeFn(executeArgs), signal), signal);
        // The workspace's bulkhead lives until the execution (or its skipped turn) has ended, not
        // just until the client left, so its count stays true.
        void run.then(
          () => leave(workspaceId),
          () => leave(workspaceId),
        );
        try {
          // cockatiel keeps an aborted waiter queued until its turn (then skips it): untilAborted
          // lets the request go at once.
          return await untilAborted(run, signal);
        } catch (error) {
          if (error instanceof BulkheadRejectedError) return { errors: [serverBusy()] };
          throw error;
        }
      });
    },
  };
}
