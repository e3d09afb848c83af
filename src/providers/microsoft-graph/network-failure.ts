/**
 * What a failed `fetch` to a Microsoft endpoint (identity platform or Graph) says about the
 * network, in the words of the add-time check: `dns`, `refused`, `tls`, `unreachable`. Node's
 * fetch (undici) rejects with `TypeError('fetch failed')` whose `cause` carries the socket's
 * error code (`ECONNREFUSED`, `ENOTFOUND`, OpenSSL's `CERT_HAS_EXPIRED`, ...).
 */

/** A network failure by kind. */
export type NetworkFailureKind = 'dns' | 'refused' | 'tls' | 'unreachable';

const DNS = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL']);
const TLS = /^(CERT_|ERR_TLS_|ERR_SSL_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|EPROTO|HOSTNAME_MISMATCH|ERR_OSSL_)/;

/** The error code of a failed fetch (its own or its `cause`'s), e.g. `ECONNREFUSED`; null when it has none. */
export function networkErrorCode(error: unknown): string | null {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
  }
  return null;
}

/** The kind of a fetch failure by its code; `unreachable` for any other. */
export function networkFailureKind(code: string | null): NetworkFailureKind {
  if (code === null) return 'unreachable';
  if (DNS.has(code)) return 'dns';
  if (code === 'ECONNREFUSED') return 'refused';
  if (TLS.test(code)) return 'tls';
  return 'unreachable';
}

