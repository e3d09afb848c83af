/**
 * The MIME limits (`src/mime/limits.ts`) at their edges, for both readers of a MIME structure:
 * the local store's parser (`parseMessage`) and the IMAP BODYSTRUCTURE mapper. One part or one
 * level within a limit reads in full; one past it is cut and reported (`truncated`, with the
 * count of what was read). Also: a BODYSTRUCTURE of 10,000 parts and one nested 1,000 levels
 * deep map in bounded time with the default limits.
 */
import { describe, expect, it } from 'vitest';
import { attachmentListing } from '../../src/mime/attachments.ts';
import type { MimeLimits } from '../../src/mime/limits.ts';
import { MIME_LIMITS } from '../../src/mime/limits.ts';
import { parseMessage } from '../../src/mime/parse.ts';
import { mapBodyStructure, SERVER_PART_LIMIT } from '../../src/providers/imap/bodystructure.ts';
import type { RawValue } from '../../src/providers/imap/raw.ts';
import { deepMessage, manyPartsMessage } from '../support/mail.ts';

/** Small limits, so that the edges are cheap to reach. */
const SMALL: MimeLimits = { maxParts: 6, maxDepth: 3, maxAttachments: 4, maxParsedBytes: 1 << 20 };

const tok = (value: string): RawValue => ({ type: 'STRING', value });

/** A BODYSTRUCTURE leaf: a one-byte application/octet-stream part named `name`. */
const leaf = (name: string): RawValue[] => [tok('application'), tok('octet-stream'), [tok('name'), tok(name)], null, null, tok('7bit'), tok('1')];

/** A BODYSTRUCTURE multipart/mixed of `children`. */
const multipart = (children: RawValue[][]): RawValue[] => [...children, tok('mixed'), [tok('boundary'), tok('b')]];

/** A text/plain body part, as BODYSTRUCTURE describes it. */
const textBody: RawValue[] = [tok('text'), tok('plain'), null, null, null, tok('7bit'), tok('4'), tok('1')];

/** A BODYSTRUCTURE like {@link manyPartsMessage}: a text body and `n` attachments p0..p(n-1). */
const manyParts = (n: number): RawValue[] => multipart([textBody, ...Array.from({ length: n }, (_, i) => leaf(`p${i}.bin`))]);

/** A BODYSTRUCTURE like {@link deepMessage}: at each of `depth` levels an attachment and the next level. */
function deep(depth: number): RawValue[] {
  let node = multipart([leaf(`level${depth - 1}.bin`), leaf('bottom.bin')]);
  for (let level = depth - 2; level >= 0; level--) node = multipart([leaf(`level${level}.bin`), node]);
  return node;
}

/** What a reader gives for a structure: listed names, count, truncated. */
function listing(root: Parameters<typeof attachmentListing>[0] | null, limits: MimeLimits) {
  if (!root) throw new Error('no structure');
  const result = attachmentListing(root, limits);
  return { names: result.parts.map((p) => p.parameters.name), count: result.count, truncated: result.truncated };
}

const readers = [
  {
    label: 'local parser',
    many: (n: number, limits: MimeLimits) => parseMessage(Buffer.from(manyPartsMessage(n, 'many')), limits).root,
    deep: (depth: number, limits: MimeLimits) => parseMessage(Buffer.from(deepMessage(depth, 'deep')), limits).root,
  },
  {
    label: 'IMAP BODYSTRUCTURE',
    many: (n: number, limits: MimeLimits) => mapBodyStructure(manyParts(n), limits),
    deep: (depth: number, limits: MimeLimits) => mapBodyStructure(deep(depth), limits),
  },
];

describe.each(readers)('$label', (reader) => {
  it('reads maxParts parts in full, and cuts the next one', () => {
    const limits = { ...SMALL, maxAttachments: 100 };
    // A text body and 5 attachments: 6 parts below the root, the limit.
    expect(listing(reader.many(5, limits), limits)).toMatchObject({ count: 5, truncated: false });
    // One more: the last attachment is not read; the count covers what was read.
    const cut = listing(reader.many(6, limits), limits);
    expect(cut).toEqual({ names: ['p0.bin', 'p1.bin', 'p2.bin', 'p3.bin', 'p4.bin'], count: 5, truncated: true });
  });

  it('lists maxAttachments and counts the others', () => {
    const limits = { ...SMALL, maxParts: 100 };
    expect(listing(reader.many(4, limits), limits)).toEqual({ names: ['p0.bin', 'p1.bin', 'p2.bin', 'p3.bin'], count: 4, truncated: false });
    expect(listing(reader.many(5, limits), limits)).toEqual({ names: ['p0.bin', 'p1.bin', 'p2.bin', 'p3.bin'], count: 5, truncated: true });
  });

  it('reads nesting down to maxDepth in full, and cuts one level more', () => {
    const limits = { ...SMALL, maxParts: 100, maxAttachments: 100 };
    // Multiparts at depth 0, 1 and 2: their children are at depth 3, the limit.
    expect(listing(reader.deep(3, limits), limits)).toEqual({ names: ['level0.bin', 'level1.bin', 'level2.bin', 'bottom.bin'], count: 4, truncated: false });
    // A multipart at depth 3 is kept without its children.
    expect(listing(reader.deep(4, limits), limits)).toEqual({ names: ['level0.bin', 'level1.bin', 'level2.bin'], count: 3, truncated: true });
  });

  it('cuts 1,000 levels at the default depth, in bounded time', () => {
    const started = performance.now();
    const result = listing(reader.deep(1_000, MIME_LIMITS), MIME_LIMITS);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(result.count).toBe(MIME_LIMITS.maxDepth);
    expect(result.truncated).toBe(true);
  });
});

describe('local parser: bytes parsed per message', () => {
  const message = [
    'Content-Type: multipart/mixed; boundary="b"',
    '',
    '--b',
    'Content-Type: text/plain',
    '',
    'body',
    '--b',
    'Content-Type: application/octet-stream; name="small.bin"',
    '',
    'xyz',
    '--b',
    'Content-Type: application/octet-stream; name="big.bin"',
    '',
    'A'.repeat(10_000),
    '--b--',
    '',
  ].join('\r\n');
  const raw = Buffer.from(message);
  const limits = (maxParsedBytes: number): MimeLimits => ({ ...MIME_LIMITS, maxParsedBytes });

  it('reads a message of exactly maxParsedBytes in full', () => {
    expect(listing(parseMessage(raw, limits(raw.length)).root, limits(raw.length))).toEqual({ names: ['small.bin', 'big.bin'], count: 2, truncated: false });
  });

  it('counts but does not list a part that runs past the cut (a 600 MiB message used to fail the whole store)', () => {
    const cut = limits(raw.length - 5_000);
    expect(listing(parseMessage(raw, cut).root, cut)).toEqual({ names: ['small.bin'], count: 2, truncated: true });
  });

  it('a single-part attachment message cut in its body is counted, not listed', () => {
    const single = Buffer.from(`Content-Type: application/pdf; name="a.pdf"\r\n\r\n${'%'.repeat(1_000)}`);
    const cut = limits(500);
    expect(listing(parseMessage(single, cut).root, cut)).toEqual({ names: [], count: 1, truncated: true });
  });
});

describe('IMAP BODYSTRUCTURE with the default limits', () => {
  it('maps 10,000 parts in time linear in the parts; reaching the server part limit is reported', () => {
    // Linear, not a wall-clock bound (the machine may be loaded): the best of three runs at 10,000
    // parts costs at most 8x the best at 2,500 (linear is 4x, quadratic 16x), plus 50 ms of slack.
    const quarter = manyParts(SERVER_PART_LIMIT / 4);
    const whole = manyParts(SERVER_PART_LIMIT - 3);
    const best = (structure: ReturnType<typeof manyParts>) => {
      let min = Infinity;
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        listing(mapBodyStructure(structure), MIME_LIMITS);
        min = Math.min(min, performance.now() - started);
      }
      return min;
    };
    best(quarter);
    expect(best(whole)).toBeLessThan(8 * best(quarter) + 50);
    const below = listing(mapBodyStructure(whole), MIME_LIMITS);
    const at = listing(mapBodyStructure(manyParts(SERVER_PART_LIMIT - 2)), MIME_LIMITS);
    // Root, text body and 9,997 attachments: 9,999 nodes, under the limit a server may have cut at.
    expect(below).toMatchObject({ count: SERVER_PART_LIMIT - 3, truncated: false });
    // 10,000 nodes: Dovecot stops there, so the rest of the message may be hidden in the last part.
    expect(at).toMatchObject({ count: SERVER_PART_LIMIT - 2, truncated: true });
  });

  it('a BODYSTRUCTURE that is NIL is not a structure (the provider reports it truncated)', () => {
    expect(mapBodyStructure(null)).toBeNull();
  });
});
