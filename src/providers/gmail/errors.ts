/**
 * The one mapping of Gmail API and Google OAuth failures to the gateway's stable codes
 * (`src/errors.ts`), for every Gmail path: the googleapis client (a gaxios `GaxiosError`), a raw
 * `fetch` (status, body, headers) and one part of a batch answer (the same triple).
 *
 * Followed: "Resolve errors" (https://developers.google.com/gmail/api/guides/handle-errors: 400
 * badRequest, 401 authError, 403 dailyLimitExceeded / userRateLimitExceeded / rateLimitExceeded /
 * domainPolicy, 429 too many requests, 500/502/503/504 backendError, retried with exponential
 * back-off), "Usage limits" (https://developers.google.com/gmail/api/reference/quota: the quotas are
 * per minute, so a rate-limit answer without Retry-After gets a 60 s hint), the JSON error body of
 * Google APIs `{error: {code, message, status, errors: [{reason, domain}], details}}` (AIP-193,
 * https://google.aip.dev/193, with `google.rpc.RetryInfo` and `ErrorInfo` in `details`), and the
 * OAuth 2.0 token endpoint's `{error: "invalid_grant", error_description}` (RFC 6749 §5.2). An
 * expired or unknown `attachmentId` answers 400 "Invalid attachment token" (reason
 * `invalidArgument`; seen in production, dust-tt/dust PR 22105 and 27314).
 *
 * | upstream | code | kind | retried by `retryUpstream` |
 * | --- | --- | --- | --- |
 * | `invalid_grant` (token endpoint, any status) | PROVIDER_AUTH_FAILED | grant-revoked (`needsReconsent`) | no |
 * | other OAuth `error` (`invalid_client`, ...) | PROVIDER_AUTH_FAILED | auth | no |
 * | a service account's assertion: `unauthorized_client` / `invalid_grant`, `invalid_client` (named by `./service-account.ts`) | PROVIDER_AUTH_FAILED | delegation-denied / delegation-refused (`needsReconsent`) | no |
 * | 401 | PROVIDER_AUTH_FAILED | auth (refresh the access token once, outside the retry helper) | no |
 * | 403 insufficientPermissions, ACCESS_TOKEN_SCOPE_INSUFFICIENT | PROVIDER_AUTH_FAILED | scope (`needsReconsent`) | no |
 * | 403 rateLimitExceeded, userRateLimitExceeded, quotaExceeded, RESOURCE_EXHAUSTED; any 429 | PROVIDER_THROTTLED | rate-limit, retryAfter from Retry-After / RetryInfo, else 60 s (a hint) | yes |
 * | 403 dailyLimitExceeded | PROVIDER_THROTTLED | daily-limit, retryAfter from Retry-After, else 3600 s (a hint) | no |
 * | other 403 (domainPolicy, forbidden) | PROVIDER_AUTH_FAILED | forbidden | no |
 * | 404 | NOT_FOUND | not-found | no |
 * | 400 "Invalid attachment token" | NOT_FOUND | stale-attachment-id (re-read the message, then try once more) | no |
 * | 400 "Invalid id value" | NOT_FOUND | invalid-id | no |
 * | other 400, 405..499 | PROVIDER_UNAVAILABLE | bad-request / unexpected | no |
 * | 408, 500, 502, 503, 504 | PROVIDER_UNAVAILABLE | server, retryAfter from Retry-After when sent | yes |
 * | ECONNRESET, ECONNREFUSED, timeouts, a cut body (undici `UND_ERR_*`) | PROVIDER_UNAVAILABLE | network | yes |
 * | a batch answer that cannot be read (cut, part missing, part too large: `batch.ts`) | PROVIDER_UNAVAILABLE | malformed | yes, but not a too-large part |
 *
 * Messages are fixed sentences: never Google's text (it may echo user data), never a token. The
 * `cause` is a short summary (status, Google's reason and status names, the network code), not the
 * original error: a GaxiosError holds the request with its `Authorization` header.
 */
import { networkCodeOf } from '../../upstream/network-code.ts';
import { ErrorCode, GatewayError, isGatewayError } from '../../errors.ts';
import { parseRetryAfter } from '../../upstream/retry.ts';

/** What kind of failure a {@link GmailApiError} is (see the module table). */
export type GmailFailureKind =
  | 'grant-revoked'
  | 'delegation-denied'
  | 'delegation-refused'
  | 'auth'
  | 'scope'
  | 'forbidden'
  | 'rate-limit'
  | 'daily-limit'
  | 'not-found'
  | 'stale-attachment-id'
  | 'invalid-id'
  | 'bad-request'
  | 'server'
  | 'network'
  | 'malformed'
  | 'unexpected';

/** Response headers as fetch (`Headers`), gaxios 7 (`Headers`) or the batch parser (a lower-case record) give them. */
export type HeadersLike = { get(name: string): string | null } | Record<string, string | string[] | undefined>;

/** A failed HTTP answer from Gmail or Google's token endpoint, e.g. one part of a batch answer. */
export interface GmailHttpAnswer {
  status: number;
  /** The parsed JSON body, or its text (parsed here when it is JSON), or null. */
  body?: unknown;
  headers?: HeadersLike | null;
}

/** Default `retryAfter` hints (seconds) for answers that name no Retry-After. */
export const GMAIL_RETRY_AFTER_DEFAULTS = {
  /** Gmail's quotas are per minute ("Usage limits"). */
  rateLimit: 60,
  dailyLimit: 3600,
} as const;

/** Options of a {@link GmailApiError}. */
interface GmailApiErrorOptions {
  kind: GmailFailureKind;
  status: number | null;
  reason: string | null;
  retryable: boolean;
  needsReconsent?: boolean;
  retryAfter?: number;
  retryAfterSource?: 'upstream' | 'default';
  cause: Error;
}

/**
 * A Gmail failure as a {@link GatewayError}, with what the provider needs to act on it. Clients
 * see only `code`, `message` and `retryAfter`.
 */
export class GmailApiError extends GatewayError {
  /** What went wrong (see the module table). */
  readonly kind: GmailFailureKind;
  /** Upstream HTTP status, or null for a network failure. */
  readonly status: number | null;
  /** Google's first `errors[].reason` (or OAuth `error`), e.g. `userRateLimitExceeded`; for logs. */
  readonly reason: string | null;
  /** Whether `retryUpstream` may try again (read by `isRetryableUpstreamError`). */
  readonly retryable: boolean;
  /** True when the mailbox must be connected again (grant revoked or a scope missing). */
  readonly needsReconsent: boolean;
  /** `upstream`: `retryAfter` is the server's Retry-After; `default`: a hint chosen here. */
  readonly retryAfterSource: 'upstream' | 'default' | undefined;

  constructor(code: ErrorCode, message: string, options: GmailApiErrorOptions) {
    super(code, message, { cause: options.cause, retryAfter: options.retryAfter });
    this.kind = options.kind;
    this.status = options.status;
    this.reason = options.reason;
    this.retryable = options.retryable;
    this.needsReconsent = options.needsReconsent ?? false;
    this.retryAfterSource = options.retryAfter === undefined ? undefined : (options.retryAfterSource ?? 'upstream');
  }
}

/** True when `error` is a {@link GmailApiError} of the given kind. */
export function isGmailFailure(error: unknown, kind: GmailFailureKind): error is GmailApiError {
  return error instanceof GmailApiError && error.kind === kind;
}

const RATE_LIMIT_REASONS = new Set(['ratelimitexceeded', 'userratelimitexceeded', 'quotaexceeded', 'rate_limit_exceeded', 'concurrentlimitexceeded']);
const SCOPE_REASONS = new Set(['insufficientpermissions', 'access_token_scope_insufficient']);
const RETRYABLE_STATUSES = new Set([408, 500, 502, 503, 504]);
/** Error bodies are small; a larger text is not parsed (it is no Google error object). */
const MAX_ERROR_BODY_CHARS = 64 * 1024;

/** What the mapping reads from a Google error body. */
interface GoogleErrorInfo {
  /** Lower-case reasons from `errors[].reason` and `details[].reason` (ErrorInfo). */
  reasons: string[];
  /** `error.status`, e.g. RESOURCE_EXHAUSTED. */
  status: string | null;
  /** OAuth `error` string, e.g. invalid_grant. */
  oauthError: string | null;
  /** `error.message`, matched against known texts only, never shown. */
  message: string;
  /** Seconds from `google.rpc.RetryInfo.retryDelay`. */
  retryDelay: number | undefined;
}

/**
 * Maps any Gmail or Google OAuth failure to a {@link GatewayError}: a raw {@link GmailHttpAnswer},
 * a gaxios `GaxiosError` (with or without a response), a network error (also wrapped in `cause`,
 * as undici's "fetch failed" is). A GatewayError passes through unchanged. Check the request's
 * signal before calling this: an abort is not a provider failure.
 */
export function mapGmailError(failure: unknown): GatewayError {
  if (isGatewayError(failure)) return failure;
  if (isHttpAnswer(failure)) return mapGmailAnswer(failure);
  const response = (failure as { response?: unknown } | null)?.response;
  if (failure instanceof Error && response && typeof response === 'object' && typeof (response as { status?: unknown }).status === 'number') {
    const r = response as { status: number; data?: unknown; headers?: HeadersLike };
    return mapGmailAnswer({ status: r.status, body: r.data, headers: r.headers });
  }
  const code = networkCodeOf(failure);
  if (code) {
    return new GmailApiError(ErrorCode.PROVIDER_UNAVAILABLE, 'Gmail could not be reached', {
      kind: 'network',
      status: null,
      reason: null,
      retryable: true,
      cause: new Error(`network failure ${code}`),
    });
  }
  return new GmailApiError(ErrorCode.PROVIDER_UNAVAILABLE, 'The request to Gmail failed', {
    kind: 'unexpected',
    status: null,
    reason: null,
    retryable: false,
    cause: new Error(`unexpected failure ${failure instanceof Error ? failure.name : typeof failure}`),
  });
}

/**
 * Maps one failed HTTP answer (status >= 400) of Gmail or Google's token endpoint; see the module
 * table.
 */
export function mapGmailAnswer(answer: GmailHttpAnswer): GmailApiError {
  const { status } = answer;
  const info = readGoogleError(answer.body);
  const reason = info.oauthError ?? info.reasons[0] ?? null;
  const cause = new Error(`Gmail HTTP ${status}${info.status ? ` ${info.status}` : ''}${reason ? ` ${reason}` : ''}`);
  const base = { status, reason, cause };
  const upstreamRetryAfter = parseRetryAfter(headerValue(answer.headers, 'retry-after')) ?? info.retryDelay;
  const has = (set: Set<string>) => info.reasons.some((r) => set.has(r));

  if (info.oauthError === 'invalid_grant') {
    return new GmailApiError(
      ErrorCode.PROVIDER_AUTH_FAILED,
      "Google no longer accepts this mailbox's authorization (revoked or expired); connect the mailbox again",
      { ...base, kind: 'grant-revoked', retryable: false, needsReconsent: true },
    );
  }
  if (info.oauthError !== null || status === 401) {
    return new GmailApiError(ErrorCode.PROVIDER_AUTH_FAILED, 'Google refused the credentials of this mailbox', { ...base, kind: 'auth', retryable: false });
  }
  if (info.reasons.includes('dailylimitexceeded')) {
    return throttled('daily-limit', 'The daily Gmail API quota is used up', false, upstreamRetryAfter, GMAIL_RETRY_AFTER_DEFAULTS.dailyLimit, base);
  }
  if (status === 429 || ((status === 403 || status === 400) && (has(RATE_LIMIT_REASONS) || info.status === 'RESOURCE_EXHAUSTED'))) {
    return throttled('rate-limit', 'Gmail is limiting the rate of requests for this mailbox', true, upstreamRetryAfter, GMAIL_RETRY_AFTER_DEFAULTS.rateLimit, base);
  }
  if (status === 403) {
    if (has(SCOPE_REASONS)) {
      return new GmailApiError(
        ErrorCode.PROVIDER_AUTH_FAILED,
        'The Google authorization of this mailbox lacks a permission the gateway needs; connect the mailbox again',
        { ...base, kind: 'scope', retryable: false, needsReconsent: true },
      );
    }
    return new GmailApiError(ErrorCode.PROVIDER_AUTH_FAILED, 'Google does not let the gateway read this mailbox', { ...base, kind: 'forbidden', retryable: false });
  }
  if (status === 404) {
    return new GmailApiError(ErrorCode.NOT_FOUND, 'Gmail message, thread or attachment not found', { ...base, kind: 'not-found', retryable: false });
  }
  if (status === 400 && /invalid attachment token/i.test(info.message)) {
    return new GmailApiError(ErrorCode.NOT_FOUND, 'The Gmail attachment reference went stale', { ...base, kind: 'stale-attachment-id', retryable: false });
  }
  if (status === 400 && /invalid id value/i.test(info.message)) {
    return new GmailApiError(ErrorCode.NOT_FOUND, 'Gmail message, thread or attachment not found', { ...base, kind: 'invalid-id', retryable: false });
  }
  if (RETRYABLE_STATUSES.has(status)) {
    return new GmailApiError(ErrorCode.PROVIDER_UNAVAILABLE, 'Gmail answered with a server error', {
      ...base,
      kind: 'server',
      retryable: true,
      ...(upstreamRetryAfter !== undefined ? { retryAfter: upstreamRetryAfter, retryAfterSource: 'upstream' as const } : {}),
    });
  }
  return new GmailApiError(ErrorCode.PROVIDER_UNAVAILABLE, 'Gmail refused a request of the gateway', {
    ...base,
    kind: status === 400 ? 'bad-request' : 'unexpected',
    retryable: false,
  });
}

function throttled(
  kind: 'rate-limit' | 'daily-limit',
  message: string,
  retryable: boolean,
  upstream: number | undefined,
  fallback: number,
  base: { status: number; reason: string | null; cause: Error },
): GmailApiError {
  return new GmailApiError(ErrorCode.PROVIDER_THROTTLED, message, {
    ...base,
    kind,
    retryable,
    retryAfter: upstream ?? fallback,
    retryAfterSource: upstream === undefined ? 'default' : 'upstream',
  });
}

function isHttpAnswer(value: unknown): value is GmailHttpAnswer {
  return typeof value === 'object' && value !== null && !(value instanceof Error) && typeof (value as { status?: unknown }).status === 'number';
}

/** A header of `headers` by lower-case name, from fetch/gaxios `Headers` or a plain record. */
export function headerValue(headers: HeadersLike | null | undefined, name: string): string | null {
  if (!headers) return null;
  if (typeof (headers as { get?: unknown }).get === 'function') return (headers as { get(n: string): string | null }).get(name);
  const record = headers as Record<string, string | string[] | undefined>;
  const value = record[name] ?? Object.entries(record).find(([key]) => key.toLowerCase() === name)?.[1];
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}

function readGoogleError(body: unknown): GoogleErrorInfo {
  const info: GoogleErrorInfo = { reasons: [], status: null, oauthError: null, message: '', retryDelay: undefined };
  let parsed = body;
  if (typeof body === 'string' && body.length <= MAX_ERROR_BODY_CHARS && /^\s*\{/.test(body)) {
    try {
      parsed = JSON.parse(body);
    } catch {
      return info;
    }
  }
  if (typeof parsed !== 'object' || parsed === null) return info;
  const error = (parsed as { error?: unknown }).error;
  if (typeof error === 'string') {
    info.oauthError = error.toLowerCase();
    return info;
  }
  if (typeof error !== 'object' || error === null) return info;
  const e = error as { message?: unknown; status?: unknown; errors?: unknown; details?: unknown };
  if (typeof e.message === 'string') info.message = e.message.slice(0, 1000);
  if (typeof e.status === 'string') info.status = e.status.toUpperCase();
  for (const item of Array.isArray(e.errors) ? e.errors.slice(0, 20) : []) {
    const r = (item as { reason?: unknown } | null)?.reason;
    if (typeof r === 'string') info.reasons.push(r.toLowerCase());
  }
  for (const detail of Array.isArray(e.details) ? e.details.slice(0, 20) : []) {
    const d = (detail ?? {}) as { '@type'?: unknown; reason?: unknown; retryDelay?: unknown };
    if (typeof d.reason === 'string') info.reasons.push(d.reason.toLowerCase());
    if (typeof d['@type'] === 'string' && d['@type'].endsWith('google.rpc.RetryInfo') && typeof d.retryDelay === 'string') {
      const m = /^(\d{1,6})(?:\.\d+)?s$/.exec(d.retryDelay);
      if (m) info.retryDelay = Math.max(1, Math.ceil(Number.parseFloat(d.retryDelay)));
    }
  }
  return info;
}

/**
 * PROVIDER_UNAVAILABLE of kind `malformed`: an answer of Gmail the gateway cannot read (a batch
 * answer cut short, a missing or unreadable part, a part over the size limit).
 * @param message a fixed sentence (shown to clients)
 * @param retryable whether another try may succeed (false for a part too large to accept)
 */
export function malformedAnswer(message: string, retryable: boolean): GmailApiError {
  return new GmailApiError(ErrorCode.PROVIDER_UNAVAILABLE, message, { kind: 'malformed', status: null, reason: null, retryable, cause: new Error(message) });
}
