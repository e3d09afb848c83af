/**
 * The Gmail side of `mailbox add | update | test`: the refresh token comes from
 * GOOGLE_REFRESH_TOKEN or standard input (never an argument: it would show in `ps` and shell
 * history), the gateway's OAuth client from GOOGLE_CLIENT_ID / GOOGLE_CLIENT_SECRET, and the
 * mailbox is stored (credentials `{ refreshToken }`, encrypted by the store) only after
 * `checkGmailMailbox` (`src/providers/gmail/verify.ts`) got a token and found the account's
 * address to be `--address`, unless `--no-verify`.
 */
import { readUpstreamConfig } from '../../config-upstream.ts';
import { badInput, GatewayError } from '../../errors.ts';
import type { GoogleSettings } from '../../providers/gmail/settings.ts';
import { assertGoogleConfigured, checkGmailMailbox, DEFAULT_GMAIL_CHECK_TIMEOUT_MS, GmailCheckError, type GmailCheckResult } from '../../providers/gmail/verify.ts';
import type { MailboxConfig } from '../../providers/types.ts';
import { requireWorkspace, type CliContext } from '../context.ts';
import { readSecretFromStdin } from '../password.ts';

/** The flags the Gmail commands read. */
export interface GmailFlags {
  workspace: string;
  address?: string;
  displayName?: string;
  refreshTokenStdin?: boolean;
  verify: boolean;
  /** Deadline of the check, milliseconds. */
  timeout?: number;
}

/**
 * The Google settings of the environment, refused (exit 2) before the store is opened when the
 * OAuth client is not configured.
 * @throws GatewayError BAD_USER_INPUT
 */
export function googleSettingsForCli(env: NodeJS.ProcessEnv = process.env): GoogleSettings {
  const problems: string[] = [];
  const { google } = readUpstreamConfig(env, problems);
  const googleProblems = problems.filter((p) => p.startsWith('GOOGLE_'));
  if (googleProblems.length > 0) throw badInput(googleProblems.join('; '));
  try {
    assertGoogleConfigured(google);
  } catch (error) {
    throw badInput(`${(error as Error).message.replace(/^Gmail check failed \(config\): /, '')}; nothing was stored`);
  }
  return google;
}

/**
 * The mailbox's refresh token: standard input with `--refresh-token-stdin`, else GOOGLE_REFRESH_TOKEN.
 * @param required false for `update`, where no new token keeps the stored one (then null)
 * @throws GatewayError BAD_USER_INPUT when a required token is missing or empty
 */
export async function resolveRefreshToken(fromStdin: boolean, required: boolean, env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  if (fromStdin) {
    const token = (await readSecretFromStdin()).trim();
    if (token === '') throw badInput('--refresh-token-stdin was given but standard input was empty');
    return token;
  }
  const fromEnv = env.GOOGLE_REFRESH_TOKEN?.trim();
  if (fromEnv) return fromEnv;
  if (!required) return null;
  throw badInput('No refresh token: set GOOGLE_REFRESH_TOKEN or pipe it with --refresh-token-stdin (a --refresh-token argument is refused)');
}

/** Runs the check and reports it on stderr; a failure says that nothing was stored. @throws GatewayError */
async function checkBeforeStoring(google: GoogleSettings, address: string, refreshToken: string, options: GmailFlags): Promise<GmailCheckResult> {
  try {
    const result = await checkGmailMailbox({ google, address, refreshToken }, { timeoutMs: options.timeout ?? DEFAULT_GMAIL_CHECK_TIMEOUT_MS });
    process.stderr.write(`Checked ${describeGmailCheck(result)}\n`);
    return result;
  } catch (error) {
    if (error instanceof GmailCheckError) throw new GatewayError(error.code, `${error.message}; nothing was stored (--no-verify stores it unchecked)`, { cause: error, retryAfter: error.retryAfter });
    throw error;
  }
}

/** One line about a successful check. */
export function describeGmailCheck(result: GmailCheckResult): string {
  const counts = result.messagesTotal === null ? '' : `, ${result.messagesTotal} message(s) in ${result.threadsTotal ?? '?'} thread(s)`;
  return `Gmail account ${result.emailAddress}: token and profile read${counts} in ${(result.elapsedMs / 1000).toFixed(1)} s`;
}

/** `mailbox add --provider gmail`: checks, then stores the mailbox and prints its id. */
export async function addGmail({ store }: CliContext, options: GmailFlags, google: GoogleSettings, refreshToken: string): Promise<void> {
  const workspace = await requireWorkspace(store, options.workspace);
  const address = options.address;
  if (!address) throw badInput('--provider gmail needs --address (the Google account)');
  let stored = refreshToken;
  if (options.verify) stored = (await checkBeforeStoring(google, address, refreshToken, options)).refreshToken;
  const added = await store.addMailbox({
    workspaceId: workspace.id,
    provider: 'GMAIL',
    address,
    displayName: options.displayName ?? null,
    settings: {},
    credentials: { refreshToken: stored },
  });
  process.stdout.write(`${added.id}\n`);
}

/** The address and refresh token of a stored Gmail mailbox. @throws GatewayError BAD_USER_INPUT when either is missing */
function storedGmail(stored: MailboxConfig): { address: string; refreshToken: string } {
  const refreshToken = stored.credentials?.refreshToken;
  if (!stored.address || typeof refreshToken !== 'string' || refreshToken === '') {
    throw badInput(`Mailbox ${stored.id} has no address or refresh token; set them with: attachment-gateway mailbox update --address A --refresh-token-stdin`);
  }
  return { address: stored.address, refreshToken };
}

/** `mailbox update` of a GMAIL mailbox: a new refresh token and/or address, checked together unless `--no-verify`. */
export async function updateGmail({ store }: CliContext, stored: MailboxConfig, options: GmailFlags, google: GoogleSettings, newToken: string | null): Promise<void> {
  if (newToken === null && options.address === undefined && options.displayName === undefined) {
    throw badInput('Nothing to update: give a new refresh token (GOOGLE_REFRESH_TOKEN or --refresh-token-stdin), --address or --display-name');
  }
  const changes: Parameters<typeof store.updateMailbox>[2] = {};
  if (options.displayName !== undefined) changes.displayName = options.displayName;
  if (newToken !== null || options.address !== undefined) {
    const refreshToken = newToken ?? storedGmail(stored).refreshToken;
    const address = options.address ?? storedGmail(stored).address;
    const checked = options.verify ? (await checkBeforeStoring(google, address, refreshToken, options)).refreshToken : refreshToken;
    if (options.address !== undefined) changes.address = options.address;
    if (newToken !== null || checked !== refreshToken) changes.credentials = { ...(stored.credentials ?? {}), refreshToken: checked };
  }
  const updated = await store.updateMailbox(stored.workspaceId, stored.id, changes);
  process.stdout.write(`${updated.id}\n`);
}

/**
 * `mailbox test` of a GMAIL mailbox: the add-time check on the stored token and address; a token
 * Google rotated meanwhile is saved (the old one may stop working).
 * @throws GmailCheckError
 */
export async function testGmail({ store }: CliContext, stored: MailboxConfig, google: GoogleSettings, timeoutMs: number | undefined): Promise<void> {
  const { address, refreshToken } = storedGmail(stored);
  const result = await checkGmailMailbox({ google, address, refreshToken }, { timeoutMs: timeoutMs ?? DEFAULT_GMAIL_CHECK_TIMEOUT_MS });
  if (result.refreshToken !== refreshToken) await store.saveCredentials(stored.workspaceId, stored.id, { ...(stored.credentials ?? {}), refreshToken: result.refreshToken });
  process.stdout.write(`OK ${stored.id}: ${describeGmailCheck(result)}\n`);
}
