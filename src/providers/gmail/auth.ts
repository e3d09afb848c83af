/**
 * OAuth 2.0 access tokens of one Gmail mailbox: its stored refresh token exchanged at Google's
 * token endpoint (GOOGLE_TOKEN_URL) by google-auth-library's `OAuth2Client` with the gateway's
 * client id and secret (GOOGLE_CLIENT_ID / GOOGLE_CLIENT_SECRET).
 *
 * Followed: "Using OAuth 2.0 for Web Server Applications", refreshing an access token
 * (https://developers.google.com/identity/protocols/oauth2/web-server#offline: POST
 * `grant_type=refresh_token`, answer `{access_token, expires_in, scope, token_type}`, maybe a new
 * `refresh_token`), RFC 6749 §5.2 (`{error: "invalid_grant"}` for a revoked or expired grant).
 *
 * - The cache, single flight, deadline, caller's signal and re-consent hold are the shared token
 *   source's (`./token-source.ts`); this module is the refresh-token grant on it.
 * - gaxios' own retries of the token POST are off (google-auth-library asks for 3 tries of POST by
 *   default, `AuthClient.RETRY_CONFIG`): the callers run under the one retry policy
 *   (`src/upstream/retry.ts`), so a 5xx or network failure here is retried there, once per try.
 * - `invalid_grant` marks the mailbox as needing re-consent (`deps.credentials.markNeedsReconsent`)
 *   and throws PROVIDER_AUTH_FAILED (kind `grant-revoked`, not retryable).
 * - A rotated refresh token in the answer is saved (`deps.credentials.save`) before it is used.
 */
import { OAuth2Client } from 'google-auth-library';
import { ErrorCode, GatewayError } from '../../errors.ts';
import type { Logger } from '../../domain/logger.ts';
import type { MailboxCredentials } from '../types.ts';
import { isGmailFailure, mapGmailError } from './errors.ts';
import { GOOGLE_DEFAULTS, type GoogleSettings } from './settings.ts';
import { CachedTokenSource, TOKEN_TIMEOUT_MS, type GrantedToken } from './token-source.ts';

export { EXPIRY_MARGIN_MS, REVOKED_HOLD_MS, TOKEN_TIMEOUT_MS, type GoogleTokenSource } from './token-source.ts';

/** google-auth-library's client with its refresh-token exchange reachable (it is `protected` there). */
class RefreshClient extends OAuth2Client {
  /** One `grant_type=refresh_token` POST (shared by concurrent callers of the same token). */
  refresh(refreshToken: string): ReturnType<OAuth2Client['refreshToken']> {
    return this.refreshToken(refreshToken);
  }
}

/** Options of {@link GmailTokenSource}. */
export interface TokenSourceOptions {
  google?: GoogleSettings;
  /** The mailbox's stored credentials (`refreshToken`, maybe more); saved whole with a rotated token. */
  credentials: Record<string, string> | null;
  /** The mailbox's credential writer; absent where nothing may be written. */
  writer?: MailboxCredentials;
  logger?: Logger;
}

/**
 * Access tokens of one mailbox from its refresh token (see the module docs).
 */
export class GmailTokenSource extends CachedTokenSource {
  readonly #client: RefreshClient | null;
  #credentials: Record<string, string> | null;

  constructor(options: TokenSourceOptions) {
    super({ writer: options.writer, logger: options.logger });
    const google = options.google ?? GOOGLE_DEFAULTS;
    this.#credentials = options.credentials;
    this.#client =
      google.clientId && google.clientSecret
        ? new RefreshClient({ clientId: google.clientId, clientSecret: google.clientSecret, endpoints: { oauth2TokenUrl: google.tokenUrl } })
        : null;
    // One retry policy: the token POST is tried once per call; the caller's retryUpstream decides.
    this.#client?.transporter.interceptors.request.add({
      resolved: async (config) => {
        config.retry = false;
        config.retryConfig = { ...config.retryConfig, retry: 0 };
        config.timeout = TOKEN_TIMEOUT_MS;
        return config;
      },
    });
  }

  protected async requestToken(): Promise<GrantedToken> {
    const refreshToken = this.#credentials?.refreshToken;
    if (!this.#client) throw new GatewayError(ErrorCode.PROVIDER_AUTH_FAILED, 'Gmail is not configured in this gateway (GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET)');
    if (!refreshToken) throw new GatewayError(ErrorCode.PROVIDER_AUTH_FAILED, 'This Gmail mailbox has no refresh token; connect the mailbox again');
    let tokens: { access_token?: string | null; refresh_token?: string | null; expiry_date?: number | null };
    try {
      ({ tokens } = await this.#client.refresh(refreshToken));
    } catch (error) {
      throw mapGmailError(error);
    }
    if (!tokens.access_token) throw new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'Google answered the token refresh without an access token');
    if (tokens.refresh_token && tokens.refresh_token !== refreshToken) {
      const rotated = { ...this.#credentials, refreshToken: tokens.refresh_token };
      // Saved before use: should the save fail, the old token is kept (Google accepts it until it expires).
      if (this.writer) await this.writer.save(rotated);
      this.#credentials = rotated;
    }
    return { accessToken: tokens.access_token, lifetimeMs: typeof tokens.expiry_date === 'number' ? tokens.expiry_date - Date.now() : 3_600_000 };
  }

  protected reconsentReason(error: GatewayError): string | null {
    return isGmailFailure(error, 'grant-revoked') ? 'Google refused the refresh token (invalid_grant: revoked or expired); connect the mailbox again' : null;
  }
}
