/**
 * Failures of the Microsoft identity platform as the gateway reports them: what msal-node throws
 * for a token request (a `ServerError` / `InteractionRequiredAuthError` carrying the OAuth `error`
 * and the first AADSTS number of `error_codes`, or a client-side `ClientAuthError`) becomes one
 * {@link GraphAuthError} with a stable code, a kind and a message in words. Never a token, a
 * secret or Microsoft's `error_description` (it may quote the request): msal's error is not even
 * kept as the `cause` (causes reach the logs), only its OAuth error and AADSTS number are.
 *
 * Followed: RFC 6749 §5.2 (token endpoint errors), the Microsoft identity platform's
 * "Error handling" for the v2.0 token endpoint
 * (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow#error-response-1)
 * and the AADSTS reference (https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes).
 *
 * | kind | when | code | re-consent |
 * | --- | --- | --- | --- |
 * | `grant` | `invalid_grant`, `interaction_required`, `consent_required`, `login_required` (revoked, expired, consent withdrawn, MFA or Conditional Access now required) | PROVIDER_AUTH_FAILED | yes |
 * | `client` | `invalid_client`, `unauthorized_client`, `invalid_scope` (secret wrong or expired, app unknown or disabled in the tenant) | PROVIDER_AUTH_FAILED | no: configuration |
 * | `tenant` | AADSTS90002 / 900023, or the OpenID document of the authority is 400/404 | PROVIDER_AUTH_FAILED | no: configuration |
 * | `dns`, `refused`, `tls`, `unreachable`, `timeout` | the identity platform not reached in time | PROVIDER_UNAVAILABLE | no |
 * | `throttled` | 429 (with its Retry-After) | PROVIDER_THROTTLED | no |
 * | `upstream` | 5xx, `temporarily_unavailable` | PROVIDER_UNAVAILABLE | no |
 * | `protocol` | an answer msal cannot use (not JSON, too large, no access token, another OAuth error) | PROVIDER_UNAVAILABLE | no |
 */
import { AuthError } from '@azure/msal-node';
import { ErrorCode, GatewayError, isGatewayError } from '../../errors.ts';

/** What went wrong with a token request. */
export type GraphAuthFailure = 'grant' | 'client' | 'tenant' | 'dns' | 'refused' | 'tls' | 'unreachable' | 'timeout' | 'throttled' | 'upstream' | 'protocol';

/** A failed token request (see the module docs). */
export class GraphAuthError extends GatewayError {
  readonly failure: GraphAuthFailure;
  /** The AADSTS number Microsoft gave, when it gave one. */
  readonly aadsts: number | null;
  /** Read by `src/upstream/retry.ts`: only network, throttling and 5xx failures are worth another try. */
  readonly retryable: boolean;
  /** For an OAuth error: its `error` and the AADSTS number in words, e.g. `invalid_grant, AADSTS70000: ...`; else null. */
  readonly detail: string | null;

  constructor(failure: GraphAuthFailure, message: string, options: { aadsts?: number | null; retryAfter?: number; cause?: unknown; detail?: string } = {}) {
    const code =
      failure === 'grant' || failure === 'client' || failure === 'tenant'
        ? ErrorCode.PROVIDER_AUTH_FAILED
        : failure === 'throttled'
          ? ErrorCode.PROVIDER_THROTTLED
          : ErrorCode.PROVIDER_UNAVAILABLE;
    super(code, message, { cause: options.cause, retryAfter: options.retryAfter });
    this.failure = failure;
    this.aadsts = options.aadsts ?? null;
    this.detail = options.detail ?? null;
    this.retryable = failure !== 'grant' && failure !== 'client' && failure !== 'tenant' && failure !== 'protocol';
  }

  /** True when the mailbox's grant is gone and a person must consent again. */
  get needsReconsent(): boolean {
    return this.failure === 'grant';
  }
}

/** AADSTS numbers whose meaning the gateway says in words (the rest are quoted by number). */
const AADSTS_WORDS: Readonly<Record<number, string>> = {
  50034: 'the user account does not exist in the directory',
  50053: 'the account is locked',
  50055: 'the password has expired',
  50057: 'the user account is disabled',
  50076: 'multi-factor authentication is now required',
  50078: 'the multi-factor authentication has expired',
  50079: 'the user must enrol in multi-factor authentication',
  50133: 'the session ended after a password change',
  50158: 'an external security challenge is required',
  50173: 'the grant was revoked (e.g. a password change or a sign-out everywhere)',
  53003: 'Conditional Access blocked the sign-in',
  65001: 'the user or an administrator has not consented to the app',
  65004: 'the user declined to consent',
  70000: 'the grant is not valid (revoked, or issued for another app)',
  70008: 'the refresh token has expired',
  70011: 'a requested scope is not valid for the app',
  70043: 'a Conditional Access sign-in frequency policy ended the grant',
  90002: 'the tenant does not exist',
  500011: 'the resource (Microsoft Graph) is not known in the tenant',
  700016: 'the app is not registered in the tenant',
  700082: 'the refresh token expired after a long inactivity',
  700084: 'the refresh token has expired',
  900023: 'the tenant name is not valid',
  7000112: 'the app is disabled',
  7000215: 'the client secret is wrong',
  7000222: 'the client secret has expired',
  7000229: 'the app has no service principal in the tenant (no admin consent)',
};

const GRANT_ERRORS = new Set(['invalid_grant', 'interaction_required', 'consent_required', 'login_required']);
const CLIENT_ERRORS = new Set(['invalid_client', 'unauthorized_client', 'invalid_scope']);
const TENANT_CODES = new Set([90002, 900023]);
/** Client-side msal errors that mean the authority (MS_LOGIN_ROOT / MS_TENANT_ID) is not usable as configured. */
const MSAL_CONFIG_ERRORS = new Set(['endpoints_resolution_error', 'untrusted_authority', 'authority_uri_insecure', 'url_parse_error', 'invalid_authority_metadata', 'invalid_cloud_discovery_metadata', 'openid_config_error']);

/** `AADSTS700082: the refresh token expired after a long inactivity`, or `AADSTS123` when unknown; empty without a number. */
export function describeAadsts(aadsts: number | null): string {
  if (aadsts === null) return '';
  const words = AADSTS_WORDS[aadsts];
  return words ? `AADSTS${aadsts}: ${words}` : `AADSTS${aadsts}`;
}

/** The AADSTS number msal attached (`errorNo`, a number or a numeric string), or one named in its error code. */
function aadstsOf(error: AuthError): number | null {
  const raw = (error as { errorNo?: unknown }).errorNo;
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d{1,9}$/.test(raw) ? Number(raw) : null;
  return value !== null && Number.isSafeInteger(value) ? value : null;
}

/**
 * The gateway's error for what a token request threw.
 * @param error what msal-node threw (or a GatewayError from the network module, returned as is)
 * @param where the identity platform's origin, named in the message (never a path with the tenant's secrets: there are none in it)
 * @param tenantId MS_TENANT_ID, named when the tenant is unknown
 */
export function mapIdentityError(error: unknown, where: string, tenantId: string): GatewayError {
  if (isGatewayError(error)) return error;
  if (!(error instanceof AuthError)) return new GraphAuthError('protocol', `the token request to ${where} failed unexpectedly`, { cause: error });
  const oauth = error.errorCode;
  const aadsts = aadstsOf(error);
  const detail = [oauth, describeAadsts(aadsts)].filter((part) => part !== '').join(', ');
  if (aadsts !== null && TENANT_CODES.has(aadsts)) {
    return new GraphAuthError('tenant', `the identity platform at ${where} does not know tenant ${JSON.stringify(tenantId)} (${detail}); check MS_TENANT_ID`, { aadsts });
  }
  if (GRANT_ERRORS.has(oauth)) {
    return new GraphAuthError('grant', `Microsoft refused the grant (${detail}); the mailbox must be connected again`, { aadsts, detail });
  }
  if (CLIENT_ERRORS.has(oauth)) {
    return new GraphAuthError('client', `the identity platform at ${where} refused the gateway's app registration (${detail}); check MS_CLIENT_ID, MS_CLIENT_SECRET and the app's API permissions`, { aadsts });
  }
  if (oauth === 'temporarily_unavailable') return new GraphAuthError('upstream', `the identity platform at ${where} is temporarily unavailable`, { aadsts });
  if (MSAL_CONFIG_ERRORS.has(oauth)) {
    return new GraphAuthError('tenant', `the authority ${where}/${tenantId} cannot be used (${oauth}); check MS_LOGIN_ROOT and MS_TENANT_ID`);
  }
  return new GraphAuthError('protocol', `the identity platform at ${where} answered the token request with an error (${detail || 'no error code'})`, { aadsts });
}
