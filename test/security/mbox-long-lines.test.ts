/**
 * The mbox splitter (`src/providers/local/mbox.ts`) on lines a sender controls: a single-line body
 * of 128 MiB is read in linear time (it was copied and rescanned with every 1 MiB chunk: 64 MiB
 * took 2 s, 128 MiB about 8 s), and envelope lines that straddle the reader's chunk boundaries
 * still split the messages exactly.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readMbox } from '../../src/providers/local/mbox.ts';

const MIB = 1 << 20;
const ENVELOPE = 'From sender@example.org Mon Jun  1 10:00:00 2026\n';

describe('mbox splitting on long lines', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-mbox-lines-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Reads `file` with the splitter: each message's offset and bytes as text. */
  async function split(file: string): Promise<{ offset: number; text: string }[]> {
    const out: { offset: number; text: string }[] = [];
    for await (const m of readMbox(file)) out.push({ offset: m.offset, text: m.data.toString('latin1') });
    return out;
  }

  it('reads a message with a 128 MiB single-line body in seconds', async () => {
    const file = path.join(dir, 'long.mbox');
    const body = Buffer.alloc(128 * MIB, 0x41);
    fs.writeFileSync(file, Buffer.concat([Buffer.from(`${ENVELOPE}Subject: long\n\n`), body, Buffer.from(`\n\n${ENVELOPE}Subject: next\n\nbody\n`)]));
    const started = performance.now();
    let count = 0;
    let longest = 0;
    for await (const m of readMbox(file)) {
      count++;
      longest = Math.max(longest, m.length);
    }
    const ms = performance.now() - started;
    console.info(`mbox: a 128 MiB line read in ${ms.toFixed(0)} ms`);
    expect(count).toBe(2);
    expect(longest).toBe('Subject: long\n\n'.length + body.length + 1);
    expect(ms).toBeLessThan(5_000);
  });

  it.each([-6, -5, -4, -1, 0, 1, 3])('splits exactly when an envelope line starts %i bytes from a chunk boundary after a long line', async (shift) => {
    const file = path.join(dir, `boundary${shift}.mbox`);
    const head = `${ENVELOPE}Subject: one\n\n`;
    // The first message's body line ends so that the next envelope line starts at MIB + shift.
    const filler = 'x'.repeat(MIB + shift - head.length - 2);
    const first = `Subject: one\n\n${filler}\n`;
    const second = 'Subject: two\n\nbody\n>From quoted (mboxrd quoting is not undone here)\n';
    fs.writeFileSync(file, `${head}${filler}\n\n${ENVELOPE}${second}`);
    const messages = await split(file);
    expect(messages.map((m) => m.text)).toEqual([first, second]);
    expect(messages[1]!.offset).toBe(MIB + shift + ENVELOPE.length);
  });
});
