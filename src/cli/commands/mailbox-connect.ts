/**
 * `mailbox connect`: connects a mailbox through its provider's consent page (the OAuth 2.0
 * authorization-code flow with PKCE and state, `src/connect/`). It stores a pending consent,
 * prints the consent URL (stdout) and the redirect URI it uses (stderr), then, unless `--no-wait`,
 * polls the pending consent until the gateway's callback route (`GET /oauth/callback`, any
 * gateway instance on the same database) has stored the mailbox or refused, and prints the
 * mailbox id (stdout) or the refusal (exit 3). Waiting is bounded by the consent's lifetime and
 * `--timeout`; Ctrl-C and a timeout delete the pending consent, so its link stops working (exit
 * 130 and 3).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Option, type Command } from 'commander';
import { DEFAULT_CALLBACK_DEADLINE_MS } from '../../connect/callback.ts';
import { consentProviderFor } from '../../connect/providers.ts';
import { redirectUriOf, startConsent } from '../../connect/start.ts';
import { isEmailAddress } from '../../email-address.ts';
import { badInput, GatewayError } from '../../errors.ts';
import type { ProviderKind } from '../../providers/types.ts';
import { CONSENT_TTL_MS, type Consent, type ConsentStatus } from '../../store/consents.ts';
import { requireWorkspace, withContext, type CliContext } from '../context.ts';
import { InterruptedError } from '../errors.ts';
import { secondsParser } from '../options.ts';
import { googleSettingsForCli } from './mailbox-gmail.ts';
import { microsoftSettingsForCli } from './mailbox-graph.ts';

/** How often the pending consent is read while waiting, ms. */
const POLL_INTERVAL_MS = 500;
/** The `--provider` values and their kinds. */
const PROVIDERS: Record<string, { kind: ProviderKind; name: string }> = {
  gmail: { kind: 'GMAIL', name: 'Gmail' },
  'microsoft-graph': { kind: 'MICROSOFT_GRAPH', name: 'Microsoft 365' },
};

/** Options of `mailbox connect`, as commander parses them. */
interface ConnectOptions {
  workspace: string;
  provider: keyof typeof PROVIDERS;
  address?: string;
  displayName?: string;
  /** False with `--no-wait`. */
  wait: boolean;
  /** How long to wait, ms. */
  timeout?: number;
  /** Refused: application mode is `mailbox add --app-only`. */
  appOnly?: boolean;
}

/** Adds `mailbox connect` to the `mailbox` command group. */
export function registerConnectCommand(mailbox: Command): void {
  mailbox
    .command('connect')
    .description("Connect a mailbox through the provider's consent page (OAuth 2.0 with PKCE): prints the URL to open, waits until the gateway's /oauth/callback stored the mailbox, prints its id")
    .requiredOption('--workspace <name>', 'workspace the mailbox belongs to')
    .addOption(new Option('--provider <kind>', 'mail provider').choices(Object.keys(PROVIDERS)).makeOptionMandatory())
    .option('--address <address>', 'the account to connect: a sign-in hint, and any other account is refused')
    .option('--display-name <name>', 'a name to show for the mailbox')
    .option('--no-wait', 'print the URL and exit; the callback stores the mailbox when the owner consents (within 10 minutes)')
    .addOption(new Option('--app-only', 'refused: a Microsoft Graph mailbox in application mode needs no consent flow (use mailbox add --app-only)').hideHelp())
    .option('--timeout <seconds>', `how long to wait for the consent (default and at most ${CONSENT_TTL_MS / 1000}, the link's lifetime)`, secondsParser(1, CONSENT_TTL_MS / 1000))
    .action(async (options: ConnectOptions) => {
      if (options.address !== undefined && !isEmailAddress(options.address)) throw badInput(`--address ${JSON.stringify(options.address)} is not an email address`);
      if (!options.wait && options.timeout !== undefined) throw badInput('--timeout does not go with --no-wait');
      if (options.appOnly) {
        throw badInput(
          options.provider === 'microsoft-graph'
            ? "--app-only is not a connect mode: application mode reads the mailbox with the app's own token and needs no consent flow; add it with: attachment-gateway mailbox add --provider microsoft-graph --app-only --address A"
            : '--app-only applies to mailbox add --provider microsoft-graph only',
        );
      }
      // Refused before the store is opened, as `mailbox add` does.
      if (options.provider === 'gmail') googleSettingsForCli();
      if (options.provider === 'microsoft-graph') microsoftSettingsForCli('delegated');
      await withContext((ctx) => connect(ctx, options));
    });
}

async function connect(ctx: CliContext, options: ConnectOptions): Promise<void> {
  const { store, config } = ctx;
  const { kind, name } = PROVIDERS[options.provider]!;
  const workspace = await requireWorkspace(store, options.workspace);
  const provider = consentProviderFor(kind, config);
  const redirectUri = redirectUriOf(config.publicUrl);
  const { consent, url } = await startConsent(store, provider, { workspaceId: workspace.id, redirectUri, expectedAddress: options.address ?? null, displayName: options.displayName ?? null });

  // Ctrl-C from here on cancels the pending consent (installed before anything is printed, so a
  // signal sent on seeing the output always finds it).
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort();
  process.once('SIGINT', onSigint);
  try {
    const who = options.address ? `as ${options.address}` : 'as the owner of the mailbox';
    process.stderr.write(`Open this URL in a browser and consent ${who} (it works once, until ${consent.expiresAt.toISOString()}):\n`);
    process.stdout.write(`${url}\n`);
    process.stderr.write(`${name} sends the browser back to ${redirectUri} (PUBLIC_URL + /oauth/callback): it must be an authorized redirect URI of the OAuth client and reach a gateway on this database.\n`);
    if (!isLoopbackOrHttps(redirectUri)) process.stderr.write(`warning: ${redirectUri} is plain http to a non-loopback host; providers refuse such redirect URIs (set PUBLIC_URL to the gateway's https origin)\n`);
    if (!options.wait) {
      process.stderr.write('Not waiting (--no-wait): the gateway stores the mailbox when the owner consents; see: attachment-gateway mailbox list\n');
      return;
    }
    const timeoutMs = options.timeout ?? CONSENT_TTL_MS;
    process.stderr.write(`Waiting for the consent (at most ${Math.round(Math.min(timeoutMs, consent.expiresAt.getTime() - Date.now()) / 1000)} s; Ctrl-C cancels)...\n`);
    const outcome = await waitForOutcome(store.consents, consent, timeoutMs, name, interrupt.signal);
    if (outcome.state === 'failed') throw new GatewayError('PROVIDER_AUTH_FAILED', outcome.error ?? `${name} connect failed`);
    const mailbox = (await store.listMailboxes(workspace.id)).find((m) => m.id === outcome.mailboxId);
    process.stderr.write(`Connected ${name} mailbox ${mailbox?.address ?? ''} (${outcome.mailboxId}) to workspace ${workspace.name}\n`);
    process.stdout.write(`${outcome.mailboxId}\n`);
  } catch (error) {
    if (!interrupt.signal.aborted) throw error;
    const cancelled = await store.consents.cancel(consent.id);
    throw new InterruptedError(
      cancelled ? 'interrupted: the consent was cancelled, its link no longer works' : 'interrupted while the gateway was finishing the consent; see: attachment-gateway mailbox list',
    );
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

/**
 * Reads the consent every {@link POLL_INTERVAL_MS} until its outcome is known. Waits until the
 * consent expires or `timeoutMs` passed, and, once a callback has claimed it, as long as a callback
 * may run. A consent still unclaimed then is deleted.
 * @throws GatewayError PROVIDER_UNAVAILABLE on timeout; the signal's reason when it aborts
 */
async function waitForOutcome(consents: CliContext['store']['consents'], consent: Consent, timeoutMs: number, name: string, signal: AbortSignal): Promise<ConsentStatus> {
  const byTimeout = Date.now() + timeoutMs < consent.expiresAt.getTime();
  const until = byTimeout ? Date.now() + timeoutMs : consent.expiresAt.getTime();
  const waited = byTimeout ? `within ${Math.round(timeoutMs / 1000)} s (--timeout)` : `before the link expired (${consent.expiresAt.toISOString()})`;
  for (;;) {
    const status = await consents.get(consent.id);
    if (!status) throw new GatewayError('PROVIDER_UNAVAILABLE', `${name} connect failed: the pending consent is gone (cancelled, or removed with its workspace)`);
    if (status.state === 'connected' || status.state === 'failed') return status;
    const claimedUntil = status.consumedAt ? status.consumedAt.getTime() + DEFAULT_CALLBACK_DEADLINE_MS + 5_000 : 0;
    if (Date.now() >= Math.max(until, claimedUntil)) {
      if (status.state === 'claimed' || !(await consents.cancel(consent.id))) {
        if (status.state === 'claimed') throw new GatewayError('PROVIDER_UNAVAILABLE', `${name} connect failed (timeout): the gateway took the consent but recorded no outcome; see its log`);
        continue; // claimed between the read and the cancel: read the outcome
      }
      throw new GatewayError('PROVIDER_UNAVAILABLE', `${name} connect failed (timeout): no consent arrived ${waited}; the link no longer works, start again`);
    }
    await sleep(POLL_INTERVAL_MS, undefined, { signal });
  }
}

/** True for an https URL or an http one to a loopback host (providers accept only those as redirect URIs). */
function isLoopbackOrHttps(uri: string): boolean {
  const url = new URL(uri);
  return url.protocol === 'https:' || ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname) || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
}
