/** `key create --workspace NAME`: prints the new API key alone on stdout, for scripts to capture. */
import type { Command } from 'commander';
import { requireWorkspace, withContext } from '../context.ts';

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
}
