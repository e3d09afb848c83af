/**
 * Maps imapflow failures to the gateway's stable error codes (`src/errors.ts`).
 */
import { ErrorCode, GatewayError, isGatewayError } from '../../errors.ts';

interface ImapFlowErrorShape {
  code?: string;
  authenticationFailed?: boolean;
  serverResponseCode?: string;
  responseStatus?: string;
  throttleReset?: number;
  message?: string;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'NoConnection', 'EConnectionClosed', 'CONNECT_TIMEOUT', 'GREETING_TIMEOUT', 'UPGRADE_TIMEOUT', 'ProtocolError']);

/**
 * Turns anything imapflow (or the socket under it) throws into a {@link GatewayError}:
 * authentication refused → PROVIDER_AUTH_FAILED; `ETHROTTLE` or a `[LIMIT]` / `[INUSE]` response
 * code (RFC 5530) → PROVIDER_THROTTLED; anything else → PROVIDER_UNAVAILABLE. A GatewayError
 * passes through unchanged. The message never carries server text (it may echo user data).
 */
export function mapImapError(error: unknown): GatewayError {
  if (isGatewayError(error)) return error;
  const e = (error ?? {}) as ImapFlowErrorShape;
  if (e.authenticationFailed || e.serverResponseCode === 'AUTHENTICATIONFAILED' || e.serverResponseCode === 'AUTHORIZATIONFAILED') {
    return new GatewayError(ErrorCode.PROVIDER_AUTH_FAILED, 'The IMAP server refused the credentials', { cause: error });
  }
  if (e.code === 'ETHROTTLE' || e.serverResponseCode === 'LIMIT' || e.serverResponseCode === 'INUSE') {
    const retryAfter = typeof e.throttleReset === 'number' && e.throttleReset > 0 ? Math.ceil(e.throttleReset / 1000) : 30;
    return new GatewayError(ErrorCode.PROVIDER_THROTTLED, 'The IMAP server is throttling requests', { cause: error, retryAfter });
  }
  if (e.code && UNREACHABLE.has(e.code)) {
    return new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'The IMAP server could not be reached', { cause: error });
  }
  return new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'The IMAP server answered with an error', { cause: error });
}
