/** `workspace create NAME` (prints the new id) and `workspace list`. */
import type { Command } from 'commander';
import { withContext } from '../context.ts';
import { formatTable, formatTime } from '../table.ts';

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

  workspace
    .command('list')
    .description('List workspaces: id, name, creation time, number of mailboxes')
    .option('--json', 'print a JSON array of objects')
    .action(async (options: { json?: boolean }) => {
      await withContext(async ({ store }) => {
        const workspaces = await store.listWorkspaces();
        const counts = new Map<string, number>();
        for (const m of await store.listMailboxes()) counts.set(m.workspaceId, (counts.get(m.workspaceId) ?? 0) + 1);
        const rows = workspaces.map((w) => ({ id: w.id, name: w.name, createdAt: w.createdAt.toISOString(), mailboxes: counts.get(w.id) ?? 0 }));
        process.stdout.write(
          options.json
            ? `${JSON.stringify(rows, null, 2)}\n`
            : formatTable([['ID', 'NAME', 'CREATED', 'MAILBOXES'], ...workspaces.map((w) => [w.id, w.name, formatTime(w.createdAt), String(counts.get(w.id) ?? 0)])]),
        );
      });
    });
}
