/**
 * Signed download tokens: short-lived JWTs (RFC 7519, HS256 via jose) naming one attachment of one
 * workspace. A token is a bearer capability for exactly those bytes until `exp`; it carries no
 * API key and cannot be widened. The signing key is derived from the gateway secret with HKDF
 * (RFC 5869) under its own `info` string, so it never equals the key that encrypts credentials.
 */
import { hkdfSync, randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { GatewayError, badInput } from './errors.ts';

/** The `aud` claim of download tokens; a token with another audience is refused (TOKEN_FORBIDDEN). */
export const DOWNLOAD_AUDIENCE = 'attachment-download';
/** Default token life in seconds. */
export const DEFAULT_EXPIRES_IN = 300;
/** Longest token life in seconds. */
export const MAX_EXPIRES_IN = 3600;

const HKDF_INFO = 'attachment-gateway/download-token/v1';
const HKDF_SALT = 'attachment-gateway';

/** What a download token names: one MIME part (or provider attachment) of one message. */
export interface DownloadClaims {
  workspaceId: string;
  mailboxId: string;
  messageKey: string;
  partId: string;
}

/** A verified token: its claims plus the expiry (Unix seconds). */
export interface VerifiedDownload extends DownloadClaims {
  /** Expiry, Unix time in seconds. */
  exp: number;
  jti: string;
}

/** Signs and verifies download tokens with one key. */
export interface DownloadSigner {
  /**
   * Signs a token for `claims`, valid `expiresIn` seconds from `now`.
   * @throws GatewayError BAD_USER_INPUT when `expiresIn` is not an integer in 1..3600
   */
  sign(claims: DownloadClaims, expiresIn?: number, now?: Date): Promise<{ token: string; expiresAt: Date }>;
  /**
   * Verifies a token and returns its claims.
   * @throws GatewayError TOKEN_INVALID (malformed, forged, wrong algorithm), TOKEN_FORBIDDEN (signed by us for another
   *   audience), TOKEN_EXPIRED (past `exp`)
   */
  verify(token: string, now?: Date): Promise<VerifiedDownload>;
}

/** Derives the 256-bit HS256 key for download tokens from the gateway secret (HKDF-SHA-256). */
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

/** Builds a {@link DownloadSigner} whose key is derived from `secret` (see {@link deriveDownloadKey}). */
export function createDownloadSigner(secret: string): DownloadSigner {
  const key = deriveDownloadKey(secret);
  return {
    async sign(claims, expiresIn = DEFAULT_EXPIRES_IN, now = new Date()) {
      assertExpiresIn(expiresIn);
      const iat = Math.floor(now.getTime() / 1000);
      const exp = iat + expiresIn;
      const token = await new SignJWT({
        ws: claims.workspaceId,
        att: [claims.mailboxId, claims.messageKey, claims.partId],
      })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setAudience(DOWNLOAD_AUDIENCE)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .setJti(randomUUID())
        .sign(key);
      return { token, expiresAt: new Date(exp * 1000) };
    },

    async verify(token, now = new Date()) {
      if (typeof token !== 'string' || token.length === 0 || token.length > 8192) {
        throw new GatewayError('TOKEN_INVALID', 'Download token is malformed');
      }
      let payload;
      try {
        // The algorithm list pins HS256: `alg: none` and asymmetric confusions fail here.
        ({ payload } = await jwtVerify(token, key, { algorithms: ['HS256'], audience: DOWNLOAD_AUDIENCE, currentDate: now, requiredClaims: ['exp', 'iat', 'jti', 'aud'] }));
      } catch (error) {
        // jose checks the signature before the claims, so these two codes are only reached by tokens we signed.
        if (error instanceof joseErrors.JWTExpired) throw new GatewayError('TOKEN_EXPIRED', 'Download link has expired', { cause: error });
        if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'aud') {
          throw new GatewayError('TOKEN_FORBIDDEN', 'Token is not a download token', { cause: error });
        }
        throw new GatewayError('TOKEN_INVALID', 'Download token is invalid', { cause: error });
      }
      const att = payload.att;
      if (
        typeof payload.ws !== 'string' ||
        !Array.isArray(att) ||
        att.length !== 3 ||
        !att.every((part) => typeof part === 'string' && part.length > 0) ||
        typeof payload.exp !== 'number' ||
        typeof payload.jti !== 'string'
      ) {
        throw new GatewayError('TOKEN_INVALID', 'Download token is invalid');
      }
      const [mailboxId, messageKey, partId] = att as [string, string, string];
      return { workspaceId: payload.ws, mailboxId, messageKey, partId, exp: payload.exp, jti: payload.jti };
    },
  };
}
