/**
 * Upstream answer bodies read whole only up to a bound: mail APIs send small JSON answers and
 * errors, and a hostile or broken server must not make the gateway buffer megabytes it did not
 * ask for.
 */

/** Longest error body read, bytes. */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * At most {@link MAX_ERROR_BODY_BYTES} of a failed answer's body, as UTF-8 text; the rest is not
 * read and the body is cancelled. A body cut mid-way gives what arrived (the status decides).
 */
export async function readErrorBody(response: Response): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < MAX_ERROR_BODY_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // A body cut under an error status: the status alone decides.
  } finally {
    reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).toString('utf8', 0, Math.min(size, MAX_ERROR_BODY_BYTES));
}

/**
 * The body of `response` as UTF-8 text, at most `limit` bytes; null when it is longer (the rest
 * is not read and the body is cancelled). A failing read (connection cut, the request's signal
 * aborted) rejects with the fetch error, for the caller to map.
 */
export async function readBodyLimited(response: Response, limit: number): Promise<string | null> {
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  try {
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      size += next.value.byteLength;
      if (size > limit) return null;
      chunks.push(next.value);
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8');
}
