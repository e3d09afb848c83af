/**
 * Gmail's side of `mailbox connect` (the contract: `src/connect/types.ts`).
 *
 * Followed: "Using OAuth 2.0 for Web Server Applications"
 * (https://developers.google.com/identity/protocols/oauth2/web-server): the consent URL at
 * GOOGLE_AUTH_URL with `client_id`, `redirect_uri`, `response_type=code`, `scope`,
 * `access_type=offline` (a refresh token), `prompt=consent` (Google issues a refresh token on the
 * first offline consent only; asking for consent every time makes one come back on a re-consent
 * too), `include_granted_scopes=true`, `state`, `code_challenge` + `code_challenge_method=S256`
 * (RFC 7636) and `login_hint`; the code exchange (POST `grant_type=authorization_code` with `code`,
 * `code_verifier`, `redirect_uri`) through google-auth-library's `OAuth2Client.getToken` at
 * GOOGLE_TOKEN_URL; the granted `scope` of the answer, which granular consent may have narrowed;
 * then `users.getProfile` (`GET /gmail/v1/users/me/profile`) for the account's address.
 *
 * One try, no retry (gaxios' own retries are off): the person at the browser sees the outcome and
 * can start again; a retried code exchange would fail anyway (a code is single use). The exchange
 * and the profile read share one deadline and the callback request's signal.
 */
import { OAuth2Client } from 'google-auth-library';
import { ConsentError, type AuthorizationRequest, type CodeExchange, type ConnectedAccount, type ConsentProvider } from '../../connect/types.ts';
import { untilAborted } from '../../request-signal.ts';
import { isGmailFailure, mapGmailError } from './errors.ts';
import type { GoogleSettings } from './settings.ts';
import { classify, GmailCheckError, readProfile } from './verify.ts';

/** The scope `mailbox connect` asks for: reading mail (https://developers.google.com/workspace/gmail/api/auth/scopes). */
export const GMAIL_CONNECT_SCOPE = 'https://www.googleapis.com/auth/gmail.readonly';
/** Granted scopes that include reading mail and attachments (gmail.metadata does not). */
const READ_SCOPES = new Set([GMAIL_CONNECT_SCOPE, 'https://www.googleapis.com/auth/gmail.modify', 'https://mail.google.com/']);
/** Default deadline of the code exchange and the profile read together, ms. */
export const DEFAULT_GMAIL_EXCHANGE_TIMEOUT_MS = 20_000;

const NAME = 'Gmail';

/** google-auth-library's client with gaxios retries off and one deadline on every request. */
function exchangeClient(google: GoogleSettings & { clientId: string; clientSecret: string }, signal: AbortSignal, timeoutMs: number): OAuth2Client {
  const client = new OAuth2Client({ clientId: google.clientId, clientSecret: google.clientSecret, endpoints: { oauth2TokenUrl: google.tokenUrl } });
  client.transporter.interceptors.request.add({
    resolved: async (config) => {
      config.retry = false;
      config.retryConfig = { ...config.retryConfig, retry: 0 };
      config.timeout = timeoutMs;
      config.signal = signal;
      return config;
    },
  });
  return client;
}

/** A check failure of `./verify.ts` (same classification of Google's answers) as a connect failure. */
function fromCheck(error: GmailCheckError): ConsentError {
  const detail = error.message.replace(/^Gmail check failed \([a-z]+\): /, '');
  const reason = error.reason === 'config' || error.reason === 'address' ? 'upstream' : error.reason;
  return new ConsentError(NAME, reason, detail, { cause: error, retryAfter: error.retryAfter });
}

/**
 * Gmail's consent provider for the gateway's OAuth client.
 * @param options.timeoutMs deadline of one exchange with its profile read, ms (default {@link DEFAULT_GMAIL_EXCHANGE_TIMEOUT_MS})
 * @param options.fetch the fetch of the profile read (tests); Node's by default
 * @throws ConsentError `config` when GOOGLE_CLIENT_ID or GOOGLE_CLIENT_SECRET is not set
 */
export function gmailConsent(google: GoogleSettings, options: { timeoutMs?: number; fetch?: typeof fetch } = {}): ConsentProvider {
  const { clientId, clientSecret } = google;
  if (!clientId || !clientSecret) {
    throw new ConsentError(NAME, 'config', "this gateway has no Google OAuth client (GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET are not both set)");
  }
  const configured = { ...google, clientId, clientSecret };
  const timeoutMs = options.timeoutMs ?? DEFAULT_GMAIL_EXCHANGE_TIMEOUT_MS;
  const apiRoot = google.apiRoot.replace(/\/+$/, '');

  return {
    kind: 'GMAIL',
    name: NAME,

    authorizationUrl({ state, codeChallenge, redirectUri, loginHint }: AuthorizationRequest): string {
      const url = new URL(google.authUrl);
      const params: [string, string][] = [
        ['client_id', clientId],
        ['redirect_uri', redirectUri],
        ['response_type', 'code'],
        ['scope', GMAIL_CONNECT_SCOPE],
        ['access_type', 'offline'],
        ['prompt', 'consent'],
        ['include_granted_scopes', 'true'],
        ['state', state],
        ['code_challenge', codeChallenge],
        ['code_challenge_method', 'S256'],
      ];
      if (loginHint) params.push(['login_hint', loginHint]);
      for (const [name, value] of params) url.searchParams.set(name, value);
      return url.toString();
    },

    async exchangeCode({ code, codeVerifier, redirectUri, signal }: CodeExchange): Promise<ConnectedAccount> {
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(new ConsentError(NAME, 'timeout', 'no answer within the deadline')), timeoutMs);
      const both = AbortSignal.any([signal, deadline.signal]);
      let phase: 'token' | 'profile' = 'token';
      const where = () => (phase === 'token' ? `the token endpoint ${google.tokenUrl}` : `the Gmail API at ${apiRoot}`);
      try {
        const client = exchangeClient(configured, both, timeoutMs);
        const { tokens } = await untilAborted(client.getToken({ code, codeVerifier, redirect_uri: redirectUri }), both);
        if (!tokens.access_token) throw new ConsentError(NAME, 'upstream', `${where()} answered the code exchange without an access token`);
        const granted = typeof tokens.scope === 'string' ? tokens.scope.split(/\s+/).filter(Boolean) : null;
        if (granted && !granted.some((scope) => READ_SCOPES.has(scope))) {
          throw new ConsentError(NAME, 'scope', 'read access to Gmail (gmail.readonly) was not granted; connect again and leave "View your email messages and settings" checked');
        }
        if (!tokens.refresh_token) {
          throw new ConsentError(NAME, 'offline', 'Google issued no refresh token (the consent was not for offline access), so the gateway could not read the mailbox later; connect again');
        }
        phase = 'profile';
        const profile = await readProfile(`${apiRoot}/gmail/v1/users/me/profile?fields=emailAddress`, tokens.access_token, both, options.fetch ?? fetch);
        return { address: profile.emailAddress, credentials: { refreshToken: tokens.refresh_token } };
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (deadline.signal.aborted) throw new ConsentError(NAME, 'timeout', `${where()} did not answer within ${(timeoutMs / 1000).toFixed(1)} s`);
        if (error instanceof ConsentError) throw error;
        if (error instanceof GmailCheckError) throw fromCheck(error);
        const mapped = mapGmailError(error);
        if (phase === 'token' && isGmailFailure(mapped, 'grant-revoked')) {
          throw new ConsentError(NAME, 'credentials', 'Google refused the authorization code (invalid_grant: expired, already used, or the PKCE code_verifier does not match)', { cause: mapped });
        }
        throw fromCheck(classify(error, where()));
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
