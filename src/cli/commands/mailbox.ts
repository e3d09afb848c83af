/**
 * `mailbox add` (IMAP or a local mail store) and `mailbox list`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { isEmailAddress } from '../../email-address.ts';
import { badInput } from '../../errors.ts';
import type { MailboxConfig } from '../../providers/types.ts';
import type { MailboxSummary } from '../../store/types.ts';
import { requireWorkspace, withContext, type CliContext } from '../context.ts';
import { portParser } from '../options.ts';
import { resolveImapPassword } from '../password.ts';
import { createProgressReporter } from '../progress.ts';

/** Options of `mailbox add` as commander parses them. */
interface AddOptions {
  workspace: string;
  provider: 'imap' | 'local';
  host?: string;
  port?: number;
  user?: string;
  tls?: boolean;
  address?: string;
  displayName?: string;
  path?: string;
  passwordStdin?: boolean;
  password?: string;
}

/** Adds the `mailbox` command group to `program`. */
export function registerMailboxCommands(program: Command): void {
  const mailbox = program.command('mailbox').description('Manage mailboxes');

  mailbox
    .command('add')
    .description('Add a mailbox to a workspace; prints its id')
    .requiredOption('--workspace <name>', 'workspace the mailbox belongs to')
    .addOption(new Option('--provider <kind>', 'mail provider').choices(['imap', 'local']).makeOptionMandatory())
    .option('--host <host>', 'IMAP server host name')
    .option('--port <port>', 'IMAP server port (default 993 with TLS, 143 without)', portParser(1))
    .option('--user <user>', 'IMAP login name')
    .option('--tls', 'IMAP over TLS from the first byte (the default)')
    .option('--no-tls', 'plain IMAP, upgraded with STARTTLS when the server offers it')
    .option('--password-stdin', 'read the IMAP password from standard input (else IMAP_PASSWORD is used)')
    .addOption(new Option('--password <password>').hideHelp())
    .option('--path <path>', 'local mail store: an mbox file, a Maildir or a directory of .eml files')
    .option('--address <address>', "the mailbox owner's email address (tells sent from received mail)")
    .option('--display-name <name>', 'a name to show for the mailbox')
    .action(async (options: AddOptions) => {
      if (options.password !== undefined) {
        throw badInput('--password is refused (it would show in the process list and shell history); set IMAP_PASSWORD or use --password-stdin');
      }
      // Flag mistakes are refused before the store is opened, so a refused command leaves nothing behind.
      if (options.address !== undefined && !isEmailAddress(options.address)) throw badInput(`--address ${JSON.stringify(options.address)} is not an email address`);
      if (options.provider === 'imap') {
        const server = checkImapOptions(options);
        await withContext((ctx) => addImap(ctx, options, server));
      } else {
        const storePath = await checkLocalOptions(options);
        await withContext((ctx) => addLocal(ctx, options, storePath));
      }
    });

  mailbox
    .command('list')
    .description('List mailboxes: id, provider, address')
    .option('--workspace <name>', 'only the mailboxes of this workspace')
    .option('--json', 'print a JSON array of objects')
    .action(async (options: { workspace?: string; json?: boolean }) => {
      await withContext(async ({ store }) => {
        const workspaceId = options.workspace === undefined ? undefined : (await requireWorkspace(store, options.workspace)).id;
        const mailboxes = await store.listMailboxes(workspaceId);
        process.stdout.write(options.json ? `${JSON.stringify(mailboxes, null, 2)}\n` : formatTable(mailboxes));
      });
    });
}

/** The flags given that only an IMAP mailbox takes, as typed on the command line. */
function imapOnlyFlags(options: AddOptions): string[] {
  const flags: string[] = [];
  if (options.host !== undefined) flags.push('--host');
  if (options.port !== undefined) flags.push('--port');
  if (options.user !== undefined) flags.push('--user');
  if (options.tls !== undefined) flags.push(options.tls ? '--tls' : '--no-tls');
  if (options.passwordStdin !== undefined) flags.push('--password-stdin');
  return flags;
}

/**
 * The IMAP host (trimmed) and user.
 * @throws GatewayError BAD_USER_INPUT for `--path`, or a missing `--host` or `--user`
 */
function checkImapOptions(options: AddOptions): { host: string; user: string } {
  if (options.path !== undefined) throw badInput('--path does not apply to --provider imap');
  const host = options.host?.trim();
  if (!host) throw badInput('--provider imap needs --host');
  if (!options.user) throw badInput('--provider imap needs --user');
  return { host, user: options.user };
}

/**
 * The absolute path of the local store to add.
 * @throws GatewayError BAD_USER_INPUT for an IMAP-only flag, or a `--path` missing or naming nothing usable
 */
async function checkLocalOptions(options: AddOptions): Promise<string> {
  const imapOnly = imapOnlyFlags(options);
  if (imapOnly.length > 0) throw badInput(`${imapOnly.join(', ')} ${imapOnly.length === 1 ? 'does' : 'do'} not apply to --provider local`);
  if (!options.path) throw badInput('--provider local needs --path (an mbox file, a Maildir or a directory of .eml files)');
  const storePath = path.resolve(options.path);
  const stat = await fs.stat(storePath).catch(() => null);
  if (!stat || !(stat.isFile() || stat.isDirectory())) throw badInput(`--path ${storePath} does not exist or is not a file or directory`);
  return storePath;
}

/** Stores an IMAP mailbox; its flags were checked by {@link checkImapOptions}. */
async function addImap({ store }: CliContext, options: AddOptions, { host, user }: { host: string; user: string }): Promise<void> {
  const workspace = await requireWorkspace(store, options.workspace);
  const password = await resolveImapPassword(options.passwordStdin === true);
  const tls = options.tls !== false;
  const port = options.port ?? (tls ? 993 : 143);
  const added = await store.addMailbox({
    workspaceId: workspace.id,
    provider: 'IMAP',
    address: options.address ?? (isEmailAddress(user) ? user : null),
    displayName: options.displayName ?? null,
    settings: { host, port, user, tls },
    credentials: { password },
  });
  process.stdout.write(`${added.id}\n`);
}

/** Stores and indexes a local mail store at `storePath` (checked by {@link checkLocalOptions}). */
async function addLocal({ store, config, logger }: CliContext, options: AddOptions, storePath: string): Promise<void> {
  const workspace = await requireWorkspace(store, options.workspace);

  // The registry pulls in every provider; loading it only here keeps the other commands working
  // even when a provider module is broken or missing.
  const { createProvider } = await import('../../providers/registry.ts');
  const added = await store.addMailbox({
    workspaceId: workspace.id,
    provider: 'LOCAL',
    address: options.address ?? null,
    displayName: options.displayName ?? null,
    settings: { path: storePath },
    credentials: null,
  });
  const mailbox: MailboxConfig = { ...added, settings: { path: storePath }, credentials: null };
  const provider = createProvider(mailbox, { dataDir: config.dataDir, logger: logger.child({ mailbox: added.id }) });
  try {
    if (provider.prepare) {
      const reporter = createProgressReporter(`Indexing ${path.basename(storePath)}`);
      try {
        await provider.prepare((progress) => reporter.update(progress));
      } catch (error) {
        reporter.finish();
        // The row stays: the provider indexes again on first use, and the id is needed to inspect it.
        process.stderr.write(`attachment-gateway: mailbox ${added.id} was added but indexing ${storePath} failed\n`);
        throw error;
      }
      reporter.finish();
    }
  } finally {
    await provider.close();
  }
  process.stdout.write(`${added.id}\n`);
}

/** A plain-text table of id, provider and address, one mailbox a line, with a header. */
export function formatTable(mailboxes: readonly MailboxSummary[]): string {
  const rows = [['ID', 'PROVIDER', 'ADDRESS'], ...mailboxes.map((m) => [m.id, m.provider, m.address ?? '-'])];
  const widths = [0, 1].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => `${(r[0] ?? '').padEnd(widths[0] ?? 0)}  ${(r[1] ?? '').padEnd(widths[1] ?? 0)}  ${r[2] ?? ''}`.trimEnd()).join('\n') + '\n';
}
