/**
 * The command tree of the operator CLI: `serve`, `workspace create | list`, `key create | list |
 * revoke`, `mailbox add | list | update | remove | test | connect`. Output meant for scripts (ids, keys,
 * tables, JSON) goes to stdout; logs, progress, check results and errors go to stderr. Exit codes:
 * see `src/cli/errors.ts`.
 */
import { Command, CommanderError } from 'commander';
import { registerKeyCommands } from './commands/key.ts';
import { registerMailboxCommands } from './commands/mailbox.ts';
import { registerServeCommand } from './commands/serve.ts';
import { registerWorkspaceCommands } from './commands/workspace.ts';
import { EXIT_OK, EXIT_USAGE, exitCodeOf, printError } from './errors.ts';

/** Builds the command tree. Commander errors throw (exitOverride) so {@link run} picks the exit code. */
export function buildProgram(): Command {
  const program = new Command('attachment-gateway')
    .description('GraphQL gateway over the attachments of many mailboxes. Reads its configuration from the environment (DATA_DIR, DATABASE_URL, SIGNING_SECRET, ...).')
    .exitOverride()
    .showSuggestionAfterError()
    .configureHelp({ showGlobalOptions: true });
  registerServeCommand(program);
  registerWorkspaceCommands(program);
  registerKeyCommands(program);
  registerMailboxCommands(program);
  // exitOverride and output settings are copied to subcommands only when they are created, so
  // set them again on every command of the tree.
  const all = (cmd: Command): Command[] => [cmd, ...cmd.commands.flatMap(all)];
  for (const cmd of all(program)) cmd.exitOverride();
  return program;
}

/**
 * Runs the CLI with `argv` (as `process.argv`) and returns the exit code: 0 success, 2 usage or
 * user error (commander's own errors included), 3 a failed mailbox check, 1 unexpected failure.
 */
export async function run(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed its message; help and version end with exitCode 0.
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    printError(error);
    return exitCodeOf(error);
  }
}
