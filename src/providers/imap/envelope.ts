/**
 * ENVELOPE (RFC 3501 §7.4.2) and References header values of a FETCH answer, decoded with the
 * shared header decoder (RFC 2047 words, raw 8-bit bytes).
 */
import type { Address, MessageHeaders } from '../../domain/mail.ts';
import { decodeHeaderText } from '../../mime/filename.ts';
import { MAX_HEADER_VALUE_LENGTH, MAX_REFERENCES, parseDate } from '../../mime/headers.ts';
import { readHeaders } from '../../mime/parse.ts';
import { msgIds } from '../../mime/text.ts';
import type { RawValue } from './raw.ts';
import { tokenText } from './raw.ts';

/** The header facts an ENVELOPE carries: all but References (fetched apart, see {@link referencesOf}). */
export type EnvelopeFields = Omit<MessageHeaders, 'references'>;

/** A decoded ENVELOPE string, read up to {@link MAX_HEADER_VALUE_LENGTH} characters. */
function text(value: RawValue | undefined): string | null {
  const t = tokenText(value);
  return t == null ? null : decodeHeaderText(t.slice(0, MAX_HEADER_VALUE_LENGTH));
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
  return msgIds(value, 1)[0] ?? null;
}

/**
 * The msg-ids of the References field(s) of a header block (as `BODY[HEADER.FIELDS (REFERENCES)]`
 * answers it), oldest first, at most {@link MAX_REFERENCES} (the first and the last ones). The
 * block is read by the shared header reader, in one pass.
 */
export function referencesOf(headerBlock: string): string[] {
  const { headers } = readHeaders(headerBlock, 0, headerBlock.length);
  const values = headers.filter((h) => h.name === 'references').map((h) => h.value);
  return msgIds(values.join(' '), MAX_REFERENCES);
}

/** Decodes an ENVELOPE list. */
export function parseEnvelope(value: RawValue | undefined): EnvelopeFields {
  const env = Array.isArray(value) ? value : [];
  const dateText = tokenText(env[0]);
  const date = parseDate(dateText);
  const messageIdText = tokenText(env[9])?.trim() ?? null;
  return {
    date,
    subject: text(env[1]),
    from: addresses(env[2])[0] ?? null,
    to: addresses(env[5]),
    cc: addresses(env[6]),
    inReplyTo: firstMessageId(tokenText(env[8])),
    messageId: messageIdText === '' ? null : messageIdText,
  };
}
