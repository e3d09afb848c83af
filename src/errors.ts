/**
 * The one error module of the gateway.
 *
 * Every failure the gateway reports on purpose is a {@link GatewayError} with a stable `code`.
 * GraphQL answers carry that code as `errors[].extensions.code`; the HTTP routes (downloads)
 * answer with {@link httpStatusOf} and a JSON body `{ error, message, code }` built by
 * {@link errorBody}. Anything else that is thrown is unexpected: it is logged and masked as
 * `INTERNAL` (500), never shown to the client.
 */

/** Stable error codes. Clients may switch on these; never rename one. */
export const ErrorCode = {
  /** No API key, or an unknown one. HTTP 401. */
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  /** The key is valid but may not do this. HTTP 403. */
  FORBIDDEN: 'FORBIDDEN',
  /** Malformed argument, unknown ID format, bad CLI/config value. HTTP 400. */
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  /** The object does not exist, or belongs to another workspace, or its ID went stale (UIDVALIDITY). HTTP 404. */
  NOT_FOUND: 'NOT_FOUND',
  /** A signed download token that is malformed or not signed by us. HTTP 401. */
  TOKEN_INVALID: 'TOKEN_INVALID',
  /** A signed download token that is well-formed and signed but for another workspace/audience. HTTP 403. */
  TOKEN_FORBIDDEN: 'TOKEN_FORBIDDEN',
  /** A signed download token past its `exp`. HTTP 410. */
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  /** The attachment cannot be downloaded as bytes (e.g. a Graph reference attachment). HTTP 409. */
  NOT_DOWNLOADABLE: 'NOT_DOWNLOADABLE',
  /** The mail provider refused our credentials. HTTP 502. */
  PROVIDER_AUTH_FAILED: 'PROVIDER_AUTH_FAILED',
  /** The mail provider throttled us; `retryAfter` (seconds) may be set. HTTP 503. */
  PROVIDER_THROTTLED: 'PROVIDER_THROTTLED',
  /** The mail provider could not be reached or answered with an error. HTTP 502. */
  PROVIDER_UNAVAILABLE: 'PROVIDER_UNAVAILABLE',
  /** Anything unexpected; details are logged, never sent. HTTP 500. */
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const HTTP_STATUS: Record<ErrorCode, number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  BAD_USER_INPUT: 400,
  NOT_FOUND: 404,
  TOKEN_INVALID: 401,
  TOKEN_FORBIDDEN: 403,
  TOKEN_EXPIRED: 410,
  NOT_DOWNLOADABLE: 409,
  PROVIDER_AUTH_FAILED: 502,
  PROVIDER_THROTTLED: 503,
  PROVIDER_UNAVAILABLE: 502,
  INTERNAL: 500,
};

/** Short machine-readable reason phrases for the `error` field of HTTP error bodies. */
const HTTP_ERROR: Record<ErrorCode, string> = {
  UNAUTHENTICATED: 'unauthenticated',
  FORBIDDEN: 'forbidden',
  BAD_USER_INPUT: 'bad_request',
  NOT_FOUND: 'not_found',
  TOKEN_INVALID: 'invalid_token',
  TOKEN_FORBIDDEN: 'forbidden',
  TOKEN_EXPIRED: 'expired',
  NOT_DOWNLOADABLE: 'not_downloadable',
  PROVIDER_AUTH_FAILED: 'bad_gateway',
  PROVIDER_THROTTLED: 'service_unavailable',
  PROVIDER_UNAVAILABLE: 'bad_gateway',
  INTERNAL: 'internal_error',
};

/** Options of a {@link GatewayError}. */
export interface GatewayErrorOptions {
  /** The underlying error, kept for logs; never sent to clients. */
  cause?: unknown;
  /** For PROVIDER_THROTTLED: seconds after which a retry may succeed (HTTP `Retry-After`). */
  retryAfter?: number;
}

/**
 * An expected failure with a stable {@link ErrorCode}. Its `message` is safe to show to users:
 * never put credentials, tokens or provider internals in it.
 */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.retryAfter = options.retryAfter;
  }

  /** The HTTP status this error maps to (see {@link httpStatusOf}). */
  get httpStatus(): number {
    return HTTP_STATUS[this.code];
  }
}

/** `NOT_FOUND` with a uniform message, so that other workspaces' objects are indistinguishable from absent ones. */
export function notFound(what: string): GatewayError {
  return new GatewayError(ErrorCode.NOT_FOUND, `${what} not found`);
}

/** `BAD_USER_INPUT` for a malformed argument. */
export function badInput(message: string): GatewayError {
  return new GatewayError(ErrorCode.BAD_USER_INPUT, message);
}

/** True when `error` is a {@link GatewayError} (also across module copies, by shape). */
export function isGatewayError(error: unknown): error is GatewayError {
  return (
    error instanceof GatewayError ||
    (error instanceof Error && error.name === 'GatewayError' && typeof (error as { code?: unknown }).code === 'string')
  );
}

/** HTTP status for any thrown value: the error's own status, else 500. */
export function httpStatusOf(error: unknown): number {
  return isGatewayError(error) ? (HTTP_STATUS[error.code] ?? 500) : 500;
}

/** The JSON body of an HTTP error answer: `{ error, message, code }`. Unexpected errors are masked. */
export function errorBody(error: unknown): { error: string; message: string; code: ErrorCode } {
  if (isGatewayError(error)) {
    return { error: HTTP_ERROR[error.code] ?? 'internal_error', message: error.message, code: error.code };
  }
  return { error: HTTP_ERROR.INTERNAL, message: 'Unexpected error', code: ErrorCode.INTERNAL };
}
