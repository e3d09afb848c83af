/**
 * Graph resources → the gateway's domain types: a `message` is a {@link MessageInfo}, the messages
 * of one `conversationId` a {@link ConversationInfo}, and a message's `attachments` (expanded
 * without their bytes) its {@link AttachmentInfo}s, named and classified by THE shared MIME policy
 * (`src/mime/attachments.ts`) so the same mail lists the same way on every provider.
 *
 * Followed: the `message` resource (https://learn.microsoft.com/en-us/graph/api/resources/message:
 * `id`, `conversationId`, `subject`, `from`, `toRecipients`, `ccRecipients` as
 * `{emailAddress: {name, address}}`, `receivedDateTime`, `sentDateTime`, `internetMessageId`,
 * `parentFolderId`), `attachment` and its derived types
 * (https://learn.microsoft.com/en-us/graph/api/resources/attachment: `@odata.type`, `id`, `name`,
 * `contentType`, `size`, `isInline`; `fileAttachment` adds `contentId`; `itemAttachment`'s `$value`
 * is the item's MIME; `referenceAttachment`'s `$value` answers 405, and only the beta API gives it
 * a `sourceUrl`), OData `$select`/`$expand` with a derived-type cast
 * (`microsoft.graph.fileAttachment/contentId`, OData 4.01 URL conventions §5.1.3).
 *
 * - `#microsoft.graph.fileAttachment` → kind FILE; `#microsoft.graph.itemAttachment` → ITEM,
 *   served as `message/rfc822` from `$value`, named `<name>.eml` (Exchange names an item
 *   attachment after the item's subject; `message.eml` when it has no name);
 *   `#microsoft.graph.referenceAttachment` → REFERENCE, `downloadable: false`, `linkUrl` from
 *   `sourceUrl` when the answer has one (an absolute http(s) URL), else null (the provider reads
 *   it from the beta API, the only one that has it: `./provider.ts`).
 * - Names and media types go through the shared policy (`describeAttachment` on a part built from
 *   Graph's values: `contentType` as the Content-Type with its parameters, `isInline` as the
 *   disposition, `name` as the filename, `contentId` as the Content-ID). A file attachment without
 *   a media type is `application/octet-stream`.
 * - `size` is Graph's: the size Exchange stores (MIME headers and encoding included), not the
 *   decoded byte count, so `sizeExact` is false; a download takes its length from `$value`.
 * - `partId` is Graph's attachment id, `providerRef` carries it with the message id.
 * - Direction SENT for a message in the Sent Items folder (its id resolved once per mailbox).
 * - The message's `date` is `sentDateTime` (the Date header as Exchange read it), else
 *   `receivedDateTime`; a conversation's `lastMessageAt` is its newest `receivedDateTime`, the
 *   order Graph lists messages in, so the listing's order and cursors agree with it.
 * - Graph gives no In-Reply-To / References without reading every header; conversations come
 *   from `conversationId`, so they are left empty.
 */
import type { Address, AttachmentInfo, ConversationInfo, MessageInfo } from '../../domain/mail.ts';
import { describeAttachment } from '../../mime/attachments.ts';
import { MIME_LIMITS, type MimeLimits } from '../../mime/limits.ts';
import { mimeHeaderFields, type HeaderField } from '../../mime/parse.ts';
import type { MimePart } from '../../mime/structure.ts';
import { assembleConversation } from '../../threading/index.ts';

/** An `emailAddress` wrapper as Graph gives recipients. */
export interface GraphRecipient {
  emailAddress?: { name?: string | null; address?: string | null } | null;
}

/** An attachment as listed (`$expand=attachments($select=...)`), no bytes. */
export interface GraphAttachment {
  '@odata.type'?: string | null;
  id?: string | null;
  name?: string | null;
  contentType?: string | null;
  size?: number | null;
  isInline?: boolean | null;
  contentId?: string | null;
  /** referenceAttachment, beta API only. */
  sourceUrl?: string | null;
}

/** A message as far as the gateway reads it. */
export interface GraphMessage {
  id?: string | null;
  conversationId?: string | null;
  subject?: string | null;
  from?: GraphRecipient | null;
  toRecipients?: GraphRecipient[] | null;
  ccRecipients?: GraphRecipient[] | null;
  receivedDateTime?: string | null;
  sentDateTime?: string | null;
  internetMessageId?: string | null;
  parentFolderId?: string | null;
  attachments?: GraphAttachment[] | null;
}

/** The attachment properties asked for: base properties and the file attachment's Content-ID, never `contentBytes`. */
export const ATTACHMENT_SELECT = 'id,name,contentType,size,isInline,microsoft.graph.fileAttachment/contentId';
/** The message properties read for a message or a conversation. */
export const MESSAGE_SELECT = 'id,conversationId,subject,from,toRecipients,ccRecipients,receivedDateTime,sentDateTime,internetMessageId,parentFolderId';
/** `$expand` of a message read: its attachments' metadata. */
export const MESSAGE_EXPAND = `attachments($select=${ATTACHMENT_SELECT})`;

const FILE = '#microsoft.graph.fileAttachment';
const ITEM = '#microsoft.graph.itemAttachment';
const REFERENCE = '#microsoft.graph.referenceAttachment';

/** Folders the mapping needs to know (well-known names resolved to ids once per mailbox). */
export interface GraphFolders {
  /** Id of Sent Items, or null when the mailbox has none. */
  sentItems: string | null;
  /** Ids of folders whose messages are not listed (Deleted Items, Junk Email). */
  hidden: ReadonlySet<string>;
}

/** The kind of an attachment from its `@odata.type`; null for a type this gateway does not serve. */
export function attachmentKindOf(odataType: string | null | undefined): AttachmentInfo['kind'] | null {
  if (odataType === FILE) return 'FILE';
  if (odataType === ITEM) return 'ITEM';
  if (odataType === REFERENCE) return 'REFERENCE';
  return null;
}

/** Graph's Unicode text as the latin1 view of its UTF-8 bytes, what the shared header parsers read. */
function raw(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** A header value without CR, LF or NUL (Graph's values are not headers; a stray line break must not start another field). */
function oneLine(text: string): string {
  return text.replace(/[\r\n\0]+/g, ' ');
}

/**
 * One attachment through the shared policy, or null when it has no id or an unknown type.
 * @param messageId the message's Graph id (kept in `providerRef`)
 */
export function attachmentInfoOf(messageId: string, a: GraphAttachment): AttachmentInfo | null {
  const kind = attachmentKindOf(a['@odata.type']);
  if (!kind || typeof a.id !== 'string' || a.id === '') return null;
  const name = typeof a.name === 'string' ? oneLine(a.name).trim() : '';
  const graphType = typeof a.contentType === 'string' ? oneLine(a.contentType).trim() : '';
  const headers: HeaderField[] = [];
  if (kind === 'ITEM') headers.push({ name: 'content-type', value: 'message/rfc822' });
  else if (graphType !== '') headers.push({ name: 'content-type', value: raw(graphType) });
  headers.push({ name: 'content-disposition', value: a.isInline === true ? 'inline' : 'attachment' });
  if (kind === 'FILE' && typeof a.contentId === 'string' && a.contentId.trim() !== '') headers.push({ name: 'content-id', value: raw(oneLine(a.contentId)) });
  const part: MimePart = { partId: a.id, ...mimeHeaderFields(headers, 'application/octet-stream'), size: null };
  const filename = kind === 'ITEM' ? itemFilename(name) : name;
  if (filename !== '') part.dispositionParameters = { ...part.dispositionParameters, filename: raw(filename) };
  const description = describeAttachment(part, null);
  const size = typeof a.size === 'number' && Number.isSafeInteger(a.size) && a.size >= 0 ? a.size : null;
  const linkUrl = kind === 'REFERENCE' ? httpUrlOf(a.sourceUrl) : null;
  return {
    ...description,
    kind,
    downloadable: kind !== 'REFERENCE',
    size,
    sizeExact: false,
    providerRef: { messageId, attachmentId: a.id },
    ...(kind === 'REFERENCE' ? { linkUrl } : {}),
  };
}

/** The file name of an item attachment: Graph's name (the item's subject) as `.eml`. */
function itemFilename(name: string): string {
  if (name === '') return 'message.eml';
  return /\.eml$/i.test(name) ? name : `${name}.eml`;
}

/** An absolute http(s) URL, or null. */
export function httpUrlOf(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 8192) return null;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

/** The attachments of a message in Graph's order, within the listing limit. */
export function attachmentsOf(messageId: string, list: GraphAttachment[] | null | undefined, limits: Readonly<MimeLimits> = MIME_LIMITS): { attachments: AttachmentInfo[]; count: number; truncated: boolean } {
  const attachments: AttachmentInfo[] = [];
  let count = 0;
  for (const a of Array.isArray(list) ? list : []) {
    const info = attachmentInfoOf(messageId, a ?? {});
    if (!info) continue;
    count++;
    if (attachments.length < limits.maxAttachments) attachments.push(info);
  }
  return { attachments, count, truncated: count > attachments.length };
}

function addressOf(r: GraphRecipient | null | undefined): Address | null {
  const e = r?.emailAddress;
  if (!e) return null;
  const name = typeof e.name === 'string' && e.name.trim() !== '' ? e.name.trim() : null;
  const address = typeof e.address === 'string' && e.address.trim() !== '' ? e.address.trim() : null;
  if (name === null && address === null) return null;
  // Exchange repeats the address as the name when there is none.
  return { name: name === address ? null : name, address };
}

function addressesOf(list: GraphRecipient[] | null | undefined): Address[] {
  return (Array.isArray(list) ? list : []).map(addressOf).filter((a): a is Address => a !== null);
}

/** An ISO 8601 time as a Date, or null. */
export function timeOf(value: string | null | undefined): Date | null {
  if (typeof value !== 'string' || value.length > 64) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : new Date(t);
}

/** A Graph message as a {@link MessageInfo}, or null when it lacks an id or a conversation id. */
export function messageInfoOf(m: GraphMessage, folders: GraphFolders, limits: Readonly<MimeLimits> = MIME_LIMITS): MessageInfo | null {
  if (typeof m.id !== 'string' || m.id === '' || typeof m.conversationId !== 'string' || m.conversationId === '') return null;
  const { attachments, count, truncated } = attachmentsOf(m.id, m.attachments, limits);
  const messageId = typeof m.internetMessageId === 'string' && m.internetMessageId.trim() !== '' ? m.internetMessageId.trim() : null;
  return {
    subject: typeof m.subject === 'string' ? m.subject : null,
    from: addressOf(m.from),
    to: addressesOf(m.toRecipients),
    cc: addressesOf(m.ccRecipients),
    date: timeOf(m.sentDateTime) ?? timeOf(m.receivedDateTime),
    messageId,
    inReplyTo: null,
    references: [],
    key: m.id,
    conversationKey: m.conversationId,
    direction: folders.sentItems !== null && m.parentFolderId === folders.sentItems ? 'SENT' : 'RECEIVED',
    attachments,
    attachmentCount: count,
    attachmentsTruncated: truncated,
  };
}

/** A conversation read whole: its info, its messages, and the newest `receivedDateTime` (ms). */
export interface GraphConversation {
  conversation: ConversationInfo;
  messages: MessageInfo[];
  /** Newest receivedDateTime of its messages, ms; the listing position. */
  newestReceived: number | null;
}

/**
 * The messages of one `conversationId` as a conversation keyed by that id, or null when none is
 * readable (messages in hidden folders are left out).
 */
export function conversationOf(key: string, list: GraphMessage[], folders: GraphFolders, limits: Readonly<MimeLimits> = MIME_LIMITS): GraphConversation | null {
  const messages: MessageInfo[] = [];
  let newest: number | null = null;
  for (const m of list) {
    if (typeof m?.parentFolderId === 'string' && folders.hidden.has(m.parentFolderId)) continue;
    const info = messageInfoOf(m ?? {}, folders, limits);
    if (!info || info.conversationKey !== key) continue;
    messages.push(info);
    const received = timeOf(m.receivedDateTime)?.getTime() ?? null;
    if (received !== null && (newest === null || received > newest)) newest = received;
  }
  if (messages.length === 0) return null;
  const assembled = assembleConversation(
    messages.map((m) => ({ ...m, hasAttachments: m.attachmentCount > 0 })),
    { key },
  );
  const conversation = { ...assembled, lastMessageAt: newest === null ? assembled.lastMessageAt : new Date(newest) };
  return { conversation, messages, newestReceived: newest };
}
