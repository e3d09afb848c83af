/**
 * The secrets of one authorization request: `state` (RFC 6749 §10.12) and the PKCE pair (RFC 7636
 * §4.1-4.2, method S256). Both are 32 random bytes in base64url (43 characters), the verifier
 * within RFC 7636's 43-128 unreserved characters.
 */
import crypto from 'node:crypto';

/** What a state looks like: exactly what {@link newState} makes. Anything else is refused before a lookup. */
export const STATE_FORMAT = /^[A-Za-z0-9_-]{43}$/;

/** A new unguessable state. */
export function newState(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/** A new PKCE code_verifier and its S256 code_challenge, BASE64URL(SHA256(ASCII(verifier))). */
export function newPkcePair(): { codeVerifier: string; codeChallenge: string } {
  const codeVerifier = crypto.randomBytes(32).toString('base64url');
  return { codeVerifier, codeChallenge: codeChallengeOf(codeVerifier) };
}

/** The S256 code_challenge of a verifier (RFC 7636 §4.2). */
export function codeChallengeOf(codeVerifier: string): string {
  return crypto.createHash('sha256').update(codeVerifier, 'ascii').digest('base64url');
}
