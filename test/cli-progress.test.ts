import { describe, expect, it } from 'vitest';
import { createProgressReporter, formatProgress } from '../src/cli/progress.ts';

function sink() {
  const chunks: string[] = [];
  return { chunks, stream: { write: (s: string) => (chunks.push(s), true) } as unknown as NodeJS.WritableStream };
}

describe('progress on stderr', () => {
  it('formats a percentage when the total is known, a count otherwise', () => {
    expect(formatProgress({ done: 512374 / 2, total: 512374, unit: 'bytes' })).toBe('50% (0.2 MiB of 0.5 MiB)');
    expect(formatProgress({ done: 3 * 1048576, total: 3 * 1048576, unit: 'bytes' })).toBe('100% (3.0 MiB of 3.0 MiB)');
    expect(formatProgress({ done: 7, total: null, unit: 'messages' })).toBe('7 messages');
    expect(formatProgress({ done: 9, total: 4, unit: 'messages' })).toBe('100% (9 messages of 4 messages)');
  });

  it('writes a line at most every 2 s to a pipe, and the final state', () => {
    const { chunks, stream } = sink();
    let t = 0;
    const reporter = createProgressReporter('Indexing x', stream, { isTTY: false, now: () => t });
    for (t = 0; t <= 5000; t += 100) reporter.update({ done: t, total: 10_000, unit: 'bytes' });
    reporter.update({ done: 10_000, total: 10_000, unit: 'bytes' });
    reporter.finish();
    expect(chunks.every((c) => c.endsWith('\n') && !c.includes('\r'))).toBe(true);
    // t = 0, 2000, 4000, then the final 100 %.
    expect(chunks.map((c) => c.split(': ')[1]?.split(' ')[0])).toEqual(['0%', '20%', '40%', '100%']);
  });

  it('does not repeat a line for the same state reported twice', () => {
    const { chunks, stream } = sink();
    let t = 0;
    const reporter = createProgressReporter('Indexing x', stream, { isTTY: false, now: () => t });
    reporter.update({ done: 10, total: 10, unit: 'bytes' });
    t = 50;
    reporter.update({ done: 10, total: 10, unit: 'bytes' });
    reporter.finish();
    expect(chunks).toEqual(['Indexing x: 100% (0.0 MiB of 0.0 MiB)\n']);
  });

  it('redraws one line in place on a terminal and ends it with a newline', () => {
    const { chunks, stream } = sink();
    let t = 0;
    const reporter = createProgressReporter('Indexing x', stream, { isTTY: true, now: () => t });
    for (t = 0; t < 1000; t += 10) reporter.update({ done: t, total: 1000, unit: 'messages' });
    reporter.finish();
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks.length).toBeLessThan(20);
    expect(chunks.slice(0, -1).every((c) => c.startsWith('\r'))).toBe(true);
    expect(chunks.at(-1)).toBe('\n');
    expect(chunks.at(-2)).toContain('99%');
  });
});
