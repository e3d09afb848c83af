/**
 * A silent Logger for tests: nothing printed; `errors` collects what was logged at error level so
 * a test can assert that a failure was (or was not) logged.
 */
import type { Logger } from '../../src/domain/logger.ts';

/** A new silent logger; its children are itself, so `errors` also collects theirs. */
export function silentLogger(): Logger & { errors: unknown[] } {
  const errors: unknown[] = [];
  const logger = {
    errors,
    trace() {},
    debug() {},
    info() {},
    warn() {},
    error(obj: object | string) {
      errors.push(obj);
    },
    child() {
      return logger;
    },
  };
  return logger;
}
