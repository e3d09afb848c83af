/**
 * Encryption of mailbox credentials at rest.
 *
 * AES-256-GCM (NIST SP 800-38D) with a 96-bit random IV per write and a key derived from the
 * server secret with HKDF-SHA256 (RFC 5869; empty salt, info `attachment-gateway mailbox
 * credentials v1`). The mailbox id is bound in as additional authenticated data, so a ciphertext
 * copied onto another row does not decrypt. Stored text:
 *
 *     v1:<base64url IV (12 bytes)>:<base64url ciphertext>:<base64url tag (16 bytes)>
 *
 * The `v1` prefix names the key derivation, so a later version can rotate keys and still read
 * old rows.
 */
import crypto from 'node:crypto';
import { GatewayError } from '../errors.ts';

const VERSION = 'v1';
const HKDF_INFO = 'attachment-gateway mailbox credentials v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Encrypts and decrypts the credentials of mailboxes with one server secret. */
export interface CredentialCipher {
  /** Encrypts a credentials object for the mailbox `mailboxId`; returns the `v1:` text. */
  encrypt(mailboxId: string, credentials: Record<string, string>): string;
  /**
   * Decrypts text written by {@link encrypt} for the same mailbox.
   * @throws GatewayError INTERNAL when it does not decrypt (most likely SIGNING_SECRET changed) or is not a known format
   */
  decrypt(mailboxId: string, stored: string): Record<string, string>;
}

/** Derives the 256-bit AES key from `secret` and returns a cipher using it. */
export function createCredentialCipher(secret: string): CredentialCipher {
  if (secret.length === 0) throw new GatewayError('INTERNAL', 'The server secret is empty');
  const key = Buffer.from(crypto.hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), HKDF_INFO, 32));

  return {
    encrypt(mailboxId, credentials) {
      const iv = crypto.randomBytes(IV_BYTES);
      const cipher = crypto.createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(mailboxId, 'utf8'));
      const body = Buffer.concat([cipher.update(JSON.stringify(credentials), 'utf8'), cipher.final()]);
      return [VERSION, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join(':');
    },

    decrypt(mailboxId, stored) {
      const parts = stored.split(':');
      if (parts.length !== 4 || parts[0] !== VERSION) {
        throw new GatewayError('INTERNAL', `Credentials of mailbox ${mailboxId} are in an unknown format (expected ${VERSION}); the database may come from a newer gateway version`);
      }
      const iv = Buffer.from(parts[1] ?? '', 'base64url');
      const body = Buffer.from(parts[2] ?? '', 'base64url');
      const tag = Buffer.from(parts[3] ?? '', 'base64url');
      let text: string;
      try {
        if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new Error('bad IV or tag length');
        const decipher = crypto.createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(Buffer.from(mailboxId, 'utf8'));
        decipher.setAuthTag(tag);
        text = Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
      } catch (cause) {
        throw new GatewayError(
          'INTERNAL',
          `Cannot decrypt the credentials of mailbox ${mailboxId}: the server secret differs from the one they were stored with ` +
            '(SIGNING_SECRET changed, or DATA_DIR/secret was replaced). Restore the old secret or add the mailbox again.',
          { cause },
        );
      }
      const parsed: unknown = JSON.parse(text);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || !Object.values(parsed).every((v) => typeof v === 'string')) {
        throw new GatewayError('INTERNAL', `Credentials of mailbox ${mailboxId} decrypted to an unexpected shape`);
      }
      return parsed as Record<string, string>;
    },
  };
}
