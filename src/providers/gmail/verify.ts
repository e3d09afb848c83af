/**
 * The check at the door of a Gmail mailbox: exchange its refresh token for an access token at
 * GOOGLE_TOKEN_URL (through {@link GmailTokenSource}, the provider's own token code), read
 * `users/me/profile` at GOOGLE_API_ROOT, and refuse an address that is not the account's
 * `emailAddress` (compared case-insensitively), all within one deadline. `mailbox add`,
 * `mailbox update` and `mailbox test` use it before they store or report anything.
 *
 * Followed: `users.getProfile`
 * (https://developers.google.com/workspace/gmail/api/reference/rest/v1/users/getProfile:
 * `GET /gmail/v1/users/me/profile` → `{emailAddress, messagesTotal, threadsTotal, historyId}`,
 * any read scope, gmail.metadata included), partial responses with `fields`
 * (https://developers.google.com/gmail/api/guides/performance#partial), refreshing an access
 * token (https://developers.google.com/identity/protocols/oauth2/web-server#offline) and the
 * token endpoint's errors (RFC 6749 §5.2: `invalid_grant`, `invalid_client`), mapped by
 * `./errors.ts`.
 *
 * A Workspace mailbox read by domain-wide delegation is checked the same way by
 * {@link checkDelegatedGmailMailbox}, its token coming from the service account's JWT bearer grant.
 *
 * No retry: an operator runs the check and reads its one line; a retry would only stretch the
 * deadline. A refresh token Google rotates during the check is returned, so the caller stores
 * the current one.
 */
import { readBodyLimited } from '../../upstream/body.ts';
import { ErrorCode, GatewayError, isGatewayError } from '../../errors.ts';
import { GmailTokenSource } from './auth.ts';
import { GMAIL_READONLY_SCOPE, parseServiceAccountKey, ServiceAccountTokenSource } from './service-account.ts';
import type { GoogleTokenSource } from './token-source.ts';
import { GmailApiError, mapGmailError } from './errors.ts';
import type { GoogleSettings } from './settings.ts';

/** What a Gmail check needs. */
export interface GmailCheckSettings {
  google: GoogleSettings;
  refreshToken: string;
  /** The address the mailbox is stored under; must be the account's. */
  address: string;
}

/** What a successful check saw. */
export interface GmailCheckResult {
  /** The account's address as Google spells it. */
  emailAddress: string;
  messagesTotal: number | null;
  threadsTotal: number | null;
  /** The refresh token to store: the one given, or the one Google rotated it to during the check. */
  refreshToken: string;
  /** Time the check took, milliseconds. */
  elapsedMs: number;
}

/** Why a check failed. `config` is refused before any request (no OAuth client configured). */
export type GmailCheckReason = 'config' | 'credentials' | 'address' | 'throttled' | 'unreachable' | 'timeout' | 'upstream';

/**
 * A failed check. `code` is BAD_USER_INPUT for `config`, PROVIDER_AUTH_FAILED for `credentials`
 * and `address`, PROVIDER_THROTTLED (with `retryAfter`) for `throttled`, PROVIDER_UNAVAILABLE
 * otherwise. The message is one line starting `Gmail check failed (<reason>):` and never contains
 * a token, a secret or Google's own error text.
 */
export class GmailCheckError extends GatewayError {
  readonly reason: GmailCheckReason;

  constructor(reason: GmailCheckReason, detail: string, options: { cause?: unknown; retryAfter?: number } = {}) {
    const code =
      reason === 'config'
        ? ErrorCode.BAD_USER_INPUT
        : reason === 'credentials' || reason === 'address'
          ? ErrorCode.PROVIDER_AUTH_FAILED
          : reason === 'throttled'
            ? ErrorCode.PROVIDER_THROTTLED
            : ErrorCode.PROVIDER_UNAVAILABLE;
    super(code, `Gmail check failed (${reason}): ${detail}`, { cause: options.cause, retryAfter: options.retryAfter });
    this.reason = reason;
  }
}

/** Default deadline of a whole check (token exchange and profile read), milliseconds. */
export const DEFAULT_GMAIL_CHECK_TIMEOUT_MS = 15_000;
/** Longest profile answer read, bytes (a real one is under 200). */
const MAX_PROFILE_BYTES = 64 * 1024;

/**
 * Refuses a gateway without an OAuth client (GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET); no request is made.
 * @throws GmailCheckError reason `config` (BAD_USER_INPUT)
 */
export function assertGoogleConfigured(google: GoogleSettings): void {
  const missing = [google.clientId ? null : 'GOOGLE_CLIENT_ID', google.clientSecret ? null : 'GOOGLE_CLIENT_SECRET'].filter(Boolean);
  if (missing.length > 0) throw new GmailCheckError('config', `${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} not set; Gmail mailboxes need the gateway's OAuth client`);
}

/**
 * Gets an access token, reads the profile and compares its address with `settings.address`.
 * @param options.timeoutMs deadline of the whole check in ms (default {@link DEFAULT_GMAIL_CHECK_TIMEOUT_MS})
 * @param options.fetch the fetch for the profile read (tests); Node's by default
 * @throws GmailCheckError naming the reason; never a raw gaxios or fetch error
 */
export async function checkGmailMailbox(settings: GmailCheckSettings, options: { timeoutMs?: number; fetch?: typeof fetch } = {}): Promise<GmailCheckResult> {
  assertGoogleConfigured(settings.google);
  let refreshToken = settings.refreshToken;
  const tokens = new GmailTokenSource({
    google: settings.google,
    credentials: { refreshToken },
    // Only a rotation is kept; nothing is stored until the check has passed.
    writer: {
      save: async (credentials) => {
        refreshToken = credentials.refreshToken ?? refreshToken;
      },
      markNeedsReconsent: async () => undefined,
    },
  });
  const result = await runCheck(tokens, settings, 'the refresh token', options);
  return { ...result, refreshToken };
}

/** What a delegated (service account) check needs. */
export interface DelegatedGmailCheckSettings {
  google: GoogleSettings;
  /** The service account key's JSON text (as `parseServiceAccountKey` reduced it). */
  serviceAccountKey: string;
  /** The mailbox: the assertion's subject, and the profile's address must be it. */
  address: string;
}

/**
 * The check of a Google Workspace mailbox read by domain-wide delegation: a JWT bearer grant with
 * `--address` as subject (`./service-account.ts`), the profile read, the address compared. Needs
 * no OAuth client (GOOGLE_CLIENT_ID / SECRET).
 * @throws GmailCheckError naming the reason (`credentials` for delegation not granted, an unknown
 *   subject or a refused key, with what an admin must do)
 */
export async function checkDelegatedGmailMailbox(
  settings: DelegatedGmailCheckSettings,
  options: { timeoutMs?: number; fetch?: typeof fetch } = {},
): Promise<Omit<GmailCheckResult, 'refreshToken'>> {
  let key: { client_id?: string; client_email?: string };
  try {
    key = (await parseServiceAccountKey(settings.serviceAccountKey)) as typeof key;
  } catch {
    throw new GmailCheckError('credentials', 'the service account key cannot be read; store it again with --service-account-key-file');
  }
  const tokens = new ServiceAccountTokenSource({ google: settings.google, serviceAccountKey: settings.serviceAccountKey, subject: settings.address.trim(), fetch: options.fetch });
  return runCheck(tokens, settings, `the service account ${key.client_email ?? ''}`, options, key.client_id ?? null);
}

/** Token, profile and address within one deadline. `whose` names the credential in the address refusal. */
async function runCheck(
  tokens: GoogleTokenSource,
  settings: { google: GoogleSettings; address: string },
  whose: string,
  options: { timeoutMs?: number; fetch?: typeof fetch },
  serviceAccountClientId: string | null = null,
): Promise<Omit<GmailCheckResult, 'refreshToken'>> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_GMAIL_CHECK_TIMEOUT_MS;
  const started = Date.now();
  const root = settings.google.apiRoot.replace(/\/+$/, '');
  const timedOut = new GmailCheckError('timeout', `no answer within ${(timeoutMs / 1000).toFixed(1)} s`);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(timedOut), timeoutMs);
  let phase: 'token' | 'profile' = 'token';
  try {
    const accessToken = await tokens.accessToken(deadline.signal);
    phase = 'profile';
    const profile = await readProfile(`${root}/gmail/v1/users/me/profile?fields=emailAddress,messagesTotal,threadsTotal`, accessToken, deadline.signal, options.fetch ?? fetch);
    if (profile.emailAddress.toLowerCase() !== settings.address.trim().toLowerCase()) {
      throw new GmailCheckError('address', `${whose} belongs to ${profile.emailAddress}, not ${settings.address}`);
    }
    return { ...profile, elapsedMs: Date.now() - started };
  } catch (error) {
    if (deadline.signal.aborted) throw new GmailCheckError('timeout', `${phase === 'token' ? `the token endpoint ${settings.google.tokenUrl}` : `the Gmail API at ${root}`} did not answer within ${(timeoutMs / 1000).toFixed(1)} s`);
    if (error instanceof GmailCheckError) throw error;
    throw classify(error, phase === 'token' ? `the token endpoint ${settings.google.tokenUrl}` : `the Gmail API at ${root}`, serviceAccountClientId);
  } finally {
    clearTimeout(timer);
  }
}

/** GET the profile with the bearer token; a non-2xx answer is thrown as mapped by `./errors.ts`. */
export async function readProfile(url: string, accessToken: string, signal: AbortSignal, fetchFn: typeof fetch): Promise<Omit<GmailCheckResult, 'refreshToken' | 'elapsedMs'>> {
  const response = await fetchFn(url, { headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' }, signal, redirect: 'error' });
  const text = await readLimited(response, MAX_PROFILE_BYTES);
  if (!response.ok) throw mapGmailError({ status: response.status, body: text, headers: response.headers });
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new GmailCheckError('upstream', `the Gmail API at ${new URL(url).origin} answered the profile read with something other than JSON`);
  }
  const { emailAddress, messagesTotal, threadsTotal } = (body ?? {}) as Record<string, unknown>;
  if (typeof emailAddress !== 'string' || emailAddress === '') throw new GmailCheckError('upstream', `the Gmail API at ${new URL(url).origin} answered the profile read without an emailAddress`);
  return { emailAddress, messagesTotal: typeof messagesTotal === 'number' ? messagesTotal : null, threadsTotal: typeof threadsTotal === 'number' ? threadsTotal : null };
}

/** The body as text, at most `limit` bytes (more is refused: no profile is that large). */
async function readLimited(response: Response, limit: number): Promise<string> {
  const text = await readBodyLimited(response, limit);
  if (text === null) throw new GmailCheckError('upstream', `the answer to the profile read was larger than ${limit} bytes`);
  return text;
}

/** A failure of the token exchange or the profile read as a {@link GmailCheckError}. */
export function classify(error: unknown, where: string, serviceAccountClientId: string | null = null): GmailCheckError {
  const mapped = mapGmailError(error);
  const kind = mapped instanceof GmailApiError ? mapped.kind : null;
  const status = mapped instanceof GmailApiError && mapped.status !== null ? ` (HTTP ${mapped.status}${mapped.reason ? ` ${mapped.reason}` : ''})` : '';
  switch (kind) {
    case 'grant-revoked':
      return new GmailCheckError('credentials', `Google refused the refresh token at ${where} (invalid_grant: revoked, expired or issued to another client)`, { cause: mapped });
    case 'delegation-denied':
      return new GmailCheckError(
        'credentials',
        `${where} answered unauthorized_client: domain-wide delegation of ${GMAIL_READONLY_SCOPE} is not granted to this service account; a Google Workspace admin grants it in the Admin console (Security > API controls > Domain-wide delegation${serviceAccountClientId ? `, client ID ${serviceAccountClientId}` : ''})`,
        { cause: mapped },
      );
    case 'delegation-refused':
      return new GmailCheckError('credentials', `${where} refused the service account's assertion (invalid_grant): the address is not a user of the Workspace domain, the key was deleted or disabled, or the clock is off`, { cause: mapped });
    case 'auth':
    case 'forbidden':
      return new GmailCheckError('credentials', `${where} refused the credentials${status}; check GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET and the refresh token`, { cause: mapped });
    case 'scope':
      return new GmailCheckError('credentials', `the refresh token lacks a Gmail read scope (gmail.readonly)${status}; consent again with that scope`, { cause: mapped });
    case 'rate-limit':
    case 'daily-limit':
      return new GmailCheckError('throttled', `${where} is rate-limiting this account${status}; try again in ${mapped.retryAfter ?? 60} s`, { cause: mapped, retryAfter: mapped.retryAfter });
    case 'network': {
      const code = mapped.cause instanceof Error ? mapped.cause.message.replace(/^network failure /, '') : 'network error';
      return new GmailCheckError(code === 'TimeoutError' ? 'timeout' : 'unreachable', `${where} could not be reached (${code})`, { cause: mapped });
    }
    default:
      return new GmailCheckError('upstream', `${where} answered with an error${status}`, { cause: isGatewayError(mapped) ? mapped : error });
  }
}
