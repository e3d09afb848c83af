/**
 * Header facts of a message (RFC 5322 §3.6): subject, addresses, date, Message-ID, In-Reply-To,
 * References, read from raw header fields (values as `latin1` text, so raw 8-bit bytes survive)
 * and decoded (RFC 2047 words, raw UTF-8 / windows-1252 bytes).
 */
import type { Address } from '../providers/types.ts';
import type { HeaderField } from './parse.ts';
import { decodeHeaderText } from './filename.ts';

/** The header facts the schema shows. */
export interface HeaderFacts {
  subject: string | null;
  from: Address | null;
  to: Address[];
  cc: Address[];
  date: Date | null;
  /** As written, angle brackets kept. */
  messageId: string | null;
  /** First msg-id of In-Reply-To, with angle brackets. */
  inReplyTo: string | null;
  /** msg-ids of References, oldest first, with angle brackets. */
  references: string[];
}

function field(headers: HeaderField[], name: string): string | null {
  const f = headers.find((h) => h.name === name);
  return f ? f.value.trim() : null;
}

function allFields(headers: HeaderField[], name: string): string[] {
  return headers.filter((h) => h.name === name).map((h) => h.value.trim());
}

/** The msg-ids (`<...>`) in a header value, in order (RFC 5322 §3.6.4). */
export function parseMsgIds(value: string | null): string[] {
  if (!value) return [];
  return [...value.matchAll(/<[^<>\s]+>/g)].map((m) => m[0]);
}

/**
 * Parses an address list (RFC 5322 §3.4): `Name <a@b>`, `"Quoted, Name" <a@b>`, `a@b (Comment)`,
 * groups `team: a@b, c@d;` (members listed, the group name dropped). Tolerant: never throws.
 */
export function parseAddressList(raw: string | null): Address[] {
  if (!raw) return [];
  const out: Address[] = [];
  for (const item of splitTopLevel(raw.replace(/\r?\n[ \t]*/g, ' '))) {
    // Group syntax: "name: member, member;" — members are split again.
    const group = /^[^"<>]*?:(.*?);?\s*$/.exec(item);
    if (group && !/^[^<"]*@/.test(item.split(':')[0] ?? '')) {
      out.push(...parseAddressList(group[1] ?? ''));
      continue;
    }
    const address = parseAddress(item);
    if (address) out.push(address);
  }
  return out;
}

function splitTopLevel(text: string): string[] {
  const items: string[] = [];
  let depthAngle = 0;
  let depthParen = 0;
  let quoted = false;
  let current = '';
  let groupOpen = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      current += c;
      if (c === '\\') current += text[++i] ?? '';
      else if (c === '"') quoted = false;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === '<') depthAngle++;
    else if (c === '>') depthAngle = Math.max(0, depthAngle - 1);
    else if (c === '(') depthParen++;
    else if (c === ')') depthParen = Math.max(0, depthParen - 1);
    else if (c === ':' && depthAngle === 0 && depthParen === 0) groupOpen = true;
    else if (c === ';' && groupOpen && depthAngle === 0 && depthParen === 0) groupOpen = false;
    if (c === ',' && depthAngle === 0 && depthParen === 0 && !groupOpen) {
      if (current.trim()) items.push(current.trim());
      current = '';
      continue;
    }
    current += c;
  }
  if (current.trim()) items.push(current.trim());
  return items;
}

function unquoteName(name: string): string {
  let n = name.trim();
  if (n.startsWith('"') && n.endsWith('"') && n.length >= 2) n = n.slice(1, -1).replace(/\\(.)/g, '$1');
  return n.trim();
}

function parseAddress(item: string): Address | null {
  const angle = /^(.*?)<([^<>]*)>\s*(\(.*\))?\s*$/.exec(item);
  if (angle) {
    const name = unquoteName(angle[1] ?? '');
    const address = (angle[2] ?? '').trim();
    return { name: name ? decodeHeaderText(name) : null, address: address || null };
  }
  const comment = /^([^\s()]+)\s*\((.*)\)\s*$/.exec(item);
  if (comment) {
    const name = (comment[2] ?? '').trim();
    return { name: name ? decodeHeaderText(name) : null, address: comment[1] ?? null };
  }
  const bare = item.trim();
  if (!bare) return null;
  return bare.includes('@') ? { name: null, address: bare } : { name: decodeHeaderText(unquoteName(bare)), address: null };
}

/** Parses an RFC 5322 date (obsolete forms included, via the JS engine); null when unreadable. */
export function parseDate(raw: string | null): Date | null {
  if (!raw) return null;
  // Comments like "(PST)" and a missing comma confuse nothing in V8, but a trailing comment does.
  const cleaned = raw.replace(/\([^)]*\)/g, ' ').replace(/\s+/g, ' ').trim();
  const t = Date.parse(cleaned);
  return Number.isNaN(t) ? null : new Date(t);
}

/** The {@link HeaderFacts} of a message from its top-level header fields. */
export function readHeaderFacts(headers: HeaderField[]): HeaderFacts {
  const subject = field(headers, 'subject');
  const from = parseAddressList(field(headers, 'from'))[0] ?? null;
  const refs = parseMsgIds(allFields(headers, 'references').join(' '));
  return {
    subject: subject == null ? null : decodeHeaderText(subject.replace(/\r?\n(?=[ \t])/g, '')),
    from,
    to: allFields(headers, 'to').flatMap(parseAddressList),
    cc: allFields(headers, 'cc').flatMap(parseAddressList),
    date: parseDate(field(headers, 'date')),
    messageId: field(headers, 'message-id') || null,
    inReplyTo: parseMsgIds(field(headers, 'in-reply-to'))[0] ?? null,
    references: refs,
  };
}
