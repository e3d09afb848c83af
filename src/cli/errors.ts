/**
 * Exit codes and error printing of the CLI. Scripts rely on them: 0 success, 1 unexpected
 * failure, 2 a mistake the operator can fix (bad flag, unknown workspace, missing password),
 * 3 the mail server or store failed its check (DNS, refused, TLS, credentials, timeout).
 */
import { isGatewayError } from '../errors.ts';

/** Exit code of a successful command. */
export const EXIT_OK = 0;
/** Exit code of an unexpected failure (a bug, the database unreachable, ...). */
export const EXIT_FAILURE = 1;
/** Exit code of a user error: bad arguments, configuration or names. */
export const EXIT_USAGE = 2;

/** Exit code of a mailbox check that failed: the IMAP server or the local store is not usable as given. */
export const EXIT_CHECK_FAILED = 3;

/** Exit code of a command stopped by Ctrl-C (128 + SIGINT, as shells report it). */
export const EXIT_INTERRUPTED = 130;

/** A command stopped by Ctrl-C after cleaning up; its message says what was undone. */
export class InterruptedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InterruptedError';
  }
}

/** The exit code for a thrown value: 2 for BAD_USER_INPUT / NOT_FOUND GatewayErrors, 3 for PROVIDER_* ones, 130 for {@link InterruptedError}, else 1. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof InterruptedError) return EXIT_INTERRUPTED;
  if (!isGatewayError(error)) return EXIT_FAILURE;
  if (error.code === 'BAD_USER_INPUT' || error.code === 'NOT_FOUND') return EXIT_USAGE;
  if (error.code.startsWith('PROVIDER_')) return EXIT_CHECK_FAILED;
  return EXIT_FAILURE;
}

/** Writes the error as `attachment-gateway: error: <message>` on stderr (a config error keeps its list of lines). */
export function printError(error: unknown, stderr: NodeJS.WritableStream = process.stderr): void {
  if (isGatewayError(error)) {
    stderr.write(`attachment-gateway: error: ${error.message}\n`);
    return;
  }
  if (error instanceof InterruptedError) {
    stderr.write(`attachment-gateway: ${error.message}\n`);
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  stderr.write(`attachment-gateway: unexpected error: ${message}\n`);
  if (process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace') {
    if (error instanceof Error && error.stack) stderr.write(`${error.stack}\n`);
  }
}
