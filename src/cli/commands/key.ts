/**
 * `key create --workspace NAME` (prints the new API key alone on stdout, for scripts to capture),
 * `key list --workspace NAME` (never a key: its id, display prefix and times) and
 * `key revoke --workspace NAME KEY_ID` (the key fails from then on).
 */
import type { Command } from 'commander';
import { GatewayError, badInput } from '../../errors.ts';
import { requireWorkspace, withContext } from '../context.ts';
import { formatTable, formatTime } from '../table.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Adds the `key` command group to `program`. */
export function registerKeyCommands(program: Command): void {
  const key = program.command('key').description('Manage API keys');
  key
    .command('create')
    .description('Create an API key for a workspace; prints the key (shown once, only its hash is stored)')
    .requiredOption('--workspace <name>', 'workspace the key belongs to')
    .action(async (options: { workspace: string }) => {
      await withContext(async ({ store }) => {
        const workspace = await requireWorkspace(store, options.workspace);
        const created = await store.createApiKey(workspace.id);
        process.stdout.write(`${created.key}\n`);
      });
    });

  key
    .command('list')
    .description('List the API keys of a workspace: id, prefix, created, last used, revoked (never the key)')
    .requiredOption('--workspace <name>', 'workspace whose keys to list')
    .option('--json', 'print a JSON array of objects')
    .action(async (options: { workspace: string; json?: boolean }) => {
      await withContext(async ({ store }) => {
        const workspace = await requireWorkspace(store, options.workspace);
        const keys = await store.listApiKeys(workspace.id);
        process.stdout.write(
          options.json
            ? `${JSON.stringify(keys, null, 2)}\n`
            : formatTable([
                ['ID', 'PREFIX', 'CREATED', 'LAST USED', 'REVOKED'],
                ...keys.map((k) => [k.id, k.prefix, formatTime(k.createdAt), formatTime(k.lastUsedAt), formatTime(k.revokedAt)]),
              ]),
        );
      });
    });

  key
    .command('revoke')
    .description('Revoke an API key: requests and download URLs made with it are refused from now on; prints its id')
    .requiredOption('--workspace <name>', 'workspace the key belongs to')
    .argument('<key-id>', "the key's id, as `key list` shows it")
    .action(async (keyId: string, options: { workspace: string }) => {
      if (!UUID.test(keyId)) throw badInput(`${JSON.stringify(keyId)} is not a key id (a UUID as \`key list\` shows it; the key itself is never needed)`);
      await withContext(async ({ store }) => {
        const workspace = await requireWorkspace(store, options.workspace);
        const before = (await store.listApiKeys(workspace.id)).find((k) => k.id === keyId.toLowerCase());
        if (!before) throw new GatewayError('NOT_FOUND', `Key ${keyId} not found in workspace ${JSON.stringify(options.workspace)} (see: attachment-gateway key list --workspace ${options.workspace})`);
        const revoked = await store.revokeApiKey(workspace.id, keyId.toLowerCase());
        if (before?.revokedAt) process.stderr.write(`Key ${revoked.id} (${revoked.prefix}) was already revoked at ${formatTime(revoked.revokedAt)}\n`);
        process.stdout.write(`${revoked.id}\n`);
      });
    });
}
