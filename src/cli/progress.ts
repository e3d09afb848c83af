/**
 * Progress of long operator work (indexing a local mail store) on stderr. On a terminal one line
 * is redrawn in place; in a log file or pipe a line is written at most every ~2 seconds, so CI
 * logs stay short.
 */
import type { Progress } from '../domain/logger.ts';

/** Minimum time between two lines when stderr is not a terminal (milliseconds). */
export const PIPE_INTERVAL_MS = 2000;
/** Minimum time between two redraws on a terminal (milliseconds). */
const TTY_INTERVAL_MS = 100;

/** Receives progress updates; {@link finish} ends the display. */
export interface ProgressReporter {
  update(progress: Progress): void;
  finish(): void;
}

/** Renders one progress value: `42% (12.0 MiB of 28.6 MiB)`, or `1234 messages` when the total is unknown. */
export function formatProgress({ done, total, unit }: Progress): string {
  const amount = (n: number) => (unit === 'bytes' ? `${(n / 1048576).toFixed(1)} MiB` : `${n} messages`);
  if (total === null || total <= 0) return amount(done);
  const percent = Math.min(100, Math.floor((done / total) * 100));
  return `${percent}% (${amount(done)} of ${amount(total)})`;
}

/**
 * A reporter writing `label: <progress>` to `stream`.
 * @param options.isTTY whether to redraw in place (default: the stream's own `isTTY`)
 * @param options.now clock in milliseconds (tests)
 */
export function createProgressReporter(
  label: string,
  stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
  options: { isTTY?: boolean; now?: () => number } = {},
): ProgressReporter {
  const tty = options.isTTY ?? stream.isTTY === true;
  const now = options.now ?? Date.now;
  const interval = tty ? TTY_INTERVAL_MS : PIPE_INTERVAL_MS;
  let last: Progress | null = null;
  let lastWritten = -Infinity;
  let dirty = false;
  let lastText = '';

  const write = (progress: Progress) => {
    const text = `${label}: ${formatProgress(progress)}`;
    dirty = false;
    // Providers may report the same state twice (e.g. 100 % from the reader and from the indexer).
    if (text === lastText) return;
    stream.write(tty ? `\r\x1b[2K${text}` : `${text}\n`);
    lastText = text;
    lastWritten = now();
  };

  return {
    update(progress) {
      last = progress;
      dirty = true;
      if (now() - lastWritten >= interval) write(progress);
    },
    finish() {
      if (last && (dirty || tty)) {
        if (dirty) write(last);
        if (tty) stream.write('\n');
      }
    },
  };
}
