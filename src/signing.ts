/**
 * Download tokens: short-lived encrypted JWTs (RFC 7519 inside a compact JWE, RFC 7516, with
 * `alg: dir` and `enc: A256GCM`, via jose) naming one attachment and the API key that minted it.
 * A token is a bearer capability for exactly those bytes until `exp`; it carries no API key and
 * cannot be widened. It is opaque: the mailbox, message key (IMAP folder and UID) and part are
 * encrypted, and AES-GCM authenticates them, so any edit is refused. The key is derived from the
 * gateway secret with HKDF (RFC 5869) under its own `info` string, so it equals neither the key
 * that encrypts credentials nor the HS256 key of the earlier signed (readable) tokens.
 *
 * The claims are compact to keep URLs short: `k` the API key id and `m` the mailbox id (UUIDs as
 * 22 base64url characters of their 16 bytes), `a` `[message key, part id]` or `[message key, part
 * id, hint]` (the provider's download hint, any JSON value; tokens without it stay valid), `aud`,
 * `exp`. The protected header is only `{"alg":"dir","enc":"A256GCM"}`. A hint that would make the
 * token longer than {@link MAX_TOKEN_LENGTH} is left out (the provider then looks the part up).
 *
 * Minting uses node:crypto's AES-256-GCM directly ({@link encryptCompact}, RFC 7516 §5.1 for
 * `dir`): jose's encrypter goes through WebCrypto's asynchronous path, about 100 µs a token, so a
 * listing of 10,000 attachments spent a second minting their URLs; the synchronous cipher takes
 * about 10 µs. Every token is opened by jose's `jwtDecrypt`, which the tests run on minted tokens.
 */
import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { jwtDecrypt, errors as joseErrors } from 'jose';
import type { ProviderRef } from './domain/mail.ts';
import { GatewayError, badInput } from './errors.ts';

/** The `aud` claim of download tokens; a token of ours with another audience is refused (TOKEN_FORBIDDEN). */
export const DOWNLOAD_AUDIENCE = 'dl';
/** Default token life in seconds. */
export const DEFAULT_EXPIRES_IN = 300;
/** Longest token life in seconds. */
export const MAX_EXPIRES_IN = 3600;
/** Longest token accepted, in characters; anything longer is TOKEN_INVALID without decrypting. */
export const MAX_TOKEN_LENGTH = 4096;

const HKDF_INFO = 'attachment-gateway/download-token/jwe-a256gcm/v2';
const HKDF_SALT = 'attachment-gateway';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What a download token names: one MIME part (or provider attachment) of one message, and who asked. */
export interface DownloadClaims {
  /** Id (UUID) of the API key that minted the token: revoking the key revokes the token. */
  keyId: string;
  /** Mailbox id (UUID). */
  mailboxId: string;
  /** The provider's message key (for IMAP: folder, UIDVALIDITY and UID). */
  messageKey: string;
  /** The provider's part id (e.g. MIME part number `1.2`). */
  partId: string;
  /** The attachment's `downloadHint` (provider-owned, opaque here); absent when it has none or it did not fit. */
  hint?: ProviderRef;
}

/** A verified token: its claims plus the expiry (Unix seconds). */
export interface VerifiedDownload extends DownloadClaims {
  /** Expiry, Unix time in seconds. */
  exp: number;
}

/** Mints and opens download tokens with one key. */
export interface DownloadSigner {
  /**
   * Mints a token for `claims`, valid `expiresIn` seconds from `now`.
   * @throws GatewayError BAD_USER_INPUT when `expiresIn` is not an integer in 1..3600
   * @throws Error when `keyId` or `mailboxId` is not a lower-case UUID (a caller bug: the store issues UUIDs)
   */
  sign(claims: DownloadClaims, expiresIn?: number, now?: Date): Promise<{ token: string; expiresAt: Date }>;
  /**
   * Decrypts a token and returns its claims.
   * @throws GatewayError TOKEN_INVALID (malformed, forged, edited, another key or algorithm), TOKEN_FORBIDDEN (ours, for
   *   another audience), TOKEN_EXPIRED (ours, past `exp`)
   */
  verify(token: string, now?: Date): Promise<VerifiedDownload>;
}

/** Derives the 256-bit A256GCM content key of download tokens from the gateway secret (HKDF-SHA-256). */
export function deriveDownloadKey(secret: string): Uint8Array {
  if (typeof secret !== 'string' || secret.length === 0) throw new Error('signing secret must be a non-empty string');
  return new Uint8Array(hkdfSync('sha256', secret, HKDF_SALT, HKDF_INFO, 32));
}

/** Checks a token life in seconds. @throws GatewayError BAD_USER_INPUT outside 1..3600 */
export function assertExpiresIn(expiresIn: number): void {
  if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_EXPIRES_IN) {
    throw badInput(`expiresIn must be an integer from 1 to ${MAX_EXPIRES_IN} seconds`);
  }
}

/** A lower-case UUID as the base64url of its 16 bytes (22 characters). */
function packUuid(uuid: string, what: string): string {
  if (!UUID.test(uuid)) throw new Error(`${what} must be a lower-case UUID`);
  return Buffer.from(uuid.replaceAll('-', ''), 'hex').toString('base64url');
}

/** The UUID packed by {@link packUuid}, or null when `packed` is not 16 bytes of base64url. */
function unpackUuid(packed: unknown): string | null {
  if (typeof packed !== 'string' || !/^[A-Za-z0-9_-]{21}[AQgw]$/.test(packed)) return null;
  const hex = Buffer.from(packed, 'base64url').toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const invalid = (cause?: unknown) => new GatewayError('TOKEN_INVALID', 'Download token is invalid', cause === undefined ? {} : { cause });

/** `{"alg":"dir","enc":"A256GCM"}` as BASE64URL(UTF8(JWE Protected Header)); also the AAD (RFC 7516 §5.1 step 14). */
const PROTECTED_HEADER = Buffer.from(JSON.stringify({ alg: 'dir', enc: 'A256GCM' })).toString('base64url');
const PROTECTED_HEADER_AAD = Buffer.from(PROTECTED_HEADER, 'ascii');

/**
 * The JWE compact serialization (RFC 7516 §7.1) of `payload` as JSON, encrypted with `key` directly
 * (`alg: dir`, RFC 7518 §4.5; no encrypted key) under A256GCM (RFC 7518 §5.3: 96-bit random IV,
 * 128-bit tag, the protected header as AAD): `header..iv.ciphertext.tag`.
 */
export function encryptCompact(payload: Record<string, unknown>, key: Uint8Array): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(PROTECTED_HEADER_AAD);
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final()]);
  return `${PROTECTED_HEADER}..${iv.toString('base64url')}.${ciphertext.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
}

/** Builds a {@link DownloadSigner} whose key is derived from `secret` (see {@link deriveDownloadKey}). */
export function createDownloadSigner(secret: string): DownloadSigner {
  const key = deriveDownloadKey(secret);
  return {
    async sign(claims, expiresIn = DEFAULT_EXPIRES_IN, now = new Date()) {
      assertExpiresIn(expiresIn);
      const exp = Math.floor(now.getTime() / 1000) + expiresIn;
      const mint = (a: ProviderRef[]) => encryptCompact({ k: packUuid(claims.keyId, 'keyId'), m: packUuid(claims.mailboxId, 'mailboxId'), a, aud: DOWNLOAD_AUDIENCE, exp }, key);
      let token = claims.hint === undefined ? null : mint([claims.messageKey, claims.partId, claims.hint]);
      // A token verify() would refuse is worth less than the lookup the hint saves.
      if (token === null || token.length > MAX_TOKEN_LENGTH) token = mint([claims.messageKey, claims.partId]);
      return { token, expiresAt: new Date(exp * 1000) };
    },

    async verify(token, now = new Date()) {
      if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
        throw new GatewayError('TOKEN_INVALID', 'Download token is malformed');
      }
      let payload;
      try {
        // The algorithm lists pin dir + A256GCM: any other header fails here, and so does a
        // signed (JWS) token of the earlier format.
        ({ payload } = await jwtDecrypt(token, key, {
          keyManagementAlgorithms: ['dir'],
          contentEncryptionAlgorithms: ['A256GCM'],
          audience: DOWNLOAD_AUDIENCE,
          currentDate: now,
          requiredClaims: ['exp', 'aud'],
        }));
      } catch (error) {
        // jose decrypts (and so authenticates) before it checks claims: these two codes are only
        // reached by tokens this gateway made.
        if (error instanceof joseErrors.JWTExpired) throw new GatewayError('TOKEN_EXPIRED', 'Download link has expired', { cause: error });
        if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'aud') {
          throw new GatewayError('TOKEN_FORBIDDEN', 'Token is not a download token', { cause: error });
        }
        throw invalid(error);
      }
      const keyId = unpackUuid(payload.k);
      const mailboxId = unpackUuid(payload.m);
      const att = payload.a;
      if (
        keyId === null ||
        mailboxId === null ||
        !Array.isArray(att) ||
        (att.length !== 2 && att.length !== 3) ||
        !att.slice(0, 2).every((part) => typeof part === 'string' && part.length > 0) ||
        typeof payload.exp !== 'number'
      ) {
        throw invalid();
      }
      const [messageKey, partId, hint] = att as [string, string, ProviderRef?];
      return { keyId, mailboxId, messageKey, partId, ...(att.length === 3 ? { hint: hint ?? null } : {}), exp: payload.exp };
    },
  };
}
