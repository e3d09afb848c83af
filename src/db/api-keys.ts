/**
 * API key format and hashing. A key is `agw_` + 32 random bytes in base64url (RFC 4648 §5), 256
 * bits of entropy. Only its SHA-256 hex digest is stored: a slow password hash (scrypt, argon2)
 * defends low-entropy secrets against guessing, which is pointless for 256 random bits, and a
 * fast hash lets every request look its key up by an indexed, unique digest.
 */
import crypto from 'node:crypto';

/** The fixed prefix of every API key; it lets secret scanners recognise leaked keys. */
export const API_KEY_PREFIX = 'agw_';
/** Length in characters of a whole key: the prefix plus 43 base64url characters (32 bytes). */
export const API_KEY_LENGTH = API_KEY_PREFIX.length + 43;
/** Characters of the key kept in clear for display (`agw_` + 8). */
const DISPLAY_CHARS = API_KEY_PREFIX.length + 8;

/** A new random key with its digest and display prefix. */
export function generateApiKey(): { key: string; hash: string; prefix: string } {
  const key = API_KEY_PREFIX + crypto.randomBytes(32).toString('base64url');
  return { key, hash: hashApiKey(key), prefix: key.slice(0, DISPLAY_CHARS) };
}

/** Lower-case hex SHA-256 of the whole key (UTF-8). */
export function hashApiKey(key: string): string {
  return crypto.createHash('sha256').update(key, 'utf8').digest('hex');
}

/** True when `key` has the shape of a key we issue; lets obviously wrong input skip the database. */
export function looksLikeApiKey(key: string): boolean {
  return key.length === API_KEY_LENGTH && key.startsWith(API_KEY_PREFIX) && /^[A-Za-z0-9_-]+$/.test(key.slice(API_KEY_PREFIX.length));
}
