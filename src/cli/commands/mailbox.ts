/**
 * `mailbox add | list | update | remove | test`. Every IMAP mailbox is checked at the door (DNS,
 * connect, TLS, login, LIST: see `src/providers/imap/verify.ts`) before it is stored or changed,
 * unless `--no-verify`; a local store must hold a message; a Gmail mailbox's refresh token must
 * give a token for the account `--address` names (`./mailbox-gmail.ts`), and so must a Workspace
 * service account key acting for `--address` (`./mailbox-gmail-delegated.ts`) and a Microsoft
 * Graph mailbox's token, which must also read its inbox (`./mailbox-graph.ts`). Flag mistakes are refused (exit 2,
 * one line) before the store is opened; a failed check exits 3 and stores nothing.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { isEmailAddress } from '../../email-address.ts';
import { GatewayError, badInput, isGatewayError } from '../../errors.ts';
import { decodeGlobalId, encodeNodeId, parseKeyParts } from '../../ids.ts';
import { ImapCheckError, assertTransportAllowed, checkImapMailbox, DEFAULT_CHECK_TIMEOUT_MS, type ImapCheckSettings } from '../../providers/imap/verify.ts';
import { removeLocalIndex } from '../../providers/local/index-file.ts';
import { assertHoldsMessages } from '../../providers/local/probe.ts';
import type { MailboxConfig } from '../../providers/types.ts';
import type { MailboxSummary } from '../../store/types.ts';
import { requireWorkspace, withContext, type CliContext } from '../context.ts';
import { portParser, secondsParser } from '../options.ts';
import { resolveImapPassword } from '../password.ts';
import { createProgressReporter } from '../progress.ts';
import { formatTable } from '../table.ts';
import { registerConnectCommand } from './mailbox-connect.ts';
import { addGmail, googleSettingsForCli, resolveRefreshToken, testGmail, updateGmail } from './mailbox-gmail.ts';
import { gmailAuthMode } from '../../providers/gmail/credentials.ts';
import { addDelegatedGmail, googleSettingsForDelegation, readServiceAccountKeyFile, testDelegatedGmail, updateDelegatedGmail } from './mailbox-gmail-delegated.ts';
import { addGraph, microsoftSettingsForCli, resolveGraphRefreshToken, storedGraphMode, testGraph, updateGraph } from './mailbox-graph.ts';

/** Flags shared by `mailbox add` and `mailbox update`, as commander parses them. */
interface MailboxFlags {
  workspace: string;
  host?: string;
  port?: number;
  user?: string;
  tls?: boolean;
  starttls?: boolean;
  allowPlaintext?: boolean;
  address?: string;
  displayName?: string;
  path?: string;
  passwordStdin?: boolean;
  password?: string;
  refreshTokenStdin?: boolean;
  refreshToken?: string;
  /** Gmail by domain-wide delegation: the service account's JSON key file. */
  serviceAccountKeyFile?: string;
  /** Microsoft Graph: application mode (client credentials). */
  appOnly?: boolean;
  /** False with `--no-verify`. */
  verify: boolean;
  /** Deadline of the check, milliseconds. */
  timeout?: number;
}

/** Options of `mailbox add`. */
interface AddOptions extends MailboxFlags {
  provider: 'imap' | 'local' | 'gmail' | 'microsoft-graph';
}

/** How an IMAP connection is protected, as stored in the mailbox settings. */
interface TransportMode {
  tls: boolean;
  starttls?: boolean;
  allowPlaintext?: boolean;
}

/** Adds the `mailbox` command group to `program`. */
export function registerMailboxCommands(program: Command): void {
  const mailbox = program.command('mailbox').description('Manage mailboxes');

  withMailboxFlags(
    mailbox
      .command('add')
      .description('Add a mailbox to a workspace after checking it (IMAP: connect, log in, list folders; local: holds a message; Gmail: token and profile of --address; Microsoft Graph: token, account and inbox of --address); prints its id')
      .requiredOption('--workspace <name>', 'workspace the mailbox belongs to')
      .addOption(new Option('--provider <kind>', 'mail provider').choices(['imap', 'local', 'gmail', 'microsoft-graph']).makeOptionMandatory()),
  ).action(async (options: AddOptions) => {
    checkCommonFlags(options);
    if (options.appOnly && options.provider !== 'microsoft-graph') throw badInput('--app-only applies to --provider microsoft-graph only');
    if (options.serviceAccountKeyFile !== undefined && options.provider !== 'gmail') throw badInput(`--service-account-key-file does not apply to --provider ${options.provider}`);
    if (options.provider === 'microsoft-graph') {
      const microsoft = checkGraphOptions(options);
      const refreshToken = options.appOnly ? null : await resolveGraphRefreshToken(options.refreshTokenStdin === true, true);
      await withContext((ctx) => addGraph(ctx, options, microsoft, refreshToken));
    } else if (options.provider === 'gmail' && options.serviceAccountKeyFile !== undefined) {
      const google = checkGmailOptions(options, true);
      const key = await readServiceAccountKeyFile(options.serviceAccountKeyFile);
      await withContext((ctx) => addDelegatedGmail(ctx, options, google, key));
    } else if (options.provider === 'gmail') {
      const google = checkGmailOptions(options);
      const refreshToken = (await resolveRefreshToken(options.refreshTokenStdin === true, true)) as string;
      await withContext((ctx) => addGmail(ctx, options, google, refreshToken));
    } else if (options.provider === 'imap') {
      const server = checkImapOptions(options);
      await withContext((ctx) => addImap(ctx, options, server));
    } else {
      const storePath = await checkLocalOptions(options);
      await withContext((ctx) => addLocal(ctx, options, storePath));
    }
  });

  mailbox
    .command('list')
    .description('List mailboxes: id, provider, GraphQL id, address, status (ok or needs-reconsent), host or path')
    .option('--workspace <name>', 'only the mailboxes of this workspace')
    .option('--json', 'print a JSON array of objects')
    .action(async (options: { workspace?: string; json?: boolean }) => {
      await withContext(async ({ store }) => {
        const workspaceId = options.workspace === undefined ? undefined : (await requireWorkspace(store, options.workspace)).id;
        const mailboxes = await store.listMailboxes(workspaceId);
        process.stdout.write(options.json ? `${JSON.stringify(mailboxes.map(listedMailbox), null, 2)}\n` : formatMailboxTable(mailboxes));
      });
    });

  withMailboxFlags(
    mailbox
      .command('update')
      .description('Change the settings or credentials of a mailbox, checked like `add` before they are stored; prints its id')
      .requiredOption('--workspace <name>', 'workspace the mailbox belongs to')
      .argument('<mailbox-id>', 'its id or GraphQL ID, as `mailbox list` shows them'),
    true,
  ).action(async (id: string, options: MailboxFlags) => {
    checkCommonFlags(options);
    const mailboxId = parseMailboxId(id);
    if (options.path !== undefined && imapOnlyFlags(options).length > 0) throw badInput(`--path does not go with ${imapOnlyFlags(options).join(', ')}`);
    const storePath = options.path === undefined ? undefined : await checkLocalPath(options.path, options.verify);
    await withContext((ctx) => updateMailbox(ctx, mailboxId, options, storePath));
  });

  mailbox
    .command('remove')
    .description('Remove a mailbox and its local index files under DATA_DIR; prints its id')
    .requiredOption('--workspace <name>', 'workspace the mailbox belongs to')
    .argument('<mailbox-id>', 'its id or GraphQL ID, as `mailbox list` shows them')
    .action(async (id: string, options: { workspace: string }) => {
      const mailboxId = parseMailboxId(id);
      await withContext(async ({ store, config }) => {
        const workspace = await requireWorkspace(store, options.workspace);
        const removed = await store.removeMailbox(workspace.id, mailboxId).catch((error: unknown) => {
          throw notInWorkspace(error, mailboxId, options.workspace);
        });
        const files = await removeLocalIndex(config.dataDir, removed.id);
        process.stderr.write(`Removed mailbox ${removed.id} (${removed.provider} ${locationOf(removed) || '-'})${files.length > 0 ? ` and ${files.length} index file(s)` : ''}\n`);
        process.stdout.write(`${removed.id}\n`);
      });
    });

  mailbox
    .command('test')
    .description('Check a stored mailbox as `add` does (IMAP: connect, TLS, log in, list folders; local: holds a message; Gmail: token and profile); exit 3 when it fails')
    .requiredOption('--workspace <name>', 'workspace the mailbox belongs to')
    .argument('<mailbox-id>', 'its id or GraphQL ID, as `mailbox list` shows them')
    .option('--timeout <seconds>', `deadline of the check (default ${DEFAULT_CHECK_TIMEOUT_MS / 1000})`, secondsParser(0.1, 300))
    .action(async (id: string, options: { workspace: string; timeout?: number }) => {
      const mailboxId = parseMailboxId(id);
      await withContext(async (ctx) => {
        const { store } = ctx;
        const workspace = await requireWorkspace(store, options.workspace);
        const stored = await store.getMailbox(workspace.id, mailboxId);
        if (!stored) throw notInWorkspace(null, mailboxId, options.workspace);
        if (stored.provider === 'IMAP') {
          const settings = storedImapSettings(stored);
          const result = await checkImapMailbox(settings, timeoutOf(options));
          process.stdout.write(`OK ${stored.id}: ${describeCheck(settings, result)}\n`);
        } else if (stored.provider === 'GMAIL' && gmailAuthMode(stored.credentials) === 'service-account') {
          await testDelegatedGmail(ctx, stored, googleSettingsForDelegation(), options.timeout);
        } else if (stored.provider === 'GMAIL') {
          await testGmail(ctx, stored, googleSettingsForCli(), options.timeout);
        } else if (stored.provider === 'MICROSOFT_GRAPH') {
          await testGraph(ctx, stored, options.timeout);
        } else if (stored.provider === 'LOCAL') {
          const storePath = typeof stored.settings.path === 'string' ? stored.settings.path : '';
          const kind = await assertHoldsMessages(storePath).catch((error: unknown) => {
            throw new GatewayError('PROVIDER_UNAVAILABLE', `Local check failed: ${isGatewayError(error) ? error.message.replace(/^--path /, '') : String(error)}`, { cause: error });
          });
          process.stdout.write(`OK ${stored.id}: ${storePath} is a ${kind === 'emldir' ? 'folder of .eml files' : kind} holding messages\n`);
        } else {
          throw new GatewayError('PROVIDER_UNAVAILABLE', `Provider ${stored.provider} has no check in this gateway build`);
        }
      });
    });

  registerConnectCommand(mailbox);
}

/** Adds the flags `add` and `update` share; `update` takes no `--provider` and keeps what is not given. */
function withMailboxFlags(command: Command, forUpdate = false): Command {
  const keep = forUpdate ? ' (kept when not given)' : '';
  return command
    .option('--host <host>', `IMAP server host name${keep}`)
    .option('--port <port>', `IMAP server port (default 993 with TLS, 143 without)${keep}`, portParser(1))
    .option('--user <user>', `IMAP login name${keep}`)
    .option('--tls', 'IMAP over TLS from the first byte (the default)')
    .option('--starttls', 'plain IMAP that must upgrade with STARTTLS before logging in (port 143 style)')
    .option('--no-tls', 'plain IMAP, upgraded with STARTTLS when offered; to a non-loopback host only with --allow-plaintext')
    .option('--allow-plaintext', 'with --no-tls: accept sending the password unencrypted to a non-loopback host without STARTTLS')
    .option('--refresh-token-stdin', `Gmail, Microsoft Graph: read the mailbox's OAuth refresh token from standard input (else GOOGLE_REFRESH_TOKEN or MS_REFRESH_TOKEN is used${forUpdate ? '; with neither the token is kept' : ''})`)
    .option('--app-only', `Microsoft Graph: read the mailbox with the app's own token (client credentials, Mail.Read application permission) instead of a user's refresh token`)
    .addOption(new Option('--refresh-token <token>').hideHelp())
    .option('--service-account-key-file <file>', `Gmail (Google Workspace): read the mailbox --address by domain-wide delegation with this service account JSON key${forUpdate ? ' (replaces a refresh token)' : ' (no refresh token or OAuth client needed)'}`)
    .option('--password-stdin', `read the IMAP password from standard input (else IMAP_PASSWORD is used${forUpdate ? '; with neither the password is kept' : ''})`)
    .addOption(new Option('--password <password>').hideHelp())
    .option('--path <path>', `local mail store: an mbox file, a Maildir or a directory of .eml files${keep}`)
    .option('--address <address>', `the mailbox owner's email address (tells sent from received mail)${keep}`)
    .option('--display-name <name>', `a name to show for the mailbox${keep}`)
    .option('--no-verify', 'store without checking the server or the local store')
    .option('--timeout <seconds>', `deadline of the IMAP, Gmail or Microsoft Graph check (default ${DEFAULT_CHECK_TIMEOUT_MS / 1000})`, secondsParser(0.1, 300));
}

/** Refusals that do not depend on the provider. @throws GatewayError BAD_USER_INPUT */
function checkCommonFlags(options: MailboxFlags): void {
  if (options.password !== undefined) {
    throw badInput('--password is refused (it would show in the process list and shell history); set IMAP_PASSWORD or use --password-stdin');
  }
  if (options.refreshToken !== undefined) {
    throw badInput('--refresh-token is refused (it would show in the process list and shell history); set GOOGLE_REFRESH_TOKEN (Gmail) or MS_REFRESH_TOKEN (Microsoft Graph), or use --refresh-token-stdin');
  }
  if (options.address !== undefined && !isEmailAddress(options.address)) throw badInput(`--address ${JSON.stringify(options.address)} is not an email address`);
  if (options.tls === true && options.starttls) throw badInput('--tls and --starttls exclude each other (--starttls is plain IMAP upgraded to TLS)');
  if (options.allowPlaintext && (options.tls === true || options.starttls)) throw badInput('--allow-plaintext applies to --no-tls only');
  if (options.host !== undefined && !options.host.trim()) throw badInput('--host is empty');
}

/** The flags given that only an IMAP mailbox takes, as typed on the command line. */
function imapOnlyFlags(options: MailboxFlags): string[] {
  const flags: string[] = [];
  if (options.host !== undefined) flags.push('--host');
  if (options.port !== undefined) flags.push('--port');
  if (options.user !== undefined) flags.push('--user');
  if (options.tls !== undefined) flags.push(options.tls ? '--tls' : '--no-tls');
  if (options.starttls !== undefined) flags.push('--starttls');
  if (options.allowPlaintext !== undefined) flags.push('--allow-plaintext');
  if (options.passwordStdin !== undefined) flags.push('--password-stdin');
  if (options.timeout !== undefined) flags.push('--timeout');
  return flags;
}

/**
 * The IMAP host (trimmed) and user; refuses a plain-text login to a non-loopback host here,
 * before the store is opened and without connecting.
 * @throws GatewayError BAD_USER_INPUT for `--path`, a missing `--host` or `--user`, or a refused plain-text login
 */
function checkImapOptions(options: AddOptions): { host: string; user: string; mode: TransportMode; port: number } {
  if (options.path !== undefined) throw badInput('--path does not apply to --provider imap');
  if (options.refreshTokenStdin !== undefined) throw badInput('--refresh-token-stdin does not apply to --provider imap');
  const host = options.host?.trim();
  if (!host) throw badInput('--provider imap needs --host');
  if (!options.user) throw badInput('--provider imap needs --user');
  if (options.allowPlaintext && options.tls !== false) throw badInput('--allow-plaintext applies to --no-tls only');
  const mode = transportMode(options, null);
  const port = options.port ?? (mode.tls ? 993 : 143);
  assertTransportAllowed({ host, port, user: options.user, password: '', ...mode });
  return { host, user: options.user, mode, port };
}

/**
 * Refuses the flags a Gmail mailbox does not take and a missing `--address`, then reads the
 * Google settings (an unset OAuth client is refused here, before anything is read or opened).
 * @throws GatewayError BAD_USER_INPUT
 */
function checkGmailOptions(options: AddOptions, delegated = false): ReturnType<typeof googleSettingsForCli> {
  const notGmail = [...imapOnlyFlags(options).filter((f) => f !== '--timeout'), ...(options.path === undefined ? [] : ['--path'])];
  if (notGmail.length > 0) throw badInput(`${notGmail.join(', ')} ${notGmail.length === 1 ? 'does' : 'do'} not apply to --provider gmail`);
  if (delegated && options.refreshTokenStdin !== undefined) throw badInput('--refresh-token-stdin and --service-account-key-file exclude each other (a mailbox reads with one or the other)');
  const google = delegated ? googleSettingsForDelegation() : googleSettingsForCli();
  if (!options.address) throw badInput(delegated ? '--service-account-key-file needs --address (the Workspace mailbox the service account reads)' : '--provider gmail needs --address (the Google account the refresh token belongs to)');
  return google;
}

/**
 * Refuses the flags a Microsoft Graph mailbox does not take, a missing `--address` and a token on
 * standard input with `--app-only`, then reads the Microsoft settings (an unset app registration,
 * or `--app-only` with a multi-tenant MS_TENANT_ID, is refused here, before anything is opened).
 * @throws GatewayError BAD_USER_INPUT
 */
function checkGraphOptions(options: AddOptions): ReturnType<typeof microsoftSettingsForCli> {
  const notGraph = [...imapOnlyFlags(options).filter((f) => f !== '--timeout'), ...(options.path === undefined ? [] : ['--path'])];
  if (notGraph.length > 0) throw badInput(`${notGraph.join(', ')} ${notGraph.length === 1 ? 'does' : 'do'} not apply to --provider microsoft-graph`);
  if (options.appOnly && options.refreshTokenStdin) throw badInput('--app-only does not take a refresh token (drop --refresh-token-stdin)');
  const microsoft = microsoftSettingsForCli(options.appOnly ? 'application' : 'delegated');
  if (!options.address) throw badInput('--provider microsoft-graph needs --address (the mailbox; with a refresh token, the account it belongs to)');
  return microsoft;
}

/**
 * The transport mode the flags ask for, starting from `previous` (a stored mailbox) or implicit TLS.
 * `--allow-plaintext` survives only while the connection stays plain.
 */
function transportMode(options: MailboxFlags, previous: TransportMode | null): TransportMode {
  let mode: TransportMode;
  if (options.starttls) mode = { tls: false, starttls: true };
  else if (options.tls === true) mode = { tls: true };
  else if (options.tls === false) mode = { tls: false };
  else mode = previous ? { tls: previous.tls, ...(previous.starttls ? { starttls: true } : {}) } : { tls: true };
  const plain = !mode.tls && !mode.starttls;
  const keepAllow = previous?.allowPlaintext === true && !previous.tls && !previous.starttls;
  if (plain && (options.allowPlaintext || keepAllow)) mode.allowPlaintext = true;
  return mode;
}

/**
 * The absolute path of the local store to add.
 * @throws GatewayError BAD_USER_INPUT for an IMAP-only flag, or a `--path` missing, naming nothing usable or holding no message
 */
async function checkLocalOptions(options: AddOptions): Promise<string> {
  const imapOnly = imapOnlyFlags(options);
  if (imapOnly.length > 0) throw badInput(`${imapOnly.join(', ')} ${imapOnly.length === 1 ? 'does' : 'do'} not apply to --provider local`);
  if (options.refreshTokenStdin !== undefined) throw badInput('--refresh-token-stdin does not apply to --provider local');
  if (!options.path) throw badInput('--provider local needs --path (an mbox file, a Maildir or a directory of .eml files)');
  return checkLocalPath(options.path, options.verify);
}

/** `--path` resolved; it must exist and, unless `verify` is false, hold a message. @throws GatewayError BAD_USER_INPUT */
async function checkLocalPath(given: string, verify: boolean): Promise<string> {
  const storePath = path.resolve(given);
  const stat = await fs.stat(storePath).catch(() => null);
  if (!stat || !(stat.isFile() || stat.isDirectory())) throw badInput(`--path ${storePath} does not exist or is not a file or directory`);
  if (verify) await assertHoldsMessages(storePath);
  return storePath;
}

function timeoutOf(options: { timeout?: number }): { timeoutMs: number } {
  return { timeoutMs: options.timeout ?? DEFAULT_CHECK_TIMEOUT_MS };
}

/** One line about a successful check: where, as whom, how protected, what was seen, how long. */
function describeCheck(settings: ImapCheckSettings, result: { folders: number; security: string; elapsedMs: number }): string {
  return `${settings.host}:${settings.port}: logged in as ${JSON.stringify(settings.user)} over ${result.security}, ${result.folders} folder(s) listed in ${(result.elapsedMs / 1000).toFixed(1)} s`;
}

/**
 * Runs the check of `add` / `update` and reports it on stderr.
 * @throws GatewayError from the check, its message ending with what was (not) stored
 */
async function checkBeforeStoring(settings: ImapCheckSettings, options: MailboxFlags): Promise<void> {
  try {
    const result = await checkImapMailbox(settings, timeoutOf(options));
    process.stderr.write(`Checked ${describeCheck(settings, result)}\n`);
  } catch (error) {
    if (error instanceof ImapCheckError) {
      throw new GatewayError(error.code, `${error.message}; nothing was stored${error.reason === 'plaintext' ? '' : ' (--no-verify stores it unchecked)'}`, { cause: error });
    }
    throw error;
  }
}

/** Stores an IMAP mailbox after its check; its flags were checked by {@link checkImapOptions}. */
async function addImap({ store }: CliContext, options: AddOptions, { host, user, mode, port }: ReturnType<typeof checkImapOptions>): Promise<void> {
  const workspace = await requireWorkspace(store, options.workspace);
  const password = await resolveImapPassword(options.passwordStdin === true);
  const settings = { host, port, user, ...mode };
  if (options.verify) await checkBeforeStoring({ ...settings, password }, options);
  const added = await store.addMailbox({
    workspaceId: workspace.id,
    provider: 'IMAP',
    address: options.address ?? (isEmailAddress(user) ? user : null),
    displayName: options.displayName ?? null,
    settings,
    credentials: { password },
  });
  process.stdout.write(`${added.id}\n`);
}

/** Stores and indexes a local mail store at `storePath` (checked by {@link checkLocalOptions}). */
async function addLocal(ctx: CliContext, options: AddOptions, storePath: string): Promise<void> {
  const workspace = await requireWorkspace(ctx.store, options.workspace);
  const added = await ctx.store.addMailbox({
    workspaceId: workspace.id,
    provider: 'LOCAL',
    address: options.address ?? null,
    displayName: options.displayName ?? null,
    settings: { path: storePath },
    credentials: null,
  });
  await indexLocal(ctx, { ...added, settings: { path: storePath }, credentials: null }, storePath);
  process.stdout.write(`${added.id}\n`);
}

/** Indexes a local mailbox now, with progress on stderr; the row stays when indexing fails (the provider retries on first use). */
async function indexLocal({ config, logger }: CliContext, mailbox: MailboxConfig, storePath: string): Promise<void> {
  // The registry pulls in every provider; loading it only here keeps the other commands working
  // even when a provider module is broken or missing.
  const { createProvider } = await import('../../providers/registry.ts');
  const provider = createProvider(mailbox, { dataDir: config.dataDir, logger: logger.child({ mailbox: mailbox.id }) });
  try {
    if (provider.prepare) {
      const reporter = createProgressReporter(`Indexing ${path.basename(storePath)}`);
      try {
        await provider.prepare((progress) => reporter.update(progress));
      } catch (error) {
        reporter.finish();
        process.stderr.write(`attachment-gateway: mailbox ${mailbox.id} is stored but indexing ${storePath} failed\n`);
        throw error;
      }
      reporter.finish();
    }
  } finally {
    await provider.close();
  }
}

/** The IMAP settings and password of a stored mailbox. @throws GatewayError BAD_USER_INPUT when they are incomplete */
function storedImapSettings(stored: MailboxConfig): ImapCheckSettings {
  const s = stored.settings;
  const password = stored.credentials?.password;
  if (typeof s.host !== 'string' || typeof s.port !== 'number' || typeof s.user !== 'string' || typeof password !== 'string') {
    throw badInput(`Mailbox ${stored.id} has incomplete IMAP settings; fix them with: attachment-gateway mailbox update`);
  }
  return { host: s.host, port: s.port, user: s.user, password, tls: s.tls === true, starttls: s.starttls === true, allowPlaintext: s.allowPlaintext === true };
}

/** `mailbox update`: merges the flags into the stored mailbox, checks the result, then writes it. */
async function updateMailbox(ctx: CliContext, mailboxId: string, options: MailboxFlags, storePath: string | undefined): Promise<void> {
  const { store, config } = ctx;
  const workspace = await requireWorkspace(store, options.workspace);
  const stored = await store.getMailbox(workspace.id, mailboxId);
  if (!stored) throw notInWorkspace(null, mailboxId, options.workspace);
  const changes: Parameters<typeof store.updateMailbox>[2] = {};
  if (options.address !== undefined) changes.address = options.address;
  if (options.displayName !== undefined) changes.displayName = options.displayName;

  if (options.appOnly && stored.provider !== 'MICROSOFT_GRAPH') throw badInput(`--app-only does not apply to a ${stored.provider} mailbox`);
  if (options.serviceAccountKeyFile !== undefined && stored.provider !== 'GMAIL') throw badInput(`--service-account-key-file does not apply to a ${stored.provider} mailbox`);
  if (stored.provider === 'MICROSOFT_GRAPH') {
    const notGraph = [...imapOnlyFlags(options).filter((f) => f !== '--timeout'), ...(options.path === undefined ? [] : ['--path'])];
    if (notGraph.length > 0) throw badInput(`${notGraph.join(', ')} ${notGraph.length === 1 ? 'does' : 'do'} not apply to a MICROSOFT_GRAPH mailbox`);
    if (options.appOnly && options.refreshTokenStdin) throw badInput('--app-only does not take a refresh token (drop --refresh-token-stdin)');
    const newToken = options.appOnly ? null : await resolveGraphRefreshToken(options.refreshTokenStdin === true, false);
    const mode = options.appOnly ? 'application' : newToken !== null ? 'delegated' : storedGraphMode(stored);
    await updateGraph(ctx, stored, options, microsoftSettingsForCli(mode), newToken);
    return;
  }
  if (stored.provider === 'LOCAL') {
    const imapOnly = imapOnlyFlags(options);
    if (imapOnly.length > 0) throw badInput(`${imapOnly.join(', ')} ${imapOnly.length === 1 ? 'does' : 'do'} not apply to a LOCAL mailbox`);
    if (storePath !== undefined) changes.settings = { ...stored.settings, path: storePath };
    if (Object.keys(changes).length === 0) throw badInput('Nothing to update: give --path, --address or --display-name');
    const updated = await store.updateMailbox(workspace.id, mailboxId, changes);
    if (storePath !== undefined) {
      // The old index describes the old store: drop it and index the new one now.
      await removeLocalIndex(config.dataDir, mailboxId);
      await indexLocal(ctx, { ...stored, settings: { ...stored.settings, path: storePath } }, storePath);
    }
    process.stdout.write(`${updated.id}\n`);
    return;
  }
  if (stored.provider === 'GMAIL') {
    const notGmail = [...imapOnlyFlags(options).filter((f) => f !== '--timeout'), ...(options.path === undefined ? [] : ['--path'])];
    if (notGmail.length > 0) throw badInput(`${notGmail.join(', ')} ${notGmail.length === 1 ? 'does' : 'do'} not apply to a GMAIL mailbox`);
    if (options.serviceAccountKeyFile !== undefined || gmailAuthMode(stored.credentials) === 'service-account') {
      if (options.refreshTokenStdin !== undefined) {
        throw badInput('--refresh-token-stdin does not apply to a mailbox read by domain-wide delegation (give --service-account-key-file, or remove the mailbox and add it with a refresh token)');
      }
      const google = googleSettingsForDelegation();
      const newKey = options.serviceAccountKeyFile === undefined ? null : await readServiceAccountKeyFile(options.serviceAccountKeyFile);
      await updateDelegatedGmail(ctx, stored, options, google, newKey);
      return;
    }
    const google = googleSettingsForCli();
    const newToken = await resolveRefreshToken(options.refreshTokenStdin === true, false);
    await updateGmail(ctx, stored, options, google, newToken);
    return;
  }
  if (options.refreshTokenStdin !== undefined) throw badInput(`--refresh-token-stdin does not apply to a ${stored.provider} mailbox`);
  if (stored.provider !== 'IMAP') throw badInput(`Mailboxes of provider ${stored.provider} cannot be updated by this gateway build`);
  if (options.path !== undefined) throw badInput('--path does not apply to an IMAP mailbox');

  const old = storedImapSettings(stored);
  const connectionFlags = imapOnlyFlags(options).filter((f) => f !== '--timeout' && f !== '--password-stdin');
  const newPassword = options.passwordStdin || process.env.IMAP_PASSWORD ? await resolveImapPassword(options.passwordStdin === true) : null;
  if (connectionFlags.length === 0 && newPassword === null && Object.keys(changes).length === 0) {
    throw badInput('Nothing to update: give --host, --port, --user, --tls/--starttls/--no-tls, --allow-plaintext, a new password (IMAP_PASSWORD or --password-stdin), --address or --display-name');
  }
  const mode = transportMode(options, old);
  if (options.allowPlaintext && (mode.tls || mode.starttls)) throw badInput('--allow-plaintext applies to --no-tls only (this mailbox uses TLS)');
  const modeChanged = mode.tls !== old.tls || (mode.starttls === true) !== (old.starttls === true);
  // A port that was the old mode's default follows the new mode's default.
  const oldDefault = old.tls ? 993 : 143;
  const port = options.port ?? (modeChanged && old.port === oldDefault ? (mode.tls ? 993 : 143) : old.port);
  const settings = { host: options.host?.trim() ?? old.host, port, user: options.user ?? old.user, ...mode };
  const password = newPassword ?? old.password;
  assertTransportAllowed({ ...settings, password });
  if (options.verify) await checkBeforeStoring({ ...settings, password }, options);
  changes.settings = { ...stored.settings, ...settings };
  // Flags of the old mode that the new one dropped must not linger in the stored settings.
  if (!mode.starttls) delete changes.settings.starttls;
  if (!mode.allowPlaintext) delete changes.settings.allowPlaintext;
  if (newPassword !== null) changes.credentials = { ...(stored.credentials ?? {}), password: newPassword };
  const updated = await store.updateMailbox(workspace.id, mailboxId, changes);
  process.stdout.write(`${updated.id}\n`);
}

/**
 * The store id of a mailbox given as its id (UUID) or its GraphQL ID.
 * @throws GatewayError BAD_USER_INPUT for anything else
 */
export function parseMailboxId(given: string): string {
  const value = given.trim();
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) return value.toLowerCase();
  try {
    const { typename, id } = decodeGlobalId(value);
    if (typename === 'Mailbox') return (parseKeyParts('Mailbox', id)[0] ?? '').toLowerCase();
  } catch {
    // fall through to the one message below
  }
  throw badInput(`${JSON.stringify(given)} is not a mailbox id (the ID or GRAPHQL ID column of \`mailbox list\`)`);
}

/** NOT_FOUND naming the mailbox and workspace, for a mailbox that is absent or belongs elsewhere; other errors pass. */
function notInWorkspace(error: unknown, mailboxId: string, workspace: string): unknown {
  if (error !== null && !(isGatewayError(error) && error.code === 'NOT_FOUND')) return error;
  return new GatewayError('NOT_FOUND', `Mailbox ${mailboxId} not found in workspace ${JSON.stringify(workspace)} (see: attachment-gateway mailbox list --workspace ${workspace})`);
}

/** The mailbox's GraphQL ID: the global ID the API uses for it (`Mailbox.id`, `node(id:)`). */
export function mailboxGraphqlId(mailboxId: string): string {
  return encodeNodeId('Mailbox', [mailboxId]);
}

/** Where the mailbox's mail is: `host:port` for IMAP, the path for a local store, `` when unknown. */
function locationOf(mailbox: MailboxSummary): string {
  const s = mailbox.settings;
  if (typeof s.host === 'string') return typeof s.port === 'number' ? `${s.host}:${s.port}` : s.host;
  if (typeof s.path === 'string') return s.path;
  if (mailbox.provider === 'MICROSOFT_GRAPH' && typeof s.mode === 'string') return s.mode;
  return '';
}

/** A mailbox as `mailbox list --json` prints it: the summary plus its GraphQL ID and location. */
function listedMailbox(mailbox: MailboxSummary): Record<string, unknown> {
  return { ...mailbox, graphqlId: mailboxGraphqlId(mailbox.id), location: locationOf(mailbox) || null };
}

/**
 * A plain-text table of the mailboxes, one a line, with a header. STATUS is `ok`, or
 * `needs-reconsent` when a provider found the grant revoked (the reason is in `--json`). The
 * location comes last (a path may contain spaces).
 */
export function formatMailboxTable(mailboxes: readonly MailboxSummary[]): string {
  return formatTable([
    ['ID', 'PROVIDER', 'GRAPHQL ID', 'ADDRESS', 'STATUS', 'LOCATION'],
    ...mailboxes.map((m) => [m.id, m.provider, mailboxGraphqlId(m.id), m.address ?? '', m.needsReconsentAt ? 'needs-reconsent' : 'ok', locationOf(m)]),
  ]);
}
