/**
 * The two shapes of a Gmail mailbox's stored credentials (encrypted by the store) and the token
 * source each one gets:
 *
 * | shape | mode | token source |
 * | --- | --- | --- |
 * | `{ refreshToken }` | the account's own OAuth consent | `./auth.ts` (refresh-token grant, GOOGLE_CLIENT_ID / SECRET) |
 * | `{ serviceAccountKey }` (the key's JSON text) | Google Workspace domain-wide delegation, the mailbox address as subject | `./service-account.ts` (JWT bearer grant) |
 */
import type { Logger } from '../../domain/logger.ts';
import type { MailboxCredentials } from '../types.ts';
import { GmailTokenSource } from './auth.ts';
import { ServiceAccountTokenSource } from './service-account.ts';
import type { GoogleSettings } from './settings.ts';
import type { GoogleTokenSource } from './token-source.ts';

/** How a Gmail mailbox gets its tokens. */
export type GmailAuthMode = 'refresh-token' | 'service-account';

/** The mode its stored credentials say (a key wins; anything else is read as a refresh token). */
export function gmailAuthMode(credentials: Record<string, string> | null | undefined): GmailAuthMode {
  return typeof credentials?.serviceAccountKey === 'string' && credentials.serviceAccountKey !== '' ? 'service-account' : 'refresh-token';
}

/** What {@link createGmailTokenSource} needs. */
export interface GmailTokenSourceOptions {
  google: GoogleSettings;
  /** The mailbox's address: the subject of a delegated mailbox's assertion. */
  address: string | null;
  credentials: Record<string, string> | null;
  writer?: MailboxCredentials;
  logger?: Logger;
  /** The fetch of a service account's token request (tests); Node's by default. */
  fetch?: typeof fetch;
}

/** The token source for a mailbox's stored credentials (see the module table). */
export function createGmailTokenSource(options: GmailTokenSourceOptions): GoogleTokenSource {
  const { google, credentials, writer, logger } = options;
  if (gmailAuthMode(credentials) === 'service-account') {
    return new ServiceAccountTokenSource({ google, serviceAccountKey: credentials!.serviceAccountKey!, subject: options.address, writer, logger, fetch: options.fetch });
  }
  return new GmailTokenSource({ google, credentials, writer, logger });
}
