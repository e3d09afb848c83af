/**
 * The identity platform side of the fake (Microsoft Entra ID, v2.0 endpoints): OpenID discovery,
 * the token endpoint (refresh token with rotation, client credentials, authorization code with
 * PKCE), the authorize (consent) endpoint, and the bearer checks of Graph calls.
 *
 * Followed: https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow
 * (authorize parameters, code redemption, PKCE, refresh, error answers),
 * .../v2-oauth2-client-creds-grant-flow (`scope` must be `<resource>/.default`, no refresh token,
 * a real tenant), .../refresh-tokens (a refresh returns a new refresh token; the old one stays valid
 * unless revoked), .../id-token-claims-reference (`oid`, `tid`, `preferred_username`, `ver`),
 * .../reference-error-codes (AADSTS numbers), and what msal-node 7.2.1 (msal-common 16.16.1) reads:
 * the OpenID document needs `authorization_endpoint`, `token_endpoint`, `issuer` (same scheme, host
 * and port as the authority) and `jwks_uri`; a delegated answer carries `client_info`
 * (base64url `{"uid","utid"}`, asked for with `client_info=1`) and an `id_token` from which it
 * builds the account. Tokens are JWTs signed RS256 with a key of the fake (published at
 * `jwks_uri`); the fake checks a bearer by looking it up, as revocation must bite at once.
 */
import crypto from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { aadError, GraphErrors, type AadError, type GraphError } from './errors.ts';

/** The resource id of Microsoft Graph, the prefix of its scopes. */
export const GRAPH_RESOURCE = 'https://graph.microsoft.com';
/** Scopes that let a delegated token read mail. */
export const MAIL_READ_SCOPES = ['Mail.Read', 'Mail.ReadWrite', 'Mail.ReadBasic'].map((s) => `${GRAPH_RESOURCE}/${s}`);
/** The OpenID scopes msal adds to every delegated request; they are never Graph permissions. */
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);

/** An app registration of the fake tenant (a confidential web client). */
export interface AppRegistration {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  /** Users (by object id) whose mailbox the app may read with an application token (admin-granted `Mail.Read` scoped to them). */
  appGrants: Set<string>;
  /** Application permissions (roles) its tokens carry while it has grants; default `['Mail.Read']`. */
  roles: string[];
}

/** A user of the fake tenant: one per mailbox. */
export interface DirectoryUser {
  /** Object id (GUID), Graph's `id` of the user. */
  id: string;
  userPrincipalName: string;
  displayName: string;
}

/** Whom a valid bearer speaks for. */
export type Principal =
  | { kind: 'delegated'; userId: string; clientId: string; scopes: string[] }
  | { kind: 'application'; clientId: string; roles: string[] };

/** What happens to a refresh token once it was used (rotation). */
export type RotationPolicy =
  /** The old token stays valid (Entra's behaviour: refresh tokens are not single-use). */
  | 'keep'
  /** The old token is revoked at once; using it answers `invalid_grant` AADSTS70000. */
  | 'revoke'
  /** The old token stays valid this many ms after its first use. */
  | { graceMs: number };

/** What the consent page does: approve as a user (default the `login_hint`'s, else the first mailbox's), or deny. */
export interface ConsentBehaviour {
  decision: 'approve' | 'deny';
  address?: string;
  /**
   * Requested scopes the approval leaves out (e.g. `offline_access`, `Mail.Read`), as when a
   * permission was granted by an admin for less or a personal account unticks one: the code then
   * brings neither those Graph scopes nor, without `offline_access`, a refresh token.
   */
  withheld?: string[];
}

/** Options of the identity platform. */
export interface IdentityOptions {
  /** `expires_in` of access tokens in seconds; default 3599. */
  accessTokenTtlSeconds?: number;
  /** Default `'keep'`. Changeable later through `identity.rotation`. */
  rotation?: RotationPolicy;
  /** Lifetime of authorization codes in ms; default 10 minutes. */
  codeTtlMs?: number;
}

interface RefreshRecord {
  clientId: string;
  userId: string;
  scopes: string[];
  revokedWith: number | null;
  firstUsedAt: number | null;
  expired: boolean;
}
interface AccessRecord {
  principal: Principal;
  expiresAt: number;
  revoked: boolean;
}
interface CodeRecord {
  clientId: string;
  userId: string;
  scopes: string[];
  redirectUri: string;
  challenge: string | null;
  method: string;
  expiresAt: number;
  used: boolean;
  /** Whether `offline_access` was requested and granted at the authorize step. */
  offline: boolean;
}

/** An answer of an identity endpoint. */
export type IdentityReply = { status: number; json: object } | { status: 302; location: string } | { status: number; text: string };

const random = (bytes = 24) => crypto.randomBytes(bytes).toString('base64url');

let signingKey: Promise<{ privateKey: CryptoKey; jwk: JWK }> | null = null;
/** One RS256 key per process (RSA generation costs tens of ms). */
function key(): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  signingKey ??= (async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    const jwk = await exportJWK(pair.publicKey);
    return { privateKey: pair.privateKey as CryptoKey, jwk: { ...jwk, kid: random(12), use: 'sig', alg: 'RS256' } };
  })();
  return signingKey;
}

/** Token, consent and bearer logic of one fake tenant. */
export class IdentityPlatform {
  readonly tenantId = crypto.randomUUID();
  readonly apps = new Map<string, AppRegistration>();
  consent: ConsentBehaviour = { decision: 'approve' };
  rotation: RotationPolicy;
  private readonly refreshTokens = new Map<string, RefreshRecord>();
  private readonly accessTokens = new Map<string, AccessRecord>();
  private readonly codes = new Map<string, CodeRecord>();
  private readonly ttl: number;
  private readonly codeTtl: number;

  /**
   * @param origin the server's origin (`https://127.0.0.1:PORT`), known once it listens
   * @param domain the tenant's verified domain (accepted in place of the tenant id)
   * @param users the tenant's users (one per mailbox), looked up live
   */
  constructor(
    private readonly origin: () => string,
    readonly domain: string,
    private readonly users: () => readonly DirectoryUser[],
    options: IdentityOptions = {},
  ) {
    this.ttl = options.accessTokenTtlSeconds ?? 3599;
    this.codeTtl = options.codeTtlMs ?? 600_000;
    this.rotation = options.rotation ?? 'keep';
  }

  /** Registers an app; defaults give a fresh client id (GUID), secret and no redirect URIs or grants. */
  addApp(app: Partial<Omit<AppRegistration, 'appGrants'>> & { appGrants?: Iterable<string> } = {}): AppRegistration {
    const a: AppRegistration = {
      clientId: app.clientId ?? crypto.randomUUID(),
      clientSecret: app.clientSecret ?? `${random(3)}8Q~${random(27)}`,
      redirectUris: app.redirectUris ?? [],
      appGrants: new Set(app.appGrants ?? []),
      roles: app.roles ?? ['Mail.Read'],
    };
    this.apps.set(a.clientId, a);
    return a;
  }

  /** The user whose UPN (case-insensitive) or object id is `idOrUpn`, or undefined. */
  user(idOrUpn: string): DirectoryUser | undefined {
    const key = idOrUpn.toLowerCase();
    return this.users().find((u) => u.id === key || u.userPrincipalName.toLowerCase() === key);
  }

  /** Issues a refresh token for a user, as a finished consent would (scopes default to Mail.Read and User.Read). */
  issueRefreshToken(args: { clientId: string; address: string; scopes?: string[] }): string {
    const user = this.user(args.address);
    if (!user) throw new Error(`fake Graph: no user ${args.address}`);
    return this.newRefreshToken(args.clientId, user.id, normaliseScopes(args.scopes ?? ['Mail.Read', 'User.Read']));
  }

  /** Mints an access token directly (tests that exercise no grant). */
  async issueAccessToken(principal: Principal): Promise<string> {
    return (await this.mintAccess(principal)).token;
  }

  /** Revokes one refresh token (AADSTS70000 on its next use). */
  revokeRefreshToken(token: string): void {
    const r = this.refreshTokens.get(token);
    if (r) r.revokedWith = 70000;
  }

  /**
   * Revokes every refresh and access token of a user, as an admin's "revoke sessions" or a password
   * reset does: refreshes answer `invalid_grant` AADSTS50173, Graph calls 401.
   */
  revokeUser(address: string): void {
    const user = this.user(address);
    if (!user) return;
    for (const r of this.refreshTokens.values()) if (r.userId === user.id) r.revokedWith = 50173;
    for (const a of this.accessTokens.values()) if (a.principal.kind === 'delegated' && a.principal.userId === user.id) a.revoked = true;
  }

  /** Makes a refresh token expired by inactivity (AADSTS700082 on its next use). */
  expireRefreshToken(token: string): void {
    const r = this.refreshTokens.get(token);
    if (r) r.expired = true;
  }

  /** Makes every access token issued so far expired (the next Graph call answers 401). */
  expireAccessTokens(): void {
    for (const a of this.accessTokens.values()) a.expiresAt = 0;
  }

  /** Whether a tenant path segment names this tenant (id, domain, or a multi-tenant alias). */
  knowsTenant(segment: string): boolean {
    const s = segment.toLowerCase();
    return s === this.tenantId || s === this.domain.toLowerCase() || s === 'common' || s === 'organizations';
  }

  /** `GET /{tenant}/v2.0/.well-known/openid-configuration`. */
  openIdConfiguration(tenant: string): IdentityReply {
    if (!this.knowsTenant(tenant)) return this.unknownTenant(tenant);
    const o = this.origin();
    const multi = tenant === 'common' || tenant === 'organizations';
    return {
      status: 200,
      json: {
        token_endpoint: `${o}/${tenant}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        jwks_uri: `${o}/${tenant}/discovery/v2.0/keys`,
        response_modes_supported: ['query', 'fragment', 'form_post'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        // As Entra: the multi-tenant document names a placeholder issuer.
        issuer: `${o}/${multi ? '{tenantid}' : this.tenantId}/v2.0`,
        request_uri_parameter_supported: false,
        userinfo_endpoint: `${o}/oidc/userinfo`,
        authorization_endpoint: `${o}/${tenant}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${o}/${tenant}/oauth2/v2.0/devicecode`,
        http_logout_supported: true,
        frontchannel_logout_supported: true,
        end_session_endpoint: `${o}/${tenant}/oauth2/v2.0/logout`,
        claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'preferred_username', 'name', 'tid', 'ver', 'oid', 'email'],
        kerberos_endpoint: `${o}/${tenant}/kerberos`,
        tenant_region_scope: 'EU',
        cloud_instance_name: 'microsoftonline.com',
        cloud_graph_host_name: 'graph.windows.net',
        msgraph_host: 'graph.microsoft.com',
        rbac_url: 'https://pas.windows.net',
      },
    };
  }

  /** `GET /common/discovery/instance` (instance discovery; msal skips it with `knownAuthorities`). */
  instanceDiscovery(params: URLSearchParams): IdentityReply {
    const host = new URL(this.origin()).host;
    const authority = params.get('authorization_endpoint') ?? `${this.origin()}/common/oauth2/v2.0/authorize`;
    const tenant = new URL(authority).pathname.split('/')[1] ?? 'common';
    return {
      status: 200,
      json: {
        tenant_discovery_endpoint: `${this.origin()}/${tenant}/v2.0/.well-known/openid-configuration`,
        'api-version': '1.1',
        metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
      },
    };
  }

  /** `GET /{tenant}/discovery/v2.0/keys`. */
  async keys(): Promise<IdentityReply> {
    const { jwk } = await key();
    return { status: 200, json: { keys: [jwk] } };
  }

  /**
   * `GET /{tenant}/oauth2/v2.0/authorize`: the user's consent, answered at once by {@link consent}.
   * Errors that cannot go back to the app (unknown client, unregistered redirect URI) are a page.
   */
  authorize(tenant: string, params: URLSearchParams): IdentityReply {
    if (!this.knowsTenant(tenant)) return { status: 400, text: `AADSTS90002: Tenant '${tenant}' not found.` };
    const clientId = params.get('client_id') ?? '';
    const app = this.apps.get(clientId);
    if (!app) return { status: 400, text: `AADSTS700016: Application with identifier '${clientId}' was not found in the directory '${this.domain}'.` };
    const redirectUri = params.get('redirect_uri') ?? '';
    if (!app.redirectUris.includes(redirectUri)) {
      return { status: 400, text: `AADSTS50011: The redirect URI '${redirectUri}' specified in the request does not match the redirect URIs configured for the application '${clientId}'.` };
    }
    const back = new URL(redirectUri);
    const state = params.get('state');
    const refuse = (error: string, description: string) => {
      back.searchParams.set('error', error);
      back.searchParams.set('error_description', description);
      if (state != null) back.searchParams.set('state', state);
      return { status: 302 as const, location: back.toString() };
    };
    if (params.get('response_type') !== 'code') return refuse('unsupported_response_type', `AADSTS700054: response_type '${params.get('response_type') ?? ''}' is not enabled for the application.`);
    const requestedScopes = (params.get('scope') ?? '').split(/\s+/).filter(Boolean);
    const withheld = new Set(normaliseScopes(this.consent.withheld ?? []).map((s) => s.toLowerCase()));
    const scopes = normaliseScopes(requestedScopes).filter((s) => !withheld.has(s.toLowerCase()));
    const offline = requestedScopes.some((s) => s.toLowerCase() === 'offline_access') && !(this.consent.withheld ?? []).some((s) => s.toLowerCase() === 'offline_access');
    if (scopes.length === 0 && !(params.get('scope') ?? '').includes('openid')) return refuse('invalid_request', "AADSTS900144: The request body must contain the following parameter: 'scope'.");
    const challenge = params.get('code_challenge');
    const method = params.get('code_challenge_method') ?? (challenge ? 'plain' : '');
    if (challenge && method !== 'S256' && method !== 'plain') return refuse('invalid_request', 'AADSTS501491: Invalid size of Code_Challenge parameter.');
    if (this.consent.decision === 'deny') return refuse('access_denied', 'AADSTS65004: User declined to consent to access the app.');
    // The signed-in user: the one the test chose, else the login_hint's, else the first mailbox's.
    const hint = params.get('login_hint');
    const user = this.consent.address ? this.user(this.consent.address) : ((hint ? this.user(hint) : undefined) ?? this.users()[0]);
    if (!user) return refuse('access_denied', 'AADSTS50034: The user account does not exist in the directory.');
    const code = `1.A${random(60)}`;
    this.codes.set(code, { clientId, userId: user.id, scopes, redirectUri, challenge, method, expiresAt: Date.now() + this.codeTtl, used: false, offline });
    back.searchParams.set('code', code);
    if (state != null) back.searchParams.set('state', state);
    back.searchParams.set('session_state', crypto.randomUUID());
    return { status: 302, location: back.toString() };
  }

  /** `POST /{tenant}/oauth2/v2.0/token` (form-encoded). */
  async token(tenant: string, form: URLSearchParams, authorization: string | undefined, correlationId: string | undefined): Promise<IdentityReply> {
    const fail = (e: AadError) => ({ status: e.status, json: e.body });
    const err = (error: string, code: number, message: string, suberror?: string) => fail(aadError(error, code, message, correlationId, undefined, suberror));
    if (!this.knowsTenant(tenant)) return fail(aadError('invalid_request', 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`, correlationId));
    let clientId = form.get('client_id');
    let secret = form.get('client_secret');
    const basic = /^Basic\s+(\S+)$/i.exec(authorization ?? '');
    if (basic) {
      const [u, p] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':');
      clientId = decodeURIComponent(u ?? '');
      secret = decodeURIComponent(p ?? '');
    }
    const app = this.apps.get(clientId ?? '');
    if (!app) return err('unauthorized_client', 700016, `Application with identifier '${clientId ?? ''}' was not found in the directory '${this.domain}'.`);
    if (!secret) return err('invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    if (secret !== app.clientSecret) return err('invalid_client', 7000215, 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.');
    const type = form.get('grant_type');
    const requested = (form.get('scope') ?? '').split(/\s+/).filter(Boolean);

    if (type === 'client_credentials') {
      if (tenant === 'common' || tenant === 'organizations') return err('invalid_request', 50059, 'No tenant-identifying information found in either the request or implied by any provided credentials.');
      if (requested.length !== 1 || requested[0] !== `${GRAPH_RESOURCE}/.default`) {
        return err('invalid_scope', 1002012, `The provided value for scope ${requested.join(' ')} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
      }
      const { token, expiresIn } = await this.mintAccess({ kind: 'application', clientId: app.clientId, roles: app.appGrants.size > 0 ? [...app.roles] : [] });
      return { status: 200, json: { token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: token } };
    }

    if (type === 'refresh_token') {
      const token = form.get('refresh_token') ?? '';
      const record = this.refreshTokens.get(token);
      if (!record || record.clientId !== app.clientId) return err('invalid_grant', 9002313, 'Invalid request. Request is malformed or invalid.');
      if (record.revokedWith === 50173) return err('invalid_grant', 50173, 'The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.', 'bad_token');
      if (record.revokedWith !== null) return err('invalid_grant', 70000, 'The provided value for the input parameter refresh_token or assertion is not valid.', 'bad_token');
      if (record.expired) return err('invalid_grant', 700082, 'The refresh token has expired due to inactivity. The token was issued on an earlier date and was inactive for 90.00:00:00.', 'bad_token');
      const now = Date.now();
      const rotation = this.rotation;
      if (typeof rotation === 'object' && record.firstUsedAt !== null && now - record.firstUsedAt > rotation.graceMs) {
        return err('invalid_grant', 70000, 'The provided value for the input parameter refresh_token or assertion is not valid.', 'bad_token');
      }
      const scopes = narrowScopes(record.scopes, requested);
      if (scopes === null) return err('invalid_grant', 65001, `The user or administrator has not consented to use the application with ID '${app.clientId}'. Send an interactive authorization request for this user and resource.`, 'consent_required');
      record.firstUsedAt ??= now;
      if (rotation === 'revoke') record.revokedWith = 70000;
      const next = this.newRefreshToken(app.clientId, record.userId, record.scopes);
      return { status: 200, json: await this.delegatedAnswer(app.clientId, record.userId, scopes, next) };
    }

    if (type === 'authorization_code') {
      const code = form.get('code') ?? '';
      const record = this.codes.get(code);
      if (!record || record.clientId !== app.clientId) return err('invalid_grant', 9002313, 'Invalid request. Request is malformed or invalid.');
      if (record.used) return err('invalid_grant', 54005, 'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.');
      if (record.expiresAt <= Date.now()) return err('invalid_grant', 70008, 'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.');
      if (form.get('redirect_uri') !== record.redirectUri) return err('invalid_grant', 500112, `The reply address '${form.get('redirect_uri') ?? ''}' does not match the reply address '${record.redirectUri}' provided when requesting Authorization code.`);
      if (record.challenge) {
        const verifier = form.get('code_verifier');
        if (!verifier) return err('invalid_grant', 50148, 'The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.');
        const computed = record.method === 'S256' ? crypto.createHash('sha256').update(verifier).digest('base64url') : verifier;
        if (computed !== record.challenge) return err('invalid_grant', 501481, 'The Code_Verifier does not match the code_challenge supplied in the authorization request.');
      }
      record.used = true;
      // A refresh token needs offline_access consented at the authorize step and asked for again here.
      const refresh = record.offline && requested.includes('offline_access') ? this.newRefreshToken(app.clientId, record.userId, record.scopes) : null;
      return { status: 200, json: await this.delegatedAnswer(app.clientId, record.userId, record.scopes, refresh) };
    }
    return err('unsupported_grant_type', 70003, `The app requested an unsupported grant type '${type ?? ''}'.`);
  }

  /**
   * Checks a Graph call's `Authorization` header.
   * @returns the principal, or the 401 to answer (missing, unknown, expired or revoked token)
   */
  authenticate(authorization: string | undefined): Principal | GraphError {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!m) return GraphErrors.invalidToken('Access token is empty.');
    const record = this.accessTokens.get(m[1]!);
    if (!record) return GraphErrors.invalidToken(m[1]!.split('.').length === 3 ? 'Invalid signature.' : 'IDX14100: JWT is not well formed, there are no dots (.).');
    if (record.revoked) return GraphErrors.invalidToken('Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp');
    if (record.expiresAt <= Date.now()) return GraphErrors.invalidToken('Lifetime validation failed, the token is expired.');
    return record.principal;
  }

  private unknownTenant(tenant: string): IdentityReply {
    const e = aadError('invalid_tenant', 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
    return { status: e.status, json: e.body };
  }

  private newRefreshToken(clientId: string, userId: string, scopes: string[]): string {
    const token = `1.A${random(180)}`;
    this.refreshTokens.set(token, { clientId, userId, scopes, revokedWith: null, firstUsedAt: null, expired: false });
    return token;
  }

  private async mintAccess(principal: Principal): Promise<{ token: string; expiresIn: number }> {
    const { privateKey, jwk } = await key();
    const now = Math.floor(Date.now() / 1000);
    const user = principal.kind === 'delegated' ? this.user(principal.userId) : undefined;
    const claims: Record<string, unknown> = {
      aud: GRAPH_RESOURCE,
      iss: `https://sts.windows.net/${this.tenantId}/`,
      appid: principal.clientId,
      tid: this.tenantId,
      ver: '1.0',
      uti: random(16),
      ...(principal.kind === 'delegated'
        ? { oid: principal.userId, upn: user?.userPrincipalName, name: user?.displayName, scp: principal.scopes.map((s) => s.slice(GRAPH_RESOURCE.length + 1)).join(' ') }
        : { oid: crypto.randomUUID(), roles: principal.roles, idtyp: 'app' }),
    };
    const token = await new SignJWT(claims)
      .setProtectedHeader({ typ: 'JWT', alg: 'RS256', kid: jwk.kid! })
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + this.ttl)
      .sign(privateKey);
    this.accessTokens.set(token, { principal, expiresAt: Date.now() + this.ttl * 1000, revoked: false });
    return { token, expiresIn: this.ttl };
  }

  private async delegatedAnswer(clientId: string, userId: string, scopes: string[], refreshToken: string | null): Promise<object> {
    const user = this.user(userId)!;
    const { token, expiresIn } = await this.mintAccess({ kind: 'delegated', userId, clientId, scopes });
    const { privateKey, jwk } = await key();
    const now = Math.floor(Date.now() / 1000);
    const idToken = await new SignJWT({ oid: user.id, tid: this.tenantId, preferred_username: user.userPrincipalName, name: user.displayName, ver: '2.0' })
      .setProtectedHeader({ typ: 'JWT', alg: 'RS256', kid: jwk.kid! })
      .setIssuer(`${this.origin()}/${this.tenantId}/v2.0`)
      .setAudience(clientId)
      .setSubject(crypto.createHash('sha256').update(`${clientId}:${user.id}`).digest('base64url').slice(0, 43))
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 3600)
      .sign(privateKey);
    return {
      token_type: 'Bearer',
      scope: scopes.join(' '),
      expires_in: expiresIn,
      ext_expires_in: expiresIn,
      access_token: token,
      ...(refreshToken ? { refresh_token: refreshToken } : {}),
      id_token: idToken,
      client_info: Buffer.from(JSON.stringify({ uid: user.id, utid: this.tenantId })).toString('base64url'),
    };
  }
}

/** Graph scopes in their full form (`Mail.Read` → `https://graph.microsoft.com/Mail.Read`), OpenID scopes dropped, de-duplicated. */
export function normaliseScopes(scopes: string[]): string[] {
  const out = new Set<string>();
  for (const s of scopes) {
    if (OIDC_SCOPES.has(s.toLowerCase())) continue;
    out.add(s.includes('://') ? s : `${GRAPH_RESOURCE}/${s}`);
  }
  return [...out];
}

/**
 * The scopes a refresh grants: all consented ones for `.default` or no Graph scope, else the
 * requested ones when all were consented (case-insensitive, as Entra compares them); null when not.
 */
function narrowScopes(consented: string[], requested: string[]): string[] | null {
  const wanted = normaliseScopes(requested);
  if (wanted.length === 0 || (wanted.length === 1 && wanted[0] === `${GRAPH_RESOURCE}/.default`)) return consented;
  const lower = new Set(consented.map((s) => s.toLowerCase()));
  return wanted.every((s) => lower.has(s.toLowerCase())) ? wanted : null;
}
