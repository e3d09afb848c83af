/**
 * Hostile header values against every parser that reads mail input. Each probe hands over about
 * 1 MiB of the worst case for the parser's old regular expressions (runs of spaces, quotes,
 * backslashes, `=?`, `<`, `(`, semicolons, RFC 2231 continuations, 100,000 msg-ids or encoded
 * words) and asserts what a user would see (the parsed value) and that it took under
 * {@link BOUND_MS}: linear code takes milliseconds here, the old regexes took seconds to hours
 * (`From: a:` + 131,072 spaces blocked the process 8 s).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachmentDisposition, safeFilename } from '../../src/http/filename.ts';
import { normalizeTransferEncoding } from '../../src/mime/decode.ts';
import { decodeHeaderText, parseStructuredHeader } from '../../src/mime/filename.ts';
import { MAX_HEADER_VALUE_LENGTH, MAX_REFERENCES, parseAddressList, parseDate, readHeaderFacts } from '../../src/mime/headers.ts';
import { parseMessage, parseMimeHeader, splitMultipart } from '../../src/mime/parse.ts';
import { decodeParameterList } from '../../src/providers/imap/bodystructure.ts';
import { parseEnvelope, referencesOf } from '../../src/providers/imap/envelope.ts';
import type { RawValue } from '../../src/providers/imap/raw.ts';
import { indexMessageBytes } from '../../src/providers/local/indexer.ts';
import { msgIds } from '../../src/mime/text.ts';
import { baseSubject, threadMessages } from '../../src/threading/index.ts';
import { mboxOf } from '../support/mail.ts';
import { startE2eGateway, type E2eGateway } from '../support/gateway-e2e.ts';

/**
 * A generous ceiling: every probe takes under 1 s here (most a few ms), so a loaded 2-core machine
 * stays far below it, while the old quadratic code took minutes on these inputs.
 */
const BOUND_MS = 5000;
const MIB = 1 << 20;

/** `unit` repeated to about 1 MiB. */
const mib = (unit: string): string => unit.repeat(Math.ceil(MIB / unit.length));

const timings: string[] = [];

/** Runs `fn`, asserts it took under {@link BOUND_MS}, returns its result. */
function bounded<T>(label: string, fn: () => T): T {
  const started = performance.now();
  const result = fn();
  const ms = performance.now() - started;
  timings.push(`${label}: ${ms.toFixed(0)} ms`);
  expect(ms, label).toBeLessThan(BOUND_MS);
  return result;
}

afterAll(() => {
  console.info(`hostile header probes (1 MiB each):\n  ${timings.join('\n  ')}`);
});

/** A token of imapflow's parsed response. */
const tok = (value: string): RawValue => ({ type: 'STRING', value });

describe('address lists (From, To, Cc): nodemailer addressparser, names decoded after it', () => {
  it('From: "a:" followed by 1 MiB of spaces and a word is a group of one name, read at once', () => {
    // The old group regex backtracked over the spaces from every position: 32 KiB took 0.8 s.
    expect(bounded('From a: + spaces + x', () => parseAddressList(`a:${' '.repeat(MIB)}x`))).toEqual([{ name: 'x', address: null }]);
    expect(bounded('From a: + spaces', () => parseAddressList(`a:${' '.repeat(MIB)}`))).toEqual([]);
  });

  it.each([
    ['quotes', mib('"')],
    ['backslashes', mib('\\')],
    ['angle brackets', mib('<')],
    ['parentheses', mib('(')],
    ['colons', mib(':')],
    ['quote-letter pairs', mib('"a')],
  ])('1 MiB of %s', (label, value) => {
    const list = bounded(`address list of ${label}`, () => parseAddressList(value));
    expect(Array.isArray(list)).toBe(true);
  });

  it('a list of 200,000 addresses keeps them all, in order', () => {
    const list = bounded('200k addresses', () => parseAddressList(mib('a@b.example, ')));
    expect(list.length).toBeGreaterThan(70_000);
    expect(list[0]).toEqual({ name: null, address: 'a@b.example' });
  });

  it('an encoded display name is decoded after the split: its comma does not split the address', () => {
    expect(parseAddressList('=?utf-8?Q?M=C3=BCller=2C_J=C3=B6rg?= <jm@example.org>, b@example.org')).toEqual([
      { name: 'Müller, Jörg', address: 'jm@example.org' },
      { name: null, address: 'b@example.org' },
    ]);
  });
});

describe('unstructured text (Subject, display names): RFC 2047 and raw bytes', () => {
  it('1 MiB of "=?" comes back as written', () => {
    const value = mib('=?');
    expect(bounded('=? run', () => decodeHeaderText(value))).toBe(value);
  });

  it('an unterminated Q word followed by 1 MiB of raw 8-bit bytes', () => {
    const decoded = bounded('=?x?Q? + raw bytes', () => decodeHeaderText(`=?iso-8859-1?Q?${'\xe9'.repeat(MIB)}`));
    expect(decoded.length).toBeGreaterThan(MIB);
  });

  it('100,000 encoded words decode to 100,000 characters', () => {
    expect(bounded('100k encoded words', () => decodeHeaderText(Array(100_000).fill('=?utf-8?B?w6k=?=').join(' ')))).toBe('é'.repeat(100_000));
  });

  it('a Subject of 100,000 encoded words is read up to the header value limit', () => {
    const facts = bounded('Subject of 100k words', () => readHeaderFacts([{ name: 'subject', value: '=?utf-8?B?w6k=?= '.repeat(100_000) }]));
    // 65,536 characters hold 3,855 whole words of 17; the cut one stays as written.
    expect(facts.subject?.startsWith('é'.repeat(3_855))).toBe(true);
    expect(facts.subject!.length).toBeLessThan(MAX_HEADER_VALUE_LENGTH);
  });
});

describe('Content-Type / Content-Disposition parameters (RFC 2045, RFC 2183, RFC 2231)', () => {
  it.each([
    ['semicolons', mib(';')],
    ['quotes', mib('"')],
    ['backslashes', mib('\\')],
    ['unterminated extended values', mib(';a*="')],
    ['percent signs', `utf-8''${mib('%')}`],
  ])('a parameter value of 1 MiB of %s', (label, value) => {
    const header = bounded(`parameter of ${label}`, () => parseStructuredHeader(`attachment; filename=${value}`));
    expect(header.value).toBe('attachment');
  });

  it('RFC 2231 continuations name*0* .. name*99999 join into one 100,000-character name', () => {
    const sections = Array.from({ length: 100_000 }, (_, i) => `name*${i}*=%41`);
    const header = bounded('100k RFC 2231 sections', () => parseStructuredHeader(`application/octet-stream; ${sections.join('; ')}`));
    expect(header.params.name).toBe('A'.repeat(100_000));
  });

  it('a part header whose Content-ID and Content-Transfer-Encoding are 1 MiB of spaces and quotes', () => {
    const raw = `Content-Type: text/plain\r\nContent-ID: <${' '.repeat(MIB)}x\r\nContent-Transfer-Encoding: ${mib("'")}x\r\n\r\n`;
    const fields = bounded('Content-ID and CTE', () => parseMimeHeader(Buffer.from(raw, 'latin1')));
    expect(fields.contentId).toBe('x');
    expect(bounded('CTE quotes', () => normalizeTransferEncoding(`${mib('"')}base64`))).toBe('base64');
  });

  it('a multipart body of one 1 MiB line full of delimiters has no part', () => {
    const body = mib('--b');
    expect(bounded('delimiter soup', () => splitMultipart(body, 0, body.length, 'b'))).toEqual([]);
  });
});

describe('msg-ids (Message-ID, In-Reply-To, References) and threading', () => {
  const ids = Array.from({ length: 100_000 }, (_, i) => `<id${i}@example.org>`);

  it('100,000 msg-ids are read in one pass, keeping the first and the last ones', () => {
    const kept = bounded('100k msg-ids', () => msgIds(ids.join(' '), MAX_REFERENCES));
    expect(kept).toHaveLength(MAX_REFERENCES);
    expect(kept[0]).toBe(ids[0]);
    expect(kept.at(-1)).toBe(ids.at(-1));
  });

  it('a References field of 100,000 ids is read up to the header value limit', () => {
    const facts = bounded('References of 100k ids', () => readHeaderFacts([{ name: 'references', value: ids.join(' ') }]));
    // The ids that end within the first MAX_HEADER_VALUE_LENGTH characters count; of them the first and the last 199 are kept.
    let within = 0;
    for (let end = -1; end + 1 + ids[within]!.length <= MAX_HEADER_VALUE_LENGTH; within++) end += 1 + ids[within]!.length;
    expect(facts.references).toHaveLength(MAX_REFERENCES);
    expect(facts.references[0]).toBe(ids[0]);
    expect(facts.references.at(-1)).toBe(ids[within - 1]);
  });

  it('Message-ID soup: 1 MiB of "<", of "<a" and of "(" in In-Reply-To and Date', () => {
    for (const soup of [mib('<'), mib('<a'), mib('<a@b> ')]) {
      const facts = bounded('msg-id soup', () => readHeaderFacts([{ name: 'in-reply-to', value: soup }, { name: 'message-id', value: soup }]));
      expect(facts.inReplyTo === null || facts.inReplyTo === '<a@b>').toBe(true);
    }
    expect(bounded('Date of 1 MiB "("', () => parseDate(mib('(')))).toBeNull();
  });

  it('threads 5,000 messages that all share ids, with the capped References', () => {
    const references = readHeaderFacts([{ name: 'references', value: ids.join(' ') }]).references;
    const messages = Array.from({ length: 5_000 }, (_, i) => ({ key: `m${i}`, messageId: '<same@example.org>', inReplyTo: '<same@example.org>', references, subject: 'Re: x', date: i }));
    const threads = bounded('threading 5,000 messages', () => threadMessages(messages, { mergeSubjects: true }));
    expect(threads).toHaveLength(1);
  });

  it.each([
    ['[x] blobs', mib('[x]')],
    ['(fwd) trailers', `x${mib('(fwd)')}`],
    ['Re: prefixes', `${mib('Re: ')}hello`],
    ['[fwd: wrappers', mib('[fwd: ')],
  ])('base subject of 1 MiB of %s', (label, subject) => {
    expect(typeof bounded(`base subject of ${label}`, () => baseSubject(subject))).toBe('string');
  });
});

describe('IMAP answers (ENVELOPE, References block, BODYSTRUCTURE parameters)', () => {
  it('an ENVELOPE whose date, subject and names are 1 MiB of hostile text', () => {
    const evil = `=?x?Q?${'\xe9'.repeat(MIB / 2)}${mib('(')}`;
    const env: RawValue[] = [tok(evil), tok(evil), [[tok(evil), null, tok('a'), tok('example.org')]], null, null, [], [], null, tok(mib('<a')), tok(evil)];
    const fields = bounded('ENVELOPE', () => parseEnvelope(env));
    expect(fields.date).toBeNull();
    expect(fields.from?.address).toBe('a@example.org');
  });

  it('a References block of 100,000 ids', () => {
    const block = `References: ${Array.from({ length: 100_000 }, (_, i) => `<r${i}@x>`).join('\r\n ')}\r\n\r\n`;
    expect(bounded('References block', () => referencesOf(block))).toHaveLength(MAX_REFERENCES);
  });

  it('a BODYSTRUCTURE parameter list with 1 MiB values', () => {
    const params = bounded('BODYSTRUCTURE parameters', () => decodeParameterList([tok('name*'), tok(mib("%'")), tok('filename'), tok(mib('\\"'))]));
    expect(typeof params.filename).toBe('string');
  });
});

describe('whole messages and download names', () => {
  it('the local indexer reads a message whose every header is hostile', () => {
    const raw = [
      `From: a:${' '.repeat(MIB / 4)}`,
      `To: ${mib('"').slice(0, MIB / 4)}`,
      `Subject: =?x?Q?${'\xe9'.repeat(MIB / 4)}`,
      `References: ${mib('<a').slice(0, MIB / 4)}`,
      'Content-Type: multipart/mixed; boundary="b"',
      '',
      '--b',
      `Content-Type: application/octet-stream; name*0*=${mib(';').slice(0, MIB / 8)}`,
      `Content-Disposition: attachment; filename="${mib('\\').slice(0, MIB / 8)}`,
      `Content-ID: <${' '.repeat(MIB / 8)}`,
      '',
      'x',
      '--b--',
      '',
    ].join('\r\n');
    const indexed = bounded('hostile message', () => indexMessageBytes(Buffer.from(raw, 'latin1'), false));
    expect(indexed.from).toBeNull();
    expect(indexed.attachments).toHaveLength(1);
    expect(bounded('hostile message parse', () => parseMessage(Buffer.from(raw, 'latin1'))).root.childNodes).toHaveLength(1);
  });

  it('a 1 MiB filename of dots and spaces becomes a short safe name', () => {
    const name = `${mib('. ')}x${mib(' .')}`;
    expect(bounded('filename of dots', () => safeFilename(name))).toBe('x');
    expect(bounded('Content-Disposition', () => attachmentDisposition(name))).toBe('attachment; filename="x"');
  });
});

describe('end to end: hostile mails in a local mailbox, over HTTP', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-hostile-headers-'));
  let gateway: E2eGateway;

  /** A mail with one attachment and the given extra header lines. */
  const mail = (subject: string, headers: string[]): string =>
    [...headers, `Subject: ${subject}`, 'Content-Type: multipart/mixed; boundary="b"', '', '--b', 'Content-Type: application/pdf; name="a.pdf"', '', 'x', '--b--', ''].join('\r\n');

  beforeAll(async () => {
    const mbox = path.join(dir, 'hostile.mbox');
    fs.writeFileSync(
      mbox,
      mboxOf([
        // The probe: 131,072 spaces after "a:" blocked the process 8 s.
        mail('issue probe', [`From: a:${' '.repeat(131_072)}x`]),
        mail('one MiB of spaces', [`From: a:${' '.repeat(MIB)}x`, `To: ${mib('"')}`]),
        mail('raw bytes in a word', [`Cc: =?iso-8859-1?Q?${'\xe9'.repeat(MIB)} <c@example.org>`, `References: ${mib('<a')}`]),
      ]),
      'latin1',
    );
    gateway = await startE2eGateway();
    await gateway.addMailbox({ provider: 'LOCAL', address: 'owner@example.org', displayName: 'hostile', settings: { path: mbox }, credentials: null });
  });
  afterAll(async () => {
    await gateway?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('indexes and lists them in seconds while /health keeps answering', async () => {
    const query = '{ mailboxes { conversations(first: 10) { edges { node { subject messages(first: 1) { edges { node { from { name address } attachmentCount } } } } } } } }';
    const started = performance.now();
    const listing = gateway.graphql<{ mailboxes: { conversations: { edges: { node: { subject: string; messages: { edges: { node: { from: unknown; attachmentCount: number } }[] } } }[] } }[] }>(query);
    // Asked while the store is being indexed: the event loop is never blocked for long.
    const health = await fetch(`${gateway.url}/health`);
    const healthMs = performance.now() - started;
    const answer = await listing;
    const ms = performance.now() - started;
    timings.push(`HTTP: indexing and listing 3 hostile mails (1 MiB headers): ${ms.toFixed(0)} ms; /health meanwhile: ${healthMs.toFixed(0)} ms`);
    expect(health.status).toBe(200);
    expect(answer.errors).toBeUndefined();
    const edges = answer.data!.mailboxes[0]!.conversations.edges;
    expect(edges.map((e) => e.node.subject).sort()).toEqual(['issue probe', 'one MiB of spaces', 'raw bytes in a word']);
    for (const e of edges) expect(e.node.messages.edges[0]!.node.attachmentCount).toBe(1);
    // The field is read up to its first 65,536 characters (MAX_HEADER_VALUE_LENGTH): spaces only, an empty group.
    expect(edges.find((e) => e.node.subject === 'issue probe')!.node.messages.edges[0]!.node.from).toBeNull();
    expect(ms).toBeLessThan(10_000);
    expect((await fetch(`${gateway.url}/health`)).status).toBe(200);
  });
});
