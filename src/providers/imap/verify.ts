/**
 * The check at the door of an IMAP mailbox: resolve the host, connect (TLS, STARTTLS or plain as
 * configured), read the greeting, log in and LIST the folders, all within one deadline. A failure
 * is one {@link ImapCheckError} whose `reason` names what failed (DNS, refused, TLS, credentials,
 * timeout, ...) and whose message is one line an operator can act on. `mailbox add`, `mailbox
 * update` and `mailbox test` use it before they store or report anything.
 */
import dns from 'node:dns/promises';
import net from 'node:net';
import { ImapFlow } from 'imapflow';
import { ErrorCode, GatewayError } from '../../errors.ts';
import { imapflowTransportOptions, plaintextLoginPossible, type TransportSecuritySettings } from './transport-security.ts';

/** What an IMAP check needs: the stored settings and the password. */
export interface ImapCheckSettings extends TransportSecuritySettings {
  host: string;
  port: number;
  user: string;
  password: string;
}

/** What a successful check saw. */
export interface ImapCheckResult {
  /** Number of folders LIST returned. */
  folders: number;
  /** How the password was protected on the wire. */
  security: 'TLS' | 'STARTTLS' | 'plain text';
  /** Time the check took, milliseconds. */
  elapsedMs: number;
}

/** Why a check failed. `plaintext` is refused before any connection is made. */
export type ImapCheckReason = 'plaintext' | 'dns' | 'refused' | 'unreachable' | 'tls' | 'timeout' | 'credentials' | 'protocol';

/**
 * A failed check. `code` is BAD_USER_INPUT for `plaintext` (a setting the operator must change),
 * PROVIDER_AUTH_FAILED for `credentials`, PROVIDER_UNAVAILABLE otherwise. The message is one line
 * starting `IMAP check failed (<reason>):` and never contains the password.
 */
export class ImapCheckError extends GatewayError {
  readonly reason: ImapCheckReason;

  constructor(reason: ImapCheckReason, detail: string, cause?: unknown) {
    const code = reason === 'plaintext' ? ErrorCode.BAD_USER_INPUT : reason === 'credentials' ? ErrorCode.PROVIDER_AUTH_FAILED : ErrorCode.PROVIDER_UNAVAILABLE;
    super(code, `IMAP check failed (${reason}): ${detail}`, cause === undefined ? {} : { cause });
    this.reason = reason;
  }
}

/** Default deadline of a whole check (DNS, connect, greeting, TLS, login, LIST), milliseconds. */
export const DEFAULT_CHECK_TIMEOUT_MS = 15_000;

/**
 * Refuses a plain-text login to a non-loopback host without `allowPlaintext` (no connection made).
 * @throws ImapCheckError reason `plaintext` (BAD_USER_INPUT)
 */
export function assertTransportAllowed(settings: ImapCheckSettings): void {
  if (settings.tls || settings.starttls === true || plaintextLoginPossible(settings)) return;
  throw new ImapCheckError(
    'plaintext',
    `a plain-text login to ${settings.host} would send the password unencrypted; it is allowed to loopback hosts only (127.0.0.0/8, ::1, localhost): use --tls or --starttls, or --allow-plaintext to accept it`,
  );
}

/**
 * Connects, logs in and lists the folders of an IMAP mailbox, then logs out.
 * @param options.timeoutMs deadline of the whole check in ms (default {@link DEFAULT_CHECK_TIMEOUT_MS})
 * @throws ImapCheckError naming the reason; never a raw socket or imapflow error
 */
export async function checkImapMailbox(settings: ImapCheckSettings, options: { timeoutMs?: number } = {}): Promise<ImapCheckResult> {
  assertTransportAllowed(settings);
  const timeoutMs = options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const started = Date.now();
  const where = `${settings.host}:${settings.port}`;
  let phase = 'resolve the host';
  const timeoutError = () => new ImapCheckError('timeout', `${where} did not answer within ${formatSeconds(timeoutMs)} (waiting to ${phase})`);

  let client: ImapFlow | null = null;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      client?.close();
      reject(timeoutError());
    }, timeoutMs);
  });
  // The losing side of the race must not become an unhandled rejection.
  deadline.catch(() => undefined);

  const run = async (): Promise<ImapCheckResult> => {
    await Promise.race([resolveHost(settings.host), deadline]);
    phase = 'connect, read the greeting and log in';
    const remaining = Math.max(1, timeoutMs - (Date.now() - started));
    const transport = imapflowTransportOptions(settings);
    client = new ImapFlow({
      host: settings.host,
      port: settings.port,
      ...transport,
      auth: { user: settings.user, pass: settings.password },
      logger: false,
      disableAutoIdle: true,
      connectionTimeout: remaining,
      greetingTimeout: remaining,
      socketTimeout: remaining,
    });
    // imapflow also reports socket errors as events; the promise below carries them.
    client.on('error', () => undefined);
    const c = client;
    try {
      await c.connect();
      phase = 'list the folders';
      const folders = await c.list();
      const security = settings.tls ? 'TLS' : c.secureConnection ? 'STARTTLS' : 'plain text';
      await c.logout().catch(() => c.close());
      return { folders: folders.length, security, elapsedMs: Date.now() - started };
    } catch (error) {
      c.close();
      throw error;
    }
  };

  try {
    return await Promise.race([run(), deadline]);
  } catch (error) {
    if (error instanceof ImapCheckError) throw error;
    throw classify(error, settings, timeoutMs);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Resolves a host name (IP literals pass) so an unknown name is reported as DNS, not as a socket
 * error. Names under `.invalid` are answered negatively without a query, as RFC 6761 §6.4 asks of
 * name resolution libraries (they can never resolve; asking the network only leaks them).
 */
async function resolveHost(host: string): Promise<void> {
  if (net.isIP(host.replace(/^\[|\]$/g, ''))) return;
  if (/(^|\.)invalid\.?$/i.test(host)) throw new ImapCheckError('dns', `host ${JSON.stringify(host)} does not resolve (ENOTFOUND: RFC 6761 .invalid)`);
  try {
    await dns.lookup(host);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ImapCheckError('dns', `host ${JSON.stringify(host)} does not resolve (${code})`, error);
  }
}

const TIMEOUT_CODES = new Set(['CONNECT_TIMEOUT', 'GREETING_TIMEOUT', 'UPGRADE_TIMEOUT', 'ETIMEDOUT', 'ETIMEOUT']);
const UNREACHABLE_CODES = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);

/** Maps what imapflow or the socket threw to a check failure with its one-line reason. */
function classify(error: unknown, settings: ImapCheckSettings, timeoutMs: number): ImapCheckError {
  const e = (error ?? {}) as { code?: string; authenticationFailed?: boolean; serverResponseCode?: string; tlsFailed?: boolean; message?: string };
  const where = `${settings.host}:${settings.port}`;
  const code = e.code ?? '';
  // Node's TLS errors carry OpenSSL's short reason ("wrong version number") beside a long message.
  const reasonText = (error as { reason?: unknown } | null)?.reason;
  const text = oneLine(typeof reasonText === 'string' && reasonText !== '' ? reasonText : (e.message ?? String(error)));
  if (e.authenticationFailed || e.serverResponseCode === 'AUTHENTICATIONFAILED' || e.serverResponseCode === 'AUTHORIZATIONFAILED') {
    return new ImapCheckError('credentials', `${where} refused the login of ${JSON.stringify(settings.user)} (wrong user name or password)`, error);
  }
  if (code === 'ECONNREFUSED') return new ImapCheckError('refused', `${where} refused the connection (nothing listens on port ${settings.port}?)`, error);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') {
    return new ImapCheckError('dns', `host ${JSON.stringify(settings.host)} does not resolve (${code})`, error);
  }
  if (code === 'GREETING_TIMEOUT') {
    return new ImapCheckError('timeout', `${where} accepted the connection but sent no IMAP greeting within ${formatSeconds(timeoutMs)}${settings.tls ? '' : ' (a TLS port? try --tls)'}`, error);
  }
  if (TIMEOUT_CODES.has(code)) return new ImapCheckError('timeout', `${where} did not answer within ${formatSeconds(timeoutMs)} (${code})`, error);
  if (UNREACHABLE_CODES.has(code)) return new ImapCheckError('unreachable', `${where} is unreachable (${code})`, error);
  if (e.tlsFailed && /STARTTLS/i.test(text)) {
    return new ImapCheckError(
      'tls',
      `${where} offers no STARTTLS, so the password would cross the network unencrypted (use --tls, or --no-tls --allow-plaintext to accept that)`,
      error,
    );
  }
  if (e.tlsFailed || /^ERR_SSL|^ERR_TLS|CERT|SELF_SIGNED|^EPROTO$/.test(code)) {
    const hint = /wrong version number|packet length too long|unknown protocol/i.test(text) ? ' (not a TLS port? try --starttls, or the port of implicit TLS)' : '';
    return new ImapCheckError('tls', `TLS with ${where} failed: ${text}${hint}`, error);
  }
  return new ImapCheckError('protocol', `${where}: ${text || code || 'the IMAP session failed'}`, error);
}

function oneLine(text: string): string {
  const flat = text.replace(/[\r\n\t]+/g, ' ').replace(/\s{2,}/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 300)}…` : flat;
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}
