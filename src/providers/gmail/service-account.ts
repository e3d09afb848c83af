/**
 * Google Workspace domain-wide delegation: a service account's JSON key signs a JWT bearer
 * assertion (RFC 7523 §2.1) naming the mailbox as its subject, and Google's token endpoint
 * (GOOGLE_TOKEN_URL) answers with an access token for that mailbox.
 *
 * Followed: "Using OAuth 2.0 for Server to Server Applications", delegating domain-wide authority
 * (https://developers.google.com/identity/protocols/oauth2/service-account#delegatingauthority and
 * #authorizingrequests: header `{alg: RS256, typ: JWT, kid: private_key_id}`, claims `iss` =
 * client_email, `sub` = the mailbox, `scope`, `aud` = the token URL, `iat`, `exp` at most one hour
 * later; POST `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=…`), RFC 6749 §5.2
 * for the errors: `unauthorized_client` when delegation of the scope is not granted to the
 * service account, `invalid_grant` for an unknown subject, a deleted or disabled key, a bad
 * signature or a clock too far off.
 *
 * Signed with `jose` (RS256), not with google-auth-library's `JWT` client: its gtoken 8 posts to
 * https://oauth2.googleapis.com/token and signs `aud` with it whatever the configuration, so it
 * cannot follow GOOGLE_TOKEN_URL. The key's own `token_uri` is not used either: the gateway's
 * configuration says where tokens come from.
 *
 * The cache, single flight, deadline, caller's signal and re-consent marking are the shared token
 * source's (`./token-source.ts`). The key is never logged and never part of an error.
 */
import { importPKCS8, SignJWT } from 'jose';
import { badInput, ErrorCode, GatewayError } from '../../errors.ts';
import { isEmailAddress } from '../../email-address.ts';
import { GmailApiError, mapGmailAnswer, mapGmailError } from './errors.ts';
import type { GoogleSettings } from './settings.ts';
import { CachedTokenSource, TOKEN_TIMEOUT_MS, type GrantedToken, type TokenCacheOptions } from './token-source.ts';

/** The scope asked for: read-only Gmail (https://developers.google.com/gmail/api/auth/scopes). */
export const GMAIL_READONLY_SCOPE = 'https://www.googleapis.com/auth/gmail.readonly';
/** The grant type of RFC 7523 §2.1. */
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Lifetime of an assertion, seconds: Google's maximum. */
const ASSERTION_LIFETIME_S = 3600;
/** Largest key file read, bytes (Google's are about 2.3 KB). */
export const MAX_KEY_FILE_BYTES = 64 * 1024;
/** Longest token endpoint answer read, bytes. */
const MAX_TOKEN_ANSWER_BYTES = 64 * 1024;

/** The fields of a service account key the gateway keeps (the rest of Google's file is not stored). */
export interface ServiceAccountKey {
  type: 'service_account';
  client_email: string;
  private_key: string;
  private_key_id?: string;
  client_id?: string;
  project_id?: string;
}

/**
 * Reads a service account key file's text: Google's JSON key (`type: service_account`,
 * `client_email`, an RSA `private_key` in PKCS #8 PEM). Refusals name what is wrong, never the
 * content (Node's JSON errors quote the text, so they are not passed on).
 * @returns the key reduced to {@link ServiceAccountKey}
 * @throws GatewayError BAD_USER_INPUT naming the problem
 */
export async function parseServiceAccountKey(text: string, name = 'the key file'): Promise<ServiceAccountKey> {
  const refuse = (why: string) => badInput(`${name} is not a Google service account key (${why}); download a JSON key of the service account in the Google Cloud console (IAM > Service accounts > Keys)`);
  if (text.length > MAX_KEY_FILE_BYTES) throw refuse(`larger than ${MAX_KEY_FILE_BYTES} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw refuse('not JSON; a .p12 key is not supported');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw refuse('not a JSON object');
  const k = parsed as Record<string, unknown>;
  if (k.type !== 'service_account') {
    throw refuse(typeof k.type === 'string' ? `its type is ${JSON.stringify(k.type.slice(0, 40))}, not "service_account"` : 'no "type": "service_account"');
  }
  if (typeof k.client_email !== 'string' || !isEmailAddress(k.client_email)) throw refuse('no valid "client_email"');
  if (typeof k.private_key !== 'string' || !/^-----BEGIN PRIVATE KEY-----\r?\n[\s\S]+\r?\n-----END PRIVATE KEY-----\s*$/.test(k.private_key)) {
    throw refuse('no "private_key" in PKCS #8 PEM');
  }
  try {
    await importPKCS8(k.private_key, 'RS256');
  } catch {
    throw refuse('its "private_key" is not an RSA key');
  }
  const optional = (field: string, pattern: RegExp): string | undefined => {
    const value = k[field];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || !pattern.test(value)) throw refuse(`a malformed "${field}"`);
    return value;
  };
  const key: ServiceAccountKey = { type: 'service_account', client_email: k.client_email, private_key: k.private_key };
  const keyId = optional('private_key_id', /^[A-Za-z0-9_-]{1,128}$/);
  const clientId = optional('client_id', /^[0-9]{1,64}$/);
  const projectId = optional('project_id', /^[a-z0-9.:-]{1,128}$/);
  if (keyId !== undefined) key.private_key_id = keyId;
  if (clientId !== undefined) key.client_id = clientId;
  if (projectId !== undefined) key.project_id = projectId;
  return key;
}

/** Options of {@link ServiceAccountTokenSource}. */
export interface ServiceAccountTokenOptions extends TokenCacheOptions {
  google: GoogleSettings;
  /** The stored key: the JSON text of a {@link ServiceAccountKey}. */
  serviceAccountKey: string;
  /** The mailbox the tokens speak for (the assertion's `sub`). */
  subject: string | null;
  /** The fetch of the token request (tests); Node's by default. It must not retry. */
  fetch?: typeof fetch;
}

/** Access tokens of one mailbox by domain-wide delegation (see the module docs). */
export class ServiceAccountTokenSource extends CachedTokenSource {
  readonly #tokenUrl: string;
  readonly #stored: string;
  readonly #subject: string | null;
  readonly #fetch: typeof fetch;
  #key: { parsed: ServiceAccountKey; signing: CryptoKey } | null = null;

  constructor(options: ServiceAccountTokenOptions) {
    super(options);
    this.#tokenUrl = options.google.tokenUrl;
    this.#stored = options.serviceAccountKey;
    this.#subject = options.subject;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  protected async requestToken(): Promise<GrantedToken> {
    if (!this.#subject) throw new GatewayError(ErrorCode.PROVIDER_AUTH_FAILED, 'This delegated Gmail mailbox has no address to act for; set it with mailbox update --address');
    const { parsed, signing } = await this.#signingKey();
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ scope: GMAIL_READONLY_SCOPE })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(parsed.private_key_id ? { kid: parsed.private_key_id } : {}) })
      .setIssuer(parsed.client_email)
      .setSubject(this.#subject)
      .setAudience(this.#tokenUrl)
      .setIssuedAt(now)
      .setExpirationTime(now + ASSERTION_LIFETIME_S)
      .sign(signing);
    const signal = AbortSignal.timeout(TOKEN_TIMEOUT_MS);
    let status: number;
    let text: string;
    let headers: Headers;
    try {
      const response = await this.#fetch(this.#tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion }).toString(),
        signal,
        redirect: 'error',
      });
      ({ status, headers } = response);
      text = await readAtMost(response, MAX_TOKEN_ANSWER_BYTES);
    } catch (error) {
      throw mapGmailError(error);
    }
    if (status < 200 || status > 299) throw delegationFailure(status, text, headers);
    let body: { access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'Google answered the service account token request with something other than JSON');
    }
    if (typeof body?.access_token !== 'string' || body.access_token === '') {
      throw new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'Google answered the service account token request without an access token');
    }
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : ASSERTION_LIFETIME_S;
    return { accessToken: body.access_token, lifetimeMs: seconds * 1000 };
  }

  protected reconsentReason(error: GatewayError): string | null {
    if (!(error instanceof GmailApiError)) return null;
    const key = this.#key?.parsed;
    const client = key?.client_id ? `client ID ${key.client_id}` : `the service account ${key?.client_email ?? ''}`;
    if (error.kind === 'delegation-denied') {
      return `Domain-wide delegation is not granted: a Google Workspace admin must allow ${client} the scope ${GMAIL_READONLY_SCOPE} (Admin console: Security > API controls > Domain-wide delegation), then run attachment-gateway mailbox test`;
    }
    if (error.kind === 'delegation-refused') {
      return `Google refused the service account's assertion for ${this.#subject ?? 'this mailbox'} (invalid_grant): check that the address is a user of the Workspace domain, that the key is not deleted or disabled (a new one: mailbox update --service-account-key-file) and the gateway's clock`;
    }
    return null;
  }

  /** The parsed key and its RS256 signing key, imported once. @throws GatewayError PROVIDER_AUTH_FAILED for a stored key that cannot be read */
  async #signingKey(): Promise<{ parsed: ServiceAccountKey; signing: CryptoKey }> {
    if (this.#key) return this.#key;
    let parsed: ServiceAccountKey;
    try {
      parsed = await parseServiceAccountKey(this.#stored);
    } catch {
      throw new GatewayError(ErrorCode.PROVIDER_AUTH_FAILED, 'The stored service account key of this Gmail mailbox cannot be read; store it again with mailbox update --service-account-key-file');
    }
    this.#key = { parsed, signing: (await importPKCS8(parsed.private_key, 'RS256')) as CryptoKey };
    return this.#key;
  }
}

/**
 * A failed answer of the token endpoint to an assertion, mapped by `./errors.ts` and then named
 * for delegation: `unauthorized_client` (kind `delegation-denied`) and `invalid_grant` or
 * `invalid_client` (kind `delegation-refused`) are PROVIDER_AUTH_FAILED that need an admin.
 */
export function delegationFailure(status: number, body: string, headers: Headers | null): GatewayError {
  const mapped = mapGmailAnswer({ status, body, headers });
  const options = { status, reason: mapped.reason, retryable: false, needsReconsent: true, cause: mapped.cause instanceof Error ? mapped.cause : new Error(`HTTP ${status}`) };
  if (mapped.reason === 'unauthorized_client') {
    return new GmailApiError(
      ErrorCode.PROVIDER_AUTH_FAILED,
      "Domain-wide delegation of the Gmail read scope (gmail.readonly) is not granted to the gateway's service account for this mailbox; a Google Workspace admin must grant it",
      { ...options, kind: 'delegation-denied' },
    );
  }
  if (mapped.reason === 'invalid_grant' || mapped.reason === 'invalid_client') {
    return new GmailApiError(
      ErrorCode.PROVIDER_AUTH_FAILED,
      "Google refused the service account's assertion for this mailbox (the address is not a user of the Workspace domain, the key was deleted or disabled, or the clock is off)",
      { ...options, kind: 'delegation-refused' },
    );
  }
  return mapped;
}

/** The body as text, at most `limit` bytes (a longer one is cut: no token answer is that large). */
async function readAtMost(response: Response, limit: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    chunks.push(next.value);
    size += next.value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      break;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}
