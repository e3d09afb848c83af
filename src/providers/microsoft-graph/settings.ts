/**
 * Where the Microsoft Graph provider sends its calls and which app registration it gets tokens for
 * (configuration MS_GRAPH_ROOT, MS_LOGIN_ROOT, MS_CLIENT_ID, MS_CLIENT_SECRET, MS_TENANT_ID, read in
 * `src/config-upstream.ts`), and the per-mailbox settings stored with a Graph mailbox. Not secret
 * except the client secret, which is never logged.
 *
 * Followed: https://learn.microsoft.com/en-us/graph/api/overview (service root `/v1.0`) and
 * https://learn.microsoft.com/en-us/entra/identity-platform/authentication-national-cloud (an
 * authority is the login origin plus the tenant).
 */

/** The Microsoft part of the configuration. */
export interface MicrosoftSettings {
  /** Origin of Microsoft Graph, e.g. `https://graph.microsoft.com` (no trailing slash, no `/v1.0`). */
  graphRoot: string;
  /** Origin of the Microsoft identity platform, e.g. `https://login.microsoftonline.com`; the authority is `${loginRoot}/${tenantId}`. */
  loginRoot: string;
  /** The gateway's app registration (client) id; null when not configured (Graph mailboxes then answer PROVIDER_AUTH_FAILED). */
  clientId: string | null;
  /** The app's client secret; null when not configured. */
  clientSecret: string | null;
  /** Directory (tenant) id or domain; `common` / `organizations` / `consumers` for delegated multi-tenant apps. Application mode needs a real tenant. */
  tenantId: string;
}

/** Microsoft's public endpoints and the multi-tenant authority. */
export const MICROSOFT_DEFAULTS: Readonly<MicrosoftSettings> = Object.freeze({
  graphRoot: 'https://graph.microsoft.com',
  loginRoot: 'https://login.microsoftonline.com',
  clientId: null,
  clientSecret: null,
  tenantId: 'common',
});

/**
 * How a Graph mailbox is reached, stored in `MailboxConfig.settings`:
 * - `delegated`: a user's refresh token (`credentials.refreshToken`, rotated on every refresh), calls go to `/me`;
 * - `application`: the app's own client-credentials token for the tenant, calls go to `/users/{address}`
 *   (the admin granted the app `Mail.Read`).
 */
export interface GraphMailboxSettings {
  mode: 'delegated' | 'application';
}
