/**
 * The one token source of a Gmail mailbox, whichever OAuth 2.0 grant feeds it: the mailbox's
 * refresh token (`./auth.ts`) or a Workspace service account's JWT bearer assertion with the
 * mailbox as subject (`./service-account.ts`). This base holds what both share:
 *
 * - One token per mailbox is cached until one minute before it expires; concurrent callers share
 *   one grant request (single flight). The caller's signal ends its own wait, not the shared request.
 * - Each grant request is tried once with a deadline ({@link TOKEN_TIMEOUT_MS}); the callers run
 *   under the one retry policy (`src/upstream/retry.ts`), which retries a 5xx or network failure.
 * - A failure that needs an operator (a revoked grant, delegation not granted) marks the mailbox as
 *   needing re-consent once, with the grant's own reason, and is answered from memory for
 *   {@link REVOKED_HOLD_MS}, so a burst of requests does not hammer the token endpoint.
 */
import { isGatewayError, type GatewayError } from '../../errors.ts';
import type { Logger } from '../../domain/logger.ts';
import type { MailboxCredentials } from '../types.ts';
import { untilAborted } from '../../request-signal.ts';

/** Deadline of one token request, ms. */
export const TOKEN_TIMEOUT_MS = 15_000;
/** A token is renewed this long before Google says it expires, ms. */
export const EXPIRY_MARGIN_MS = 60_000;
/** How long a failure that needs an operator is answered from memory before the token endpoint is asked again, ms. */
export const REVOKED_HOLD_MS = 60_000;

/** Access tokens of one Gmail mailbox (what the provider and the add-time check use). */
export interface GoogleTokenSource {
  /**
   * A current access token (cached, or granted now).
   * @param signal the caller's signal: aborting it ends this wait (not a shared grant request)
   * @throws GatewayError PROVIDER_AUTH_FAILED (credentials refused or missing), PROVIDER_UNAVAILABLE /
   *   PROVIDER_THROTTLED (token endpoint failing; retryable); the signal's reason when it aborts
   */
  accessToken(signal?: AbortSignal): Promise<string>;
  /** Forgets the cached token (after Gmail answered 401 with it), or only `token` when given and current. */
  invalidate(token?: string): void;
}

/** A token as a grant answered it. */
export interface GrantedToken {
  accessToken: string;
  /** Lifetime Google announced (`expires_in`), ms; one hour when it named none. */
  lifetimeMs: number;
}

/** What the cache needs to know about its mailbox. */
export interface TokenCacheOptions {
  /** The mailbox's credential writer; absent where nothing may be written (a check before storing). */
  writer?: MailboxCredentials;
  logger?: Logger;
}

/**
 * The cache, single flight and re-consent marking over one grant (see the module docs).
 * Implementations give {@link requestToken} (one try, its failures mapped by `./errors.ts`) and
 * {@link reconsentReason}.
 */
export abstract class CachedTokenSource implements GoogleTokenSource {
  protected readonly writer: MailboxCredentials | undefined;
  protected readonly logger: Logger | undefined;
  #token: { value: string; expiresAt: number } | null = null;
  #pending: Promise<string> | null = null;
  #held: { error: GatewayError; until: number } | null = null;
  #marked = false;

  constructor(options: TokenCacheOptions) {
    this.writer = options.writer;
    this.logger = options.logger;
  }

  /** One grant request (no retry, deadline {@link TOKEN_TIMEOUT_MS}). @throws GatewayError, mapped */
  protected abstract requestToken(): Promise<GrantedToken>;

  /**
   * The words an operator reads when `error` needs one (shown by `Mailbox.reconsentReason` and
   * `mailbox list --json`); null for a failure that may pass by itself.
   */
  protected abstract reconsentReason(error: GatewayError): string | null;

  async accessToken(signal?: AbortSignal): Promise<string> {
    signal?.throwIfAborted();
    if (this.#token && this.#token.expiresAt > Date.now()) return this.#token.value;
    if (this.#held && this.#held.until > Date.now()) throw this.#held.error;
    this.#pending ??= this.#grant().finally(() => {
      this.#pending = null;
    });
    return untilAborted(this.#pending, signal);
  }

  invalidate(token?: string): void {
    if (!token || this.#token?.value === token) this.#token = null;
  }

  async #grant(): Promise<string> {
    let granted: GrantedToken;
    try {
      granted = await this.requestToken();
    } catch (error) {
      const reason = isGatewayError(error) ? this.reconsentReason(error) : null;
      if (reason !== null) await this.#hold(error as GatewayError, reason);
      throw error;
    }
    this.#held = null;
    this.#marked = false;
    this.#token = { value: granted.accessToken, expiresAt: Date.now() + Math.max(0, granted.lifetimeMs - EXPIRY_MARGIN_MS) };
    return granted.accessToken;
  }

  async #hold(error: GatewayError, reason: string): Promise<void> {
    this.#token = null;
    this.#held = { error, until: Date.now() + REVOKED_HOLD_MS };
    if (this.#marked || !this.writer) return;
    this.#marked = true;
    try {
      await this.writer.markNeedsReconsent(reason);
    } catch (markError) {
      this.#marked = false;
      this.logger?.warn({ err: markError }, 'could not mark the Gmail mailbox as needing re-consent');
    }
  }
}

