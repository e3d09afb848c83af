/**
 * The OAuth 2.0 side of the fake: Google's token endpoint, its consent endpoint and the checks of
 * the `Authorization: Bearer` header on API calls.
 *
 * Followed: https://developers.google.com/identity/protocols/oauth2/web-server (consent URL
 * parameters: `login_hint`, `access_type=offline` with a refresh token on the first consent only
 * unless `prompt=consent`, `include_granted_scopes`, granular consent that may narrow the scopes;
 * code exchange, refresh, `invalid_grant` "Token has been expired or revoked."),
 * https://developers.google.com/identity/protocols/oauth2/service-account (JWT bearer grant:
 * RS256 assertion with `iss`, `sub`, `scope`, `aud` = the token URL, `exp` ≤ `iat` + 1 h),
 * RFC 7636 (PKCE, S256) and RFC 6749 §5 (token answers and errors).
 */
import crypto from 'node:crypto';
import { errors as joseErrors, importSPKI, jwtVerify } from 'jose';
import { oauthError, type OAuthError } from './errors.ts';

/** The Gmail scopes that allow reading mail (`gmail.metadata` reads headers only). */
export const READ_SCOPES = ['https://mail.google.com/', 'https://www.googleapis.com/auth/gmail.modify', 'https://www.googleapis.com/auth/gmail.readonly'];
/** The metadata-only scope. */
export const METADATA_SCOPE = 'https://www.googleapis.com/auth/gmail.metadata';

/** A registered OAuth client (web application). */
export interface OAuthClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
}

/** A service account key file as Google issues it (the fields google-auth-library reads). */
export interface ServiceAccountKey {
  type: 'service_account';
  project_id: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  client_id: string;
  auth_uri: string;
  token_uri: string;
}

/** Whom a valid access token speaks for. */
export interface Grant {
  address: string;
  scopes: string[];
}

interface RefreshRecord extends Grant {
  clientId: string;
  revoked: boolean;
}
interface AccessRecord extends Grant {
  expiresAt: number;
  refreshToken: string | null;
  revoked: boolean;
}
interface CodeRecord extends Grant {
  clientId: string;
  redirectUri: string;
  challenge: string | null;
  method: string;
  expiresAt: number;
  used: boolean;
  offline: boolean;
}

/** What the consent endpoint does: approve as a mailbox's owner, or deny. */
export interface ConsentBehaviour {
  decision: 'approve' | 'deny';
  /** The address of the approving user; default the account `login_hint` names when the server has it, else the server's first mailbox. */
  address?: string;
  /** The scopes the user leaves checked on Google's granular consent screen; default every scope asked for. */
  scopes?: string[];
}

/** Options of {@link OAuthServer}. */
export interface OAuthOptions {
  /** Lifetime of access tokens in seconds (`expires_in`); default 3599. */
  accessTokenTtlSeconds?: number;
  /** Lifetime of authorization codes in ms; default 10 minutes. */
  codeTtlMs?: number;
}

function isOAuthError(x: OAuthError | Record<string, unknown>): x is OAuthError {
  return typeof x.status === 'number' && typeof x.body === 'object' && x.body !== null && 'error' in x.body;
}

const random = (bytes = 24) => crypto.randomBytes(bytes).toString('base64url');

/** Token, consent and bearer checks; one per fake server. */
export class OAuthServer {
  readonly clients = new Map<string, OAuthClient>();
  consent: ConsentBehaviour = { decision: 'approve' };
  private readonly refreshTokens = new Map<string, RefreshRecord>();
  private readonly accessTokens = new Map<string, AccessRecord>();
  private readonly codes = new Map<string, CodeRecord>();
  /** Scopes each user granted each client so far (`clientId address`), for `include_granted_scopes` and the first-consent refresh token. */
  private readonly granted = new Map<string, Set<string>>();
  private readonly serviceAccounts = new Map<string, { publicKeyPem: string; delegated: Set<string> | null }>();
  private readonly ttl: number;
  private readonly codeTtl: number;

  constructor(
    private readonly tokenUrl: () => string,
    private readonly knownAddress: (address: string) => string | null,
    private readonly defaultAddress: () => string | null,
    options: OAuthOptions = {},
  ) {
    this.ttl = options.accessTokenTtlSeconds ?? 3599;
    this.codeTtl = options.codeTtlMs ?? 600_000;
  }

  /** Registers an OAuth client; defaults give a fresh id and secret and no redirect URIs. */
  addClient(client: Partial<OAuthClient> = {}): OAuthClient {
    const c: OAuthClient = {
      clientId: client.clientId ?? `${crypto.randomInt(1e11, 1e12)}-${random(12).toLowerCase()}.apps.googleusercontent.com`,
      clientSecret: client.clientSecret ?? `GOCSPX-${random(21)}`,
      redirectUris: client.redirectUris ?? [],
    };
    this.clients.set(c.clientId, c);
    return c;
  }

  /** Issues a refresh token for a mailbox, as a finished consent would. Scopes default to gmail.readonly. */
  issueRefreshToken(args: { clientId: string; address: string; scopes?: string[] }): string {
    const token = `1//0${random(60)}`;
    this.refreshTokens.set(token, { clientId: args.clientId, address: args.address, scopes: args.scopes ?? [READ_SCOPES[2]!], revoked: false });
    return token;
  }

  /** Revokes a refresh token and the access tokens minted from it (as the user removing the app's access does). */
  revoke(token: string): boolean {
    const refresh = this.refreshTokens.get(token);
    if (refresh) {
      refresh.revoked = true;
      for (const a of this.accessTokens.values()) if (a.refreshToken === token) a.revoked = true;
      return true;
    }
    const access = this.accessTokens.get(token);
    if (access) access.revoked = true;
    return !!access;
  }

  /** Makes every access token issued so far expired (the next API call answers 401). */
  expireAccessTokens(): void {
    for (const a of this.accessTokens.values()) a.expiresAt = 0;
  }

  /** Mints an access token directly (tests that do not exercise a grant). */
  issueAccessToken(grant: Grant): string {
    return this.mint(grant, null).access_token;
  }

  /**
   * Issues a service account key (RSA 2048) whose JWT assertions the token endpoint accepts.
   * @param delegatedScopes scopes of domain-wide delegation; null allows every scope
   */
  createServiceAccount(delegatedScopes: string[] | null = null): ServiceAccountKey {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const email = `fake-sa-${random(6).toLowerCase().replace(/[^a-z0-9]/g, 'x')}@fake-project.iam.gserviceaccount.com`;
    this.serviceAccounts.set(email, { publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), delegated: delegatedScopes ? new Set(delegatedScopes) : null });
    return {
      type: 'service_account',
      project_id: 'fake-project',
      private_key_id: crypto.randomBytes(20).toString('hex'),
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: email,
      client_id: String(crypto.randomInt(1e11, 1e12)),
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: this.tokenUrl(),
    };
  }

  /**
   * Changes the scopes a service account is delegated (as a Workspace admin does in the Admin
   * console); null allows every scope.
   * @returns false for an unknown service account
   */
  setDelegation(clientEmail: string, delegatedScopes: string[] | null): boolean {
    const account = this.serviceAccounts.get(clientEmail);
    if (!account) return false;
    account.delegated = delegatedScopes ? new Set(delegatedScopes) : null;
    return true;
  }

  /**
   * Checks an `Authorization` header value.
   * @returns the grant, or `'unauthenticated'` (missing, unknown, expired, revoked)
   */
  authenticate(authorization: string | undefined): Grant | 'unauthenticated' {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    const record = m ? this.accessTokens.get(m[1]!) : undefined;
    if (!record || record.revoked || record.expiresAt <= Date.now()) return 'unauthenticated';
    return { address: record.address, scopes: record.scopes };
  }

  /** The consent endpoint: the redirect a user's approval (or refusal) produces, or an error page. */
  consentRedirect(params: URLSearchParams): { status: 302; location: string } | { status: 400 | 401; text: string } {
    const client = this.clients.get(params.get('client_id') ?? '');
    if (!client) return { status: 401, text: 'Error 401: invalid_client\nThe OAuth client was not found.' };
    const redirectUri = params.get('redirect_uri') ?? '';
    if (!client.redirectUris.includes(redirectUri)) return { status: 400, text: `Error 400: redirect_uri_mismatch\nredirect_uri=${redirectUri}` };
    const back = new URL(redirectUri);
    const state = params.get('state');
    const refuse = (error: string) => {
      back.searchParams.set('error', error);
      if (state != null) back.searchParams.set('state', state);
      return { status: 302 as const, location: back.toString() };
    };
    if (params.get('response_type') !== 'code') return refuse('unsupported_response_type');
    const scopes = (params.get('scope') ?? '').split(/\s+/).filter(Boolean);
    if (scopes.length === 0) return { status: 400, text: 'Error 400: invalid_request\nMissing required parameter: scope' };
    const challenge = params.get('code_challenge');
    const method = params.get('code_challenge_method') ?? (challenge ? 'plain' : '');
    if (challenge && method !== 'S256' && method !== 'plain') return { status: 400, text: 'Error 400: invalid_request\nInvalid code_challenge_method' };
    // RFC 7636 §4.2: 43-128 unreserved characters (an S256 challenge is 43).
    if (challenge && !/^[A-Za-z0-9._~-]{43,128}$/.test(challenge)) return { status: 400, text: 'Error 400: invalid_request\nInvalid code_challenge' };
    if (this.consent.decision === 'deny') return refuse('access_denied');
    // login_hint preselects that account on Google's chooser; the user may still pick another (consent.address).
    const hinted = params.get('login_hint');
    const address = this.consent.address ?? (hinted ? this.knownAddress(hinted) : null) ?? this.defaultAddress();
    if (!address) return refuse('access_denied');
    const key = `${client.clientId} ${address.toLowerCase()}`;
    const before = this.granted.get(key);
    const checked = this.consent.scopes ? scopes.filter((scope) => this.consent.scopes!.includes(scope)) : scopes;
    // include_granted_scopes=true: the new grant covers what the user granted this client before.
    const grantScopes = params.get('include_granted_scopes') === 'true' && before ? [...new Set([...before, ...checked])] : checked;
    this.granted.set(key, new Set([...(before ?? []), ...checked]));
    // Google issues a refresh token for access_type=offline on the user's first consent to the
    // client only, unless prompt=consent asks for the consent screen (and a new token) again.
    const prompts = (params.get('prompt') ?? '').split(/\s+/);
    const offline = params.get('access_type') === 'offline' && (!before || prompts.includes('consent'));
    const code = `4/0${random(40)}`;
    this.codes.set(code, {
      clientId: client.clientId,
      redirectUri,
      challenge,
      method,
      address,
      scopes: grantScopes,
      expiresAt: Date.now() + this.codeTtl,
      used: false,
      offline,
    });
    if (state != null) back.searchParams.set('state', state);
    back.searchParams.set('code', code);
    back.searchParams.set('scope', grantScopes.join(' '));
    return { status: 302, location: back.toString() };
  }

  /** The token endpoint (POST, `application/x-www-form-urlencoded`). */
  async token(form: URLSearchParams, authorization: string | undefined): Promise<{ status: number; body: object }> {
    const result = await this.grant(form, authorization);
    return isOAuthError(result) ? result : { status: 200, body: result };
  }

  private clientOf(form: URLSearchParams, authorization: string | undefined): OAuthClient | OAuthError {
    let id = form.get('client_id');
    let secret = form.get('client_secret');
    const basic = /^Basic\s+(\S+)$/i.exec(authorization ?? '');
    if (basic) {
      const [u, p] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':');
      try {
        id = decodeURIComponent(u ?? '');
        secret = decodeURIComponent(p ?? '');
      } catch {
        return oauthError('invalid_client', 'The OAuth client was not found.');
      }
    }
    const client = this.clients.get(id ?? '');
    if (!client) return oauthError('invalid_client', 'The OAuth client was not found.');
    if (client.clientSecret !== secret) return oauthError('invalid_client', 'Unauthorized');
    return client;
  }

  private async grant(form: URLSearchParams, authorization: string | undefined): Promise<OAuthError | Record<string, unknown>> {
    const type = form.get('grant_type');
    if (type === 'refresh_token') {
      const client = this.clientOf(form, authorization);
      if ('status' in client) return client;
      const token = form.get('refresh_token') ?? '';
      const record = this.refreshTokens.get(token);
      if (!record || record.revoked || record.clientId !== client.clientId) return oauthError('invalid_grant', 'Token has been expired or revoked.');
      return this.mint(record, token);
    }
    if (type === 'authorization_code') {
      const client = this.clientOf(form, authorization);
      if ('status' in client) return client;
      const record = this.codes.get(form.get('code') ?? '');
      if (!record || record.used || record.expiresAt <= Date.now() || record.clientId !== client.clientId) return oauthError('invalid_grant', 'Bad Request');
      if (form.get('redirect_uri') !== record.redirectUri) return oauthError('redirect_uri_mismatch', 'Bad Request');
      if (record.challenge) {
        const verifier = form.get('code_verifier');
        if (!verifier) return oauthError('invalid_grant', 'Missing code verifier.');
        const computed = record.method === 'S256' ? crypto.createHash('sha256').update(verifier).digest('base64url') : verifier;
        if (computed !== record.challenge) return oauthError('invalid_grant', 'Invalid code verifier.');
      }
      record.used = true;
      const refresh = record.offline ? this.issueRefreshToken({ clientId: client.clientId, address: record.address, scopes: record.scopes }) : null;
      const answer = this.mint(record, refresh);
      return refresh ? { ...answer, refresh_token: refresh } : answer;
    }
    if (type === 'urn:ietf:params:oauth:grant-type:jwt-bearer') return this.jwtGrant(form.get('assertion') ?? '');
    return oauthError('unsupported_grant_type', `Invalid grant_type: ${type ?? ''}`);
  }

  private async jwtGrant(assertion: string): Promise<OAuthError | Record<string, unknown>> {
    let iss: unknown;
    try {
      const [, payload] = assertion.split('.');
      iss = (JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')) as { iss?: unknown }).iss;
    } catch {
      return oauthError('invalid_grant', 'Invalid JWT: could not be decoded.');
    }
    const account = typeof iss === 'string' ? this.serviceAccounts.get(iss) : undefined;
    if (!account) return oauthError('invalid_grant', 'Invalid grant: account not found');
    let claims: Record<string, unknown>;
    try {
      const key = await importSPKI(account.publicKeyPem, 'RS256');
      claims = (await jwtVerify(assertion, key, { algorithms: ['RS256'] })).payload as Record<string, unknown>;
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) return oauthError('invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.');
      return oauthError('invalid_grant', 'Invalid JWT Signature.');
    }
    if (claims.aud !== this.tokenUrl()) return oauthError('invalid_grant', 'Invalid JWT: Failed audience check.');
    const now = Date.now() / 1000;
    const exp = Number(claims.exp);
    const iat = Number(claims.iat);
    if (!Number.isFinite(exp) || !Number.isFinite(iat) || exp - iat > 3600 || iat > now + 300) {
      return oauthError('invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.');
    }
    const scopes = String(claims.scope ?? '').split(/\s+/).filter(Boolean);
    if (scopes.length === 0) return oauthError('invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    const sub = typeof claims.sub === 'string' ? this.knownAddress(claims.sub) : null;
    if (!sub) return oauthError('invalid_grant', 'Invalid email or User ID');
    if (account.delegated && !scopes.every((s) => account.delegated!.has(s))) {
      return oauthError('unauthorized_client', 'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.');
    }
    return this.mint({ address: sub, scopes }, null);
  }

  private mint(grant: Grant, refreshToken: string | null): { access_token: string; expires_in: number; scope: string; token_type: 'Bearer' } {
    const token = `ya29.${random(90)}`;
    this.accessTokens.set(token, { address: grant.address, scopes: grant.scopes, expiresAt: Date.now() + this.ttl * 1000, refreshToken, revoked: false });
    return { access_token: token, expires_in: this.ttl, scope: grant.scopes.join(' '), token_type: 'Bearer' };
  }
}
