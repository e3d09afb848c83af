/**
 * Upstream limits from the environment: how long the gateway waits for an IMAP server and for a
 * download client, and how many IMAP connections a mailbox may use. Read by `loadConfig`
 * (`src/config.ts`); every bad value becomes one problem line there. All durations are in ms.
 *
 * | variable | default | meaning |
 * | --- | --- | --- |
 * | IMAP_MAX_CONNECTIONS | 3 | connections per IMAP mailbox |
 * | IMAP_MAX_DOWNLOADS | IMAP_MAX_CONNECTIONS - 1 | of those, most held by downloads at once (the rest stays for listings); one more download answers 503 + Retry-After |
 * | IMAP_CONNECT_TIMEOUT_MS | 10000 | TCP/TLS connect deadline |
 * | IMAP_GREETING_TIMEOUT_MS | 10000 | deadline for the server's greeting |
 * | IMAP_COMMAND_TIMEOUT_MS | 20000 | a pending IMAP command (LOGIN, SELECT, FETCH, ...) fails when the server sends nothing for this long |
 * | IMAP_ACQUIRE_TIMEOUT_MS | 10000 | longest wait for a free connection of the mailbox |
 * | IMAP_BREAKER_FAILURES | 5 | failures in a row after which the mailbox is answered PROVIDER_UNAVAILABLE at once |
 * | IMAP_BREAKER_HALF_OPEN_MS | 30000 | how long that lasts before one request tries the server again |
 * | IMAP_INDEX_CHECK_MS | 0 | a folder of the mail index checked (STATUS) less than this long ago is taken as current (0: every request checks) |
 * | DOWNLOAD_STALL_TIMEOUT_MS | 30000 | a download whose client reads nothing for this long is cut |
 * | GOOGLE_API_ROOT | https://gmail.googleapis.com | origin of the Gmail API and of its batch endpoint (no path) |
 * | GOOGLE_TOKEN_URL | https://oauth2.googleapis.com/token | Google's OAuth 2.0 token endpoint |
 * | GOOGLE_AUTH_URL | https://accounts.google.com/o/oauth2/v2/auth | Google's OAuth 2.0 consent endpoint (`mailbox connect`) |
 * | GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET | none | the OAuth client of the gateway; Gmail mailboxes answer PROVIDER_AUTH_FAILED without them |
 */
import { IMAP_POOL_DEFAULTS } from './providers/imap/pool.ts';
import { IMAP_BREAKER_DEFAULTS, type ImapProviderOptions } from './providers/imap/provider.ts';
import { GOOGLE_DEFAULTS, type GoogleSettings } from './providers/gmail/settings.ts';
import { MICROSOFT_DEFAULTS, type MicrosoftSettings } from './providers/microsoft-graph/settings.ts';

/** The upstream part of the configuration. */
export interface UpstreamConfig {
  /** Limits and deadlines of every IMAP mailbox's pool and circuit breaker. */
  imap: ImapProviderOptions;
  /** A download whose client accepts no byte for this long is cut and frees its connection, ms. */
  downloadStallTimeoutMs: number;
  /** Where the Gmail provider sends its calls and which OAuth client it refreshes tokens with. */
  google: GoogleSettings;
  /** Where the Microsoft Graph provider sends its calls and which app registration it gets tokens for. */
  microsoft: MicrosoftSettings;
}

/** Default of `DOWNLOAD_STALL_TIMEOUT_MS`. */
export const DEFAULT_DOWNLOAD_STALL_TIMEOUT_MS = 30_000;

/**
 * A whole-number setting from the environment: undefined when it is absent or empty, and when it is
 * not an integer from `min` to `max` (then one line goes to `problems`).
 */
export function envInteger(env: NodeJS.ProcessEnv, name: string, min: number, max: number, problems: string[]): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    problems.push(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    return undefined;
  }
  return Number(raw);
}

/**
 * Reads the upstream limits; a bad value is pushed to `problems` (one line each) and its default kept.
 * @param env the environment
 * @param problems collects the problem lines
 */
export function readUpstreamConfig(env: NodeJS.ProcessEnv, problems: string[]): UpstreamConfig {
  const int = (name: string, fallback: number, min: number, max: number): number => envInteger(env, name, min, max, problems) ?? fallback;
  const d = IMAP_POOL_DEFAULTS;
  const max = int('IMAP_MAX_CONNECTIONS', d.max, 1, 100);
  const maxDownloads = int('IMAP_MAX_DOWNLOADS', Math.max(1, max - 1), 1, 100);
  if (maxDownloads > max) problems.push(`IMAP_MAX_DOWNLOADS (${maxDownloads}) must not exceed IMAP_MAX_CONNECTIONS (${max})`);
  const hour = 3_600_000;
  return {
    imap: {
      max,
      maxDownloads: Math.min(maxDownloads, max),
      connectTimeoutMs: int('IMAP_CONNECT_TIMEOUT_MS', d.connectTimeoutMs, 100, hour),
      greetingTimeoutMs: int('IMAP_GREETING_TIMEOUT_MS', d.greetingTimeoutMs, 100, hour),
      commandTimeoutMs: int('IMAP_COMMAND_TIMEOUT_MS', d.commandTimeoutMs, 100, hour),
      acquireTimeoutMs: int('IMAP_ACQUIRE_TIMEOUT_MS', d.acquireTimeoutMs, 100, hour),
      breakerFailures: int('IMAP_BREAKER_FAILURES', IMAP_BREAKER_DEFAULTS.breakerFailures, 1, 1000),
      breakerHalfOpenAfterMs: int('IMAP_BREAKER_HALF_OPEN_MS', IMAP_BREAKER_DEFAULTS.breakerHalfOpenAfterMs, 100, hour),
      indexCheckIntervalMs: int('IMAP_INDEX_CHECK_MS', 0, 0, hour),
    },
    downloadStallTimeoutMs: int('DOWNLOAD_STALL_TIMEOUT_MS', DEFAULT_DOWNLOAD_STALL_TIMEOUT_MS, 100, hour),
    google: readGoogleConfig(env, problems),
    microsoft: readMicrosoftConfig(env, problems),
  };
}

/**
 * An http(s) URL setting without credentials, query or fragment; with `originOnly`, also no path
 * (returned as the bare origin). A bad value goes to `problems` and the fallback is kept.
 */
function envUrl(env: NodeJS.ProcessEnv, name: string, fallback: string, originOnly: boolean, problems: string[]): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  let parsed: URL | null = null;
  try {
    parsed = new URL(raw);
  } catch {
    parsed = null;
  }
  const ok = parsed && (parsed.protocol === 'https:' || parsed.protocol === 'http:') && !parsed.username && !parsed.password && !parsed.search && !parsed.hash;
  if (!ok || (originOnly && parsed!.pathname !== '/')) {
    problems.push(`${name} must be an http(s) ${originOnly ? 'origin (scheme://host[:port], no path)' : 'URL'}, got ${JSON.stringify(raw)}`);
    return fallback;
  }
  return originOnly ? parsed!.origin : parsed!.href;
}

/** A client id or secret: one printable token of at most 1024 characters, or null when unset. */
function envToken(env: NodeJS.ProcessEnv, name: string, problems: string[]): string | null {
  const raw = env[name];
  if (raw === undefined || raw === '') return null;
  if (raw.trim() !== raw || !/^[\x21-\x7e]+$/.test(raw) || raw.length > 1024) {
    problems.push(`${name} must be one token without spaces (at most 1024 characters)`);
    return null;
  }
  return raw;
}

/** GOOGLE_API_ROOT must be an http(s) origin (googleapis and the batch URL drop a path), GOOGLE_TOKEN_URL and GOOGLE_AUTH_URL http(s) URLs. */
function readGoogleConfig(env: NodeJS.ProcessEnv, problems: string[]): GoogleSettings {
  return {
    apiRoot: envUrl(env, 'GOOGLE_API_ROOT', GOOGLE_DEFAULTS.apiRoot, true, problems),
    tokenUrl: envUrl(env, 'GOOGLE_TOKEN_URL', GOOGLE_DEFAULTS.tokenUrl, false, problems),
    authUrl: envUrl(env, 'GOOGLE_AUTH_URL', GOOGLE_DEFAULTS.authUrl, false, problems),
    clientId: envToken(env, 'GOOGLE_CLIENT_ID', problems),
    clientSecret: envToken(env, 'GOOGLE_CLIENT_SECRET', problems),
  };
}

/**
 * MS_GRAPH_ROOT and MS_LOGIN_ROOT must be origins (the provider adds `/v1.0`, msal adds the tenant);
 * MS_TENANT_ID is a GUID, a domain, or common / organizations / consumers.
 */
function readMicrosoftConfig(env: NodeJS.ProcessEnv, problems: string[]): MicrosoftSettings {
  let tenantId = MICROSOFT_DEFAULTS.tenantId;
  const rawTenant = env.MS_TENANT_ID;
  if (rawTenant !== undefined && rawTenant !== '') {
    if (/^[A-Za-z0-9][A-Za-z0-9.-]{0,253}$/.test(rawTenant)) tenantId = rawTenant;
    else problems.push(`MS_TENANT_ID must be a tenant GUID, a domain, or common / organizations / consumers, got ${JSON.stringify(rawTenant)}`);
  }
  return {
    graphRoot: envUrl(env, 'MS_GRAPH_ROOT', MICROSOFT_DEFAULTS.graphRoot, true, problems),
    loginRoot: envUrl(env, 'MS_LOGIN_ROOT', MICROSOFT_DEFAULTS.loginRoot, true, problems),
    clientId: envToken(env, 'MS_CLIENT_ID', problems),
    clientSecret: envToken(env, 'MS_CLIENT_SECRET', problems),
    tenantId,
  };
}
