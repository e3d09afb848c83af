/**
 * Microsoft's side of `mailbox connect` (`src/connect/`): the Microsoft identity platform's
 * authorization-code flow with PKCE for a delegated Graph mailbox, stored as
 * `mailbox add --provider microsoft-graph` stores one (settings `{ mode: 'delegated' }`,
 * credentials `{ refreshToken }`).
 *
 * Followed: https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow
 * ("Request an authorization code": `${loginRoot}/${tenant}/oauth2/v2.0/authorize` with
 * `client_id`, `response_type=code`, `redirect_uri`, `response_mode=query`, `scope`, `state`,
 * `prompt`, `login_hint`, `code_challenge`, `code_challenge_method=S256`; "Redeem a code": the
 * token endpoint with `code_verifier`; `offline_access` is what brings a refresh token), and
 * user-get (https://learn.microsoft.com/en-us/graph/api/user-get: `/me` with `mail`,
 * `userPrincipalName`, which needs User.Read).
 *
 * Choices:
 * - Scopes `openid profile offline_access` + Graph `Mail.Read` and `User.Read`: `offline_access`
 *   for the refresh token, `Mail.Read` for the mailbox, `User.Read` for `/me` (the address),
 *   `openid profile` because msal redeems the code for those too and builds its account from the
 *   ID token they bring.
 * - `prompt=select_account`, not `consent`: the owner picks the account (a wrong one is refused
 *   after the exchange), and Entra still shows the consent screen for any scope not yet granted.
 *   `prompt=consent` would force the user-consent screen even when an admin has already granted
 *   the app tenant-wide, which fails ("Need admin approval") in the many tenants where users may
 *   not consent themselves.
 *
 * The exchange runs through `redeemAuthorizationCode` (`./auth.ts`: the same msal network module,
 * deadline, no throttle cache and error mapping as the token sources); then the granted scopes
 * are checked (a refresh token, and Mail.Read when the answer names its scopes), `/me` gives the
 * address, and the inbox is read once so that a token without mail access is refused now rather
 * than at the first listing. Failures are {@link ConsentError}s in words: Microsoft's
 * `error_description` and tokens never appear.
 */
import { ConsentError, type AuthorizationRequest, type CodeExchange, type ConnectedAccount, type ConsentProvider } from '../../connect/types.ts';
import { redeemAuthorizationCode } from './auth.ts';
import { describeAadsts, GraphAuthError } from './auth-errors.ts';
import type { GraphMailboxSettings, MicrosoftSettings } from './settings.ts';
import { GraphCheckError, readGraph } from './verify.ts';

const GRAPH = 'https://graph.microsoft.com';
/** The Graph scopes `mailbox connect` asks for (msal adds `openid profile offline_access` to the exchange). */
export const GRAPH_CONNECT_SCOPES: readonly string[] = [`${GRAPH}/Mail.Read`, `${GRAPH}/User.Read`];
/** Every scope of the authorization request. */
const AUTHORIZE_SCOPES = ['openid', 'profile', 'offline_access', ...GRAPH_CONNECT_SCOPES];
/** Granted permissions that read mail with its attachments (Mail.ReadBasic does not). */
const MAIL_READ_PERMISSIONS = new Set(['mail.read', 'mail.readwrite']);
/** Default deadline of the code exchange, the profile read and the inbox read together, ms. */
export const DEFAULT_GRAPH_EXCHANGE_TIMEOUT_MS = 20_000;
/** Words for the AADSTS numbers of a code exchange (the shared table speaks of refresh tokens). */
const CODE_AADSTS_WORDS: Readonly<Record<number, string>> = {
  50148: 'the PKCE code_verifier is missing',
  501481: 'the PKCE code_verifier does not match the code_challenge',
  54005: 'the authorization code was already redeemed',
  70008: 'the authorization code has expired',
  500112: 'the redirect URI differs from the one of the authorization request',
  9002313: 'the authorization code is unknown or malformed',
  65001: 'the app was not granted consent',
  65004: 'the user declined to consent',
};

const NAME = 'Microsoft 365';

/** `AADSTS501481: the PKCE ...` for the numbers of a code exchange, else the shared words. */
function describeCodeAadsts(aadsts: number | null): string {
  if (aadsts !== null && CODE_AADSTS_WORDS[aadsts]) return `AADSTS${aadsts}: ${CODE_AADSTS_WORDS[aadsts]}`;
  return describeAadsts(aadsts);
}

/** A failed exchange (from `./auth.ts`) as a connect failure. */
function fromAuth(error: GraphAuthError): ConsentError {
  switch (error.failure) {
    case 'grant': {
      const detail = ['invalid_grant', describeCodeAadsts(error.aadsts)].filter(Boolean).join(', ');
      return new ConsentError(NAME, 'credentials', `Microsoft refused the authorization code (${detail}); connect again`, { cause: error });
    }
    case 'client':
    case 'tenant':
      return new ConsentError(NAME, error.failure === 'tenant' ? 'config' : 'credentials', error.message, { cause: error });
    case 'throttled':
      return new ConsentError(NAME, 'throttled', error.message, { cause: error, retryAfter: error.retryAfter });
    case 'timeout':
      return new ConsentError(NAME, 'timeout', error.message, { cause: error });
    case 'dns':
    case 'refused':
    case 'tls':
    case 'unreachable':
      return new ConsentError(NAME, 'unreachable', error.message, { cause: error });
    default:
      return new ConsentError(NAME, 'upstream', error.message, { cause: error });
  }
}

/** A failed Graph read (from `./verify.ts`) as a connect failure. */
function fromCheck(error: GraphCheckError, what: 'profile' | 'inbox'): ConsentError {
  const detail = error.message.replace(/^Microsoft Graph check failed \([a-z-]+\): /, '');
  switch (error.reason) {
    case 'consent':
      return new ConsentError(
        NAME,
        'scope',
        what === 'profile'
          ? `${detail}; connect again and accept "Sign you in and read your profile"`
          : `the mailbox cannot be read with the granted permissions (${detail}); connect again and accept "Read your mail"`,
        { cause: error },
      );
    case 'throttled':
      return new ConsentError(NAME, 'throttled', detail, { cause: error, retryAfter: error.retryAfter });
    case 'timeout':
      return new ConsentError(NAME, 'timeout', detail, { cause: error });
    case 'dns':
    case 'refused':
    case 'tls':
    case 'unreachable':
      return new ConsentError(NAME, 'unreachable', detail, { cause: error });
    default:
      return new ConsentError(NAME, 'upstream', detail, { cause: error });
  }
}

/** The permission names of granted scopes, lower case (`https://graph.microsoft.com/Mail.Read` → `mail.read`). */
function permissionsOf(scopes: readonly string[]): string[] {
  return scopes.map((s) => s.toLowerCase().replace(/^https:\/\/graph\.microsoft\.com\//, '').replace(/^00000003-0000-0000-c000-000000000000\//, ''));
}

/**
 * Microsoft Graph's consent provider for the gateway's app registration (MS_CLIENT_ID,
 * MS_CLIENT_SECRET, authority `${MS_LOGIN_ROOT}/${MS_TENANT_ID}`).
 * @param options.timeoutMs deadline of one exchange with its two Graph reads, ms (default {@link DEFAULT_GRAPH_EXCHANGE_TIMEOUT_MS})
 * @param options.fetch the fetch of every request (tests); Node's by default
 * @throws ConsentError `config` when MS_CLIENT_ID or MS_CLIENT_SECRET is not set
 */
export function graphConsent(microsoft: MicrosoftSettings, options: { timeoutMs?: number; fetch?: typeof fetch } = {}): ConsentProvider {
  const { clientId, clientSecret } = microsoft;
  if (!clientId || !clientSecret) {
    throw new ConsentError(NAME, 'config', 'this gateway has no Microsoft app registration (MS_CLIENT_ID and MS_CLIENT_SECRET are not both set)');
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_GRAPH_EXCHANGE_TIMEOUT_MS;
  const fetchFn = options.fetch ?? fetch;
  const graph = `Microsoft Graph at ${microsoft.graphRoot}`;

  return {
    kind: 'MICROSOFT_GRAPH',
    name: NAME,

    authorizationUrl({ state, codeChallenge, redirectUri, loginHint }: AuthorizationRequest): string {
      const url = new URL(`${microsoft.loginRoot}/${encodeURIComponent(microsoft.tenantId)}/oauth2/v2.0/authorize`);
      const params: [string, string][] = [
        ['client_id', clientId],
        ['response_type', 'code'],
        ['redirect_uri', redirectUri],
        ['response_mode', 'query'],
        ['scope', AUTHORIZE_SCOPES.join(' ')],
        ['state', state],
        ['prompt', 'select_account'],
        ['code_challenge', codeChallenge],
        ['code_challenge_method', 'S256'],
      ];
      if (loginHint) params.push(['login_hint', loginHint]);
      for (const [name, value] of params) url.searchParams.set(name, value);
      return url.toString();
    },

    async exchangeCode({ code, codeVerifier, redirectUri, signal, expectedAddress }: CodeExchange): Promise<ConnectedAccount> {
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(), timeoutMs);
      const both = AbortSignal.any([signal, deadline.signal]);
      let phase: 'token' | 'profile' | 'inbox' = 'token';
      const where = () => (phase === 'token' ? `the identity platform at ${microsoft.loginRoot}` : graph);
      try {
        const grant = await redeemAuthorizationCode({ code, codeVerifier, redirectUri, scopes: GRAPH_CONNECT_SCOPES }, { microsoft, timeoutMs, fetch: fetchFn, signal: both });
        const permissions = permissionsOf(grant.scopes);
        if (permissions.length > 0 && !permissions.some((p) => MAIL_READ_PERMISSIONS.has(p))) {
          throw new ConsentError(NAME, 'scope', 'read access to the mailbox (Mail.Read) was not granted; connect again and accept "Read your mail", or ask an administrator to grant it');
        }
        if (!grant.refreshToken) {
          throw new ConsentError(NAME, 'offline', 'Microsoft issued no refresh token (offline_access, "Maintain access to data you have given it access to", was not granted), so the gateway could not read the mailbox later; connect again');
        }
        phase = 'profile';
        const read = (path: string) => readGraph(`${microsoft.graphRoot}/v1.0/${path}`, grant.accessToken, both, fetchFn, graph);
        const me = await read('me?$select=mail,userPrincipalName');
        const names = [me.mail, me.userPrincipalName].filter((n): n is string => typeof n === 'string' && n !== '');
        if (names.length === 0) throw new ConsentError(NAME, 'upstream', `${graph} answered /me without mail or userPrincipalName`);
        const wanted = expectedAddress?.trim().toLowerCase();
        // The account may be known by its mail or its sign-in name: the one asked for wins.
        const address = names.find((n) => n.toLowerCase() === wanted) ?? names[0]!;
        phase = 'inbox';
        await read('me/mailFolders/inbox?$select=id');
        return { address, credentials: { refreshToken: grant.refreshToken }, settings: { mode: 'delegated' } satisfies GraphMailboxSettings };
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (deadline.signal.aborted) throw new ConsentError(NAME, 'timeout', `${where()} did not answer within ${(timeoutMs / 1000).toFixed(1)} s`, { cause: error });
        if (error instanceof ConsentError) throw error;
        if (error instanceof GraphAuthError) throw fromAuth(error);
        if (error instanceof GraphCheckError) throw fromCheck(error, phase === 'inbox' ? 'inbox' : 'profile');
        throw error;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
