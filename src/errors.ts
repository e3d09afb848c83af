/**
 * The one error module of the gateway.
 *
 * Every failure the gateway reports on purpose is a {@link GatewayError} with a stable `code`.
 * GraphQL answers carry that code as `errors[].extensions.code`; the HTTP routes (downloads)
 * answer with {@link httpStatusOf} and a JSON body `{ error, message, code }` built by
 * {@link errorBody}. Anything else that is thrown is unexpected: it is logged and masked as
 * `INTERNAL` (500), never shown to the client.
 */

/**
 * Every stable error code with its HTTP status, the short reason phrase of HTTP error bodies, and
 * its meaning (also printed in the schema as the `GatewayErrorCode` enum). Clients may switch on
 * the codes; never rename or remove one.
 */
export const ERROR_CODES = {
  UNAUTHENTICATED: { status: 401, error: 'unauthenticated', description: 'No API key, or an unknown or revoked one.' },
  FORBIDDEN: { status: 403, error: 'forbidden', description: 'The API key is valid but may not do this.' },
  BAD_USER_INPUT: { status: 400, error: 'bad_request', description: 'A malformed argument, variable value, ID or cursor, or a value out of range.' },
  BAD_REQUEST: { status: 400, error: 'bad_request', description: 'A malformed GraphQL-over-HTTP request: body not JSON, no query, a mutation over GET.' },
  GRAPHQL_PARSE_FAILED: { status: 400, error: 'bad_request', description: 'The GraphQL document has a syntax error.' },
  GRAPHQL_VALIDATION_FAILED: { status: 400, error: 'bad_request', description: 'The GraphQL document does not fit the schema (unknown field, wrong argument, ...).' },
  NOT_FOUND: {
    status: 404,
    error: 'not_found',
    description:
      'The object does not exist, belongs to another workspace, or its ID went stale (e.g. a new IMAP UIDVALIDITY); over HTTP also a path that is no route.',
  },
  NOT_ACCEPTABLE: {
    status: 406,
    error: 'not_acceptable',
    description: 'The `Accept` header names no media type `/graphql` answers in (`application/graphql-response+json`, `application/json`, `text/event-stream`, `multipart/mixed`).',
  },
  METHOD_NOT_ALLOWED: {
    status: 405,
    error: 'method_not_allowed',
    description: 'An HTTP method the route does not answer (`/graphql` takes GET and POST, downloads and `/` GET and HEAD; the `Allow` header lists them).',
  },
  TOKEN_INVALID: { status: 401, error: 'invalid_token', description: 'A download token that is malformed, edited, or not made by this gateway (or by it with another secret).' },
  TOKEN_FORBIDDEN: {
    status: 403,
    error: 'forbidden',
    description: 'A genuine download token that is no longer honoured: the API key that made it was revoked or deleted, or its workspace is gone (or the token is for another audience).',
  },
  TOKEN_EXPIRED: { status: 410, error: 'expired', description: 'A download token past its expiry; ask for a new `downloadUrl`.' },
  NOT_DOWNLOADABLE: { status: 409, error: 'not_downloadable', description: 'The attachment has no bytes to serve (e.g. a link to a file stored elsewhere).' },
  PROVIDER_AUTH_FAILED: { status: 502, error: 'bad_gateway', description: 'The mail provider refused the mailbox credentials.' },
  PROVIDER_THROTTLED: {
    status: 503,
    error: 'service_unavailable',
    description: "The mail provider throttled the gateway, or the mailbox already serves the gateway's limit of concurrent downloads; retry after `retryAfter` seconds when given.",
  },
  PROVIDER_UNAVAILABLE: { status: 502, error: 'bad_gateway', description: 'The mail provider could not be reached or answered with an error.' },
  QUERY_TOO_COMPLEX: {
    status: 400,
    error: 'bad_request',
    description:
      'The GraphQL document exceeds a limit of the gateway: depth, cost, aliases, directives or tokens (`extensions.limit` says which, `extensions.max` its value).',
  },
  PAYLOAD_TOO_LARGE: { status: 413, error: 'payload_too_large', description: 'The request body is larger than the gateway accepts (GRAPHQL_MAX_BODY_BYTES).' },
  URI_TOO_LONG: { status: 414, error: 'uri_too_long', description: 'The query string of a GraphQL GET request is longer than the gateway accepts; send the operation as a POST.' },
  DEADLINE_EXCEEDED: {
    status: 504,
    error: 'gateway_timeout',
    description: 'The request ran longer than its deadline (REQUEST_DEADLINE_MS); its upstream work was stopped. Ask for less, or retry later.',
  },
  SERVER_BUSY: {
    status: 503,
    error: 'service_unavailable',
    description:
      'The gateway is executing as many operations as it allows (GRAPHQL_MAX_CONCURRENT, per workspace GRAPHQL_MAX_CONCURRENT_PER_WORKSPACE) and its queue is full; retry after `retryAfter` seconds.',
  },
  INTERNAL: { status: 500, error: 'internal_error', description: 'An unexpected failure; details are logged by the gateway, never sent.' },
} as const satisfies Record<string, { status: number; error: string; description: string }>;

/** A stable error code (see {@link ERROR_CODES}). */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The codes by name, e.g. `ErrorCode.NOT_FOUND === 'NOT_FOUND'`. */
export const ErrorCode = Object.fromEntries(Object.keys(ERROR_CODES).map((code) => [code, code])) as { readonly [C in ErrorCode]: C };

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
    return ERROR_CODES[this.code].status;
  }
}

/**
 * `NOT_DOWNLOADABLE`: the attachment has no bytes (a link to a file stored elsewhere). GraphQL
 * answers it as data (`NotDownloadableError` in the `DownloadUrlResult` union), since clients are
 * expected to handle it per attachment; the download route answers 409.
 */
export class NotDownloadableError extends GatewayError {
  constructor(message = 'This attachment is a link to a file stored elsewhere, not bytes, and cannot be downloaded') {
    super(ErrorCode.NOT_DOWNLOADABLE, message);
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
  return isGatewayError(error) ? (ERROR_CODES[error.code]?.status ?? 500) : 500;
}

/** The JSON body of an HTTP error answer: `{ error, message, code }`. Unexpected errors are masked. */
export function errorBody(error: unknown): { error: string; message: string; code: ErrorCode } {
  if (isGatewayError(error)) {
    return { error: ERROR_CODES[error.code]?.error ?? 'internal_error', message: error.message, code: error.code };
  }
  return { error: ERROR_CODES.INTERNAL.error, message: 'Unexpected error', code: ErrorCode.INTERNAL };
}
