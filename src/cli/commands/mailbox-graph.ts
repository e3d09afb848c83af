/**
 * The Microsoft Graph side of `mailbox add | update | test`. The gateway's app registration comes
 * from MS_CLIENT_ID / MS_CLIENT_SECRET / MS_TENANT_ID (refused before the store is opened when
 * missing, and application mode refuses a multi-tenant MS_TENANT_ID); a delegated mailbox's refresh
 * token from MS_REFRESH_TOKEN or standard input (never an argument: it would show in `ps` and
 * shell history). The mailbox is stored (settings `{ mode }`, credentials `{ refreshToken }`
 * encrypted by the store, none in application mode) only after `checkGraphMailbox`
 * (`src/providers/microsoft-graph/verify.ts`) got a token, found the account to be `--address`
 * (delegated) and read its inbox, unless `--no-verify`.
 */
import { readUpstreamConfig } from '../../config-upstream.ts';
import { badInput, GatewayError } from '../../errors.ts';
import type { GraphMailboxSettings, MicrosoftSettings } from '../../providers/microsoft-graph/settings.ts';
import { assertMicrosoftConfigured, checkGraphMailbox, DEFAULT_GRAPH_CHECK_TIMEOUT_MS, GraphCheckError, type GraphCheckResult } from '../../providers/microsoft-graph/verify.ts';
import type { MailboxConfig } from '../../providers/types.ts';
import { requireWorkspace, type CliContext } from '../context.ts';
import { readSecretFromStdin } from '../password.ts';

/** The flags the Graph commands read. */
export interface GraphFlags {
  workspace: string;
  address?: string;
  displayName?: string;
  refreshTokenStdin?: boolean;
  /** `--app-only`: application mode (client credentials) instead of a user's refresh token. */
  appOnly?: boolean;
  verify: boolean;
  /** Deadline of the check, milliseconds. */
  timeout?: number;
}

type Mode = GraphMailboxSettings['mode'];

/**
 * The Microsoft settings of the environment for `mode`, refused (exit 2) before the store is
 * opened when a value is malformed, the app registration is missing, or application mode meets a
 * multi-tenant MS_TENANT_ID.
 * @throws GatewayError BAD_USER_INPUT
 */
export function microsoftSettingsForCli(mode: Mode, env: NodeJS.ProcessEnv = process.env): MicrosoftSettings {
  const problems: string[] = [];
  const { microsoft } = readUpstreamConfig(env, problems);
  const msProblems = problems.filter((p) => p.startsWith('MS_'));
  if (msProblems.length > 0) throw badInput(msProblems.join('; '));
  try {
    assertMicrosoftConfigured(microsoft, mode);
  } catch (error) {
    throw badInput(`${(error as Error).message.replace(/^Microsoft Graph check failed \(config\): /, '')}; nothing was stored`);
  }
  return microsoft;
}

/**
 * A delegated mailbox's refresh token: standard input with `--refresh-token-stdin`, else MS_REFRESH_TOKEN.
 * @param required false for `update`, where no new token keeps the stored one (then null)
 * @throws GatewayError BAD_USER_INPUT when a required token is missing or empty
 */
export async function resolveGraphRefreshToken(fromStdin: boolean, required: boolean, env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  if (fromStdin) {
    const token = (await readSecretFromStdin()).trim();
    if (token === '') throw badInput('--refresh-token-stdin was given but standard input was empty');
    return token;
  }
  const fromEnv = env.MS_REFRESH_TOKEN?.trim();
  if (fromEnv) return fromEnv;
  if (!required) return null;
  throw badInput('No refresh token: set MS_REFRESH_TOKEN or pipe it with --refresh-token-stdin (a --refresh-token argument is refused), or add the mailbox with --app-only');
}

/** One line about a successful check. */
export function describeGraphCheck(result: GraphCheckResult): string {
  const read = result.mode === 'delegated' ? 'token, profile and inbox read' : 'app token and inbox read';
  const count = result.inboxTotal === null ? '' : `, ${result.inboxTotal} message(s) in the inbox`;
  return `Microsoft Graph mailbox ${result.address} (${result.mode}): ${read}${count} in ${(result.elapsedMs / 1000).toFixed(1)} s`;
}

/** Runs the check and reports it on stderr; a failure says that nothing was stored. @throws GatewayError */
async function checkBeforeStoring(microsoft: MicrosoftSettings, mode: Mode, address: string, refreshToken: string | null, options: GraphFlags): Promise<GraphCheckResult> {
  try {
    const result = await checkGraphMailbox({ microsoft, mode, address, refreshToken }, { timeoutMs: options.timeout ?? DEFAULT_GRAPH_CHECK_TIMEOUT_MS });
    process.stderr.write(`Checked ${describeGraphCheck(result)}\n`);
    return result;
  } catch (error) {
    if (error instanceof GraphCheckError) throw new GatewayError(error.code, `${error.message}; nothing was stored (--no-verify stores it unchecked)`, { cause: error, retryAfter: error.retryAfter });
    throw error;
  }
}

/**
 * `mailbox add --provider microsoft-graph`: checks, then stores the mailbox and prints its id.
 * @param refreshToken the delegated mailbox's token; null with `--app-only`
 */
export async function addGraph({ store }: CliContext, options: GraphFlags, microsoft: MicrosoftSettings, refreshToken: string | null): Promise<void> {
  const workspace = await requireWorkspace(store, options.workspace);
  const address = options.address;
  if (!address) throw badInput('--provider microsoft-graph needs --address (the mailbox)');
  const mode: Mode = options.appOnly ? 'application' : 'delegated';
  let stored = refreshToken;
  if (options.verify) stored = (await checkBeforeStoring(microsoft, mode, address, refreshToken, options)).refreshToken ?? refreshToken;
  const added = await store.addMailbox({
    workspaceId: workspace.id,
    provider: 'MICROSOFT_GRAPH',
    address,
    displayName: options.displayName ?? null,
    settings: { mode } satisfies GraphMailboxSettings,
    credentials: mode === 'delegated' && stored ? { refreshToken: stored } : null,
  });
  process.stdout.write(`${added.id}\n`);
}

/** The mode of a stored Graph mailbox (`delegated` when none was stored). */
export function storedGraphMode(stored: MailboxConfig): Mode {
  return stored.settings.mode === 'application' ? 'application' : 'delegated';
}

/** The address and (delegated) refresh token of a stored Graph mailbox. @throws GatewayError BAD_USER_INPUT when one is missing */
function storedGraph(stored: MailboxConfig): { address: string; mode: Mode; refreshToken: string | null } {
  const mode = storedGraphMode(stored);
  const refreshToken = stored.credentials?.refreshToken;
  const hasToken = typeof refreshToken === 'string' && refreshToken !== '';
  if (!stored.address || (mode === 'delegated' && !hasToken)) {
    throw badInput(`Mailbox ${stored.id} has no address or refresh token; set them with: attachment-gateway mailbox update --address A --refresh-token-stdin`);
  }
  return { address: stored.address, mode, refreshToken: hasToken ? refreshToken : null };
}

/**
 * `mailbox update` of a MICROSOFT_GRAPH mailbox: a new refresh token (which makes it delegated),
 * `--app-only` (which makes it application and drops the token), `--address`, `--display-name`;
 * checked together unless `--no-verify`.
 * @param newToken the new refresh token; the caller reads none with `--app-only`
 */
export async function updateGraph({ store }: CliContext, stored: MailboxConfig, options: GraphFlags, microsoft: MicrosoftSettings, newToken: string | null): Promise<void> {
  const modeChange = newToken !== null || options.appOnly === true;
  if (!modeChange && options.address === undefined && options.displayName === undefined) {
    throw badInput('Nothing to update: give a new refresh token (MS_REFRESH_TOKEN or --refresh-token-stdin), --app-only, --address or --display-name');
  }
  const changes: Parameters<typeof store.updateMailbox>[2] = {};
  if (options.displayName !== undefined) changes.displayName = options.displayName;
  if (modeChange || options.address !== undefined) {
    const mode: Mode = options.appOnly ? 'application' : newToken !== null ? 'delegated' : storedGraphMode(stored);
    const address = options.address ?? stored.address;
    if (!address) throw badInput(`Mailbox ${stored.id} has no address; give --address`);
    const refreshToken = mode === 'application' ? null : (newToken ?? storedGraph(stored).refreshToken);
    const checked = options.verify ? ((await checkBeforeStoring(microsoft, mode, address, refreshToken, options)).refreshToken ?? refreshToken) : refreshToken;
    if (options.address !== undefined) changes.address = options.address;
    if (mode !== storedGraphMode(stored)) changes.settings = { ...stored.settings, mode } satisfies GraphMailboxSettings;
    if (mode === 'application') {
      // Application mode holds no secret of its own; writing the credentials also clears a re-consent mark.
      const { refreshToken: _dropped, ...rest } = stored.credentials ?? {};
      changes.credentials = Object.keys(rest).length > 0 ? rest : null;
    } else if (mode === 'delegated' && checked !== null && checked !== stored.credentials?.refreshToken) {
      changes.credentials = { ...(stored.credentials ?? {}), refreshToken: checked };
    }
  }
  const updated = await store.updateMailbox(stored.workspaceId, stored.id, changes);
  process.stdout.write(`${updated.id}\n`);
}

/**
 * `mailbox test` of a MICROSOFT_GRAPH mailbox: the add-time check on the stored mode, address and
 * token. A refresh token Microsoft rotated meanwhile is saved (the old one may stop working), and a
 * passed check clears a `needs-reconsent` mark (the grant works again, e.g. after an admin's consent).
 * @throws GraphCheckError
 */
export async function testGraph({ store }: CliContext, stored: MailboxConfig, timeoutMs: number | undefined): Promise<void> {
  const { address, mode, refreshToken } = storedGraph(stored);
  const microsoft = microsoftSettingsForCli(mode);
  const result = await checkGraphMailbox({ microsoft, mode, address, refreshToken }, { timeoutMs: timeoutMs ?? DEFAULT_GRAPH_CHECK_TIMEOUT_MS });
  const marked = stored.needsReconsentAt != null;
  // Writing the credentials is what clears a mark (the store treats them as a new grant).
  if (result.refreshToken !== null && (result.refreshToken !== refreshToken || marked)) {
    await store.saveCredentials(stored.workspaceId, stored.id, { ...(stored.credentials ?? {}), refreshToken: result.refreshToken });
  } else if (marked) {
    await store.updateMailbox(stored.workspaceId, stored.id, { credentials: stored.credentials });
  }
  process.stdout.write(`OK ${stored.id}: ${describeGraphCheck(result)}${marked ? '; the needs-reconsent mark is cleared' : ''}\n`);
}
