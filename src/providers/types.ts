/**
 * The one interface every mail provider implements (IMAP and local mail stores now; Gmail and
 * Microsoft Graph next). The GraphQL layer and the download route speak only to this interface.
 *
 * Keys are provider-native and stable: the core never parses them, it only wraps them in opaque
 * global IDs (see `src/ids.ts`). A provider must treat any key it is given as untrusted input:
 * a malformed or stale key yields `null` (loaders) or a `NOT_FOUND` {@link GatewayError}
 * (downloads), never a crash.
 */
import type { Readable } from 'node:stream';
import type { ImapProviderOptions } from './imap/provider.ts';

/** The provider behind a mailbox. Values are the GraphQL enum values. */
export type ProviderKind = 'GMAIL' | 'MICROSOFT_GRAPH' | 'IMAP' | 'LOCAL';

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
}

/** One message, with the header facts the schema shows and its attachments in MIME order. */
export interface MessageInfo {
  /** Provider-native stable key of the message within its mailbox (IMAP: folder, UIDVALIDITY and UID). */
  key: string;
  /** Key of the conversation (thread) the message belongs to; see {@link ConversationInfo.key}. */
  conversationKey: string;
  subject: string | null;
  from: Address | null;
  to: Address[];
  cc: Address[];
  /** The Date header (or the provider's received time when absent). */
  date: Date | null;
  /** The Message-ID header with its angle brackets, as written. */
  messageIdHeader: string | null;
  /** The first msg-id of In-Reply-To, with angle brackets. */
  inReplyTo: string | null;
  /** The msg-ids of References, oldest first, with angle brackets. */
  references: string[];
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

/** Filter of {@link MailProvider.listConversations}. Every field is optional; all given ones must hold. */
export interface ConversationFilter {
  hasAttachments?: boolean | null;
  /** Only conversations with a message at or after this time. */
  since?: Date | null;
  /** Free text matched against subject, addresses and filenames (provider semantics: IMAP TEXT search, Gmail q, Graph $search). */
  search?: string | null;
}

/**
 * Per-call options of provider reads. `signal` is the request's: it aborts when the client goes
 * away or the request's deadline passes, and the provider then stops its upstream work (waits for
 * a pooled connection, commands, HTTP calls) and rejects with the signal's reason.
 */
export interface CallOptions {
  signal?: AbortSignal;
}

/** One page of a list, with an opaque provider cursor for the next one. */
export interface Page<T> {
  items: T[];
  /** Pass as `after` to get the next page; null when there is none. */
  endCursor: string | null;
  hasNextPage: boolean;
}

/** The bytes of an attachment, decoded, streamed from the provider on demand. */
export interface AttachmentContent {
  /** The decoded bytes. Destroying it must release the provider resources (connection, file). */
  stream: Readable;
  /** Exact byte count of {@link stream} when known, else null (then no Content-Length is sent). */
  size: number | null;
  contentType: string;
  filename: string | null;
}

/**
 * A connected mailbox. One instance serves every request for its mailbox and keeps its own pools;
 * the per-request batching comes from the dataloaders that call {@link loadMessages} and
 * {@link loadConversations} with many keys at once, so one call should cost a number of upstream
 * round trips that does not grow with the number of keys (per folder).
 */
export interface MailProvider {
  readonly kind: ProviderKind;

  /**
   * Conversations, newest activity first.
   * @param args.first page size, 1..100
   * @param args.after cursor from a previous page's `endCursor`
   * @throws GatewayError BAD_USER_INPUT for a cursor this provider did not issue; PROVIDER_* codes
   */
  listConversations(args: { first: number; after?: string | null; filter?: ConversationFilter }, options?: CallOptions): Promise<Page<ConversationInfo>>;

  /** Conversations by key, in the order of `keys`; null for unknown or stale keys. */
  loadConversations(keys: readonly string[], options?: CallOptions): Promise<(ConversationInfo | null)[]>;

  /** Messages by key, in the order of `keys`; null for unknown or stale keys. */
  loadMessages(keys: readonly string[], options?: CallOptions): Promise<(MessageInfo | null)[]>;

  /**
   * Opens the decoded bytes of one attachment for streaming. Nothing is buffered whole.
   * @throws GatewayError NOT_FOUND (message or part gone, stale key), NOT_DOWNLOADABLE, PROVIDER_* codes
   */
  openAttachment(messageKey: string, partId: string, options?: CallOptions): Promise<AttachmentContent>;

  /**
   * Optional warm-up that may take long (the local store indexes its mbox here). The CLI calls it
   * after `mailbox add` and shows the progress; a provider without it indexes on first use.
   */
  prepare?(onProgress?: (progress: Progress) => void): Promise<void>;

  /** Closes pools and files. The instance is not used afterwards. */
  close(): Promise<void>;
}

/** Progress of long operator work: `done` of `total` (null when unknown) in `unit`. */
export interface Progress {
  done: number;
  total: number | null;
  unit: 'bytes' | 'messages';
}

/** A mailbox as stored, with its credentials decrypted; what a provider factory is given. */
export interface MailboxConfig {
  id: string;
  workspaceId: string;
  provider: ProviderKind;
  /** The mailbox owner's address, used to tell SENT from RECEIVED where the provider cannot. */
  address: string | null;
  displayName: string | null;
  /** Provider settings (IMAP: host, port, user, tls; LOCAL: path). Not secret. */
  settings: Record<string, unknown>;
  /** Secrets (IMAP: password), decrypted; null when the provider needs none. */
  credentials: Record<string, string> | null;
}

/** Services a provider may use. */
export interface ProviderDeps {
  /** Folder for the provider's caches and indexes (e.g. the local store's byte-offset index). */
  dataDir: string;
  logger: Logger;
  /** Limits and deadlines of IMAP mailboxes (`src/config-upstream.ts`); defaults when absent. */
  imap?: ImapProviderOptions;
}

/** The pino-compatible subset of a logger the core uses. */
export interface Logger {
  trace(obj: object | string, msg?: string): void;
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** Builds the provider of one mailbox. Must not connect yet: connecting happens on first use. */
export type ProviderFactory = (mailbox: MailboxConfig, deps: ProviderDeps) => MailProvider;
