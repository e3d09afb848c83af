/**
 * The mail domain every layer shares: addresses, the parsed header facts of a message, messages,
 * attachments and conversations, as providers produce them and the schema, `mime/`, `threading/`
 * and the store read them. No provider contract here (that is `src/providers/types.ts`).
 */

/** An RFC 5322 mailbox: display name (decoded, RFC 2047) and addr-spec. */
export interface Address {
  name: string | null;
  address: string | null;
}

/** How the part is meant to be shown, from Content-Disposition (RFC 2183) or the provider's flag. */
export type AttachmentDisposition = 'ATTACHMENT' | 'INLINE';

/**
 * What an attachment is: FILE (bytes: a MIME part, a Gmail part, a Graph fileAttachment), ITEM (an
 * attached message: message/rfc822, a Graph itemAttachment) or REFERENCE (a link to a file kept
 * elsewhere: a Graph referenceAttachment; not downloadable as bytes).
 */
export type AttachmentKind = 'FILE' | 'ITEM' | 'REFERENCE';

/** Whether a message was received or sent by the mailbox owner (Sent folder, SENT label, ...). */
export type MessageDirection = 'RECEIVED' | 'SENT';

/**
 * The parsed header facts of a message (RFC 5322 §3.6), the one shape every provider produces
 * (from raw headers in `src/mime/headers.ts`, from an IMAP ENVELOPE, later from Gmail's
 * `payload.headers` and Graph's properties) and threading reads. Values are decoded Unicode.
 */
export interface MessageHeaders {
  subject: string | null;
  from: Address | null;
  to: Address[];
  cc: Address[];
  /** The Date header (or the provider's received time when absent). */
  date: Date | null;
  /** The Message-ID header with its angle brackets, as written. */
  messageId: string | null;
  /** The first msg-id of In-Reply-To, with angle brackets. */
  inReplyTo: string | null;
  /** The msg-ids of References, oldest first, with angle brackets. */
  references: string[];
}

/**
 * What a provider needs to fetch an attachment's bytes, beyond the message key and part id. The
 * core never reads it: only the provider that listed it does (for Gmail later the message id and
 * `partId`, for Graph the attachment id). Must be JSON-serialisable; never a secret.
 */
export type ProviderRef = string | number | boolean | null | ProviderRef[] | { [key: string]: ProviderRef };

/** One attachment of a message, as the provider lists it. */
export interface AttachmentInfo {
  /** Provider-native stable key of the part within its message: the IMAP/MIME part number ("2", "1.3"), Gmail's partId, Graph's attachment id. */
  partId: string;
  /** Decoded Unicode filename (RFC 2231 / RFC 2047 undone), or null when the part names none. */
  filename: string | null;
  /** Lower-case media type, e.g. `application/pdf`. */
  contentType: string;
  /** Decoded size in bytes (after the Content-Transfer-Encoding is undone), or null when unknown. */
  size: number | null;
  /** True when {@link size} is exact; false when it is the provider's estimate. */
  sizeExact: boolean;
  /** Content-ID without angle brackets (RFC 2392), or null. */
  contentId: string | null;
  disposition: AttachmentDisposition;
  kind: AttachmentKind;
  /** False when the bytes cannot be served (a reference attachment). */
  downloadable: boolean;
  /**
   * Provider-owned reference a download needs (see {@link ProviderRef}); absent when the message
   * key and {@link partId} suffice (IMAP, local).
   */
  providerRef?: ProviderRef;
  /**
   * Provider-owned value that lets a download skip a lookup (Gmail: the `attachmentId` seen while
   * listing, with the part's size, type and name). It travels, encrypted, inside the download
   * token and comes back as `openAttachment`'s `hint`, so it may be stale by then: the provider
   * checks it upstream and falls back to its own lookup. Keep it small (it lengthens the URL);
   * never a secret. Absent when a download needs no more than the keys (IMAP, local).
   */
  downloadHint?: ProviderRef;
  /**
   * For a REFERENCE attachment: the URL of the linked file (e.g. Graph's `sourceUrl`), absolute
   * http(s). Null or absent for bytes (IMAP and local never have one).
   */
  linkUrl?: string | null;
}

/** One message: its header facts, direction and attachments in MIME order. */
export interface MessageInfo extends MessageHeaders {
  /** Provider-native stable key of the message within its mailbox (IMAP: folder, UIDVALIDITY and UID). */
  key: string;
  /** Key of the conversation (thread) the message belongs to; see {@link ConversationInfo.key}. */
  conversationKey: string;
  direction: MessageDirection;
  /** The attachments in MIME order, at most the listing limit (`src/mime/limits.ts`, 10,000 by default). */
  attachments: AttachmentInfo[];
  /**
   * How many attachments the provider found in the message (inline parts included). Equals
   * `attachments.length` unless {@link attachmentsTruncated}; then it also counts those past the
   * listing limit, and is a lower bound when the MIME structure itself was cut.
   */
  attachmentCount: number;
  /**
   * True when {@link attachments} is not the whole list: more attachments than the listing limit,
   * or a MIME structure with more parts or deeper nesting than the limits (`src/mime/limits.ts`),
   * whose parts past the limits were not read. Never a silent drop.
   */
  attachmentsTruncated: boolean;
}

/** A conversation (thread): messages received and sent that belong together. */
export interface ConversationInfo {
  /** Provider-native stable key: the same messages give the same key in every request. */
  key: string;
  /** Subject of the first message, reply prefixes kept as written. */
  subject: string | null;
  /** Distinct senders and recipients, in order of first appearance. */
  participants: Address[];
  /** Date of the newest message. */
  lastMessageAt: Date | null;
  /** Keys of the messages, oldest first. */
  messageKeys: string[];
  /** True when any message has an attachment (inline parts included). */
  hasAttachments: boolean;
}
