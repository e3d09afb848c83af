/**
 * Access tokens for Microsoft Graph, the two ways a Graph mailbox is connected
 * (`GraphMailboxSettings.mode`), both through @azure/msal-node's `ConfidentialClientApplication`
 * with the gateway's app registration (MS_CLIENT_ID / MS_CLIENT_SECRET) and the authority
 * `${MS_LOGIN_ROOT}/${MS_TENANT_ID}`:
 *
 * - `delegated`: the mailbox's stored refresh token (`credentials.refreshToken`) is redeemed with
 *   `acquireTokenByRefreshToken` for {@link GRAPH_DELEGATED_SCOPES}. Microsoft rotates refresh
 *   tokens: the new one is saved through `deps.credentials.save` (encrypted by the store) before
 *   its access token is used, and the next refresh redeems it.
 * - `application`: the app's own token from `acquireTokenByClientCredential` for
 *   {@link GRAPH_APPLICATION_SCOPES} (the admin granted the app `Mail.Read`); one token per app and
 *   tenant, shared by that tenant's mailboxes.
 *
 * Followed: "Refresh the access token"
 * (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token:
 * POST `grant_type=refresh_token`, answer `{access_token, expires_in, refresh_token, ...}`, "refresh
 * tokens ... replace the old one"), the client credentials grant
 * (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow:
 * scope `https://graph.microsoft.com/.default`, a tenant authority, never `common`), and msal-node's
 * configuration (`knownAuthorities` for an authority msal does not know, `system.networkClient`).
 *
 * Both kinds of source:
 * - cache a token until {@link EXPIRY_MARGIN_MS} before its `expiresOn`; concurrent callers share
 *   one acquisition (single flight); an acquisition has a deadline ({@link TOKEN_TIMEOUT_MS}) and a
 *   caller's signal ends only that caller's wait;
 * - try the identity platform once per acquisition: msal-node 7 does not retry token requests,
 *   and its throttle cache is kept out by `./identity-network.ts`, so `src/upstream/retry.ts` in
 *   the callers is the one retry policy;
 * - map failures with `./auth-errors.ts`: a revoked, expired or consent-needing grant marks the
 *   mailbox (`deps.credentials.markNeedsReconsent`, in words) and throws PROVIDER_AUTH_FAILED; that
 *   and a refused app registration are answered from memory for {@link FAILURE_HOLD_MS}, so a burst
 *   of requests does not hammer the endpoint. Tokens and Microsoft's error texts are never logged
 *   or put in an error.
 */
import { createHash } from 'node:crypto';
import { ConfidentialClientApplication, LogLevel, type AuthenticationResult } from '@azure/msal-node';
import { ErrorCode, GatewayError, isGatewayError } from '../../errors.ts';
import type { Logger } from '../../domain/logger.ts';
import { untilAborted } from '../../request-signal.ts';
import type { MailboxConfig, MailboxCredentials, ProviderDeps } from '../types.ts';
import { GraphAuthError, mapIdentityError } from './auth-errors.ts';
import { IdentityNetwork } from './identity-network.ts';
import { MICROSOFT_DEFAULTS, type GraphMailboxSettings, type MicrosoftSettings } from './settings.ts';
import type { GraphTokenSource } from './token-source.ts';

/** Scopes of a delegated mailbox: read mail, and a refresh token to keep doing so. */
export const GRAPH_DELEGATED_SCOPES: readonly string[] = ['https://graph.microsoft.com/Mail.Read', 'offline_access'];
/** Scope of the application mode: every application permission an admin granted the app. */
export const GRAPH_APPLICATION_SCOPES: readonly string[] = ['https://graph.microsoft.com/.default'];
/** Deadline of one token acquisition (OpenID document and token request together), ms. */
export const TOKEN_TIMEOUT_MS = 15_000;
/** A token is renewed this long before Microsoft says it expires, ms. */
export const EXPIRY_MARGIN_MS = 60_000;
/** How long a refused grant or app registration is answered from memory before asking again, ms. */
export const FAILURE_HOLD_MS = 60_000;
/** Tenants that name no directory: fine for delegated sign-in, refused for client credentials. */
export const MULTI_TENANT_AUTHORITIES: ReadonlySet<string> = new Set(['common', 'organizations', 'consumers']);
/** Login hosts msal knows itself (it validates them by instance discovery); any other is passed as a known authority. */
const MICROSOFT_LOGIN_HOSTS = new Set(['login.microsoftonline.com', 'login.microsoft.com', 'login.windows.net', 'sts.windows.net', 'login.microsoftonline.us', 'login.chinacloudapi.cn', 'login.partner.microsoftonline.cn']);

/** Options of both token sources. */
export interface GraphAuthOptions {
  microsoft?: MicrosoftSettings;
  logger?: Logger;
  /** Deadline of one acquisition, ms (the add-time check passes its own); default {@link TOKEN_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** The fetch msal's requests go through (tests); Node's by default. */
  fetch?: typeof fetch;
}

/** A token and when to stop using it (ms since the epoch, the margin already taken off). */
interface HeldToken {
  value: string;
  useUntil: number;
  /** The scopes the token answer says were granted (msal falls back to the requested ones when it names none). */
  scopes: string[];
}

/**
 * One msal application and its network module: runs one acquisition at a time under a deadline
 * and turns what it throws into a {@link GatewayError}.
 */
class MsalRunner {
  readonly network: IdentityNetwork;
  readonly #microsoft: MicrosoftSettings;
  readonly #timeoutMs: number;
  #app: ConfidentialClientApplication | null = null;

  constructor(microsoft: MicrosoftSettings, options: GraphAuthOptions) {
    this.#microsoft = microsoft;
    this.#timeoutMs = options.timeoutMs ?? TOKEN_TIMEOUT_MS;
    this.network = new IdentityNetwork(microsoft.loginRoot, microsoft.tenantId, options.fetch);
  }

  /**
   * Runs `acquire` with a fresh deadline.
   * @param signal a caller's signal that also ends the acquisition (the connect callback's); its reason is thrown when it aborts
   * @throws GatewayError (mapped), never an msal error
   */
  async run(acquire: (app: ConfidentialClientApplication) => Promise<AuthenticationResult | null>, signal?: AbortSignal): Promise<HeldToken> {
    const { loginRoot, tenantId } = this.#microsoft;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.#timeoutMs);
    const stop = signal ? AbortSignal.any([deadline.signal, signal]) : deadline.signal;
    this.network.begin(stop);
    let result: AuthenticationResult | null;
    try {
      this.#app ??= this.#createApp();
      // The network module ends its own calls at the deadline; the race also ends msal's work between calls.
      result = await untilAborted(acquire(this.#app), stop);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (deadline.signal.aborted) throw new GraphAuthError('timeout', `the identity platform at ${loginRoot} did not answer within ${(this.#timeoutMs / 1000).toFixed(1)} s`, { cause: error });
      throw this.network.takeFailure() ?? mapIdentityError(error, loginRoot, tenantId);
    } finally {
      clearTimeout(timer);
    }
    if (!result?.accessToken) throw new GraphAuthError('protocol', `the identity platform at ${loginRoot} answered the token request without an access token`);
    const expiresAt = result.expiresOn instanceof Date ? result.expiresOn.getTime() : Date.now() + 3_600_000;
    return { value: result.accessToken, useUntil: expiresAt - EXPIRY_MARGIN_MS, scopes: result.scopes ?? [] };
  }

  #createApp(): ConfidentialClientApplication {
    const { loginRoot, tenantId, clientId, clientSecret } = this.#microsoft;
    const host = new URL(loginRoot).host;
    return new ConfidentialClientApplication({
      auth: {
        clientId: clientId ?? '',
        clientSecret: clientSecret ?? '',
        authority: `${loginRoot}/${tenantId}`,
        // Without it msal validates any other host at Microsoft's hard-coded instance discovery.
        knownAuthorities: MICROSOFT_LOGIN_HOSTS.has(host) ? [] : [host],
      },
      system: {
        networkClient: this.network,
        // msal's warnings quote Microsoft's error descriptions; the gateway reports failures itself.
        loggerOptions: { loggerCallback: () => undefined, piiLoggingEnabled: false, logLevel: LogLevel.Error },
      },
    });
  }
}

/**
 * The cached token, the one acquisition in flight and a held failure: the part both modes share.
 */
class TokenHolder {
  readonly #acquire: () => Promise<HeldToken>;
  #token: HeldToken | null = null;
  #pending: Promise<string> | null = null;
  #held: { error: GatewayError; until: number } | null = null;

  constructor(acquire: () => Promise<HeldToken>) {
    this.#acquire = acquire;
  }

  get(signal: AbortSignal | undefined): Promise<string> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (this.#token && this.#token.useUntil > Date.now()) return Promise.resolve(this.#token.value);
    if (this.#held && this.#held.until > Date.now()) return Promise.reject(this.#held.error);
    this.#pending ??= this.#acquire()
      .then(
        (token) => {
          this.#held = null;
          this.#token = token;
          return token.value;
        },
        (error: unknown) => {
          this.#token = null;
          if (isGatewayError(error) && error.code === ErrorCode.PROVIDER_AUTH_FAILED) this.#held = { error, until: Date.now() + FAILURE_HOLD_MS };
          throw error;
        },
      )
      .finally(() => {
        this.#pending = null;
      });
    return untilAborted(this.#pending, signal);
  }

  invalidate(): void {
    this.#token = null;
  }
}

/** Marks a mailbox once per run of refused grants (until a token is acquired again). */
class ReconsentMarker {
  #marked = false;

  constructor(
    readonly writer: MailboxCredentials | undefined,
    readonly logger: Logger | undefined,
  ) {}

  async onFailure(error: unknown): Promise<void> {
    if (!(error instanceof GraphAuthError) || !error.needsReconsent || this.#marked || !this.writer) return;
    this.#marked = true;
    try {
      await this.writer.markNeedsReconsent(error.message);
    } catch (markError) {
      this.#marked = false;
      this.logger?.warn({ err: markError }, 'could not mark the Microsoft Graph mailbox as needing re-consent');
    }
  }

  onSuccess(): void {
    this.#marked = false;
  }
}

/** Refuses a gateway without an app registration. @throws GraphAuthError kind `client` */
function assertAppConfigured(microsoft: MicrosoftSettings): void {
  const missing = [microsoft.clientId ? null : 'MS_CLIENT_ID', microsoft.clientSecret ? null : 'MS_CLIENT_SECRET'].filter(Boolean);
  if (missing.length > 0) throw new GraphAuthError('client', `Microsoft Graph is not configured in this gateway (${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} not set)`);
}

/**
 * Access tokens of one delegated mailbox from its rotating refresh token (see the module docs).
 */
export class DelegatedTokenSource implements GraphTokenSource {
  readonly #microsoft: MicrosoftSettings;
  readonly #runner: MsalRunner;
  readonly #holder: TokenHolder;
  readonly #marker: ReconsentMarker;
  #credentials: Record<string, string> | null;
  #unsaved: Record<string, string> | null = null;

  /**
   * @param credentials the mailbox's stored credentials (`refreshToken`, maybe more); saved whole with a rotated token
   * @param writer the mailbox's credential writer; without it a rotation is used but not stored
   */
  constructor(credentials: Record<string, string> | null, writer: MailboxCredentials | undefined, options: GraphAuthOptions = {}) {
    this.#microsoft = options.microsoft ?? MICROSOFT_DEFAULTS;
    this.#credentials = credentials;
    this.#runner = new MsalRunner(this.#microsoft, options);
    this.#marker = new ReconsentMarker(writer, options.logger);
    this.#holder = new TokenHolder(() => this.#refresh());
  }

  /** @inheritdoc */
  accessToken(signal?: AbortSignal): Promise<string> {
    return this.#holder.get(signal);
  }

  /** @inheritdoc */
  invalidate(): void {
    this.#holder.invalidate();
  }

  async #refresh(): Promise<HeldToken> {
    assertAppConfigured(this.#microsoft);
    if (this.#unsaved) await this.#save(this.#unsaved);
    const refreshToken = this.#credentials?.refreshToken;
    if (!refreshToken) throw new GatewayError(ErrorCode.PROVIDER_AUTH_FAILED, 'This Microsoft Graph mailbox has no refresh token; connect the mailbox again');
    let token: HeldToken | null = null;
    let failure: unknown = null;
    try {
      token = await this.#runner.run((app) => app.acquireTokenByRefreshToken({ refreshToken, scopes: [...GRAPH_DELEGATED_SCOPES] }));
    } catch (error) {
      failure = error;
    }
    // A rotation is kept even when msal refused the rest of the answer: the new token is valid.
    const rotated = this.#runner.network.takeRefreshToken();
    if (rotated && rotated !== refreshToken) await this.#save({ ...this.#credentials, refreshToken: rotated });
    if (failure !== null || token === null) {
      await this.#marker.onFailure(failure);
      throw failure;
    }
    this.#marker.onSuccess();
    return token;
  }

  /**
   * Stores rotated credentials before anything uses them. When the store fails, they are kept in
   * memory only as unsaved (the old token may already be void at Microsoft) and the next
   * acquisition stores them first: an unsaved refresh token is never redeemed.
   * @throws the store's error
   */
  async #save(credentials: Record<string, string>): Promise<void> {
    this.#credentials = credentials;
    this.#unsaved = credentials;
    await this.#marker.writer?.save(credentials);
    this.#unsaved = null;
  }
}

/** The app's token for one tenant, shared by every application-mode mailbox of that tenant. */
class ApplicationTokens {
  readonly holder: TokenHolder;

  constructor(microsoft: MicrosoftSettings, options: GraphAuthOptions) {
    const runner = new MsalRunner(microsoft, options);
    this.holder = new TokenHolder(() => {
      assertAppConfigured(microsoft);
      if (MULTI_TENANT_AUTHORITIES.has(microsoft.tenantId.toLowerCase())) {
        throw new GraphAuthError('tenant', `application mode needs the directory's tenant id or domain in MS_TENANT_ID, not ${JSON.stringify(microsoft.tenantId)}`);
      }
      // msal's own cache is skipped: the holder caches with the gateway's margin.
      return runner.run((app) => app.acquireTokenByClientCredential({ scopes: [...GRAPH_APPLICATION_SCOPES], skipCache: true }));
    });
  }
}

const SHARED_APPLICATION_TOKENS = new Map<string, ApplicationTokens>();

/** The shared tokens of `microsoft`'s app and tenant (keyed by login root, tenant, client and a hash of the secret). */
function applicationTokensFor(microsoft: MicrosoftSettings, options: GraphAuthOptions): ApplicationTokens {
  if (options.timeoutMs !== undefined || options.fetch !== undefined) return new ApplicationTokens(microsoft, options);
  const secret = createHash('sha256').update(microsoft.clientSecret ?? '').digest('hex');
  const key = JSON.stringify([microsoft.loginRoot, microsoft.tenantId.toLowerCase(), microsoft.clientId, secret]);
  let tokens = SHARED_APPLICATION_TOKENS.get(key);
  if (!tokens) {
    tokens = new ApplicationTokens(microsoft, options);
    SHARED_APPLICATION_TOKENS.set(key, tokens);
  }
  return tokens;
}

/**
 * Access tokens of one application-mode mailbox: the tenant's shared app token; a refused grant
 * (consent withdrawn) marks this mailbox.
 */
export class ApplicationTokenSource implements GraphTokenSource {
  readonly #tokens: ApplicationTokens;
  readonly #marker: ReconsentMarker;

  /**
   * @param options with `timeoutMs` or `fetch`, a private token (the add-time check); else the tenant's shared one
   */
  constructor(writer: MailboxCredentials | undefined, options: GraphAuthOptions = {}) {
    this.#tokens = applicationTokensFor(options.microsoft ?? MICROSOFT_DEFAULTS, options);
    this.#marker = new ReconsentMarker(writer, options.logger);
  }

  /** @inheritdoc */
  async accessToken(signal?: AbortSignal): Promise<string> {
    try {
      const token = await this.#tokens.holder.get(signal);
      this.#marker.onSuccess();
      return token;
    } catch (error) {
      if (!signal?.aborted) await this.#marker.onFailure(error);
      throw error;
    }
  }

  /** @inheritdoc */
  invalidate(): void {
    this.#tokens.holder.invalidate();
  }
}

/** What an authorization code was exchanged for (`redeemAuthorizationCode`). */
export interface CodeGrant {
  accessToken: string;
  /** The refresh token of the answer; null when Microsoft issued none (offline_access not granted). */
  refreshToken: string | null;
  /** The scopes the answer says were granted, as Microsoft spelled them. */
  scopes: string[];
}

/**
 * Redeems an authorization code of the connect flow (`POST .../oauth2/v2.0/token`,
 * `grant_type=authorization_code` with the PKCE `code_verifier`, RFC 7636 §4.5) through msal's
 * `acquireTokenByCode`, on the same network module, deadline and error mapping as the token
 * sources. msal's result carries no refresh token: the network module keeps it from the answer.
 * Followed: https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow#redeem-a-code-for-an-access-token
 * @param request.scopes the Graph scopes asked for (msal adds `openid profile offline_access`)
 * @param options.signal ends the exchange early (its reason is thrown)
 * @throws GatewayError: GraphAuthError `grant` (code expired, used, or the verifier does not match),
 *   `client`, `tenant`, `timeout`, `throttled`, network kinds; PROVIDER_AUTH_FAILED when the app is not configured
 */
export async function redeemAuthorizationCode(
  request: { code: string; codeVerifier: string; redirectUri: string; scopes: readonly string[] },
  options: GraphAuthOptions & { signal?: AbortSignal } = {},
): Promise<CodeGrant> {
  const microsoft = options.microsoft ?? MICROSOFT_DEFAULTS;
  assertAppConfigured(microsoft);
  const runner = new MsalRunner(microsoft, options);
  const token = await runner.run(
    (app) => app.acquireTokenByCode({ code: request.code, codeVerifier: request.codeVerifier, redirectUri: request.redirectUri, scopes: [...request.scopes] }),
    options.signal,
  );
  return { accessToken: token.value, refreshToken: runner.network.takeRefreshToken(), scopes: token.scopes };
}

/**
 * The mode stored with a Graph mailbox.
 * @throws GatewayError PROVIDER_AUTH_FAILED when `settings.mode` is neither `delegated` nor `application`
 */
export function graphMailboxSettings(settings: Record<string, unknown>): GraphMailboxSettings {
  const mode = settings.mode;
  if (mode === 'delegated' || mode === 'application') return { mode };
  throw new GatewayError(ErrorCode.PROVIDER_AUTH_FAILED, 'This Microsoft Graph mailbox has no valid mode in its settings (delegated or application); add it again');
}

/**
 * The token source of a Graph mailbox, by its stored mode: delegated (its refresh token) or
 * application (the tenant's app token). Builds no connection and never throws: a mailbox stored
 * without a valid mode gets a source that answers PROVIDER_AUTH_FAILED, so only its own fields fail.
 */
export function graphTokenSource(mailbox: MailboxConfig, deps: ProviderDeps): GraphTokenSource {
  let mode: GraphMailboxSettings['mode'];
  try {
    ({ mode } = graphMailboxSettings(mailbox.settings));
  } catch (error) {
    return { accessToken: () => Promise.reject(error as GatewayError), invalidate: () => undefined };
  }
  const options: GraphAuthOptions = { microsoft: deps.microsoft ?? MICROSOFT_DEFAULTS, logger: deps.logger };
  return mode === 'delegated' ? new DelegatedTokenSource(mailbox.credentials, deps.credentials, options) : new ApplicationTokenSource(deps.credentials, options);
}
