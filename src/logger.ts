/**
 * The process logger: pino writing JSON lines to stderr, so stdout stays free for command output
 * (the CLI prints API keys and ids there for scripts to capture).
 */
import pino from 'pino';
import type { Config } from './config.ts';
import type { Logger } from './domain/logger.ts';

/** A pino logger at `level`, writing synchronously to stderr (fd 2) so nothing is lost on exit. */
export function createLogger(level: Config['logLevel'] = 'info'): Logger & pino.Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
}
