/** Parsers of CLI option values; commander turns their errors into a usage error (exit 2). */
import { InvalidArgumentError } from 'commander';

/**
 * A TCP port parser accepting integers from `min` to 65535 (`min` 0 lets the OS pick, for serve).
 * @throws InvalidArgumentError for anything else
 */
export function portParser(min: 0 | 1): (value: string) => number {
  return (value) => {
    if (!/^\d{1,5}$/.test(value) || Number(value) < min || Number(value) > 65535) {
      throw new InvalidArgumentError(`must be an integer from ${min} to 65535`);
    }
    return Number(value);
  };
}

/**
 * A parser of a duration in seconds (decimals allowed) from `min` to `max`, returning milliseconds.
 * @throws InvalidArgumentError for anything else
 */
export function secondsParser(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+(\.\d+)?$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`must be a number of seconds from ${min} to ${max}`);
    }
    return Math.round(Number(value) * 1000);
  };
}
