/**
 * Sends many Gmail GETs as HTTP batches (`POST ${root}/batch/gmail/v1`, see `batch.ts` and
 * https://developers.google.com/gmail/api/guides/batch) and retries only what failed.
 *
 * - Calls are split into batches of `limit` (default 50, Google's advice; at most 100), so N calls
 *   cost ⌈N / limit⌉ requests when nothing fails; at most `concurrency` batches are in flight.
 * - Each batch runs under the shared retry helper (`src/upstream/retry.ts`): a whole-batch failure
 *   (a 503 or 429 answer, a network error) resends the calls still open; a 200 answer whose parts
 *   are partly 429/5xx (or missing, or cut) resends only those calls, after at least the longest
 *   Retry-After they carry. Calls that fail for good (404, a stale id, an auth failure, retries
 *   used up) get their typed error; the others keep their answers: one failing call never fails
 *   its neighbours.
 * - The request's `signal` goes into every fetch and every wait: when it aborts, everything stops
 *   and the promise rejects with its reason.
 *
 * Node's `fetch` is passed in (tests and the provider give their own); it must not retry by itself.
 */
import type { GatewayError } from '../../errors.ts';
import { readErrorBody } from '../../upstream/body.ts';
import { isRetryableUpstreamError, longerWait, retryUpstream, type RetryOptions } from '../../upstream/retry.ts';
import { type BatchItemResult, type BatchParseOptions, type BatchRequest, collectBatchResponse, encodeBatch, GMAIL_BATCH_ADVISED, GMAIL_BATCH_MAX } from './batch.ts';
import { mapGmailAnswer, mapGmailError } from './errors.ts';

/** An OAuth access token, or a function that gives a current one (called before each POST). */
export type AccessTokenSource = string | ((signal: AbortSignal) => Promise<string>);

/** Options of {@link batchGet}. */
export interface BatchGetOptions {
  /** The request's signal. */
  signal?: AbortSignal;
  /** Calls per batch, 1..100; default 50. */
  limit?: number;
  /** Batches in flight at once; default 2. */
  concurrency?: number;
  /** Retry policy per batch (tries, budget in ms, back-off); the defaults of `retryUpstream` otherwise. */
  retry?: Omit<RetryOptions, 'signal' | 'mapError'>;
  /** Size bounds of the answers (bytes). */
  parse?: Omit<BatchParseOptions, 'signal'>;
}

/**
 * Runs `requests` as Gmail HTTP batches and returns one result per request, in request order.
 * @param fetchFn node's `fetch` (or one with the same contract)
 * @param root the API origin, e.g. `https://gmail.googleapis.com` (GOOGLE_API_ROOT)
 * @returns `{ ok: true, status, headers, body }` or `{ ok: false, error }` per request, where `error`
 *   is a GatewayError from the Gmail mapping (`errors.ts`)
 * @throws the signal's reason when it aborts; RangeError for a limit outside 1..100 or a request
 *   `encodeBatch` refuses
 */
export async function batchGet(
  fetchFn: typeof fetch,
  root: string,
  accessToken: AccessTokenSource,
  requests: readonly BatchRequest[],
  options: BatchGetOptions = {},
): Promise<BatchItemResult[]> {
  const limit = options.limit ?? GMAIL_BATCH_ADVISED;
  if (!Number.isInteger(limit) || limit < 1 || limit > GMAIL_BATCH_MAX) throw new RangeError(`batch limit must be an integer from 1 to ${GMAIL_BATCH_MAX}`);
  const concurrency = Math.max(1, options.concurrency ?? 2);
  const url = `${root.replace(/\/+$/, '')}/batch/gmail/v1`;
  // Refuse a bad request before anything is sent.
  for (let at = 0; at < requests.length; at += limit) encodeBatch(requests.slice(at, at + limit), { limit });

  const slices: BatchRequest[][] = [];
  for (let at = 0; at < requests.length; at += limit) slices.push(requests.slice(at, at + limit));
  const answers: BatchItemResult[][] = new Array<BatchItemResult[]>(slices.length);
  let next = 0;
  const worker = async () => {
    while (next < slices.length) {
      const k = next++;
      answers[k] = await runBatch(fetchFn, url, accessToken, slices[k]!, limit, options);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, slices.length) }, worker));
  return answers.flat();
}

/** One batch of at most `limit` calls, with its retries. */
async function runBatch(
  fetchFn: typeof fetch,
  url: string,
  accessToken: AccessTokenSource,
  calls: readonly BatchRequest[],
  limit: number,
  options: BatchGetOptions,
): Promise<BatchItemResult[]> {
  const { signal } = options;
  const results: (BatchItemResult | undefined)[] = Array.from({ length: calls.length }, () => undefined);
  const lastError = new Map<number, GatewayError>();
  let open = calls.map((_, i) => i);
  try {
    await retryUpstream(
      async ({ signal: attemptSignal }) => {
        const batch = encodeBatch(
          open.map((i) => calls[i]!),
          { limit },
        );
        const token = typeof accessToken === 'string' ? accessToken : await accessToken(attemptSignal);
        let response: Response;
        try {
          response = await fetchFn(url, {
            method: 'POST',
            headers: { 'content-type': batch.contentType, authorization: `Bearer ${token}` },
            body: batch.body,
            signal: attemptSignal,
          });
        } catch (error) {
          if (attemptSignal.aborted) throw attemptSignal.reason;
          throw mapGmailError(error);
        }
        if (!response.ok) {
          const error = mapGmailAnswer({ status: response.status, body: await readErrorBody(response), headers: response.headers });
          for (const i of open) lastError.set(i, error);
          throw error;
        }
        const items = await collectBatchResponse(response.headers.get('content-type'), response.body ?? emptyBody(), batch.contentIds, {
          ...options.parse,
          signal: attemptSignal,
        });
        const failed: number[] = [];
        let wait: GatewayError | undefined;
        items.forEach((item, k) => {
          const i = open[k]!;
          if (item.ok || !isRetryableUpstreamError(item.error)) {
            results[i] = item;
            return;
          }
          failed.push(i);
          lastError.set(i, item.error);
          wait = longerWait(wait, item.error);
        });
        open = failed;
        // The helper waits (at least the longest Retry-After) and calls again with these calls only.
        if (wait) throw wait;
      },
      { ...options.retry, signal },
    );
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    const final = mapGmailError(error);
    for (const i of open) results[i] = { ok: false, error: lastError.get(i) ?? final };
  }
  return results.map((result) => result ?? { ok: false, error: mapGmailError(new Error('no answer')) });
}



async function* emptyBody(): AsyncGenerator<Uint8Array> {}
