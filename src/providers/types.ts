/**
 * The one interface every mail provider implements (IMAP, local mail stores, Gmail and Microsoft
 * Graph). The GraphQL layer and the download route speak only to this interface.
 * The shapes it carries (messages, attachments, conversations, pages, logger) are the domain
 * types of `src/domain/`; listings page with `./paging.ts`.
 *
 * Keys are provider-native and stable: the core never parses them, it only wraps them in opaque
 * global IDs (see `src/ids.ts`). A provider must treat any key it is given as untrusted input:
 * a malformed or stale key yields `null` (loaders) or a `NOT_FOUND` {@link GatewayError}
 * (downloads), never a crash.
 */
import type { Readable } from 'node:stream';
import type { GatewayError } from '../errors.ts';
import type { ConversationInfo, MessageInfo, ProviderRef } from '../domain/mail.ts';
import type { Logger, Progress } from '../domain/logger.ts';
import type { Page } from '../domain/page.ts';
import type { ImapProviderOptions } from './imap/provider.ts';
import type { ImapIndexDeps } from './imap/indexed.ts';
import type { GoogleSettings } from './gmail/settings.ts';
import type { MicrosoftSettings } from './microsoft-graph/settings.ts';

/** The provider behind a mailbox. Values are the GraphQL enum values. */
export type ProviderKind = 'GMAIL' | 'MICROSOFT_GRAPH' | 'IMAP' | 'LOCAL';

/** Filter of. Every field is optional; all given ones must hold. */
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

/**
 * Options of {@link MailProvider.openAttachment}: the call's signal, and the attachment's
 * `downloadHint` from the listing that minted the download URL (may be stale; absent for URLs
 * minted without one).
 */
export interface OpenAttachmentOptions extends CallOptions {
  hint?: ProviderRef;
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
   * Most keys one {@link loadConversations} / {@link loadMessages} call may get; the loaders split
   * bigger batches into ⌈n / batchLimit⌉ calls (`src/loaders.ts`). Set it to the upstream's batch
   * size: Gmail 50 (its batch endpoint takes 100 calls, larger than 50 "is not recommended":
   * https://developers.google.com/gmail/api/guides/batch), Microsoft Graph 20 (the `$batch`
   * limit: https://learn.microsoft.com/en-us/graph/json-batching). Absent (IMAP, local):
   * unbounded, one call per tick.
   */
  readonly batchLimit?: number;

  /**
   * Conversations, newest activity first.
   * @param args.first page size, 1..100
   * @param args.after cursor from a previous page's `endCursor`
   * @throws GatewayError BAD_USER_INPUT for a cursor this provider did not issue; PROVIDER_* codes
   */
  listConversations(args: { first: number; after?: string | null; filter?: ConversationFilter }, options?: CallOptions): Promise<Page<ConversationInfo>>;

  /**
   * Conversations by key, in the order of `keys`; null for unknown or stale keys. A key whose own
   * upstream read failed (one item of a batch answered 429 after the retries, say) gets its
   * {@link GatewayError} in its slot, so only that key's field fails; a failure of the whole call
   * is thrown.
   */
  loadConversations(keys: readonly string[], options?: CallOptions): Promise<(ConversationInfo | null | GatewayError)[]>;

  /** Messages by key, in the order of `keys`; null for unknown or stale keys, a {@link GatewayError} for a key whose own read failed (as {@link loadConversations}). */
  loadMessages(keys: readonly string[], options?: CallOptions): Promise<(MessageInfo | null | GatewayError)[]>;

  /**
   * Opens the decoded bytes of one attachment for streaming. Nothing is buffered whole.
   * @param options.hint the attachment's `downloadHint` as listed (see `AttachmentInfo`): a fast
   *   path the provider must verify upstream, never trust for access
   * @throws GatewayError NOT_FOUND (message or part gone, stale key), NOT_DOWNLOADABLE, PROVIDER_* codes
   */
  openAttachment(messageKey: string, partId: string, options?: OpenAttachmentOptions): Promise<AttachmentContent>;

  /**
   * Optional warm-up that may take long (the local store indexes its mbox here). The CLI calls it
   * after `mailbox add` and shows the progress; a provider without it indexes on first use.
   */
  prepare?(onProgress?: (progress: Progress) => void): Promise<void>;

  /** Closes pools and files. The instance is not used afterwards. */
  close(): Promise<void>;
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
  /** Secrets (IMAP: password; Gmail: refresh token), decrypted; null when the provider needs none. */
  credentials: Record<string, string> | null;
  /** When a provider marked the mailbox as needing re-consent (grant revoked); null while the grant works. The store always sets it; absent counts as null. */
  needsReconsentAt?: Date | null;
  /** Why it needs re-consent, in words for operators; null when it does not. */
  reconsentReason?: string | null;
}

/**
 * How a provider updates the stored credentials of its own mailbox (bound to that mailbox by the
 * registry). Writes go through the store, encrypted as at `mailbox add`.
 */
export interface MailboxCredentials {
  /**
   * Stores new credentials, replacing the old ones whole, and clears a re-consent mark: call it
   * when the upstream rotates a refresh token, before using the new one.
   * @throws GatewayError NOT_FOUND when the mailbox was removed meanwhile
   */
  save(credentials: Record<string, string>): Promise<void>;
  /**
   * Marks the mailbox as needing re-consent (e.g. an OAuth refresh answered `invalid_grant`):
   * `Mailbox.needsReconsent` and `mailbox list` show it until new credentials are stored. The
   * reason is shown to API clients and operators: words, never a token or an upstream body.
   * @throws GatewayError NOT_FOUND when the mailbox was removed meanwhile
   */
  markNeedsReconsent(reason: string): Promise<void>;
}

/** Services a provider may use. */
export interface ProviderDeps {
  /** Folder for the provider's caches and indexes (e.g. the local store's byte-offset index). */
  dataDir: string;
  logger: Logger;
  /** Limits and deadlines of IMAP mailboxes (`src/config-upstream.ts`); defaults when absent. */
  imap?: ImapProviderOptions;
  /** Gmail API origin, token URL and the gateway's OAuth client (`src/providers/gmail/settings.ts`); Google's endpoints and no client when absent. */
  google?: GoogleSettings;
  /** Graph origin, login origin, tenant and the gateway's app registration (`src/providers/microsoft-graph/settings.ts`); Microsoft's endpoints and no app when absent. */
  microsoft?: MicrosoftSettings;
  /** The mailbox's credential writer; absent where nothing may be written (e.g. a CLI check before the mailbox is stored). */
  credentials?: MailboxCredentials;
  /** The persistent mail index (`src/mail-index/`) IMAP mailboxes read from; absent: per-process folder indexes. */
  mailIndex?: ImapIndexDeps;
}

/** Builds the provider of one mailbox. Must not connect yet: connecting happens on first use. */
export type ProviderFactory = (mailbox: MailboxConfig, deps: ProviderDeps) => MailProvider;
