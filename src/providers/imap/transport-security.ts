/**
 * When an IMAP password may cross the wire unencrypted. Implicit TLS (`tls: true`, port 993 style)
 * always protects it. Without it, a loopback server (127.0.0.0/8, ::1, `localhost`: the traffic
 * never leaves the machine) may be spoken to in plain text; any other server must upgrade with
 * STARTTLS (RFC 9051 §6.2.1) before LOGIN, unless the operator stored the mailbox with
 * `allowPlaintext`. The STARTTLS requirement is enforced by imapflow's `doSTARTTLS: true`, which
 * fails the connection before authenticating when the server offers no STARTTLS.
 */
import net from 'node:net';

/** The settings that decide the transport security of an IMAP connection. */
export interface TransportSecuritySettings {
  host: string;
  /** Implicit TLS from the first byte. */
  tls: boolean;
  /** Without `tls`: a plain connection that must upgrade with STARTTLS before LOGIN. */
  starttls?: boolean;
  /** The operator accepted a plain-text login to a non-loopback host (`--allow-plaintext`). */
  allowPlaintext?: boolean;
}

/** True for `localhost`, an IPv4 address in 127.0.0.0/8, `::1`, or an IPv4-mapped loopback address. */
export function isLoopbackHost(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h === 'localhost') return true;
  if (h.startsWith('::ffff:') && net.isIPv4(h.slice(7))) h = h.slice(7);
  if (net.isIPv4(h)) return h.split('.')[0] === '127';
  if (net.isIPv6(h)) return LOOPBACK_V6.check(h, 'ipv6');
  return false;
}

const LOOPBACK_V6 = new net.BlockList();
LOOPBACK_V6.addAddress('::1', 'ipv6');

/** True when a login to this server could be sent unencrypted: neither TLS nor required STARTTLS, and loopback or `allowPlaintext`. */
export function plaintextLoginPossible(settings: TransportSecuritySettings): boolean {
  return !settings.tls && settings.starttls !== true && (isLoopbackHost(settings.host) || settings.allowPlaintext === true);
}

/**
 * The imapflow options for these settings: `secure` for implicit TLS; `doSTARTTLS: true` (STARTTLS
 * required, no LOGIN in clear) for `starttls` and for a plain connection to a non-loopback host
 * without `allowPlaintext`; otherwise imapflow's default (upgrade when STARTTLS is offered).
 */
export function imapflowTransportOptions(settings: TransportSecuritySettings): { secure: boolean; doSTARTTLS?: boolean } {
  if (settings.tls) return { secure: true };
  return plaintextLoginPossible(settings) ? { secure: false } : { secure: false, doSTARTTLS: true };
}
