/**
 * The check at the door of a Microsoft Graph mailbox, run by `mailbox add`, `update` and `test`
 * before they store or report anything, all within one deadline:
 *
 * 1. a token, through the provider's own token sources (`./auth.ts`): the refresh token redeemed
 *    (delegated) or the app's client-credentials token (application);
 * 2. delegated: `GET /v1.0/me?$select=mail,userPrincipalName,displayName` (needs User.Read, which
 *    app registrations hold by default; the access token carries every consented Graph scope, not
 *    only the ones asked for), and the address must be the account's `mail` or `userPrincipalName`
 *    (compared without case);
 * 3. the mailbox read: `GET /v1.0/{me | users/{address}}/mailFolders/inbox?$select=displayName,totalItemCount`
 *    (needs `Mail.Read`: a token without it is refused here, not at the first listing).
 *
 * Followed: user-get (https://learn.microsoft.com/en-us/graph/api/user-get: `/me` needs a delegated
 * token, `mail` / `userPrincipalName`), mailfolder-get
 * (https://learn.microsoft.com/en-us/graph/api/mailfolder-get: well-known name `inbox`, Mail.Read
 * delegated or application), Graph's error shape (https://learn.microsoft.com/en-us/graph/errors:
 * `{error: {code, message}}`; 401 token refused, 403 not permitted, 404 unknown user or mailbox, 429
 * with Retry-After).
 *
 * No retry: an operator reads the one line; a retry would only stretch the deadline. A refresh
 * token rotated during the check is returned, so the caller stores the current one; nothing is
 * written by the check itself (no credential writer, no re-consent mark).
 */
import { ErrorCode, GatewayError, isGatewayError } from '../../errors.ts';
import { parseRetryAfter } from '../../upstream/retry.ts';
import { ApplicationTokenSource, DelegatedTokenSource, MULTI_TENANT_AUTHORITIES } from './auth.ts';
import { GraphAuthError } from './auth-errors.ts';
import { readBodyLimited } from '../../upstream/body.ts';
import { networkErrorCode, networkFailureKind } from './network-failure.ts';
import type { GraphMailboxSettings, MicrosoftSettings } from './settings.ts';

/** What a Graph check needs. */
export interface GraphCheckSettings {
  microsoft: MicrosoftSettings;
  mode: GraphMailboxSettings['mode'];
  /** The address the mailbox is stored under: the account's (delegated), the mailbox to read (application). */
  address: string;
  /** Delegated mode: the refresh token to redeem. */
  refreshToken?: string | null;
}

/** What a successful check saw. */
export interface GraphCheckResult {
  mode: GraphMailboxSettings['mode'];
  /** The account's address as Graph spells it (delegated), or the address given (application). */
  address: string;
  /** Messages in the inbox, when Graph said. */
  inboxTotal: number | null;
  /** Delegated: the refresh token to store (the one given, or the one Microsoft rotated it to); else null. */
  refreshToken: string | null;
  /** Time the check took, milliseconds. */
  elapsedMs: number;
}

/**
 * Why a check failed: `config` is refused before any request (app registration or tenant not set
 * for this mode); `credentials` a refused token or app; `consent` a permission or consent missing;
 * `not-found` an unknown tenant, user or mailbox; `address` a token of another account.
 */
export type GraphCheckReason = 'config' | 'dns' | 'refused' | 'tls' | 'unreachable' | 'timeout' | 'credentials' | 'consent' | 'not-found' | 'address' | 'throttled' | 'upstream' | 'protocol';

/**
 * A failed check. `code` is BAD_USER_INPUT for `config`, PROVIDER_AUTH_FAILED for `credentials`,
 * `consent`, `not-found` and `address`, PROVIDER_THROTTLED (with `retryAfter`) for `throttled`,
 * PROVIDER_UNAVAILABLE otherwise. The message is one line starting
 * `Microsoft Graph check failed (<reason>):` and never holds a token, a secret or Microsoft's text.
 */
export class GraphCheckError extends GatewayError {
  readonly reason: GraphCheckReason;

  constructor(reason: GraphCheckReason, detail: string, options: { cause?: unknown; retryAfter?: number } = {}) {
    const code =
      reason === 'config'
        ? ErrorCode.BAD_USER_INPUT
        : reason === 'credentials' || reason === 'consent' || reason === 'not-found' || reason === 'address'
          ? ErrorCode.PROVIDER_AUTH_FAILED
          : reason === 'throttled'
            ? ErrorCode.PROVIDER_THROTTLED
            : ErrorCode.PROVIDER_UNAVAILABLE;
    super(code, `Microsoft Graph check failed (${reason}): ${detail}`, { cause: options.cause, retryAfter: options.retryAfter });
    this.reason = reason;
  }
}

/** Default deadline of a whole check, milliseconds. */
export const DEFAULT_GRAPH_CHECK_TIMEOUT_MS = 15_000;
/** Longest Graph answer read by the check, bytes (a user or a folder is under 2 KiB). */
const MAX_GRAPH_ANSWER_BYTES = 64 * 1024;
/** AADSTS numbers of a consent that is missing rather than credentials that are wrong. */
const CONSENT_AADSTS = new Set([65001, 65004, 7000229]);

/**
 * Refuses what no request can fix: no app registration, or application mode on a multi-tenant
 * authority (client credentials need the directory).
 * @throws GraphCheckError reason `config` (BAD_USER_INPUT)
 */
export function assertMicrosoftConfigured(microsoft: MicrosoftSettings, mode: GraphMailboxSettings['mode']): void {
  const missing = [microsoft.clientId ? null : 'MS_CLIENT_ID', microsoft.clientSecret ? null : 'MS_CLIENT_SECRET'].filter(Boolean);
  if (missing.length > 0) throw new GraphCheckError('config', `${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} not set; Microsoft Graph mailboxes need the gateway's app registration`);
  if (mode === 'application' && MULTI_TENANT_AUTHORITIES.has(microsoft.tenantId.toLowerCase())) {
    throw new GraphCheckError('config', `--app-only needs the directory's tenant id or domain in MS_TENANT_ID, not ${JSON.stringify(microsoft.tenantId)} (client credentials are issued by one tenant)`);
  }
}

/**
 * Gets a token, checks the account's address (delegated) and reads the inbox.
 * @param options.timeoutMs deadline of the whole check in ms (default {@link DEFAULT_GRAPH_CHECK_TIMEOUT_MS})
 * @param options.fetch the fetch of every request (tests); Node's by default
 * @throws GraphCheckError naming the reason; never a raw msal or fetch error
 */
export async function checkGraphMailbox(settings: GraphCheckSettings, options: { timeoutMs?: number; fetch?: typeof fetch } = {}): Promise<GraphCheckResult> {
  const { microsoft, mode, address } = settings;
  assertMicrosoftConfigured(microsoft, mode);
  if (mode === 'delegated' && !settings.refreshToken) throw new GraphCheckError('config', 'a delegated mailbox needs a refresh token');
  const timeoutMs = options.timeoutMs ?? DEFAULT_GRAPH_CHECK_TIMEOUT_MS;
  const fetchFn = options.fetch ?? fetch;
  const started = Date.now();
  let refreshToken = settings.refreshToken ?? null;
  const authOptions = { microsoft, timeoutMs, fetch: fetchFn };
  // Only a rotation is kept; nothing is stored until the check has passed.
  const writer = {
    save: async (credentials: Record<string, string>) => {
      refreshToken = credentials.refreshToken ?? refreshToken;
    },
    markNeedsReconsent: async () => undefined,
  };
  const tokens = mode === 'delegated' ? new DelegatedTokenSource({ refreshToken: refreshToken! }, writer, authOptions) : new ApplicationTokenSource(undefined, authOptions);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), timeoutMs);
  const graph = `Microsoft Graph at ${microsoft.graphRoot}`;
  let phase: 'token' | 'graph' = 'token';
  try {
    const accessToken = await tokens.accessToken(deadline.signal);
    phase = 'graph';
    const read = (path: string) => readGraph(`${microsoft.graphRoot}/v1.0/${path}`, accessToken, deadline.signal, fetchFn, graph);
    let seen = address;
    if (mode === 'delegated') {
      const me = await read('me?$select=mail,userPrincipalName,displayName');
      const names = [me.mail, me.userPrincipalName].filter((n): n is string => typeof n === 'string' && n !== '');
      if (names.length === 0) throw new GraphCheckError('protocol', `${graph} answered /me without mail or userPrincipalName`);
      if (!names.some((n) => n.toLowerCase() === address.trim().toLowerCase())) {
        throw new GraphCheckError('address', `the refresh token belongs to ${names[0]}, not ${address}`);
      }
      seen = names.find((n) => n.toLowerCase() === address.trim().toLowerCase()) ?? address;
    }
    const base = mode === 'delegated' ? 'me' : `users/${encodeURIComponent(address)}`;
    const inbox = await read(`${base}/mailFolders/inbox?$select=displayName,totalItemCount`);
    const total = typeof inbox.totalItemCount === 'number' ? inbox.totalItemCount : null;
    return { mode, address: seen, inboxTotal: total, refreshToken: mode === 'delegated' ? refreshToken : null, elapsedMs: Date.now() - started };
  } catch (error) {
    if (error instanceof GraphCheckError) throw error;
    const where = phase === 'token' ? `the identity platform at ${microsoft.loginRoot}` : graph;
    if (deadline.signal.aborted || (error instanceof GraphAuthError && error.failure === 'timeout')) {
      throw new GraphCheckError('timeout', `${where} did not answer within ${(timeoutMs / 1000).toFixed(1)} s`, { cause: error });
    }
    throw classifyAuthFailure(error, where, mode);
  } finally {
    clearTimeout(timer);
  }
}

/** GET a Graph resource as JSON with the bearer token (the connect flow reads `/me` with it too). @throws GraphCheckError for any failure; the signal's reason when it aborts */
export async function readGraph(url: string, accessToken: string, signal: AbortSignal, fetchFn: typeof fetch, graph: string): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    response = await fetchFn(url, { headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' }, signal, redirect: 'error' });
  } catch (error) {
    if (signal.aborted) throw error;
    const code = networkErrorCode(error);
    throw new GraphCheckError(networkFailureKind(code), `${graph} could not be reached (${code ?? 'network error'})`, { cause: error });
  }
  const text = await readBodyLimited(response, MAX_GRAPH_ANSWER_BYTES);
  if (text === null) throw new GraphCheckError('protocol', `${graph} answered with more than ${MAX_GRAPH_ANSWER_BYTES} bytes`);
  const what = decodeURIComponent(new URL(url).pathname.replace(/^\/v1\.0/, ''));
  if (!response.ok) throw graphFailure(response, text, graph, what);
  try {
    const body: unknown = JSON.parse(text);
    if (body !== null && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new GraphCheckError('protocol', `${graph} answered ${what} with something other than a JSON object`);
}

/** A Graph error answer as a check failure, naming its status and Graph's error code (never its message). */
function graphFailure(response: Response, text: string, graph: string, what: string): GraphCheckError {
  let code = '';
  try {
    const parsed = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
    if (typeof parsed === 'string' && /^[A-Za-z0-9_.]{1,64}$/.test(parsed)) code = ` ${parsed}`;
  } catch {
    // no Graph error body: the status says enough
  }
  const status = `HTTP ${response.status}${code}`;
  switch (true) {
    case response.status === 401:
      return new GraphCheckError('credentials', `${graph} refused the access token for ${what} (${status})`);
    case response.status === 403:
      return new GraphCheckError(
        'consent',
        what === '/me'
          ? `${graph} does not let the app read the signed-in user's profile (${status}); grant the delegated permission User.Read`
          : `${graph} does not let the app read ${what} (${status}); grant Mail.Read (delegated, or application with admin consent)`,
      );
    case response.status === 404:
      return new GraphCheckError('not-found', `${graph} has no ${what} (${status}): unknown user, or no Exchange Online mailbox`);
    case response.status === 429:
      return new GraphCheckError('throttled', `${graph} is throttling the gateway (${status})`, { retryAfter: parseRetryAfter(response.headers.get('retry-after')) ?? 60 });
    case response.status >= 500:
      return new GraphCheckError('upstream', `${graph} answered ${what} with an error (${status})`);
    default:
      return new GraphCheckError('protocol', `${graph} answered ${what} with ${status}`);
  }
}

/** A token failure (from `./auth.ts`) as a {@link GraphCheckError}. */
function classifyAuthFailure(error: unknown, where: string, mode: GraphMailboxSettings['mode']): GraphCheckError {
  if (!(error instanceof GraphAuthError)) {
    return new GraphCheckError('protocol', `${where} failed: ${isGatewayError(error) ? error.message : 'unexpected error'}`, { cause: error });
  }
  switch (error.failure) {
    case 'grant':
      return new GraphCheckError(error.aadsts !== null && CONSENT_AADSTS.has(error.aadsts) ? 'consent' : 'credentials', `Microsoft refused the ${mode === 'delegated' ? 'refresh token' : "app's grant"} at ${where} (${error.detail ?? 'invalid_grant'})`, { cause: error });
    case 'client':
      return new GraphCheckError(error.aadsts !== null && CONSENT_AADSTS.has(error.aadsts) ? 'consent' : 'credentials', error.message, { cause: error });
    case 'tenant':
      return new GraphCheckError('not-found', error.message, { cause: error });
    case 'throttled':
      return new GraphCheckError('throttled', error.message, { cause: error, retryAfter: error.retryAfter });
    case 'timeout':
      return new GraphCheckError('timeout', error.message, { cause: error });
    default:
      return new GraphCheckError(error.failure, error.message, { cause: error });
  }
}
