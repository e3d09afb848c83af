/**
 * `mailbox add | update | test` of a Gmail mailbox read by Google Workspace domain-wide
 * delegation: `--service-account-key-file F` (the service account's JSON key) with `--address` as
 * the mailbox the account acts for. The key file is read and checked (a JSON service account key
 * with an RSA private key) before the store is opened, even with `--no-verify`; it is stored
 * encrypted as the mailbox's credentials `{ serviceAccountKey }` only after
 * `checkDelegatedGmailMailbox` (`src/providers/gmail/verify.ts`) got a token for `--address` and
 * read its profile. No OAuth client (GOOGLE_CLIENT_ID / SECRET) is needed. The key is never
 * printed: refusals name the file and what is wrong with it, never its content.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { readUpstreamConfig } from '../../config-upstream.ts';
import { badInput, GatewayError } from '../../errors.ts';
import { MAX_KEY_FILE_BYTES, parseServiceAccountKey, type ServiceAccountKey } from '../../providers/gmail/service-account.ts';
import type { GoogleSettings } from '../../providers/gmail/settings.ts';
import { checkDelegatedGmailMailbox, DEFAULT_GMAIL_CHECK_TIMEOUT_MS, GmailCheckError, type GmailCheckResult } from '../../providers/gmail/verify.ts';
import type { MailboxConfig } from '../../providers/types.ts';
import { requireWorkspace, type CliContext } from '../context.ts';
import type { GmailFlags } from './mailbox-gmail.ts';

/**
 * The Google settings of the environment for a delegated mailbox (GOOGLE_API_ROOT,
 * GOOGLE_TOKEN_URL; no OAuth client needed).
 * @throws GatewayError BAD_USER_INPUT for a malformed GOOGLE_* value
 */
export function googleSettingsForDelegation(env: NodeJS.ProcessEnv = process.env): GoogleSettings {
  const problems: string[] = [];
  const { google } = readUpstreamConfig(env, problems);
  const googleProblems = problems.filter((p) => p.startsWith('GOOGLE_'));
  if (googleProblems.length > 0) throw badInput(googleProblems.join('; '));
  return google;
}

/** A key file read and checked: the text to store and the fields to report. */
export interface ServiceAccountKeyFile {
  /** The JSON text stored as `serviceAccountKey` (the key reduced to the fields the gateway uses). */
  stored: string;
  key: ServiceAccountKey;
}

/**
 * Reads `--service-account-key-file`: a regular file of at most 64 KiB holding a Google service
 * account JSON key.
 * @throws GatewayError BAD_USER_INPUT naming the file and the problem (never its content)
 */
export async function readServiceAccountKeyFile(file: string): Promise<ServiceAccountKeyFile> {
  const resolved = path.resolve(file);
  const name = `--service-account-key-file ${resolved}`;
  const stat = await fs.stat(resolved).catch(() => null);
  if (!stat || !stat.isFile()) throw badInput(`${name} does not exist or is not a file`);
  if (stat.size > MAX_KEY_FILE_BYTES) throw badInput(`${name} is not a Google service account key (larger than ${MAX_KEY_FILE_BYTES} bytes)`);
  const text = await fs.readFile(resolved, 'utf8').catch(() => {
    throw badInput(`${name} cannot be read`);
  });
  const key = await parseServiceAccountKey(text, name);
  return { stored: JSON.stringify(key), key };
}

/** One line about a successful delegated check. */
export function describeDelegatedCheck(result: Omit<GmailCheckResult, 'refreshToken'>, key: Pick<ServiceAccountKey, 'client_email'>): string {
  const counts = result.messagesTotal === null ? '' : `, ${result.messagesTotal} message(s) in ${result.threadsTotal ?? '?'} thread(s)`;
  return `Gmail account ${result.emailAddress} by domain-wide delegation of ${key.client_email}: token and profile read${counts} in ${(result.elapsedMs / 1000).toFixed(1)} s`;
}

/** Runs the delegated check and reports it on stderr; a failure says that nothing was stored. @throws GatewayError */
async function checkBeforeStoring(google: GoogleSettings, address: string, file: ServiceAccountKeyFile, options: GmailFlags): Promise<void> {
  try {
    const result = await checkDelegatedGmailMailbox({ google, address, serviceAccountKey: file.stored }, { timeoutMs: options.timeout ?? DEFAULT_GMAIL_CHECK_TIMEOUT_MS });
    process.stderr.write(`Checked ${describeDelegatedCheck(result, file.key)}\n`);
  } catch (error) {
    if (error instanceof GmailCheckError) throw new GatewayError(error.code, `${error.message}; nothing was stored (--no-verify stores it unchecked)`, { cause: error, retryAfter: error.retryAfter });
    throw error;
  }
}

/** `mailbox add --provider gmail --service-account-key-file F`: checks, then stores the mailbox and prints its id. */
export async function addDelegatedGmail({ store }: CliContext, options: GmailFlags, google: GoogleSettings, file: ServiceAccountKeyFile): Promise<void> {
  const workspace = await requireWorkspace(store, options.workspace);
  const address = options.address;
  if (!address) throw badInput('--service-account-key-file needs --address (the Workspace mailbox the service account reads)');
  if (options.verify) await checkBeforeStoring(google, address, file, options);
  const added = await store.addMailbox({
    workspaceId: workspace.id,
    provider: 'GMAIL',
    address,
    displayName: options.displayName ?? null,
    settings: {},
    credentials: { serviceAccountKey: file.stored },
  });
  process.stdout.write(`${added.id}\n`);
}

/** The stored key of a delegated mailbox. @throws GatewayError BAD_USER_INPUT when it cannot be read */
async function storedKey(stored: MailboxConfig): Promise<ServiceAccountKeyFile> {
  const text = stored.credentials?.serviceAccountKey ?? '';
  try {
    return { stored: text, key: await parseServiceAccountKey(text, 'the stored key') };
  } catch {
    throw badInput(`Mailbox ${stored.id} has no readable service account key; store one with: attachment-gateway mailbox update --service-account-key-file F`);
  }
}

/**
 * `mailbox update` of a GMAIL mailbox with a new key file (which makes it delegated, replacing
 * a refresh token) or of a delegated one: the key and/or address, checked together unless `--no-verify`.
 */
export async function updateDelegatedGmail({ store }: CliContext, stored: MailboxConfig, options: GmailFlags, google: GoogleSettings, newKey: ServiceAccountKeyFile | null): Promise<void> {
  if (newKey === null && options.address === undefined && options.displayName === undefined) {
    throw badInput('Nothing to update: give --service-account-key-file, --address or --display-name');
  }
  const changes: Parameters<typeof store.updateMailbox>[2] = {};
  if (options.displayName !== undefined) changes.displayName = options.displayName;
  if (newKey !== null || options.address !== undefined) {
    const file = newKey ?? (await storedKey(stored));
    const address = options.address ?? stored.address;
    if (!address) throw badInput(`Mailbox ${stored.id} has no address; give --address (the Workspace mailbox the service account reads)`);
    if (options.verify) await checkBeforeStoring(google, address, file, options);
    if (options.address !== undefined) changes.address = options.address;
    // Replaced whole: a refresh token left beside the key would be a second, forgotten credential.
    if (newKey !== null) changes.credentials = { serviceAccountKey: newKey.stored };
  }
  const updated = await store.updateMailbox(stored.workspaceId, stored.id, changes);
  process.stdout.write(`${updated.id}\n`);
}

/**
 * `mailbox test` of a delegated mailbox: the add-time check with the stored key and address. A
 * pass clears a re-consent mark (an admin granted the delegation the mark asked for).
 * @throws GmailCheckError
 */
export async function testDelegatedGmail({ store }: CliContext, stored: MailboxConfig, google: GoogleSettings, timeoutMs: number | undefined): Promise<void> {
  const file = await storedKey(stored);
  if (!stored.address) throw badInput(`Mailbox ${stored.id} has no address; set it with: attachment-gateway mailbox update --address A`);
  const result = await checkDelegatedGmailMailbox({ google, address: stored.address, serviceAccountKey: file.stored }, { timeoutMs: timeoutMs ?? DEFAULT_GMAIL_CHECK_TIMEOUT_MS });
  if (stored.needsReconsentAt) await store.saveCredentials(stored.workspaceId, stored.id, { serviceAccountKey: file.stored });
  process.stdout.write(`OK ${stored.id}: ${describeDelegatedCheck(result, file.key)}\n`);
}
