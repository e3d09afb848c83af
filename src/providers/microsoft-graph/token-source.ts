/**
 * The one thing the Graph provider needs from authentication: a current bearer token for its
 * mailbox. Implementations (delegated refresh token, application client credentials) live in
 * `./auth.ts`; tests may give a token source of their own.
 */

/** Access tokens of one Graph mailbox. */
export interface GraphTokenSource {
  /**
   * A bearer token valid for at least a minute, from cache when it has one; concurrent callers
   * share one refresh.
   * @param signal the request's signal: aborting it ends the caller's wait (not a shared refresh)
   * @throws GatewayError PROVIDER_AUTH_FAILED (grant revoked or expired: the mailbox is then marked
   *   as needing re-consent; or the app is not configured), PROVIDER_UNAVAILABLE (also for a token request past its deadline)
   */
  accessToken(signal?: AbortSignal): Promise<string>;
  /** Forgets the cached token, e.g. after Graph answered 401 for it, so the next call refreshes. */
  invalidate(): void;
}
