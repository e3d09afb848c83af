/**
 * Gmail API error answers mapped to the gateway's codes (src/errors.ts): the one mapping of
 * upstream statuses for the Gmail provider.
 *
 * Gmail answers an error with an HTTP status and a JSON body
 * `{ "error": { "code": 403, "message": "...", "errors": [{ "domain", "reason", "message" }], "status": "..." } }`
 * (https://developers.google.com/workspace/gmail/api/guides/handle-errors). The mapping:
 *
 * | upstream                                                                  | code                       |
 * |---------------------------------------------------------------------------|----------------------------|
 * | 429, or 403 with reason `rateLimitExceeded`, `userRateLimitExceeded`,     | PROVIDER_THROTTLED, with   |
 * | `dailyLimitExceeded`, `quotaExceeded`, `concurrentLimitExceeded` or       | `retryAfter` from the      |
 * | status `RESOURCE_EXHAUSTED`                                               | `Retry-After` header       |
 * | 401; 403 otherwise (`insufficientPermissions`, `domainPolicy`, ...)       | PROVIDER_AUTH_FAILED       |
 * | 404, 410                                                                  | NOT_FOUND                  |
 * | 400 "Invalid attachment token" (reason `invalidArgument`): an expired or  | NOT_FOUND, and             |
 * | stale `attachmentId` (ids change on every read and expire)                | {@link isInvalidAttachmentId} |
 * | any other status, 5xx, an unreadable body                                 | PROVIDER_UNAVAILABLE       |
 *
 * A 400 is never BAD_USER_INPUT: the gateway built the request, not the user. The upstream
 * message is kept on the error for logs ({@link GmailApiError.upstreamMessage}), never in the
 * `message` that clients see.
 */
import { ErrorCode, GatewayError } from '../../errors.ts';

/** The `reason`s of a 403 that mean a quota or rate limit, not a permission (handle-errors guide). */
const THROTTLE_REASONS = new Set(['rateLimitExceeded', 'userRateLimitExceeded', 'dailyLimitExceeded', 'quotaExceeded', 'concurrentLimitExceeded']);

/** A Gmail API error answer as a {@link GatewayError}, with what Gmail said for logs and retry decisions. */
export class GmailApiError extends GatewayError {
  /** The HTTP status of the answer (or `error.code` of an error body inside a 2xx answer). */
  readonly status: number;
  /** The first `errors[].reason`, else `error.status` (e.g. `RESOURCE_EXHAUSTED`), else null. */
  readonly reason: string | null;
  /** Gmail's `error.message`, for logs only (it may name internals). */
  readonly upstreamMessage: string | null;
  /** True for an expired or stale `attachmentId` (see {@link isInvalidAttachmentId}). */
  readonly invalidAttachmentId: boolean;

  constructor(code: ErrorCode, message: string, details: { status: number; reason: string | null; upstreamMessage: string | null; invalidAttachmentId?: boolean; retryAfter?: number }) {
    super(code, message, details.retryAfter === undefined ? {} : { retryAfter: details.retryAfter });
    this.name = 'GatewayError';
    this.status = details.status;
    this.reason = details.reason;
    this.upstreamMessage = details.upstreamMessage;
    this.invalidAttachmentId = details.invalidAttachmentId ?? false;
  }
}

/**
 * Seconds to wait from an HTTP `Retry-After` value (RFC 9110 §10.2.3: delta-seconds or an
 * HTTP-date), at most one day; undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value == null) return undefined;
  const text = value.trim();
  if (/^\d{1,10}$/.test(text)) return Math.min(Number(text), 86_400);
  // HTTP-dates (IMF-fixdate, RFC 850, asctime) begin with a day name; Date.parse alone would
  // also take "1.5" or "-5" as dates.
  if (text.length > 64 || !/^[A-Za-z]{3}/.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, Math.ceil((at - now) / 1000)), 86_400);
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

function text(value: unknown, max = 500): string | null {
  return typeof value === 'string' ? value.slice(0, max) : null;
}

/**
 * The {@link GmailApiError} for an error answer.
 * @param status the HTTP status; for a 2xx answer whose body is an error object, `error.code` is used instead
 * @param body the parsed JSON body (`{ error: {...} }`), or anything else when it was not JSON
 * @param retryAfter the raw `Retry-After` header value, if any
 */
export function gmailApiError(status: number, body: unknown, retryAfter?: string | null): GmailApiError {
  const error = field(body, 'error');
  const code = field(error, 'code');
  const effective = status >= 200 && status < 300 && typeof code === 'number' && Number.isInteger(code) ? code : status;
  const errors = field(error, 'errors');
  const firstReason = Array.isArray(errors) ? text(field(errors[0], 'reason'), 100) : null;
  const rpcStatus = text(field(error, 'status'), 100);
  const upstreamMessage = text(field(error, 'message')) ?? (typeof error === 'string' ? error.slice(0, 500) : null);
  const details = { status: effective, reason: firstReason ?? rpcStatus, upstreamMessage };

  if (effective === 429 || (effective === 403 && ((firstReason !== null && THROTTLE_REASONS.has(firstReason)) || rpcStatus === 'RESOURCE_EXHAUSTED'))) {
    const seconds = parseRetryAfter(retryAfter);
    return new GmailApiError(ErrorCode.PROVIDER_THROTTLED, 'Gmail throttled the gateway; retry later', { ...details, ...(seconds === undefined ? {} : { retryAfter: seconds }) });
  }
  if (effective === 401 || effective === 403) {
    return new GmailApiError(ErrorCode.PROVIDER_AUTH_FAILED, 'Gmail refused the mailbox credentials', details);
  }
  if (effective === 404 || effective === 410) return new GmailApiError(ErrorCode.NOT_FOUND, 'Attachment not found', details);
  if (effective === 400 && /invalid attachment/i.test(upstreamMessage ?? '')) {
    return new GmailApiError(ErrorCode.NOT_FOUND, 'Attachment not found', { ...details, invalidAttachmentId: true });
  }
  return new GmailApiError(ErrorCode.PROVIDER_UNAVAILABLE, `Gmail answered with an error (HTTP ${effective})`, details);
}

/**
 * True when `error` says the `attachmentId` was expired or stale: the provider then re-reads the
 * message for a fresh id and retries once (attachment ids are ephemeral).
 */
export function isInvalidAttachmentId(error: unknown): boolean {
  return error instanceof GmailApiError && error.invalidAttachmentId;
}
