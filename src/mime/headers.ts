/**
 * Header facts of a message (RFC 5322 §3.6): subject, addresses, date, Message-ID, In-Reply-To,
 * References, read from raw header fields (values as `latin1` text, so raw 8-bit bytes survive)
 * and decoded (RFC 2047 words, raw UTF-8 / windows-1252 bytes).
 */
import type { Address, MessageHeaders } from '../domain/mail.ts';
import type { HeaderField } from './parse.ts';
import addressparser from 'nodemailer/lib/addressparser';
import { decodeHeaderText } from './filename.ts';
import { msgIds } from './text.ts';


function field(headers: HeaderField[], name: string): string | null {
  const f = headers.find((h) => h.name === name);
  return f ? f.value.trim() : null;
}

function allFields(headers: HeaderField[], name: string): string[] {
  return headers.filter((h) => h.name === name).map((h) => h.value.trim());
}

/** Most msg-ids of References kept per message: the first (the thread's root) and the last 199 (the closest ancestors). */
export const MAX_REFERENCES = 200;

/**
 * Longest header value read for the subject, each address field and the msg-id fields
 * (Message-ID, In-Reply-To, References), in characters: a hostile sender can write megabytes of
 * header, which would otherwise be stored in the local index and shown in every answer. The rest
 * of the field is ignored.
 */
export const MAX_HEADER_VALUE_LENGTH = 65_536;

/** Longest Date value read, in characters; a real RFC 5322 date has about 40. */
const MAX_DATE_LENGTH = 256;

/**
 * Parses an address list (RFC 5322 §3.4): `Name <a@b>`, `"Quoted, Name" <a@b>`, `a@b (Comment)`,
 * groups `team: a@b, c@d;` (members listed, the group name dropped). The split is nodemailer's
 * addressparser (one pass over the field, linear on any input); display names are decoded
 * afterwards (RFC 2047 words, raw 8-bit bytes), so an encoded comma or angle bracket in a name
 * never splits an address. Tolerant: never throws; entries with neither name nor address are dropped.
 */
export function parseAddressList(raw: string | null): Address[] {
  if (!raw) return [];
  const out: Address[] = [];
  for (const entry of addressparser(raw, { flatten: true })) {
    const name = entry.name ? decodeHeaderText(entry.name).trim() : '';
    const address = entry.address ? entry.address.trim() : '';
    if (name === '' && address === '') continue;
    out.push({ name: name === '' ? null : name, address: address === '' ? null : address });
  }
  return out;
}

/**
 * Parses an RFC 5322 date (obsolete forms included, via the JS engine); null when unreadable.
 * Only the first {@link MAX_DATE_LENGTH} characters are read.
 */
export function parseDate(raw: string | null): Date | null {
  if (!raw) return null;
  // Comments like "(PST)" and a missing comma confuse nothing in V8, but a trailing comment does.
  const cleaned = raw.slice(0, MAX_DATE_LENGTH).replace(/\([^)]*\)/g, ' ').replace(/\s+/g, ' ').trim();
  const t = Date.parse(cleaned);
  return Number.isNaN(t) ? null : new Date(t);
}

/** The {@link MessageHeaders} of a message from its top-level header fields. */
export function readHeaderFacts(headers: HeaderField[]): MessageHeaders {
  const bounded = (value: string | null): string | null => value?.slice(0, MAX_HEADER_VALUE_LENGTH) ?? null;
  const subject = bounded(field(headers, 'subject'));
  const addresses = (value: string | null): Address[] => parseAddressList(value?.slice(0, MAX_HEADER_VALUE_LENGTH) ?? null);
  const from = addresses(field(headers, 'from'))[0] ?? null;
  const refs = msgIds(bounded(allFields(headers, 'references').join(' ')), MAX_REFERENCES);
  return {
    subject: subject == null ? null : decodeHeaderText(subject.replace(/\r?\n(?=[ \t])/g, '')),
    from,
    to: allFields(headers, 'to').flatMap(addresses),
    cc: allFields(headers, 'cc').flatMap(addresses),
    date: parseDate(field(headers, 'date')),
    messageId: bounded(field(headers, 'message-id')) || null,
    inReplyTo: msgIds(bounded(field(headers, 'in-reply-to')), 1)[0] ?? null,
    references: refs,
  };
}
