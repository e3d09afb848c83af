/**
 * Raw IMAP commands through imapflow's command queue, for what its high-level API does not offer:
 * `BINARY.SIZE[part]` (RFC 3516), `THREAD` (RFC 5256), and FETCH answers with the BODYSTRUCTURE
 * parameter values as the server sent them (imapflow's own parse decodes them its own way and
 * numbers the body of a single-part message/rfc822 like its wrapper).
 */
import type { ImapFlow } from 'imapflow';

/** One token of imapflow's parsed response: an atom, string or literal; NIL is null; lists are arrays. */
export interface Token {
  type?: string;
  value?: string | Buffer;
  section?: RawValue[];
  partial?: number[];
}

/** Any value of a parsed response. */
export type RawValue = Token | RawValue[] | null;

/** An untagged response as imapflow hands it to a command handler. */
export interface Untagged {
  command: string;
  attributes?: RawValue[];
  /** imapflow puts the numbers of a SEARCH answer here instead of in `attributes`. */
  numbers?: number[];
}

/** The UIDs of an untagged SEARCH answer (imapflow's `numbers`, or plain attributes). */
export function searchNumbers(untagged: Untagged): number[] {
  if (Array.isArray(untagged.numbers)) return untagged.numbers.filter((n) => Number.isInteger(n) && n > 0);
  return (untagged.attributes ?? []).map((t) => Number(tokenText(t))).filter((n) => Number.isInteger(n) && n > 0);
}

interface ExecResponse {
  next(): void;
}

/** The part of imapflow's (internal) connection interface we call. */
interface RawClient {
  exec(command: string, attributes: unknown[], options?: { untagged?: Record<string, (u: Untagged) => Promise<void> | void> }): Promise<ExecResponse>;
}

/** An ATOM token, optionally with a `[section]` and a `<partial>` (imapflow's compiler format). */
export function atom(value: string, section?: unknown[], partial?: [number, number]): Record<string, unknown> {
  return { type: 'ATOM', value, ...(section ? { section } : {}), ...(partial ? { partial } : {}) };
}

/** A sequence-set token (`1:5,9`). */
export function sequence(value: string): Record<string, unknown> {
  return { type: 'SEQUENCE', value };
}

/**
 * Runs one command and feeds each untagged response named `untaggedName` to `onUntagged`.
 * @throws the imapflow error of a NO/BAD answer (see `./errors.ts` to map it)
 */
export async function execRaw(client: ImapFlow, command: string, attributes: unknown[], untaggedName: string, onUntagged: (u: Untagged) => void): Promise<void> {
  const raw = client as unknown as RawClient;
  const response = await raw.exec(command, attributes, {
    untagged: {
      [untaggedName]: (u: Untagged) => {
        onUntagged(u);
      },
    },
  });
  response.next();
}

/** Text of a token (Buffer literals read as latin1 so each char is one byte), or null for NIL. */
export function tokenText(value: RawValue | undefined): string | null {
  if (value == null || Array.isArray(value)) return null;
  if (Buffer.isBuffer(value.value)) return value.value.toString('latin1');
  return typeof value.value === 'string' ? value.value : null;
}

/** Bytes of a token (a quoted string was decoded by imapflow as UTF-8, so encode it back). */
export function tokenBuffer(value: RawValue | undefined): Buffer | null {
  if (value == null || Array.isArray(value)) return null;
  if (Buffer.isBuffer(value.value)) return value.value;
  return typeof value.value === 'string' ? Buffer.from(value.value, 'utf8') : null;
}

/** The name of a FETCH data item as sent (`BODY[2]<0>`, `BINARY.SIZE[1.2]`), upper-cased. */
export function itemName(token: RawValue | undefined): string {
  if (token == null || Array.isArray(token)) return '';
  let name = String(token.value ?? '').toUpperCase();
  if (token.section) name += `[${token.section.map(sectionText).join(' ')}]`;
  if (token.partial && token.partial.length) name += `<${token.partial[0]}>`;
  return name;
}

function sectionText(value: RawValue): string {
  if (Array.isArray(value)) return `(${value.map(sectionText).join(' ')})`;
  return (tokenText(value) ?? '').toUpperCase();
}

/** The data items of one untagged FETCH as a map of item name → value. */
export function fetchItems(untagged: Untagged): Map<string, RawValue> {
  const list = untagged.attributes?.[1];
  const items = new Map<string, RawValue>();
  if (!Array.isArray(list)) return items;
  for (let i = 0; i + 1 < list.length; i += 2) items.set(itemName(list[i]), list[i + 1] ?? null);
  return items;
}

/** Compacts UIDs into an IMAP sequence set (`1:3,7`). */
export function uidSet(uids: Iterable<number>): string {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    ranges.push(i === j ? `${sorted[i]}` : `${sorted[i]}:${sorted[j]}`);
    i = j + 1;
  }
  return ranges.join(',');
}
