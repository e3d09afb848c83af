/**
 * Many Graph GETs as JSON batches (`POST /v1.0/$batch`,
 * https://learn.microsoft.com/en-us/graph/json-batching), with per-item results and retries of
 * only what failed.
 *
 * - The codec ({@link encodeGraphBatch}, {@link decodeGraphBatch}): at most {@link GRAPH_BATCH_LIMIT}
 *   requests per batch, each `{id, method: 'GET', url, headers}` with `url` relative to the version
 *   root; answers come back in any order and are matched by `id`, each with its own `status`,
 *   `headers` and `body` (a JSON object, or base64 text for a binary body: {@link binaryBodyOf}).
 * - The runner ({@link runGraphBatch}): requests are cut into batches of 20; each batch runs under
 *   the shared retry helper: a whole-batch failure (429/5xx, a network error) resends the requests
 *   still open; a 200 whose items are partly 429/503/504 resends only those, after at least the
 *   longest Retry-After they carry. Items that fail for good (404, 403, retries used up) get their
 *   typed error; the others keep their answers, so one failing item never fails its neighbours.
 *   Items answered 401 get one more try with a fresh token.
 */
import { ErrorCode, GatewayError } from '../../errors.ts';
import { isRetryableUpstreamError, longerWait, retryUpstream } from '../../upstream/retry.ts';
import type { GraphClient } from './client.ts';
import { isGraphFailure, malformedGraphAnswer, mapGraphAnswer, mapGraphError, type GraphHeaders } from './errors.ts';

/** Most requests in one JSON batch (Graph's limit). */
export const GRAPH_BATCH_LIMIT = 20;
/** Requests of a batch Graph runs at once against one mailbox by default (Outlook's MailboxConcurrency). */
export const GRAPH_MAILBOX_WIDTH = 4;

/** One GET of a batch: a path below the version root with its query (values are percent-encoded here). */
export interface GraphBatchRequest {
  path: string;
  query?: Record<string, string | number | undefined>;
}

/** The result of one request: its answer, or its typed error. */
export type GraphBatchResult = { ok: true; status: number; headers: GraphHeaders; body: unknown } | { ok: false; error: GatewayError };

/** The JSON body of a batch POST. */
export interface GraphBatchBody {
  requests: { id: string; method: 'GET'; url: string; headers: Record<string, string>; dependsOn?: string[] }[];
}

/** The URL of a batch item: the path and its query, values percent-encoded (relative to the version root). */
export function batchUrlOf(request: GraphBatchRequest): string {
  const params = Object.entries(request.query ?? {})
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([name, value]) => `${name}=${encodeURIComponent(String(value))}`);
  return params.length > 0 ? `${request.path}?${params.join('&')}` : request.path;
}

/**
 * The body of one batch; item ids are `"1"`..`"n"` in request order. With a `width` below the
 * number of requests, the requests form `width` chains (request i `dependsOn` request i − width),
 * so Graph runs at most `width` of them at once: it otherwise runs four at once whatever the
 * mailbox already serves ("Sequencing requests with the dependsOn property").
 * @param headers headers every item carries (the `Prefer` of immutable ids: the batch's own headers do not reach its items)
 * @throws RangeError for no requests or more than {@link GRAPH_BATCH_LIMIT}
 */
export function encodeGraphBatch(requests: readonly GraphBatchRequest[], headers: Record<string, string> = {}, width = GRAPH_BATCH_LIMIT): GraphBatchBody {
  if (requests.length === 0 || requests.length > GRAPH_BATCH_LIMIT) throw new RangeError(`a batch holds 1 to ${GRAPH_BATCH_LIMIT} requests`);
  const w = Math.max(1, Math.floor(width));
  return {
    requests: requests.map((r, i) => ({
      id: String(i + 1),
      method: 'GET',
      url: batchUrlOf(r),
      headers: { ...headers },
      ...(i >= w ? { dependsOn: [String(i - w + 1)] } : {}),
    })),
  };
}

/**
 * The per-request results of a batch answer, in request order (matched by `id`, in any order).
 * A request without a response, or with an unreadable one, gets a retryable PROVIDER_UNAVAILABLE.
 * @param count how many requests the batch held
 */
export function decodeGraphBatch(answer: unknown, count: number): GraphBatchResult[] {
  const results: (GraphBatchResult | undefined)[] = new Array<GraphBatchResult | undefined>(count).fill(undefined);
  const responses = (answer as { responses?: unknown } | null)?.responses;
  if (!Array.isArray(responses)) throw malformedGraphAnswer('Microsoft Graph sent a batch answer without responses');
  for (const item of responses) {
    const { id, status, headers, body } = (item ?? {}) as { id?: unknown; status?: unknown; headers?: unknown; body?: unknown };
    const at = typeof id === 'string' && /^\d{1,3}$/.test(id) ? Number(id) - 1 : -1;
    if (at < 0 || at >= count || results[at] !== undefined || typeof status !== 'number') continue;
    const itemHeaders = typeof headers === 'object' && headers !== null ? (headers as Record<string, unknown>) : null;
    results[at] = status >= 200 && status < 300 ? { ok: true, status, headers: itemHeaders, body: body ?? null } : { ok: false, error: mapGraphAnswer({ status, body, headers: itemHeaders }) };
  }
  return results.map((r) => r ?? { ok: false, error: malformedGraphAnswer('Microsoft Graph left a batch request unanswered') });
}

/**
 * The bytes of a binary body inside a batch answer: Graph sends them base64-encoded as a JSON
 * string (FIELD-NOTES; graph-client's `BatchResponseContent` hands them over the same way).
 * @returns null when the body is not a base64 string
 */
export function binaryBodyOf(body: unknown): Buffer | null {
  if (typeof body !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) return null;
  return Buffer.from(body, 'base64');
}

/** Options of {@link runGraphBatch}. */
export interface RunGraphBatchOptions {
  signal?: AbortSignal;
  /** Headers of every item (e.g. `Prefer`). */
  headers?: Record<string, string>;
  /** Requests per batch, 1..20; default 20. */
  limit?: number;
  /** Most requests of a batch Graph may run at once (the mailbox's concurrency); default 4. */
  width?: number;
  /** API version of the batch (`v1.0` by default). */
  version?: string;
  /** Retry numbers of each batch; `retryUpstream`'s defaults otherwise. */
  retry?: { maxAttempts?: number; budgetMs?: number; initialDelayMs?: number; maxDelayMs?: number };
}

/**
 * Runs `requests` as JSON batches through `client` and returns one result per request, in order.
 * Batches run concurrently; the mailbox's slots bound how many are in flight.
 * @throws the signal's reason when it aborts
 */
export async function runGraphBatch(client: Pick<GraphClient, 'postBatchOnce' | 'invalidateToken'>, requests: readonly GraphBatchRequest[], options: RunGraphBatchOptions = {}): Promise<GraphBatchResult[]> {
  const limit = options.limit ?? GRAPH_BATCH_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > GRAPH_BATCH_LIMIT) throw new RangeError(`batch limit must be an integer from 1 to ${GRAPH_BATCH_LIMIT}`);
  const slices: GraphBatchRequest[][] = [];
  for (let at = 0; at < requests.length; at += limit) slices.push(requests.slice(at, at + limit));
  const answers = await Promise.all(slices.map((slice) => runOne(client, slice, options)));
  const results = answers.flat();
  // Items answered 401: a fresh token, and one more try for those only.
  const unauthorized = results.map((r, i) => (!r.ok && isGraphFailure(r.error, 'auth') && r.error.status === 401 ? i : -1)).filter((i) => i >= 0);
  if (unauthorized.length === 0) return results;
  client.invalidateToken();
  const again: GraphBatchResult[] = [];
  for (let at = 0; at < unauthorized.length; at += limit) again.push(...(await runOne(client, unauthorized.slice(at, at + limit).map((i) => requests[i]!), options)));
  unauthorized.forEach((i, k) => (results[i] = again[k]!));
  return results;
}

/** One batch of at most 20 requests, with its retries. */
async function runOne(client: Pick<GraphClient, 'postBatchOnce'>, calls: readonly GraphBatchRequest[], options: RunGraphBatchOptions): Promise<GraphBatchResult[]> {
  const { signal } = options;
  const results: (GraphBatchResult | undefined)[] = new Array<GraphBatchResult | undefined>(calls.length).fill(undefined);
  const lastError = new Map<number, GatewayError>();
  let open = calls.map((_, i) => i);
  try {
    await retryUpstream(
      async ({ signal: attempt }) => {
        // Requests that only followed a request which failed for good (424) go again at once.
        for (let round = 0; ; round++) {
          let answer: unknown;
          try {
            const sent = open;
            answer = await client.postBatchOnce(
              (width) =>
                encodeGraphBatch(
                  sent.map((i) => calls[i]!),
                  options.headers,
                  width,
                ),
              Math.min(sent.length, options.width ?? GRAPH_MAILBOX_WIDTH),
              attempt,
              ...(options.version ? [options.version] : []),
            );
          } catch (error) {
            if (attempt.aborted) throw attempt.reason;
            const mapped = mapGraphError(error);
            for (const i of open) lastError.set(i, mapped);
            throw mapped;
          }
          const items = decodeGraphBatch(answer, open.length);
          const failed: number[] = [];
          const dependents: number[] = [];
          let wait: GatewayError | undefined;
          items.forEach((item, k) => {
            const i = open[k]!;
            if (item.ok || !isRetryableUpstreamError(item.error)) {
              results[i] = item;
              return;
            }
            lastError.set(i, item.error);
            if (isGraphFailure(item.error, 'dependency')) {
              dependents.push(i);
              return;
            }
            failed.push(i);
            wait = longerWait(wait, item.error);
          });
          if (!wait && dependents.length > 0 && round < calls.length) {
            open = dependents;
            continue;
          }
          open = [...failed, ...dependents].sort((a, b) => a - b);
          // The helper waits (at least the longest Retry-After) and calls again with these only.
          if (wait) throw wait;
          if (open.length > 0) throw lastError.get(open[0]!)!;
          return;
        }
      },
      { ...options.retry, signal, mapError: mapGraphError },
    );
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    const final = mapGraphError(error);
    for (const i of open) results[i] = { ok: false, error: lastError.get(i) ?? final };
  }
  return results.map((r) => r ?? { ok: false, error: new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'Microsoft Graph left a batch request unanswered') });
}

