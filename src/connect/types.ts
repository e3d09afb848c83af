/**
 * The provider-neutral contract of `mailbox connect`: the OAuth 2.0 authorization-code flow with
 * PKCE (RFC 6749 §4.1, RFC 7636 with S256) and `state`, finished by the gateway's callback route.
 * A provider plugs in by implementing {@link ConsentProvider} (Gmail: `src/providers/gmail/consent.ts`,
 * Microsoft Graph: `src/providers/microsoft-graph/consent.ts`)
 * and listing it in `./providers.ts`; the state, the verifier, the pending row, the callback page
 * and storing the mailbox are shared (`./start.ts`, `./callback.ts`).
 */
import { ErrorCode, GatewayError } from '../errors.ts';
import type { ProviderKind } from '../providers/types.ts';

/** What the authorization request carries. */
export interface AuthorizationRequest {
  /** The opaque value the callback must bring back (RFC 6749 §10.12). */
  state: string;
  /** BASE64URL(SHA256(code_verifier)) (RFC 7636 §4.2). */
  codeChallenge: string;
  /** The gateway's callback URL, registered with the provider for the OAuth client. */
  redirectUri: string;
  /** The address the account owner should sign in with, as a hint (`login_hint`); null for none. */
  loginHint: string | null;
}

/** What the code exchange needs. */
export interface CodeExchange {
  code: string;
  codeVerifier: string;
  /** The redirect URI of the authorization request, repeated as RFC 6749 §4.1.3 requires. */
  redirectUri: string;
  /** The callback request's signal with its deadline: the exchange stops when it aborts. */
  signal: AbortSignal;
  /** The account the consent was started for (`--address`), or null: lets a provider that knows an account by two names report the one asked for. */
  expectedAddress?: string | null;
}

/** A connected account: its address as the provider spells it and the credentials to store. */
export interface ConnectedAccount {
  address: string;
  /** Stored encrypted as the mailbox's credentials, in the shape `mailbox add` stores (Gmail: `{ refreshToken }`). */
  credentials: Record<string, string>;
  /** The mailbox settings to store, in the shape `mailbox add` stores (Microsoft Graph: `{ mode: 'delegated' }`); `{}` when absent. */
  settings?: Record<string, unknown>;
}

/** One provider's side of the flow. */
export interface ConsentProvider {
  readonly kind: ProviderKind;
  /** The provider's name in messages ("Gmail"). */
  readonly name: string;
  /** The URL of the provider's consent page for this request. */
  authorizationUrl(request: AuthorizationRequest): string;
  /**
   * Exchanges the authorization code and finds the account's address.
   * @throws ConsentError (`scope`, `offline`, `credentials`, `throttled`, `unreachable`, `timeout`, `upstream`)
   */
  exchangeCode(exchange: CodeExchange): Promise<ConnectedAccount>;
}

/**
 * Why a connect failed:
 * - `config`: the gateway has no OAuth client for the provider;
 * - `state`: the callback's state is missing, unknown, used or expired;
 * - `denied`: the account owner refused, or the provider answered the authorization with an error;
 * - `address`: the account is not the expected one;
 * - `scope`: a scope the gateway needs was not granted;
 * - `offline`: the provider issued no refresh token;
 * - `credentials`: the provider refused the code exchange (code expired or used, PKCE verifier
 *   mismatch, client refused);
 * - `throttled`, `unreachable`, `timeout`, `upstream`: the provider failed.
 */
export type ConsentFailureReason = 'config' | 'state' | 'denied' | 'address' | 'scope' | 'offline' | 'credentials' | 'throttled' | 'unreachable' | 'timeout' | 'upstream';

const CODE_OF: Record<ConsentFailureReason, ErrorCode> = {
  config: ErrorCode.PROVIDER_UNAVAILABLE,
  state: ErrorCode.BAD_USER_INPUT,
  denied: ErrorCode.BAD_USER_INPUT,
  address: ErrorCode.BAD_USER_INPUT,
  scope: ErrorCode.BAD_USER_INPUT,
  offline: ErrorCode.PROVIDER_AUTH_FAILED,
  credentials: ErrorCode.PROVIDER_AUTH_FAILED,
  throttled: ErrorCode.PROVIDER_THROTTLED,
  unreachable: ErrorCode.PROVIDER_UNAVAILABLE,
  timeout: ErrorCode.DEADLINE_EXCEEDED,
  upstream: ErrorCode.PROVIDER_UNAVAILABLE,
};

/**
 * A failed connect. The status follows the code: 400 for what the person at the browser can redo
 * (`state`, `denied`, `address`, `scope`), 502 for the provider's refusals and failures, 503 when
 * throttled, 504 on the exchange's deadline. The message is one line in words for people:
 * `<Provider> connect failed (<reason>): <detail>`, never a token or a provider's own error text.
 */
export class ConsentError extends GatewayError {
  readonly reason: ConsentFailureReason;
  /** The detail alone (the message without its prefix), for the callback page. */
  readonly detail: string;

  constructor(provider: string, reason: ConsentFailureReason, detail: string, options: { cause?: unknown; retryAfter?: number } = {}) {
    super(CODE_OF[reason], `${provider} connect failed (${reason}): ${detail}`, options);
    this.reason = reason;
    this.detail = detail;
  }
}
