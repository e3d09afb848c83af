/**
 * Graph's JSON shapes of mail folders, messages and attachments, with `$select` applied.
 *
 * Followed: https://learn.microsoft.com/en-us/graph/api/resources/message (properties and the
 * default set returned without `$select`; `internetMessageHeaders` only when selected),
 * .../resources/attachment, .../fileattachment (`contentId`, `contentLocation`, `contentBytes`
 * base64), .../itemattachment (`contentType` null by default), .../referenceattachment (v1.0 has
 * only the base properties; `sourceUrl`, `providerType`, `permission`, `isFolder`, `previewUrl`,
 * `thumbnailUrl` are beta, served under `/beta`), .../mailfolder. `@odata.type` is always written on
 * attachments; properties of a derived type are selected with a cast
 * (`microsoft.graph.fileAttachment/contentId`), a plain `contentId` on the base type is a 400.
 */
import type { Address } from '../../../src/domain/mail.ts';
import { attachmentId, type StoredAttachment, type StoredFolder, type StoredMessage } from './mailbox.ts';

/** How the caller asked for ids and which service root it calls. */
export interface RenderOptions {
  /** `Prefer: IdType="ImmutableId"` was sent. */
  immutable: boolean;
  /** The call went to `/beta`. */
  beta: boolean;
}

/** Properties of a message that `$select` accepts. */
export const MESSAGE_PROPERTIES = new Set([
  'id', 'createdDateTime', 'lastModifiedDateTime', 'changeKey', 'categories', 'receivedDateTime', 'sentDateTime', 'hasAttachments',
  'internetMessageId', 'subject', 'bodyPreview', 'importance', 'parentFolderId', 'conversationId', 'conversationIndex',
  'isDeliveryReceiptRequested', 'isReadReceiptRequested', 'isRead', 'isDraft', 'webLink', 'inferenceClassification', 'body',
  'uniqueBody', 'sender', 'from', 'toRecipients', 'ccRecipients', 'bccRecipients', 'replyTo', 'flag', 'internetMessageHeaders',
]);

/** Returned when no `$select` is given (all but uniqueBody and internetMessageHeaders). */
const MESSAGE_DEFAULT = [...MESSAGE_PROPERTIES].filter((p) => p !== 'uniqueBody' && p !== 'internetMessageHeaders');

const BASE_ATTACHMENT = ['id', 'lastModifiedDateTime', 'name', 'contentType', 'size', 'isInline'];
const FILE_ONLY = ['contentId', 'contentLocation', 'contentBytes'];
const REFERENCE_BETA = ['sourceUrl', 'providerType', 'thumbnailUrl', 'previewUrl', 'permission', 'isFolder'];

/** Names `$select` accepts on attachments: base properties, and derived ones behind their type cast. */
export function attachmentSelectable(beta: boolean): Set<string> {
  const names = new Set(BASE_ATTACHMENT);
  for (const p of FILE_ONLY) names.add(`microsoft.graph.fileAttachment/${p}`);
  names.add('microsoft.graph.itemAttachment/item');
  if (beta) for (const p of REFERENCE_BETA) names.add(`microsoft.graph.referenceAttachment/${p}`);
  return names;
}

/** The message id in the form the caller asked for. */
export function messageIdOf(m: StoredMessage, o: RenderOptions): string {
  return o.immutable ? m.immutableId : m.restId;
}

function recipient(a: Address | null): object | null {
  return a ? { emailAddress: { name: a.name ?? a.address ?? '', address: a.address ?? '' } } : null;
}

/** A message as Graph writes it; `select` null for the default set. */
export function renderMessage(m: StoredMessage, select: string[] | null, o: RenderOptions, webRoot: string): Record<string, unknown> {
  const id = messageIdOf(m, o);
  const all: Record<string, () => unknown> = {
    id: () => id,
    createdDateTime: () => m.receivedDateTime,
    lastModifiedDateTime: () => m.receivedDateTime,
    changeKey: () => m.changeKey,
    categories: () => [],
    receivedDateTime: () => m.receivedDateTime,
    sentDateTime: () => m.sentDateTime,
    hasAttachments: () => m.hasAttachments,
    internetMessageId: () => m.internetMessageId,
    subject: () => m.subject,
    bodyPreview: () => m.bodyPreview,
    importance: () => 'normal',
    parentFolderId: () => m.folderId,
    conversationId: () => m.conversationId,
    conversationIndex: () => m.conversationIndex.toString('base64'),
    isDeliveryReceiptRequested: () => false,
    isReadReceiptRequested: () => false,
    isRead: () => m.isRead,
    isDraft: () => m.isDraft,
    webLink: () => `${webRoot}/owa/?ItemID=${encodeURIComponent(id)}&exvsurl=1&viewmodel=ReadMessageItem`,
    inferenceClassification: () => 'focused',
    body: () => m.body,
    uniqueBody: () => m.body,
    sender: () => recipient(m.sender),
    from: () => recipient(m.from),
    toRecipients: () => m.to.map(recipient),
    ccRecipients: () => m.cc.map(recipient),
    bccRecipients: () => [],
    replyTo: () => m.replyTo.map(recipient),
    flag: () => ({ flagStatus: 'notFlagged' }),
    internetMessageHeaders: () => headersOf(m.raw),
  };
  const out: Record<string, unknown> = { '@odata.etag': `W/"${m.changeKey}"` };
  const names = select ? ['id', ...select.filter((s) => s !== 'id')] : MESSAGE_DEFAULT;
  for (const name of names) out[name] = all[name]!();
  return out;
}

/**
 * An attachment as Graph writes it.
 * @param select null for all properties of its type (then a file's `contentBytes` only when
 *   `withBytes`: the list and get routes include them, `$expand` too)
 */
export function renderAttachment(a: StoredAttachment, m: StoredMessage, select: string[] | null, o: RenderOptions, withBytes: boolean): Record<string, unknown> {
  const odataType = a.type === 'file' ? '#microsoft.graph.fileAttachment' : a.type === 'item' ? '#microsoft.graph.itemAttachment' : '#microsoft.graph.referenceAttachment';
  const typeName = a.type === 'file' ? 'fileAttachment' : a.type === 'item' ? 'itemAttachment' : 'referenceAttachment';
  const props: Record<string, () => unknown> = {
    id: () => attachmentId(messageIdOf(m, o), a.index),
    lastModifiedDateTime: () => a.lastModified,
    name: () => a.name,
    contentType: () => (a.type === 'file' ? a.contentType : a.type === 'reference' ? a.contentType : null),
    size: () => a.size,
    isInline: () => a.isInline,
  };
  if (a.type === 'file') {
    props.contentId = () => a.contentId;
    props.contentLocation = () => null;
    props.contentBytes = () => a.bytes.toString('base64');
  }
  if (a.type === 'reference' && o.beta) {
    props.sourceUrl = () => a.sourceUrl;
    props.providerType = () => a.providerType;
    props.thumbnailUrl = () => null;
    props.previewUrl = () => null;
    props.permission = () => a.permission;
    props.isFolder = () => a.isFolder;
  }
  const out: Record<string, unknown> = { '@odata.type': odataType };
  if (a.type === 'file' && (select === null ? withBytes : select.includes('microsoft.graph.fileAttachment/contentBytes'))) out['@odata.mediaContentType'] = a.contentType;
  const names =
    select === null
      ? Object.keys(props).filter((k) => k !== 'contentBytes' || withBytes)
      : ['id', ...select.filter((s) => s !== 'id')].map((s) => (s.startsWith('microsoft.graph.') ? s.slice(s.indexOf('/') + 1) : s)).filter((s, i, arr) => arr.indexOf(s) === i);
  for (const name of names) {
    const cast = select?.find((s) => s.endsWith(`/${name}`));
    if (cast && !cast.startsWith(`microsoft.graph.${typeName}/`)) continue;
    if (props[name]) out[name] = props[name]();
  }
  return out;
}

/** A mail folder as Graph writes it. */
export function renderFolder(f: StoredFolder, total: number, unread: number): Record<string, unknown> {
  return { id: f.id, displayName: f.displayName, parentFolderId: f.parentFolderId, childFolderCount: 0, unreadItemCount: unread, totalItemCount: total, sizeInBytes: 0, isHidden: false };
}

/** The top-level header fields as `internetMessageHeaders` (`{name, value}`, unfolded). */
function headersOf(raw: Buffer): { name: string; value: string }[] {
  const text = raw.toString('latin1', 0, Math.min(raw.length, 256 * 1024));
  const end = /\r?\n\r?\n/.exec(text);
  const head = end ? text.slice(0, end.index) : text;
  return head
    .replace(/\r?\n(?=[ \t])/g, '')
    .split(/\r?\n/)
    .map((line) => {
      const colon = line.indexOf(':');
      return colon > 0 ? { name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim() } : null;
    })
    .filter((h): h is { name: string; value: string } => h !== null);
}
