/**
 * ENVELOPE (RFC 3501 §7.4.2) and References header values of a FETCH answer, decoded with the
 * shared header decoder (RFC 2047 words, raw 8-bit bytes).
 */
import type { Address } from '../types.ts';
import { decodeHeaderText } from '../../mime/filename.ts';
import type { RawValue } from './raw.ts';
import { tokenText } from './raw.ts';

/** The ENVELOPE fields the gateway shows. */
export interface EnvelopeFields {
  date: Date | null;
  subject: string | null;
  from: Address | null;
  to: Address[];
  cc: Address[];
  inReplyTo: string | null;
  messageId: string | null;
}

function text(value: RawValue | undefined): string | null {
  const t = tokenText(value);
  return t == null ? null : decodeHeaderText(t);
}

function addresses(value: RawValue | undefined): Address[] {
  if (!Array.isArray(value)) return [];
  const out: Address[] = [];
  for (const entry of value) {
    if (!Array.isArray(entry)) continue;
    const mailbox = tokenText(entry[2]);
    const host = tokenText(entry[3]);
    // RFC 3501 group syntax: a NIL host starts or ends a group; not an address itself.
    if (host == null) continue;
    const name = text(entry[0]);
    out.push({ name: name && name.trim() !== '' ? name : null, address: mailbox != null ? `${mailbox}@${host}` : null });
  }
  return out;
}

/** First msg-id of a header value, angle brackets kept; null when none. */
export function firstMessageId(value: string | null): string | null {
  if (!value) return null;
  return /<[^<>\s]+>/.exec(value)?.[0] ?? null;
}

/** All msg-ids of a References header block, oldest first. */
export function referencesOf(headerBlock: string): string[] {
  const match = /^references:([\s\S]*?)(?=^\S|$(?![\s\S]))/im.exec(headerBlock);
  if (!match) return [];
  return [...(match[1] ?? '').matchAll(/<[^<>\s]+>/g)].map((m) => m[0]);
}

/** Decodes an ENVELOPE list. */
export function parseEnvelope(value: RawValue | undefined): EnvelopeFields {
  const env = Array.isArray(value) ? value : [];
  const dateText = tokenText(env[0]);
  const date = dateText ? new Date(dateText.replace(/\s*\([^)]*\)\s*$/, '')) : null;
  const messageIdText = tokenText(env[9])?.trim() ?? null;
  return {
    date: date && !Number.isNaN(date.getTime()) ? date : null,
    subject: text(env[1]),
    from: addresses(env[2])[0] ?? null,
    to: addresses(env[5]),
    cc: addresses(env[6]),
    inReplyTo: firstMessageId(tokenText(env[8])),
    messageId: messageIdText === '' ? null : messageIdText,
  };
}
