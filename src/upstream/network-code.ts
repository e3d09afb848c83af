/**
 * The network error code behind a failed upstream call. Node's fetch (undici) rejects with
 * `TypeError('fetch failed')` and hides the socket's code in `cause`; gaxios and streams nest it
 * too, so the chain is walked a few levels.
 */

/** Transport failures a retry may cure: the connection was refused, reset, cut or timed out, or the name did not resolve. */
export const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/**
 * The first code of `codes` in `failure` or its `cause` chain (at most 4 levels), `TimeoutError`
 * for an `AbortSignal.timeout` abort, else null.
 */
export function networkCodeOf(failure: unknown, codes: ReadonlySet<string> = NETWORK_CODES): string | null {
  let current: unknown = failure;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    const { code, name } = current as { code?: unknown; name?: unknown };
    if (typeof code === 'string' && codes.has(code)) return code;
    if (name === 'TimeoutError') return 'TimeoutError';
    current = (current as { cause?: unknown }).cause;
  }
  return null;
}
