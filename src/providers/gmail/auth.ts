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
 * - One token per mailbox is cached until one minute before its `expires_in`; concurrent callers
 *   share one refresh (single flight).
 * - gaxios' own retries of the token POST are off (google-auth-library asks for 3 tries of POST by
 *   default, `AuthClient.RETRY_CONFIG`): the callers run under the one retry policy
 *   (`src/upstream/retry.ts`), so a 5xx or network failure here is retried there, once per try.
 * - `invalid_grant` marks the mailbox as needing re-consent (`deps.credentials.markNeedsReconsent`)
 *   and throws PROVIDER_AUTH_FAILED (kind `grant-revoked`, not retryable). The failure is kept for
 *   {@link REVOKED_HOLD_MS}, so a burst of requests does not hammer the token endpoint.
 * - A rotated refresh token in the answer is saved (`deps.credentials.save`) before it is used.
 * - Every refresh has a deadline ({@link TOKEN_TIMEOUT_MS}) and the caller's signal ends its wait.
 */
import { OAuth2Client } from 'google-auth-library';
import { ErrorCode, GatewayError } from '../../errors.ts';
import type { Logger } from '../../domain/logger.ts';
import type { MailboxCredentials } from '../types.ts';
import { isGmailFailure, mapGmailError } from './errors.ts';
import { GOOGLE_DEFAULTS, type GoogleSettings } from './settings.ts';
import { untilAborted } from '../../request-signal.ts';

/** Deadline of one token request, ms. */
export const TOKEN_TIMEOUT_MS = 15_000;
/** A token is refreshed this long before Google says it expires, ms. */
export const EXPIRY_MARGIN_MS = 60_000;
/** How long a revoked grant is answered from memory before the token endpoint is asked again, ms. */
export const REVOKED_HOLD_MS = 60_000;

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
 * Access tokens of one mailbox (see the module docs).
 */
export class GmailTokenSource {
  readonly #client: RefreshClient | null;
  readonly #writer: MailboxCredentials | undefined;
  readonly #logger: Logger | undefined;
  #credentials: Record<string, string> | null;
  #token: { value: string; expiresAt: number } | null = null;
  #pending: Promise<string> | null = null;
  #revoked: { error: GatewayError; until: number } | null = null;
  #marked = false;

  constructor(options: TokenSourceOptions) {
    const google = options.google ?? GOOGLE_DEFAULTS;
    this.#credentials = options.credentials;
    this.#writer = options.writer;
    this.#logger = options.logger;
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

  /**
   * A current access token (cached, or refreshed now).
   * @throws GatewayError PROVIDER_AUTH_FAILED (no OAuth client configured, no refresh token, grant
   *   revoked, client refused), PROVIDER_UNAVAILABLE / PROVIDER_THROTTLED (token endpoint failing;
   *   retryable); the signal's reason when it aborts
   */
  async accessToken(signal?: AbortSignal): Promise<string> {
    signal?.throwIfAborted();
    if (this.#token && this.#token.expiresAt > Date.now()) return this.#token.value;
    if (this.#revoked && this.#revoked.until > Date.now()) throw this.#revoked.error;
    this.#pending ??= this.#refresh().finally(() => {
      this.#pending = null;
    });
    return untilAborted(this.#pending, signal);
  }

  /** Forgets the cached access token (after Gmail answered 401 with it); the next call refreshes. */
  invalidate(token?: string): void {
    if (!token || this.#token?.value === token) this.#token = null;
  }

  async #refresh(): Promise<string> {
    const refreshToken = this.#credentials?.refreshToken;
    if (!this.#client) throw new GatewayError(ErrorCode.PROVIDER_AUTH_FAILED, 'Gmail is not configured in this gateway (GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET)');
    if (!refreshToken) throw new GatewayError(ErrorCode.PROVIDER_AUTH_FAILED, 'This Gmail mailbox has no refresh token; connect the mailbox again');
    let tokens: { access_token?: string | null; refresh_token?: string | null; expiry_date?: number | null };
    try {
      ({ tokens } = await this.#client.refresh(refreshToken));
    } catch (error) {
      const mapped = mapGmailError(error);
      if (isGmailFailure(mapped, 'grant-revoked')) await this.#markRevoked(mapped);
      throw mapped;
    }
    if (!tokens.access_token) throw new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'Google answered the token refresh without an access token');
    if (tokens.refresh_token && tokens.refresh_token !== refreshToken) {
      const rotated = { ...this.#credentials, refreshToken: tokens.refresh_token };
      // Saved before use: should the save fail, the old token is kept (Google accepts it until it expires).
      if (this.#writer) await this.#writer.save(rotated);
      this.#credentials = rotated;
    }
    this.#revoked = null;
    this.#marked = false;
    const lifetime = typeof tokens.expiry_date === 'number' ? tokens.expiry_date - Date.now() : 3_600_000;
    this.#token = { value: tokens.access_token, expiresAt: Date.now() + Math.max(0, lifetime - EXPIRY_MARGIN_MS) };
    return tokens.access_token;
  }

  async #markRevoked(error: GatewayError): Promise<void> {
    this.#token = null;
    this.#revoked = { error, until: Date.now() + REVOKED_HOLD_MS };
    if (this.#marked || !this.#writer) return;
    this.#marked = true;
    try {
      await this.#writer.markNeedsReconsent('Google refused the refresh token (invalid_grant: revoked or expired); connect the mailbox again');
    } catch (markError) {
      this.#marked = false;
      this.#logger?.warn({ err: markError }, 'could not mark the Gmail mailbox as needing re-consent');
    }
  }
}
