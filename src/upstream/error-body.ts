/**
 * The body of an upstream's error answer, read only as far as an error object can reasonably go:
 * mail APIs send small JSON errors, and a hostile or broken server must not make the gateway read
 * megabytes to report a status.
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
