/**
 * Error bodies of the fake: Microsoft Graph's `{error: {code, message, innerError}}` and the
 * identity platform's AAD token errors.
 *
 * Followed: https://learn.microsoft.com/en-us/graph/errors (shape, codes `InvalidAuthenticationToken`,
 * `ErrorAccessDenied`, `ErrorItemNotFound`, `BadRequest`, `TooManyRequests`, `ServiceNotAvailable`),
 * https://learn.microsoft.com/en-us/graph/throttling (429 with Retry-After; `ApplicationThrottled`,
 * "Application is over its MailboxConcurrency limit."),
 * https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow#error-response-1
 * and .../reference-error-codes (AADSTS codes, `error_codes`, `trace_id`, `correlation_id`,
 * `timestamp` as `yyyy-MM-dd HH:mm:ssZ`). Wording of messages that the references do not quote is
 * the fake's own.
 */
import crypto from 'node:crypto';

/** A Graph JSON error answer before it is written. */
export interface GraphError {
  status: number;
  code: string;
  message: string;
  headers?: Record<string, string>;
}

/** The body Graph writes for an error; `requestId` is the answer's `request-id` header. */
export function graphErrorBody(error: GraphError, requestId: string, clientRequestId: string | undefined): object {
  return {
    error: {
      code: error.code,
      message: error.message,
      innerError: {
        date: new Date().toISOString().replace(/\.\d{3}Z$/, ''),
        'request-id': requestId,
        'client-request-id': clientRequestId ?? requestId,
      },
    },
  };
}

/** The named Graph errors the routes answer and a test can inject (see `./faults.ts`). */
export const GraphErrors = {
  /** 401: no bearer, a token not issued by the fake, or an expired or revoked one. */
  invalidToken: (message = 'Access token validation failure. Invalid audience.'): GraphError => ({
    status: 401,
    code: 'InvalidAuthenticationToken',
    message,
    headers: { 'www-authenticate': 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"' },
  }),
  /** 403: the token's user or app may not read this mailbox, or lacks Mail.Read. */
  accessDenied: (): GraphError => ({ status: 403, code: 'ErrorAccessDenied', message: 'Access is denied. Check credentials and try again.' }),
  /** 404: an unknown message, folder or attachment id. */
  itemNotFound: (): GraphError => ({ status: 404, code: 'ErrorItemNotFound', message: 'The specified object was not found in the store.' }),
  /** 404: `/users/{x}` names no user of the tenant. */
  invalidUser: (user: string): GraphError => ({ status: 404, code: 'ErrorInvalidUser', message: `The requested user '${user}' is invalid.` }),
  /** 400: a malformed id. */
  invalidId: (): GraphError => ({ status: 400, code: 'ErrorInvalidIdMalformed', message: 'Id is malformed.' }),
  /** 400 for a bad query option or request. */
  badRequest: (message = 'Invalid request.'): GraphError => ({ status: 400, code: 'BadRequest', message }),
  /** 400 when `$orderby` properties are not first in `$filter`. */
  inefficientFilter: (): GraphError => ({ status: 400, code: 'InefficientFilter', message: 'The restriction or sort order is too complex for this operation.' }),
  /** 400: `/me` with an application token. */
  meWithAppToken: (): GraphError => ({ status: 400, code: 'BadRequest', message: '/me request is only valid with delegated authentication flow.' }),
  /** 400 for a path segment Graph does not know (Graph's OData layer answers 400, not 404). */
  unknownSegment: (segment: string): GraphError => ({ status: 400, code: 'BadRequest', message: `Resource not found for the segment '${segment}'.` }),
  /** 405: `$value` of a reference attachment. */
  methodNotAllowed: (message = 'The OData request is not supported.'): GraphError => ({ status: 405, code: 'ErrorInvalidRequest', message }),
  /** 429: more than four concurrent requests on one mailbox. */
  mailboxConcurrency: (): GraphError => ({ status: 429, code: 'ApplicationThrottled', message: 'Application is over its MailboxConcurrency limit.', headers: { 'retry-after': '1' } }),
  /** 429: throttled (what a fault injects). */
  tooManyRequests: (): GraphError => ({ status: 429, code: 'TooManyRequests', message: 'Too many requests.' }),
  /** 503: service unavailable. */
  serviceUnavailable: (): GraphError => ({ status: 503, code: 'ServiceNotAvailable', message: 'Service is not available. Please try again later.' }),
  /** 504: gateway timeout. */
  gatewayTimeout: (): GraphError => ({ status: 504, code: 'UnknownError', message: 'The operation timed out.' }),
  /** 500: a generic failure. */
  internal: (): GraphError => ({ status: 500, code: 'InternalServerError', message: 'An internal server error occurred.' }),
} as const;

/** Name of a preset in {@link GraphErrors} that takes no argument. */
export type GraphErrorName = Exclude<keyof typeof GraphErrors, 'invalidUser' | 'unknownSegment'>;

/** An identity platform error answer (token endpoint) with its HTTP status. */
export interface AadError {
  status: number;
  body: {
    error: string;
    error_description: string;
    error_codes: number[];
    timestamp: string;
    trace_id: string;
    correlation_id: string;
    error_uri: string;
    suberror?: string;
  };
}

/**
 * Builds an AAD error as the v2.0 token endpoint answers it.
 * @param status 400 by default; 401 for `invalid_client`
 * @param correlationId the request's `client-request-id` when it sent one (msal does)
 */
export function aadError(error: string, code: number, message: string, correlationId?: string, status?: number, suberror?: string): AadError {
  const now = new Date();
  const timestamp = now.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
  const traceId = crypto.randomUUID();
  const correlation = correlationId && /^[0-9a-f-]{36}$/i.test(correlationId) ? correlationId : crypto.randomUUID();
  return {
    status: status ?? (error === 'invalid_client' ? 401 : 400),
    body: {
      error,
      error_description: `AADSTS${code}: ${message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlation}\r\nTimestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlation,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
      ...(suberror ? { suberror } : {}),
    },
  };
}
