/** Splitting bytes into chunks for streaming tests. */

/**
 * `input` cut into consecutive chunks whose lengths `size()` picks (at least 1 byte each), so a
 * parser or decoder meets every kind of boundary.
 */
export function split(input: Buffer, size: () => number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < input.length; ) {
    const n = Math.max(1, size());
    chunks.push(input.subarray(at, at + n));
    at += n;
  }
  return chunks;
}
