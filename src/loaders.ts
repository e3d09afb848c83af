/**
 * Per-request dataloaders, created by the context factory for one authenticated workspace.
 *
 * Messages and conversations are batched per mailbox: all keys asked for in one tick become ONE
 * `loadMessages` / `loadConversations` call on that mailbox's provider, so a query over N
 * conversations costs a number of provider calls that does not grow with N; a provider that
 * declares a {@link MailProvider.batchLimit} gets ⌈N / limit⌉ calls instead. Listed conversations
 * are primed into the loader, so a listing followed by their fields costs no second load. Results
 * are cached for the request only; nothing outlives it.
 *
 * Every provider call made through the loaders (and through {@link Loaders.provider}) gets the
 * request's AbortSignal as `CallOptions.signal`, and none starts once it has aborted (the call
 * rejects with the signal's reason instead). Loaders live per request, so a batch is only ever
 * awaited by the request whose signal it carries.
 */
import DataLoader from 'dataloader';
import { notFound } from './errors.ts';
import { attribute, attributeErrors } from './providers/attribution.ts';
import type { AttachmentInfo, ConversationInfo, MessageInfo } from './domain/mail.ts';
import type { CallOptions, MailboxConfig, MailProvider } from './providers/types.ts';
import type { MailboxSummary, Store } from './store/types.ts';

/** Finds the long-lived provider of a mailbox (a {@link ProviderRegistry} in production, a fake in tests). */
export type ProviderLookup = (mailbox: MailboxConfig) => MailProvider | Promise<MailProvider>;

/** One attachment of a conversation with its zero-based position in the conversation's full list. */
export interface IndexedAttachment {
  mailboxId: string;
  /** The message holding the attachment. */
  message: MessageInfo;
  /** Zero-based position among all attachments (inline included) of the conversation: message date order, then MIME order. */
  index: number;
  info: AttachmentInfo;
}

/** A conversation's attachments in order, and message key → part id → index into that list. */
interface ConversationAttachments {
  list: IndexedAttachment[];
  byPart: Map<string, Map<string, number>>;
  /** True when any message's list was cut by the MIME limits (`MessageInfo.attachmentsTruncated`). */
  truncated: boolean;
}

/** The loaders of one request. Every method is scoped to the request's workspace. */
export interface Loaders {
  /** The workspace's mailboxes, oldest first. */
  mailboxes(): Promise<MailboxSummary[]>;
  /** A mailbox of the workspace, or null (absent or another workspace's: indistinguishable). */
  mailbox(mailboxId: string): Promise<MailboxConfig | null>;
  /**
   * The provider of a mailbox of the workspace, bound to the request's signal (see the module comment).
   * @throws GatewayError NOT_FOUND when the mailbox is not the workspace's
   */
  provider(mailboxId: string): Promise<MailProvider>;
  /** A conversation by provider key, batched per mailbox; null when unknown or stale. @throws GatewayError NOT_FOUND for a foreign mailbox */
  conversation(mailboxId: string, key: string): Promise<ConversationInfo | null>;
  /** A message by provider key, batched per mailbox; null when unknown or stale. @throws GatewayError NOT_FOUND for a foreign mailbox */
  message(mailboxId: string, key: string): Promise<MessageInfo | null>;
  /**
   * Puts listed conversations into the request's conversation loader (`DataLoader.prime`: an entry
   * already loaded is kept), so that resolving a listed conversation again costs no
   * `loadConversations`. @throws GatewayError NOT_FOUND for a foreign mailbox
   */
  primeConversations(mailboxId: string, conversations: readonly ConversationInfo[]): Promise<void>;
  /** Like {@link primeConversations}, for messages a provider listed whole (e.g. with a Gmail thread). */
  primeMessages(mailboxId: string, messages: readonly MessageInfo[]): Promise<void>;
  /**
   * All attachments of a conversation (received and sent messages), ordered by message date, then
   * MIME order, each with its index. Messages that went stale are skipped.
   */
  conversationAttachments(mailboxId: string, conversationKey: string): Promise<IndexedAttachment[]>;
  /** True when the list of {@link conversationAttachments} misses attachments that a message's MIME limits cut. */
  conversationAttachmentsTruncated(mailboxId: string, conversationKey: string): Promise<boolean>;
  /**
   * The index of one attachment in its conversation's list.
   * @throws GatewayError NOT_FOUND when the message's conversation no longer lists it
   */
  attachmentIndex(mailboxId: string, message: MessageInfo, partId: string): Promise<number>;
}

/** Orders messages by date, oldest first; a message without a date keeps the place the provider gave it. */
export function orderByDate(messages: MessageInfo[]): MessageInfo[] {
  let carry = Number.NEGATIVE_INFINITY;
  const keyed = messages.map((message, position) => {
    if (message.date && !Number.isNaN(message.date.getTime())) carry = message.date.getTime();
    return { message, time: carry, position };
  });
  keyed.sort((a, b) => a.time - b.time || a.position - b.position);
  return keyed.map((k) => k.message);
}

/**
 * `provider` as one request sees it: every read gets `signal` (unless the caller passes its own
 * options) and none starts after `signal` aborted. `close` does nothing: the provider outlives the
 * request.
 */
export function withSignal(provider: MailProvider, signal: AbortSignal): MailProvider {
  const options = (given: CallOptions | undefined): CallOptions => {
    signal.throwIfAborted();
    return given ?? { signal };
  };
  return {
    kind: provider.kind,
    ...(provider.batchLimit === undefined ? {} : { batchLimit: provider.batchLimit }),
    listConversations: async (args, given) => provider.listConversations(args, options(given)),
    loadConversations: async (keys, given) => provider.loadConversations(keys, options(given)),
    loadMessages: async (keys, given) => provider.loadMessages(keys, options(given)),
    // The request's signal unless the caller gave its own; a hint comes along either way.
    openAttachment: async (messageKey, partId, given) => provider.openAttachment(messageKey, partId, { ...options(undefined), ...given }),
    close: async () => {},
  };
}

/**
 * Creates the loaders of one request for `workspaceId`.
 * @param deps.signal the request's signal (see `GatewayContext.signal`), given to every provider call
 */
export function createLoaders(deps: { workspaceId: string; store: Store; providers: ProviderLookup; signal?: AbortSignal }): Loaders {
  const { workspaceId, store, providers } = deps;
  const signal = deps.signal ?? new AbortController().signal;
  const mailboxes = new DataLoader<string, MailboxConfig | null>((ids) => Promise.all(ids.map((id) => store.getMailbox(workspaceId, id))));
  const messageLoaders = new Map<string, DataLoader<string, MessageInfo | null>>();
  const conversationLoaders = new Map<string, DataLoader<string, ConversationInfo | null>>();
  const attachmentLists = new Map<string, Promise<ConversationAttachments>>();

  /** The mailbox's provider; its errors (and a failure to build it) name the mailbox (`src/providers/attribution.ts`). */
  async function provider(mailboxId: string): Promise<MailProvider> {
    const mailbox = await mailboxes.load(mailboxId);
    if (!mailbox) throw notFound('Mailbox');
    try {
      // Outermost the request's signal (an abort is the request's, not the mailbox's failure).
      return withSignal(attributeErrors(await providers(mailbox), mailbox), signal);
    } catch (error) {
      throw attribute(error, mailbox);
    }
  }

  /**
   * The mailbox's loader of one kind, made on first use. Batches are split to the provider's
   * {@link MailProvider.batchLimit} (DataLoader's `maxBatchSize`); a limit that is not a positive
   * integer counts as none.
   */
  function loaderFor<V>(cache: Map<string, DataLoader<string, V | null>>, mailboxId: string, p: MailProvider, batch: (p: MailProvider, keys: readonly string[]) => Promise<(V | null | Error)[]>) {
    let loader = cache.get(mailboxId);
    if (!loader) {
      const limit = p.batchLimit;
      const maxBatchSize = limit !== undefined && Number.isInteger(limit) && limit > 0 ? limit : Infinity;
      loader = new DataLoader<string, V | null>(
        async (keys) => {
          const results = await batch(p, keys);
          if (results.length !== keys.length) throw new Error(`provider returned ${results.length} results for ${keys.length} keys`);
          return results;
        },
        { maxBatchSize },
      );
      cache.set(mailboxId, loader);
    }
    return loader;
  }

  /**
   * The attachment list of a conversation and its index, built once per request and
   * conversation: O(attachments), so that `Attachment.index` costs one Map lookup per attachment
   * instead of a scan of the list (n² over a conversation with 10,000 attachments).
   */
  function indexedAttachments(mailboxId: string, conversationKey: string): Promise<ConversationAttachments> {
    const cacheKey = JSON.stringify([mailboxId, conversationKey]);
    let entry = attachmentLists.get(cacheKey);
    if (!entry) {
      entry = (async () => {
        const list: IndexedAttachment[] = [];
        const byPart = new Map<string, Map<string, number>>();
        const conversation = await loaders.conversation(mailboxId, conversationKey);
        if (!conversation) return { list, byPart, truncated: false };
        const messages = await Promise.all(conversation.messageKeys.map((key) => loaders.message(mailboxId, key)));
        let truncated = false;
        for (const message of orderByDate(messages.filter((m): m is MessageInfo => m !== null))) {
          if (message.attachmentsTruncated) truncated = true;
          let parts = byPart.get(message.key);
          if (!parts) byPart.set(message.key, (parts = new Map()));
          for (const info of message.attachments) {
            // The first part with a given id keeps it (a provider never lists one twice).
            if (!parts.has(info.partId)) parts.set(info.partId, list.length);
            list.push({ mailboxId, message, index: list.length, info });
          }
        }
        return { list, byPart, truncated };
      })();
      attachmentLists.set(cacheKey, entry);
    }
    return entry;
  }

  let mailboxList: Promise<MailboxSummary[]> | undefined;
  const loadConversations = (p: MailProvider, keys: readonly string[]) => p.loadConversations(keys);
  const loadMessages = (p: MailProvider, keys: readonly string[]) => p.loadMessages(keys);

  const loaders: Loaders = {
    mailboxes: () => (mailboxList ??= store.listMailboxes(workspaceId)),
    mailbox: (mailboxId) => mailboxes.load(mailboxId),
    provider,
    async conversation(mailboxId, key) {
      return loaderFor<ConversationInfo>(conversationLoaders, mailboxId, await provider(mailboxId), loadConversations).load(key);
    },
    async message(mailboxId, key) {
      return loaderFor<MessageInfo>(messageLoaders, mailboxId, await provider(mailboxId), loadMessages).load(key);
    },
    async primeConversations(mailboxId, conversations) {
      const loader = loaderFor(conversationLoaders, mailboxId, await provider(mailboxId), loadConversations);
      for (const info of conversations) loader.prime(info.key, info);
    },
    async primeMessages(mailboxId, messages) {
      const loader = loaderFor(messageLoaders, mailboxId, await provider(mailboxId), loadMessages);
      for (const info of messages) loader.prime(info.key, info);
    },
    async conversationAttachments(mailboxId, conversationKey) {
      return (await indexedAttachments(mailboxId, conversationKey)).list;
    },
    async conversationAttachmentsTruncated(mailboxId, conversationKey) {
      return (await indexedAttachments(mailboxId, conversationKey)).truncated;
    },
    async attachmentIndex(mailboxId, message, partId) {
      const { byPart } = await indexedAttachments(mailboxId, message.conversationKey);
      const index = byPart.get(message.key)?.get(partId);
      if (index === undefined) throw notFound('Attachment');
      return index;
    },
  };
  return loaders;
}
