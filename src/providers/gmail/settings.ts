/**
 * Where the Gmail provider sends its calls and which OAuth client it refreshes tokens with
 * (configuration GOOGLE_API_ROOT, GOOGLE_TOKEN_URL, GOOGLE_AUTH_URL, GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, read in
 * `src/config-upstream.ts`). Not secret except the client secret, which is never logged.
 */

/** The Google part of the configuration. */
export interface GoogleSettings {
  /** Origin of the Gmail API and of its batch endpoint, e.g. `https://gmail.googleapis.com` (no trailing slash, no path). */
  apiRoot: string;
  /** Google's OAuth 2.0 token endpoint. */
  tokenUrl: string;
  /** Google's OAuth 2.0 authorization (consent) endpoint, where `mailbox connect` sends the account owner. */
  authUrl: string;
  /** The gateway's OAuth client id; null when not configured (Gmail mailboxes then answer PROVIDER_AUTH_FAILED). */
  clientId: string | null;
  /** The gateway's OAuth client secret; null when not configured. */
  clientSecret: string | null;
}

/** Google's public endpoints (https://developers.google.com/identity/protocols/oauth2/web-server#creatingclient and #exchange-authorization-code). */
export const GOOGLE_DEFAULTS: Readonly<GoogleSettings> = Object.freeze({
  apiRoot: 'https://gmail.googleapis.com',
  tokenUrl: 'https://oauth2.googleapis.com/token',
  authUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
  clientId: null,
  clientSecret: null,
});
