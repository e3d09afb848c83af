/**
 * The per-folder index: one summary per message (envelope, References, MIME tree) and the
 * server's THREAD groups, cached and refreshed incrementally. The cache is keyed on the folder's
 * UIDVALIDITY, UIDNEXT, MESSAGES and HIGHESTMODSEQ (CONDSTORE, RFC 7162): one STATUS command tells
 * whether anything changed; new UIDs are fetched alone, expunges are found with UID SEARCH ALL,
 * and a new UIDVALIDITY drops the folder's index (every old key is then stale).
 */
import type { ImapFlow } from 'imapflow';
import type { MimePart } from '../../mime/structure.ts';
import type { MessageDirection, MessageHeaders } from '../../domain/mail.ts';
import type { Logger } from '../../domain/logger.ts';
import { attachmentListing, indexParts } from '../../mime/attachments.ts';
import { mapBodyStructure } from './bodystructure.ts';
import { parseEnvelope, referencesOf } from './envelope.ts';
import { encodeMessageKey } from './keys.ts';
import { applyPartHeader, fetchPartHeaders, headerSections, ROOT_MIME_FIELDS } from './part-headers.ts';
import { atom, execRaw, fetchItems, searchNumbers, sequence, tokenBuffer, tokenText, uidSet } from './raw.ts';
import { serverThreads } from './threading.ts';

/** What the index keeps of one message. */
export interface MessageSummary extends MessageHeaders {
  key: string;
  folder: string;
  uid: number;
  direction: MessageDirection;
  structure: MimePart | null;
  hasAttachments: boolean;
  /** FLAGS as the server answered them (`\\Seen`, keywords), for the mail index. */
  flags: string[];
  /** RFC822.SIZE in bytes, null when the server gave none. */
  size: number | null;
}

/** The cached state of one folder. */
export interface FolderIndex {
  path: string;
  direction: MessageDirection;
  uidValidity: number;
  uidNext: number;
  messages: number;
  highestModseq: bigint | null;
  byUid: Map<number, MessageSummary>;
  /** UID groups from THREAD=REFERENCES (RFC 5256), null when the server lacks it. */
  threads: number[][] | null;
  /** Increases whenever the content changes (for caches built on top). */
  version: number;
}

/** Items fetched per message for the index (one UID FETCH for any number of messages). */
function summaryItems(): unknown[] {
  // A partial FETCH bounds what a hostile References or Content-Type header can bring per message.
  return [atom('UID'), atom('FLAGS'), atom('RFC822.SIZE'), atom('INTERNALDATE'), atom('ENVELOPE'), atom('BODYSTRUCTURE'), atom('BODY.PEEK', [atom('HEADER.FIELDS'), ['REFERENCES', ...ROOT_MIME_FIELDS].map((f) => atom(f))], [0, MAX_HEADER_FIELDS_BYTES])];
}

/** Most bytes of the top-level header fields fetched per message (References and the MIME fields). */
const MAX_HEADER_FIELDS_BYTES = 64 * 1024;

/**
 * Fetches summaries of `uids` (a sequence set) in the selected folder: one UID FETCH for the
 * envelopes, BODYSTRUCTURE and top-level header fields of any number of messages, then the MIME
 * headers of the parts that decide the attachment listing (`./part-headers.ts`: one more command
 * for a folder of similar messages, bounded batches for a huge or very mixed one).
 */
export async function fetchSummaries(client: ImapFlow, folder: string, uidValidity: number, direction: MessageDirection, uids: string, logger: Logger): Promise<MessageSummary[]> {
  const out: MessageSummary[] = [];
  await execRaw(client, 'UID FETCH', [sequence(uids), summaryItems()], 'FETCH', (untagged) => {
    const items = fetchItems(untagged);
    const uid = Number(tokenText(items.get('UID')) ?? NaN);
    if (!Number.isInteger(uid) || uid <= 0) return;
    const env = parseEnvelope(items.get('ENVELOPE'));
    const internal = tokenText(items.get('INTERNALDATE'));
    const internalDate = internal ? new Date(internal) : null;
    let headers: Buffer | null = null;
    for (const [name, value] of items) if (name.startsWith('BODY[HEADER.FIELDS')) headers = tokenBuffer(value);
    const structure = mapBodyStructure(items.get('BODYSTRUCTURE'));
    const flagList = items.get('FLAGS');
    const flags = Array.isArray(flagList) ? flagList.map((f) => tokenText(f)).filter((f): f is string => f !== null) : [];
    const sizeValue = Number(tokenText(items.get('RFC822.SIZE')) ?? NaN);
    // The root part's header is the message header.
    if (structure && headers) applyPartHeader(structure, headers);
    out.push({
      key: encodeMessageKey({ folder, uidValidity, uid }),
      folder,
      uid,
      direction,
      messageId: env.messageId,
      inReplyTo: env.inReplyTo,
      references: referencesOf(headers?.toString('latin1') ?? ''),
      subject: env.subject,
      from: env.from,
      to: env.to,
      cc: env.cc,
      date: env.date ?? (internalDate && !Number.isNaN(internalDate.getTime()) ? internalDate : null),
      structure,
      hasAttachments: false,
      flags,
      size: Number.isSafeInteger(sizeValue) && sizeValue >= 0 ? sizeValue : null,
    });
  });
  const requests = out.flatMap((s) => (s.structure ? [{ uid: s.uid, sections: headerSections(s.structure) }] : []));
  const partHeaders = await fetchPartHeaders(client, requests, logger);
  for (const summary of out) {
    if (!summary.structure) continue;
    const mine = partHeaders.get(summary.uid);
    if (mine) {
      // One index of the parts per message: a lookup per section would walk the tree each time (n²).
      const parts = indexParts(summary.structure);
      for (const section of headerSections(summary.structure)) {
        const raw = mine.get(section);
        const part = raw ? parts.get(section) : undefined;
        if (part && raw) applyPartHeader(part, raw);
      }
    }
    summary.hasAttachments = attachmentListing(summary.structure).count > 0;
  }
  return out;
}

/**
 * Brings `current` (or a new index) up to date with the folder on the server.
 * Costs one STATUS when nothing changed; else SELECT (EXAMINE), the FETCH of new messages,
 * UID SEARCH ALL when messages were expunged, and THREAD when `useThread`.
 * @returns the index, or null when the folder does not exist
 */
export async function refreshFolderIndex(client: ImapFlow, path: string, direction: MessageDirection, current: FolderIndex | null, useThread: boolean, logger: Logger): Promise<FolderIndex | null> {
  const condstore = client.capabilities.has('CONDSTORE');
  const status = await client.status(path, { messages: true, uidNext: true, uidValidity: true, ...(condstore ? { highestModseq: true } : {}) });
  if (!status || status.uidValidity == null || status.uidNext == null) return null;
  const uidValidity = Number(status.uidValidity);
  const uidNext = status.uidNext;
  const messages = status.messages ?? 0;
  const highestModseq = status.highestModseq ?? null;
  if (current && current.uidValidity === uidValidity && current.uidNext === uidNext && current.messages === messages && current.highestModseq === highestModseq) {
    return current;
  }
  const fresh = !current || current.uidValidity !== uidValidity;
  const index: FolderIndex = fresh
    ? { path, direction, uidValidity, uidNext: 1, messages: 0, highestModseq: null, byUid: new Map(), threads: null, version: (current?.version ?? 0) + 1 }
    : { ...current, byUid: new Map(current.byUid), version: current.version + 1 };
  await client.mailboxOpen(path, { readOnly: true });
  if (uidNext > index.uidNext && messages > 0) {
    // `n:*` also matches the highest UID when it is below n (RFC 3501 §6.4.8), hence the filter.
    const from = index.uidNext;
    for (const summary of await fetchSummaries(client, path, uidValidity, direction, `${from}:*`, logger)) if (summary.uid >= from) index.byUid.set(summary.uid, summary);
  }
  if (index.byUid.size !== messages) {
    // Expunged messages (or a FETCH that raced an expunge): keep exactly the UIDs that exist.
    const all = new Set<number>();
    await execRaw(client, 'UID SEARCH', [atom('ALL')], 'SEARCH', (untagged) => {
      for (const n of searchNumbers(untagged)) all.add(n);
    });
    for (const uid of index.byUid.keys()) if (!all.has(uid)) index.byUid.delete(uid);
    const missing = [...all].filter((uid) => !index.byUid.has(uid));
    if (missing.length > 0) {
      for (const summary of await fetchSummaries(client, path, uidValidity, direction, uidSet(missing), logger)) index.byUid.set(summary.uid, summary);
    }
  }
  index.threads = useThread && index.byUid.size > 0 ? await serverThreads(client) : null;
  index.uidValidity = uidValidity;
  index.uidNext = uidNext;
  index.messages = messages;
  index.highestModseq = highestModseq;
  return index;
}
