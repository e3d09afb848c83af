/**
 * The mailbox model of the fake Microsoft Graph: a user of the fake tenant, its mail folders, and
 * messages built from raw RFC 5322 mails the way Exchange Online stores them.
 *
 * - Attachments: the parts the gateway's shared attachment policy selects (`src/mime/attachments.ts`;
 *   Exchange's own MIME conversion cannot be reproduced, and with it the same mail lists the same
 *   parts everywhere). A message/rfc822 part is an `itemAttachment` named by the enclosed
 *   message's subject (as Outlook names it), its `contentType` null (the reference: "returned as null
 *   by default"), its `$value` regenerated MIME ({@link regenerateMime}: not byte-exact). Every other
 *   part is a `fileAttachment` with the decoded bytes; an unnamed one is `ATT00001.bin`,
 *   `ATT00002.bin`, ... in order. `referenceAttachment`s are added by tests ({@link ReferenceInput}).
 * - `size` is Exchange's stored size, never the byte count: {@link storedSize}.
 * - `isInline` is the policy's INLINE disposition; `hasAttachments` is true when some attachment is
 *   not inline (Graph's rule).
 * - Conversations: a message joins the conversation of a message it names in References or
 *   In-Reply-To when the normalised subjects are equal (Exchange groups by conversation topic);
 *   else it starts one. `conversationIndex` is the Outlook header block (22 bytes) plus a 5-byte
 *   child block per reply depth.
 * - Ids: a REST id (`AAMkA…`) that depends on the folder (it changes when the message moves, as in
 *   Exchange), and an immutable id (`AAkALg…`, what `Prefer: IdType="ImmutableId"` returns) that
 *   never does. Both are accepted in paths. Attachment ids extend the message id of the same form.
 */
import crypto from 'node:crypto';
import { listAttachments } from '../../../src/mime/attachments.ts';
import { decodeTransferEncodingSync } from '../../../src/mime/decode.ts';
import { readHeaderFacts } from '../../../src/mime/headers.ts';
import { parseMessage, type ParsedPart } from '../../../src/mime/parse.ts';
import type { Address } from '../../../src/domain/mail.ts';
import type { DirectoryUser } from './identity.ts';

/** A mail folder. */
export interface StoredFolder {
  id: string;
  displayName: string;
  /** Graph's well-known name (`inbox`, `sentitems`, ...), or null for a user folder. */
  wellKnownName: string | null;
  parentFolderId: string;
}

/** One attachment as stored. */
export type StoredAttachment =
  | { type: 'file'; index: number; name: string; contentType: string; bytes: Buffer; isInline: boolean; contentId: string | null; size: number; lastModified: string }
  | { type: 'item'; index: number; name: string; mime: Buffer; isInline: boolean; size: number; lastModified: string }
  | {
      type: 'reference';
      index: number;
      name: string;
      contentType: string | null;
      isInline: boolean;
      size: number;
      lastModified: string;
      sourceUrl: string;
      providerType: string;
      isFolder: boolean;
      permission: string;
    };

/** One stored message. */
export interface StoredMessage {
  /** Never changes (the immutable id is derived from it). */
  key: number;
  immutableId: string;
  /** The REST id in the current folder. */
  restId: string;
  folderId: string;
  conversationId: string;
  conversationIndex: Buffer;
  internetMessageId: string;
  subject: string;
  bodyPreview: string;
  body: { contentType: 'text' | 'html'; content: string };
  from: Address | null;
  sender: Address | null;
  to: Address[];
  cc: Address[];
  replyTo: Address[];
  receivedDateTime: string;
  sentDateTime: string;
  isRead: boolean;
  isDraft: boolean;
  hasAttachments: boolean;
  attachments: StoredAttachment[];
  raw: Buffer;
  /** Lower-cased texts `$search` matches (`./search.ts`). */
  search: { from: string; to: string; cc: string; subject: string; body: string; attachment: string };
  changeKey: string;
}

/** A link attachment a test adds to a message. */
export interface ReferenceInput {
  name: string;
  sourceUrl: string;
  /** `oneDriveBusiness` (default), `oneDriveConsumer`, `dropbox`, `other`. */
  providerType?: string;
  isFolder?: boolean;
  /** `view` (default), `edit`, `organizationView`, ... */
  permission?: string;
  contentType?: string | null;
  isInline?: boolean;
}

/** What a test gives for one message. */
export interface GraphMessageInput {
  /** The raw message (CRLF or LF). */
  raw: Buffer;
  /** Folder: a well-known name (`inbox`, default; `sentitems` for mail the owner sent) or a folder id. */
  folder?: string;
  /** receivedDateTime; default the Date header, else now. */
  received?: Date;
  isRead?: boolean;
  isDraft?: boolean;
  /** Reference (link) attachments appended after the MIME attachments. */
  references?: ReferenceInput[];
}

/** The well-known folders every mailbox has, with their display names. */
export const WELL_KNOWN_FOLDERS: [string, string][] = [
  ['inbox', 'Inbox'],
  ['sentitems', 'Sent Items'],
  ['drafts', 'Drafts'],
  ['deleteditems', 'Deleted Items'],
  ['junkemail', 'Junk Email'],
  ['archive', 'Archive'],
  ['outbox', 'Outbox'],
];

/**
 * Exchange's `size` of an attachment: the stored attachment object (content plus MAPI properties
 * such as the name, content type and Content-ID, in UTF-16), not the byte count. The fake's
 * formula, always larger than the bytes as Exchange's is: bytes + 2 × (name + content type +
 * Content-ID characters) + 168. Reference attachments: 2 × (name + URL) + 128, whatever the file.
 */
export function storedSize(bytes: number, name: string, contentType: string | null, contentId: string | null): number {
  return bytes + 2 * (name.length + (contentType?.length ?? 0) + (contentId?.length ?? 0)) + 168;
}

const b64url = (bytes: Buffer) => bytes.toString('base64').replace(/\+/g, '_').replace(/\//g, '-');

/** One mailbox of the fake tenant. */
export class FakeGraphMailbox {
  readonly user: DirectoryUser;
  readonly folders: StoredFolder[] = [];
  private readonly messages: StoredMessage[] = [];
  private readonly byId = new Map<string, StoredMessage>();
  private readonly conversationOfMessageId = new Map<string, { conversationId: string; subject: string; index: Buffer }>();
  private readonly guid = crypto.randomBytes(16);
  private nextKey = 1;
  private sorted = true;

  constructor(address: string, displayName?: string) {
    const local = address.split('@')[0] ?? address;
    this.user = {
      id: crypto.randomUUID(),
      userPrincipalName: address,
      displayName: displayName ?? local.replace(/[._-]+/g, ' ').replace(/\b\w/g, (c) => c.toUpperCase()),
    };
    const root = this.folderId(0);
    for (const [i, [wellKnown, name]] of WELL_KNOWN_FOLDERS.entries()) {
      this.folders.push({ id: this.folderId(i + 1), displayName: name, wellKnownName: wellKnown, parentFolderId: root });
    }
  }

  /** The mailbox's SMTP address (its user principal name). */
  get address(): string {
    return this.user.userPrincipalName;
  }

  /** The folder with this id or well-known name (case-insensitive), or undefined. */
  folder(idOrName: string): StoredFolder | undefined {
    const lower = idOrName.toLowerCase();
    return this.folders.find((f) => f.id === idOrName || f.wellKnownName === lower);
  }

  /** Adds a user folder under the message folder root. */
  addFolder(displayName: string): StoredFolder {
    const folder = { id: this.folderId(this.folders.length + 1), displayName, wellKnownName: null, parentFolderId: this.folderId(0) };
    this.folders.push(folder);
    return folder;
  }

  /** Adds a message and returns its stored form (ids assigned, conversation joined). */
  add(input: GraphMessageInput): StoredMessage {
    const folder = this.folder(input.folder ?? 'inbox');
    if (!folder) throw new Error(`fake Graph: no folder ${input.folder ?? ''}`);
    const parsed = parseMessage(input.raw);
    const facts = readHeaderFacts(parsed.headers);
    const key = this.nextKey++;
    const subject = facts.subject ?? '';
    const norm = normaliseSubject(subject);
    const received = input.received ?? facts.date ?? new Date();
    const sent = facts.date ?? received;

    let conversation: { conversationId: string; index: Buffer } | null = null;
    for (const ref of [...facts.references, ...(facts.inReplyTo ? [facts.inReplyTo] : [])]) {
      const hit = this.conversationOfMessageId.get(ref);
      if (hit && hit.subject === norm) conversation = { conversationId: hit.conversationId, index: Buffer.concat([hit.index, crypto.randomBytes(5)]) };
    }
    if (!conversation) {
      // Outlook's conversation index header: a reserved 1, the top 5 bytes of the FILETIME, a GUID.
      const header = Buffer.alloc(22);
      header[0] = 1;
      const top = (BigInt(sent.getTime()) * 10_000n + 116_444_736_000_000_000n) >> 24n;
      for (let i = 0; i < 5; i++) header[1 + i] = Number((top >> BigInt(8 * (4 - i))) & 0xffn);
      crypto.randomBytes(16).copy(header, 6);
      conversation = { conversationId: `AAQkA${b64url(Buffer.concat([this.guid.subarray(0, 8), crypto.randomBytes(16)]))}`, index: header };
    }
    const internetMessageId = facts.messageId ?? `<${crypto.randomUUID()}@fake-graph.test>`;
    if (!this.conversationOfMessageId.has(internetMessageId)) this.conversationOfMessageId.set(internetMessageId, { conversationId: conversation.conversationId, subject: norm, index: conversation.index });

    const lastModified = isoSeconds(received);
    const attachments = buildAttachments(input.raw, parsed.root, lastModified);
    for (const ref of input.references ?? []) {
      attachments.push({
        type: 'reference',
        index: attachments.length,
        name: ref.name,
        contentType: ref.contentType ?? null,
        isInline: ref.isInline ?? false,
        size: 2 * (ref.name.length + ref.sourceUrl.length) + 128,
        lastModified,
        sourceUrl: ref.sourceUrl,
        providerType: ref.providerType ?? 'oneDriveBusiness',
        isFolder: ref.isFolder ?? false,
        permission: ref.permission ?? 'view',
      });
    }
    const body = bodyOf(input.raw, parsed.root);
    const preview = (body.contentType === 'html' ? body.content.replace(/<[^>]*>/g, ' ') : body.content).replace(/\s+/g, ' ').trim().slice(0, 255);
    const immutableId = `AAkALg${b64url(Buffer.concat([this.guid, Buffer.from(key.toString(16).padStart(12, '0'), 'hex'), crypto.randomBytes(12)]))}`;
    const message: StoredMessage = {
      key,
      immutableId,
      restId: '',
      folderId: folder.id,
      conversationId: conversation.conversationId,
      conversationIndex: conversation.index,
      internetMessageId,
      subject,
      bodyPreview: preview,
      body,
      from: facts.from,
      sender: facts.from,
      to: facts.to,
      cc: facts.cc,
      replyTo: [],
      receivedDateTime: isoSeconds(received),
      sentDateTime: isoSeconds(sent),
      isRead: input.isRead ?? false,
      isDraft: input.isDraft ?? false,
      hasAttachments: attachments.some((a) => !a.isInline),
      attachments,
      raw: input.raw,
      search: {
        from: addressText(facts.from ? [facts.from] : []),
        to: addressText(facts.to),
        cc: addressText(facts.cc),
        subject: subject.toLowerCase(),
        body: body.content.toLowerCase(),
        attachment: attachments.map((a) => a.name).join('\n').toLowerCase(),
      },
      changeKey: b64url(crypto.randomBytes(18)),
    };
    this.setRestId(message);
    this.byId.set(immutableId, message);
    this.messages.push(message);
    this.sorted = false;
    return message;
  }

  /** Moves a message to another folder: its REST id (and its attachments' ids) change, its immutable id does not. */
  move(message: StoredMessage, folderIdOrName: string): void {
    const folder = this.folder(folderIdOrName);
    if (!folder) throw new Error(`fake Graph: no folder ${folderIdOrName}`);
    this.byId.delete(message.restId);
    message.folderId = folder.id;
    this.setRestId(message);
  }

  /** The message with this REST or immutable id, or undefined. */
  message(id: string): StoredMessage | undefined {
    return this.byId.get(id);
  }

  /** All messages, newest received first. */
  allMessages(): readonly StoredMessage[] {
    if (!this.sorted) {
      this.messages.sort((a, b) => (a.receivedDateTime < b.receivedDateTime ? 1 : a.receivedDateTime > b.receivedDateTime ? -1 : b.key - a.key));
      this.sorted = true;
    }
    return this.messages;
  }

  /** Messages in a folder, in the order of {@link allMessages}. */
  folderMessages(folderId: string): StoredMessage[] {
    return this.allMessages().filter((m) => m.folderId === folderId);
  }

  private setRestId(message: StoredMessage): void {
    const digest = crypto.createHash('sha256').update(this.guid).update(String(message.key)).update(message.folderId).digest();
    message.restId = `AAMkA${b64url(Buffer.concat([this.guid.subarray(0, 12), digest.subarray(0, 24), Buffer.from([0, 0])]))}`;
    this.byId.set(message.restId, message);
  }

  private folderId(index: number): string {
    return `AAMkA${b64url(Buffer.concat([this.guid, Buffer.from([0, 46, 0, 0, 0, 0, index >> 8, index & 255])]))}AAA=`;
  }
}

/**
 * The id of attachment `index` of a message, in the id form of `messageId` (REST or immutable):
 * the message id without its padding, a marker and the index, as Exchange extends it.
 */
export function attachmentId(messageId: string, index: number): string {
  const suffix = Buffer.alloc(16);
  suffix.writeUInt32BE(index + 1, 0);
  crypto.createHash('sha256').update(messageId).update(String(index)).digest().copy(suffix, 4, 0, 12);
  return `${messageId.replace(/=+$/, '')}BEgAQA${b64url(suffix)}`;
}

/** The attachment of `message` with this id in either id form, or undefined. */
export function findAttachment(message: StoredMessage, id: string): StoredAttachment | undefined {
  const marker = id.lastIndexOf('BEgAQA');
  if (marker < 0) return undefined;
  const suffix = Buffer.from(id.slice(marker + 6).replace(/_/g, '+').replace(/-/g, '/'), 'base64');
  if (suffix.length < 4) return undefined;
  const a = message.attachments[suffix.readUInt32BE(0) - 1];
  return a && (attachmentId(message.restId, a.index) === id || attachmentId(message.immutableId, a.index) === id) ? a : undefined;
}

function addressText(list: Address[]): string {
  return list.map((a) => `${a.name ?? ''} ${a.address ?? ''}`).join('\n').toLowerCase();
}

/** Subject with reply/forward prefixes removed and case folded, as conversation matching compares it. */
export function normaliseSubject(subject: string): string {
  return subject.replace(/^(\s*(re|fwd?|aw|wg|sv|vs)\s*(\[\d+\])?\s*:\s*)+/i, '').trim().toLowerCase();
}

/** ISO 8601 UTC without milliseconds, as Graph writes DateTimeOffset values. */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Exchange regenerates an item attachment's MIME from its stored properties: the same content,
 * but not the original bytes. The fake re-emits the header block unfolded with CRLF line ends and an
 * `X-MS-Exchange-Organization-` header, and the body with CRLF line ends.
 */
export function regenerateMime(raw: Buffer): Buffer {
  const text = raw.toString('latin1');
  const split = /\r?\n\r?\n/.exec(text);
  const head = split ? text.slice(0, split.index) : text;
  const body = split ? text.slice(split.index + split[0].length) : '';
  const headers = head.replace(/\r?\n(?=[ \t])/g, '').split(/\r?\n/).filter((l) => l.length > 0);
  const out = [...headers, 'X-MS-Exchange-Organization-AuthAs: Anonymous', '', body.replace(/\r?\n/g, '\r\n')].join('\r\n');
  return Buffer.from(out, 'latin1');
}

function buildAttachments(raw: Buffer, root: ParsedPart, lastModified: string): StoredAttachment[] {
  const out: StoredAttachment[] = [];
  let unnamed = 0;
  for (const { part, description } of listAttachments(root).attachments) {
    const p = part as ParsedPart;
    const bytes = decodeTransferEncodingSync(raw.subarray(p.bodyStart, p.bodyEnd), p.encoding);
    const isInline = description.disposition === 'INLINE';
    if (description.kind === 'ITEM') {
      const inner = readHeaderFacts(parseMessage(bytes).headers);
      const name = inner.subject?.trim() || description.filename || 'Untitled Attachment';
      out.push({ type: 'item', index: out.length, name, mime: regenerateMime(bytes), isInline, size: storedSize(bytes.length + 420, name, null, null), lastModified });
      continue;
    }
    const name = description.filename ?? `ATT${String(++unnamed).padStart(5, '0')}.bin`;
    out.push({
      type: 'file',
      index: out.length,
      name,
      contentType: description.contentType,
      bytes,
      isInline,
      contentId: description.contentId,
      size: storedSize(bytes.length, name, description.contentType, description.contentId),
      lastModified,
    });
  }
  return out;
}

/** The first text/plain (else text/html) part that is not an attachment, as the message body. */
function bodyOf(raw: Buffer, root: ParsedPart): { contentType: 'text' | 'html'; content: string } {
  const leaves: ParsedPart[] = [];
  const walk = (p: ParsedPart) => {
    if (p.childNodes) for (const c of p.childNodes) walk(c);
    else leaves.push(p);
  };
  walk(root);
  const pick = (type: string) => leaves.find((p) => p.type === type && p.disposition !== 'attachment' && !p.parameters.name);
  const part = pick('text/plain') ?? pick('text/html');
  if (!part) return { contentType: 'text', content: '' };
  const content = decodeTransferEncodingSync(raw.subarray(part.bodyStart, part.bodyEnd), part.encoding).toString('utf8');
  return { contentType: part.type === 'text/html' ? 'html' : 'text', content };
}
