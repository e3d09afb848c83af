/** `workspace create NAME`: prints the new workspace's id. */
import type { Command } from 'commander';
import { withContext } from '../context.ts';

/** Adds the `workspace` command group to `program`. */
export function registerWorkspaceCommands(program: Command): void {
  const workspace = program.command('workspace').description('Manage workspaces (tenants)');
  workspace
    .command('create')
    .description('Create a workspace; prints its id')
    .argument('<name>', '1-64 characters of A-Z a-z 0-9 . _ -')
    .action(async (name: string) => {
      await withContext(async ({ store }) => {
        const created = await store.createWorkspace(name);
        process.stdout.write(`${created.id}\n`);
      });
    });
}
