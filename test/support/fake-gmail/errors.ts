/**
 * Error bodies of the fake Gmail server, in the shapes Google sends.
 *
 * API errors (Google JSON error format, https://cloud.google.com/apis/design/errors and
 * https://developers.google.com/gmail/api/guides/handle-errors):
 * `{ error: { code, message, errors: [{ message, domain, reason, location?, locationType? }], status } }`.
 * OAuth errors (RFC 6749 §5.2, https://developers.google.com/identity/protocols/oauth2/web-server):
 * `{ error: 'invalid_grant', error_description }`.
 */

/** One entry of `error.errors[]`. */
export interface GoogleErrorItem {
  message: string;
  domain: string;
  reason: string;
  location?: string;
  locationType?: string;
}

/** The JSON body of a Google API error. */
export interface GoogleErrorBody {
  error: { code: number; message: string; errors: GoogleErrorItem[]; status: string };
}

/** An API error ready to send: HTTP status, extra headers and body. */
export interface ApiError {
  status: number;
  headers: Record<string, string>;
  body: GoogleErrorBody;
}

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  412: 'FAILED_PRECONDITION',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  501: 'NOT_IMPLEMENTED',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/**
 * Builds a Google API error.
 * @param code HTTP status
 * @param message the top-level and item message
 * @param reason `errors[0].reason` (e.g. `notFound`, `invalidArgument`, `rateLimitExceeded`)
 * @param extra domain (default `global`), status name (default from `code`), location, headers
 */
export function apiError(
  code: number,
  message: string,
  reason: string,
  extra: { domain?: string; status?: string; location?: string; locationType?: string; headers?: Record<string, string> } = {},
): ApiError {
  const item: GoogleErrorItem = { message, domain: extra.domain ?? 'global', reason };
  if (extra.location) item.location = extra.location;
  if (extra.locationType) item.locationType = extra.locationType;
  return {
    status: code,
    headers: extra.headers ?? {},
    body: { error: { code, message, errors: [item], status: extra.status ?? STATUS_NAMES[code] ?? 'UNKNOWN' } },
  };
}

/** The named errors a test can inject (see `faults.ts`) and that the routes answer. */
export const GmailErrors = {
  /** 404 for an unknown message, thread or label id. */
  notFound: () => apiError(404, 'Requested entity was not found.', 'notFound'),
  /** 400 for a bad parameter value. */
  invalidArgument: (message = 'Invalid argument') => apiError(400, message, 'invalidArgument'),
  /** 400 `failedPrecondition` (e.g. Gmail not enabled for the account). */
  failedPrecondition: (message = 'Precondition check failed.') => apiError(400, message, 'failedPrecondition', { status: 'FAILED_PRECONDITION' }),
  /** 400 for an attachment id that is unknown, expired or of another message (the message Gmail gives). */
  invalidAttachmentToken: () => apiError(400, 'Invalid attachment token', 'invalidArgument'),
  /** 401 for a missing, unknown, expired or revoked access token. */
  unauthenticated: () =>
    apiError(
      401,
      'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
      'authError',
      { location: 'Authorization', locationType: 'header', headers: { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' } },
    ),
  /** 403 when the token lacks a Gmail read scope. */
  insufficientPermissions: () =>
    apiError(403, 'Request had insufficient authentication scopes.', 'insufficientPermissions', {
      headers: { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="https://www.googleapis.com/auth/gmail.readonly"' },
    }),
  /** 403 for a userId that is neither `me` nor the token's mailbox. */
  delegationDenied: (user: string) => apiError(403, `Delegation denied for ${user}`, 'forbidden'),
  /** 429 `rateLimitExceeded` (per-project or per-user rate), domain `usageLimits`. */
  rateLimitExceeded: () => apiError(429, 'Rate Limit Exceeded', 'rateLimitExceeded', { domain: 'usageLimits' }),
  /** 403 `userRateLimitExceeded`, domain `usageLimits`. */
  userRateLimitExceeded: () => apiError(403, 'User Rate Limit Exceeded', 'userRateLimitExceeded', { domain: 'usageLimits' }),
  /** 429 for too many concurrent requests of one user. */
  tooManyConcurrent: () => apiError(429, 'Too many concurrent requests for user', 'rateLimitExceeded', { domain: 'usageLimits' }),
  /** 500 `backendError`. */
  backendError: () => apiError(500, 'Backend Error', 'backendError'),
  /** 503 `backendError`. */
  unavailable: () => apiError(503, 'The service is currently unavailable.', 'backendError'),
} as const;

/** Name of a preset in {@link GmailErrors} that takes no argument. */
export type GmailErrorName = Exclude<keyof typeof GmailErrors, 'delegationDenied'>;

/** An OAuth token endpoint error (RFC 6749 §5.2) with its HTTP status. */
export interface OAuthError {
  status: number;
  body: { error: string; error_description: string };
}

/** Builds an OAuth error: 400 by default, 401 for `invalid_client` and `unauthorized_client`. */
export function oauthError(error: string, description: string, status?: number): OAuthError {
  return { status: status ?? (error === 'invalid_client' || error === 'unauthorized_client' ? 401 : 400), body: { error, error_description: description } };
}
