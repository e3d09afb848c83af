/**
 * Exit codes and error printing of the CLI. Scripts rely on them: 0 success, 1 unexpected
 * failure, 2 a mistake the operator can fix (bad flag, unknown workspace, missing password).
 */
import { isGatewayError } from '../errors.ts';

/** Exit code of a successful command. */
export const EXIT_OK = 0;
/** Exit code of an unexpected failure (a bug, the database unreachable, ...). */
export const EXIT_FAILURE = 1;
/** Exit code of a user error: bad arguments, configuration or names. */
export const EXIT_USAGE = 2;

/** The exit code for a thrown value: 2 for BAD_USER_INPUT / NOT_FOUND GatewayErrors, else 1. */
export function exitCodeOf(error: unknown): number {
  return isGatewayError(error) && (error.code === 'BAD_USER_INPUT' || error.code === 'NOT_FOUND') ? EXIT_USAGE : EXIT_FAILURE;
}

/** Writes the error as `attachment-gateway: error: <message>` on stderr (a config error keeps its list of lines). */
export function printError(error: unknown, stderr: NodeJS.WritableStream = process.stderr): void {
  if (isGatewayError(error)) {
    stderr.write(`attachment-gateway: error: ${error.message}\n`);
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  stderr.write(`attachment-gateway: unexpected error: ${message}\n`);
  if (process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace') {
    if (error instanceof Error && error.stack) stderr.write(`${error.stack}\n`);
  }
}
