/**
 * IMAP log lines through the real pino logger: imapflow's records carry their own `msg`, and a
 * JSON line with two `msg` keys loses one of them in every JSON parser. Each line must hold one
 * `msg` (ours) and keep imapflow's text under `imapMsg`.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { imapflowLogger } from '../src/providers/imap/pool.ts';

function capture(): { lines: string[]; logger: pino.Logger } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });
  return { lines, logger: pino({ level: 'trace' }, sink) };
}

describe('imapflow records in our JSON logs', () => {
  it('writes one msg per line and keeps imapflow text under imapMsg', () => {
    const { lines, logger } = capture();
    const log = imapflowLogger(logger);
    log.warn({ msg: 'Connection timed out', cid: 'abc', err: new Error('boom') });
    log.error({ msg: 'Failed to connect', cid: 'abc' });
    log.debug({ msg: 'S: * OK ready', cid: 'abc' });
    log.warn('a bare string');
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(line.match(/"msg":/g), line).toHaveLength(1);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.map((p) => [p.msg, p.imapMsg])).toEqual([
      ['imap', 'Connection timed out'],
      ['imap', 'Failed to connect'],
      ['imap', 'S: * OK ready'],
      ['imap', 'a bare string'],
    ]);
    expect(parsed[0]!.cid).toBe('abc');
  });
});
