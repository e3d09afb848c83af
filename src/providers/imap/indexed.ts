/**
 * The IMAP provider's reads from the persistent mail index (`src/mail-index/`, issue 17) instead
 * of the per-process folder indexes: every call first makes sure INBOX and Sent are current
 * (`SyncCoordinator`: one STATUS per folder when nothing changed, a shared sync under the folder's
 * lease when something did), then answers with indexed queries: a page is a keyset query, the
 * conversations and messages of a page two more, whatever the mailbox size. Downloads stay with the
 * provider; they take the part's encoding and exact size from here.
 */
import type { ImapFlow } from 'imapflow';
import type { AttachmentInfo, ConversationInfo, MessageDirection, MessageInfo } from '../../domain/mail.ts';
import type { Logger } from '../../domain/logger.ts';
import type { Page } from '../../domain/page.ts';
import { SyncCoordinator } from '../../mail-index/coordinator.ts';
import { syncFolder, type SyncOutcome } from '../../mail-index/imap-sync.ts';
import type { IndexedAttachment, MailIndexStore, StoredMessage } from '../../mail-index/store.ts';
import { UNDATED } from '../../mail-index/tables.ts';
import { compareConversations } from '../../threading/index.ts';
import type { ConversationFilter } from '../types.ts';
import { decodeListCursor, encodeListCursor, pageOfList } from '../paging.ts';
import { decodeMessageKey } from './keys.ts';

/** The index a provider reads from, and who it is among the processes sharing it. */
export interface ImapIndexDeps {
  store: MailIndexStore;
  /** This process's lease owner id (random per process). */
  owner: string;
  /** A folder checked less than this long ago (ms) is taken as current; default 0 (one STATUS per call, as without the index). */
  minIntervalMs?: number;
}

/** Runs a function on a pooled metadata connection (the provider's breaker and error mapping included). */
export type Upstream = <T>(fn: (client: ImapFlow) => Promise<T>) => Promise<T>;

/** Index-backed reads of one IMAP mailbox (see the module docs). */
export class IndexedImapReader {
  readonly #deps: ImapIndexDeps;
  readonly #mailboxId: string;
  readonly #logger: Logger;
  readonly #coordinator: SyncCoordinator;
  #folders: [string, MessageDirection][] = [];

  constructor(mailboxId: string, deps: ImapIndexDeps, logger: Logger, upstream: Upstream) {
    this.#deps = deps;
    this.#mailboxId = mailboxId;
    this.#logger = logger;
    this.#coordinator = new SyncCoordinator({
      index: deps.store,
      minIntervalMs: deps.minIntervalMs ?? 0,
      run: (mailbox, folder): Promise<SyncOutcome> =>
        upstream((client) => syncFolder(client, { index: deps.store, mailboxId: mailbox, folder, direction: this.#directionOf(folder), owner: deps.owner, logger: this.#logger })),
    });
  }

  #directionOf(folder: string): MessageDirection {
    return this.#folders.find(([path]) => path === folder)?.[1] ?? 'RECEIVED';
  }

  /** Brings the given folders current (a caller's signal stops its wait, never the shared sync). */
  async refresh(folders: [string, MessageDirection][], signal: AbortSignal | undefined): Promise<void> {
    this.#folders = folders;
    for (const [path] of folders) await this.#coordinator.ensureCurrent(this.#mailboxId, path, { signal });
  }

  /** The UIDVALIDITY of each indexed folder. */
  async uidValidities(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const [path] of this.#folders) {
      const state = await this.#deps.store.folder(this.#mailboxId, path);
      if (state && state.uidValidity !== 0) out.set(path, state.uidValidity);
    }
    return out;
  }

  /** One page by newest activity; `matching` (message keys of a SEARCH) filters when given. */
  async listConversations(args: { first: number; after?: string | null; filter?: ConversationFilter }, matching: Set<string> | null, signal: AbortSignal | undefined): Promise<Page<ConversationInfo>> {
    const filter = args.filter ?? {};
    if (matching) {
      // A text search: the conversations of the matching messages, filtered and paged in memory
      // (their number is the search's, not the mailbox's).
      const refs = [...matching].map((k) => decodeMessageKey(k)).filter((r) => r !== null);
      const messages = await this.#deps.store.loadMessages(this.#mailboxId, refs);
      const ids = [...new Set(messages.flatMap((m) => (m ? [m.conversationKey] : [])))];
      let list = (await this.#deps.store.loadConversations(this.#mailboxId, ids)).filter((c): c is ConversationInfo => c !== null);
      if (filter.hasAttachments != null) list = list.filter((c) => c.hasAttachments === filter.hasAttachments);
      if (filter.since) list = list.filter((c) => (c.lastMessageAt?.getTime() ?? 0) >= filter.since!.getTime());
      list.sort(compareConversations);
      return pageOfList(list, args, signal ? { signal } : {});
    }
    const after = args.after == null ? null : decodeListCursor(args.after);
    const page = await this.#deps.store.listConversations(this.#mailboxId, {
      first: args.first,
      after: after ? { activity: after.at ?? UNDATED, id: after.key } : null,
      hasAttachments: filter.hasAttachments ?? null,
      since: filter.since ?? null,
    });
    const items = (await this.#deps.store.loadConversations(this.#mailboxId, page.items.map((c) => c.id))).filter((c): c is ConversationInfo => c !== null);
    const last = items.at(-1);
    return { items, hasNextPage: page.hasNextPage, endCursor: last && page.hasNextPage ? encodeListCursor(last) : null };
  }

  /** The conversation holding each message key (a conversation key is its oldest message's key); null when unknown or stale. */
  async loadConversations(keys: readonly string[]): Promise<(ConversationInfo | null)[]> {
    const messages = await this.#stored(keys);
    const ids = [...new Set(messages.flatMap((m) => (m ? [m.conversationKey] : [])))];
    const conversations = await this.#deps.store.loadConversations(this.#mailboxId, ids);
    const byId = new Map(ids.map((id, i) => [id, conversations[i] ?? null]));
    return messages.map((m) => (m ? (byId.get(m.conversationKey) ?? null) : null));
  }

  /** The messages of these keys; null when unknown or stale. */
  async loadMessages(keys: readonly string[]): Promise<(MessageInfo | null)[]> {
    return (await this.#stored(keys)).map((m) => (m ? messageInfoOf(m) : null));
  }

  /** The indexed attachment `partId` of a message with its encoding, or null. */
  async attachment(key: string, partId: string): Promise<IndexedAttachment | null> {
    const [m] = await this.#stored([key]);
    return m?.attachments.find((a) => a.partId === partId) ?? null;
  }

  async #stored(keys: readonly string[]): Promise<(StoredMessage | null)[]> {
    const refs = keys.map((k) => decodeMessageKey(k));
    const valid = refs.filter((r) => r !== null);
    const found = await this.#deps.store.loadMessages(this.#mailboxId, valid);
    let i = 0;
    return refs.map((r) => (r ? found[i++]! : null));
  }
}

function attachmentInfoOf(a: IndexedAttachment): AttachmentInfo {
  const { encoding: _encoding, ...info } = a;
  return info;
}

function messageInfoOf(m: StoredMessage): MessageInfo {
  return {
    key: m.key,
    conversationKey: m.conversationKey,
    subject: m.subject,
    from: m.from,
    to: m.to,
    cc: m.cc,
    date: m.date,
    messageId: m.messageId,
    inReplyTo: m.inReplyTo,
    references: m.references,
    direction: m.direction,
    attachments: m.attachments.map(attachmentInfoOf),
    attachmentCount: m.attachmentCount,
    attachmentsTruncated: m.attachmentsTruncated,
  };
}
