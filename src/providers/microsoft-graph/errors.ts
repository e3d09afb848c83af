/**
 * The one mapping of Microsoft Graph failures to the gateway's stable codes (`src/errors.ts`), for
 * every Graph path: a whole HTTP answer (status, body, headers), one response inside a `$batch`
 * answer (the same triple) and a network failure.
 *
 * Followed: "Microsoft Graph error responses and resource types"
 * (https://learn.microsoft.com/en-us/graph/errors: the body `{error: {code, message, innerError}}`,
 * 400 / 401 / 403 / 404 / 405 / 429 / 503 / 504 and the codes `ErrorItemNotFound`,
 * `ErrorInvalidIdMalformed`, `InefficientFilter`), "Microsoft Graph throttling guidance"
 * (https://learn.microsoft.com/en-us/graph/throttling: 429 with `Retry-After` in seconds, also on
 * one response of a `$batch`; Outlook's limits are per app and mailbox, 4 concurrent requests,
 * `ApplicationThrottled` / `MailboxConcurrency`), and "Get attachment"
 * (https://learn.microsoft.com/en-us/graph/api/attachment-get: the `$value` of a reference
 * attachment answers 405).
 *
 * | upstream | code | kind | retried by `retryUpstream` |
 * | --- | --- | --- | --- |
 * | 401 | PROVIDER_AUTH_FAILED | auth (the client drops the token and tries once more with a fresh one) | no |
 * | 403 | PROVIDER_AUTH_FAILED | forbidden (consent or `Mail.Read` missing, mailbox not reachable) | no |
 * | 404, or any status with `ErrorItemNotFound` / `ErrorInvalidIdMalformed` | NOT_FOUND | not-found | no |
 * | 405 on an attachment's `$value` (`notDownloadable` asked by the caller) | NOT_DOWNLOADABLE | reference | no |
 * | 429 | PROVIDER_THROTTLED | throttled, `retryAfter` from Retry-After, else a 10 s hint | yes |
 * | 503, 504 | PROVIDER_THROTTLED when Retry-After is sent (Graph's "come back later"), else PROVIDER_UNAVAILABLE | throttled / server | yes |
 * | 408, 500, 502 | PROVIDER_UNAVAILABLE | server | yes |
 * | 424 inside a `$batch` (a request it `dependsOn` failed) | PROVIDER_UNAVAILABLE | dependency (sent again at once by `./batch.ts`) | yes |
 * | other 4xx (400 `InefficientFilter`, `BadRequest`, ...) | PROVIDER_UNAVAILABLE | bad-request | no |
 * | network errors, timeouts, a cut body | PROVIDER_UNAVAILABLE | network | yes |
 * | an answer the gateway cannot read (not JSON, too large, a `$batch` answer missing a response) | PROVIDER_UNAVAILABLE | malformed | yes |
 *
 * Messages are fixed sentences: never Graph's text (it may echo user data), never a token. The
 * `cause` is a short summary (status, Graph's error code, the network code), not the original
 * error, which may hold the request with its `Authorization` header.
 */
import { NETWORK_CODES, networkCodeOf } from '../../upstream/network-code.ts';
import { ErrorCode, GatewayError, isGatewayError, NotDownloadableError } from '../../errors.ts';
import { parseRetryAfter } from '../../upstream/retry.ts';

/** What kind of failure a {@link GraphApiError} is (see the module table). */
export type GraphFailureKind = 'auth' | 'forbidden' | 'not-found' | 'throttled' | 'server' | 'dependency' | 'bad-request' | 'network' | 'malformed';

/** Headers as fetch gives them (`Headers`) or as a `$batch` response carries them (a plain record). */
export type GraphHeaders = { get(name: string): string | null } | Record<string, unknown> | null | undefined;

/** A failed answer of Graph: a whole HTTP answer or one response of a `$batch`. */
export interface GraphAnswer {
  status: number;
  /** The parsed JSON body, or its text (parsed here when it is a JSON object), or null. */
  body?: unknown;
  headers?: GraphHeaders;
}

/** The `retryAfter` hint (seconds) of a 429 without Retry-After; not a server's demand, so the retry helper waits its own back-off. */
export const GRAPH_DEFAULT_RETRY_AFTER_SECONDS = 10;

/** Longest error body text parsed, characters (Graph's error objects are small). */
const MAX_ERROR_BODY_CHARS = 64 * 1024;

interface GraphApiErrorOptions {
  kind: GraphFailureKind;
  status: number | null;
  graphCode: string | null;
  retryable: boolean;
  retryAfter?: number;
  retryAfterSource?: 'upstream' | 'default';
}

/** A Graph failure as a {@link GatewayError}, with what the provider needs to act on it. Clients see only `code`, `message`, `retryAfter`. */
export class GraphApiError extends GatewayError {
  readonly kind: GraphFailureKind;
  /** Upstream HTTP status, or null for a network failure. */
  readonly status: number | null;
  /** Graph's `error.code` (e.g. `ErrorItemNotFound`, `ApplicationThrottled`), for logs. */
  readonly graphCode: string | null;
  /** Whether `retryUpstream` may try again (read by `isRetryableUpstreamError`). */
  readonly retryable: boolean;
  /** `upstream`: `retryAfter` is Graph's Retry-After; `default`: a hint chosen here. */
  readonly retryAfterSource: 'upstream' | 'default' | undefined;

  constructor(code: ErrorCode, message: string, options: GraphApiErrorOptions) {
    const summary = `graph ${options.kind}${options.status === null ? '' : ` ${options.status}`}${options.graphCode ? ` ${options.graphCode}` : ''}`;
    super(code, message, { cause: new Error(summary), retryAfter: options.retryAfter });
    this.kind = options.kind;
    this.status = options.status;
    this.graphCode = options.graphCode;
    this.retryable = options.retryable;
    this.retryAfterSource = options.retryAfter === undefined ? undefined : (options.retryAfterSource ?? 'upstream');
  }
}

/** True when `error` is a {@link GraphApiError} of the given kind. */
export function isGraphFailure(error: unknown, kind: GraphFailureKind): error is GraphApiError {
  return error instanceof GraphApiError && error.kind === kind;
}

/** Options of {@link mapGraphAnswer}. */
export interface MapGraphAnswerOptions {
  /** The answer is for an attachment's `$value`: a 405 means a reference attachment (NOT_DOWNLOADABLE). */
  attachmentValue?: boolean;
  /** Clock for an HTTP-date Retry-After, ms. */
  nowMs?: number;
}

/**
 * The gateway error for a failed Graph answer (see the module table).
 * @returns a {@link GraphApiError}, or a NotDownloadableError for a 405 on a `$value`
 */
export function mapGraphAnswer(answer: GraphAnswer, options: MapGraphAnswerOptions = {}): GatewayError {
  const status = answer.status;
  const graphCode = graphErrorCode(answer.body);
  const retryAfter = parseRetryAfter(headerOf(answer.headers, 'retry-after'), options.nowMs);
  const base = { status, graphCode };
  if (status === 401) return new GraphApiError(ErrorCode.PROVIDER_AUTH_FAILED, 'Microsoft Graph refused the mailbox credentials', { ...base, kind: 'auth', retryable: false });
  if (status === 403) return new GraphApiError(ErrorCode.PROVIDER_AUTH_FAILED, 'Microsoft Graph refused access to the mailbox', { ...base, kind: 'forbidden', retryable: false });
  if (status === 404 || graphCode === 'ErrorItemNotFound' || graphCode === 'ErrorInvalidIdMalformed') {
    return new GraphApiError(ErrorCode.NOT_FOUND, 'Microsoft Graph message or attachment not found', { ...base, kind: 'not-found', retryable: false });
  }
  if (status === 405 && options.attachmentValue) return new NotDownloadableError();
  if (status === 429 || ((status === 503 || status === 504) && retryAfter !== undefined)) {
    return new GraphApiError(ErrorCode.PROVIDER_THROTTLED, 'Microsoft Graph throttled the gateway', {
      ...base,
      kind: 'throttled',
      retryable: true,
      retryAfter: retryAfter ?? GRAPH_DEFAULT_RETRY_AFTER_SECONDS,
      retryAfterSource: retryAfter === undefined ? 'default' : 'upstream',
    });
  }
  if (status === 424) {
    return new GraphApiError(ErrorCode.PROVIDER_UNAVAILABLE, 'Microsoft Graph did not run a request whose predecessor failed', { ...base, kind: 'dependency', retryable: true });
  }
  if (status === 408 || status >= 500) {
    return new GraphApiError(ErrorCode.PROVIDER_UNAVAILABLE, 'Microsoft Graph answered with a server error', { ...base, kind: 'server', retryable: status !== 501 });
  }
  return new GraphApiError(ErrorCode.PROVIDER_UNAVAILABLE, 'Microsoft Graph refused a request of the gateway', { ...base, kind: 'bad-request', retryable: false });
}

/**
 * The gateway error for anything thrown on a Graph path: a GatewayError passes unchanged, a
 * network failure (undici codes, timeouts, a cut body) becomes a retryable PROVIDER_UNAVAILABLE.
 */
export function mapGraphError(error: unknown): GatewayError {
  if (isGatewayError(error)) return error;
  const code = networkCodeOf(error, LOGGED_CODES);
  return new GraphApiError(ErrorCode.PROVIDER_UNAVAILABLE, 'Microsoft Graph could not be reached', { kind: 'network', status: null, graphCode: code, retryable: true });
}

/**
 * PROVIDER_UNAVAILABLE of kind `malformed`: an answer the gateway cannot read.
 * @param message a fixed sentence (shown to clients)
 * @param retryable whether another try may succeed (false for an answer over a size limit)
 */
export function malformedGraphAnswer(message: string, retryable = true): GraphApiError {
  return new GraphApiError(ErrorCode.PROVIDER_UNAVAILABLE, message, { kind: 'malformed', status: null, graphCode: null, retryable });
}

/** Graph's `error.code` of an error body (object or JSON text), or null. */
export function graphErrorCode(body: unknown): string | null {
  let parsed = body;
  if (typeof body === 'string') {
    if (body.length > MAX_ERROR_BODY_CHARS || !/^\s*\{/.test(body)) return null;
    try {
      parsed = JSON.parse(body);
    } catch {
      return null;
    }
  }
  const error = (parsed as { error?: unknown } | null)?.error;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.length <= 200 ? code : null;
}

/** A header by lower-case name from `Headers` or a `$batch` response's record (names in any case). */
export function headerOf(headers: GraphHeaders, name: string): string | null {
  if (!headers) return null;
  if (typeof (headers as { get?: unknown }).get === 'function') return (headers as { get(n: string): string | null }).get(name);
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    if (typeof value === 'string') return value;
    if (typeof value === 'number') return String(value);
  }
  return null;
}

/** Codes worth naming in the logs of a failed Graph call: the transport ones and TLS certificate failures. */
const LOGGED_CODES: ReadonlySet<string> = new Set([...NETWORK_CODES, 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']);

