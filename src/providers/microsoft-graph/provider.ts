/**
 * The Microsoft Graph mail provider, read path: conversations (`conversationId`), messages and
 * their attachments through Graph v1.0 with the mailbox's token ({@link GraphTokenSource}),
 * downloads streamed from `/attachments/{id}/$value`.
 *
 * Followed (API reference): list messages (https://learn.microsoft.com/en-us/graph/api/user-list-messages:
 * `$select`, `$filter`, `$orderby`, `$top`, `@odata.nextLink`), get mailFolder by well-known name
 * (https://learn.microsoft.com/en-us/graph/api/mailfolder-get, `sentitems`, `deleteditems`,
 * `junkemail`), get attachment and its `$value`
 * (https://learn.microsoft.com/en-us/graph/api/attachment-get), JSON batching (`./batch.ts`),
 * throttling and errors (`./errors.ts`), immutable ids (`./client.ts`).
 *
 * - The mailbox is `/me` (delegated) or `/users/{address}` (application), from its settings.
 * - Listing: `./listing.ts` (messages newest first grouped by conversation; the filter decided on
 *   what was read, inline attachments included). A free-text `search` lists with `$search`
 *   (https://learn.microsoft.com/en-us/graph/search-query-parameter: one quoted phrase, no
 *   `$filter` or `$orderby` beside it), see {@link SEARCH_MAX_READS}. A listed conversation is read whole with its
 *   messages and their attachment metadata in the same `$batch`, and kept a short while
 *   (`MESSAGE_CACHE_TTL_MS` of `../message-cache.ts`), so its messages cost no second read.
 * - `loadConversations` / `loadMessages`: one `$batch` request per key (`batchLimit` 20, the
 *   `$batch` limit), `$expand` of the attachments' metadata, never their bytes. A conversation is
 *   `GET /messages?$filter=conversationId eq '…'` (its later pages, past
 *   {@link CONVERSATION_PAGE_SIZE} messages, through the validated `@odata.nextLink`).
 * - Messages in Deleted Items and Junk Email are not shown (as Gmail leaves out trash and spam);
 *   those folders and Sent Items are resolved once per mailbox, in one `$batch`.
 * - `openAttachment`: the attachment's metadata (from the cache, else from the URL's download hint
 *   — kind, type and name as listed, `./mapping.ts` — else one GET with `$select`), so a download
 *   from a listed URL is one request, its `$value`, streamed straight through with Graph's Content-Length (Graph's listed `size`
 *   is the stored size, not the byte count). An item attachment is served as `message/rfc822`; a
 *   reference attachment is NOT_DOWNLOADABLE without any `$value` call; its link is read from the
 *   beta API (v1.0 has none), one `$batch` for all reference attachments of a read, best effort.
 */
import type { AttachmentInfo, ConversationInfo, MessageInfo } from '../../domain/mail.ts';
import type { Page } from '../../domain/page.ts';
import { badInput, ErrorCode, GatewayError, isGatewayError, notFound, NotDownloadableError } from '../../errors.ts';
import type { RetryOptions } from '../../upstream/retry.ts';
import { MessageCache } from '../message-cache.ts';
import type { AttachmentContent, CallOptions, ConversationFilter, MailboxConfig, MailProvider, OpenAttachmentOptions, ProviderDeps } from '../types.ts';
import { runGraphBatch, GRAPH_BATCH_LIMIT, type GraphBatchRequest, type GraphBatchResult } from './batch.ts';
import { GraphClient, PREFER_IMMUTABLE_ID } from './client.ts';
import { malformedGraphAnswer } from './errors.ts';
import { listConversationPage, LIST_PAGE_SIZE, type ListedMessage, type MessageScan } from './listing.ts';
import {
  attachmentInfoOf,
  conversationOf,
  graphDownloadHintOf,
  httpUrlOf,
  messageInfoOf,
  MESSAGE_EXPAND,
  MESSAGE_SELECT,
  ATTACHMENT_SELECT,
  timeOf,
  type GraphAttachment,
  type GraphConversation,
  type GraphFolders,
  type GraphMessage,
} from './mapping.ts';
import { MICROSOFT_DEFAULTS, type GraphMailboxSettings } from './settings.ts';
import type { GraphTokenSource } from './token-source.ts';

/** Messages per conversation read (`$top`); a longer conversation is read on through its nextLink. */
export const CONVERSATION_PAGE_SIZE = 100;
/** List reads of `$search` hits per page (so a search sees at most 1,000 hits). */
export const SEARCH_MAX_READS = 4;
/** Most reads of one conversation (so at most 1,000 messages of it are shown). */
export const MAX_CONVERSATION_READS = 10;

/** Graph ids (messages, conversations, attachments) as the gateway accepts them: base64 / base64url text. */
const ID = /^[A-Za-z0-9+/=_-]{1,1024}$/;

/** Options of {@link createGraphProvider} beyond the factory's. */
export interface GraphProviderOptions {
  /** The fetch of every call (tests count or fault it); Node's by default. It must not retry. */
  fetch?: typeof fetch;
  /** Retry policy numbers of each call; `retryUpstream`'s defaults otherwise. */
  retry?: Omit<RetryOptions, 'signal' | 'mapError'>;
  /** Requests in flight per mailbox; default 4 (Outlook's MailboxConcurrency). */
  concurrency?: number;
  /** Idle timeout of a download's upstream body, ms. */
  valueIdleTimeoutMs?: number;
}

/**
 * Builds the Graph provider of one mailbox. Connects nothing yet.
 * @param tokens the mailbox's access tokens (delegated or application: `./auth.ts`, or a test's own)
 */
export function createGraphProvider(mailbox: MailboxConfig, deps: ProviderDeps, tokens: GraphTokenSource, options: GraphProviderOptions = {}): MailProvider {
  return new GraphProvider(mailbox, deps, tokens, options);
}

/** The path of the mailbox: `/me`, or `/users/{address}` in application mode. */
export function mailboxPath(mailbox: Pick<MailboxConfig, 'settings' | 'address'>): string | null {
  const mode = (mailbox.settings as Partial<GraphMailboxSettings>).mode ?? 'delegated';
  if (mode === 'delegated') return '/me';
  if (mode === 'application' && typeof mailbox.address === 'string' && mailbox.address !== '') return `/users/${encodeURIComponent(mailbox.address)}`;
  return null;
}

class GraphProvider implements MailProvider {
  readonly kind = 'MICROSOFT_GRAPH' as const;
  readonly batchLimit = GRAPH_BATCH_LIMIT;
  readonly #client: GraphClient;
  readonly #base: string | null;
  readonly #retry: Omit<RetryOptions, 'signal' | 'mapError'> | undefined;
  readonly #logger: ProviderDeps['logger'];
  #folders: Promise<GraphFolders> | null = null;
  readonly #messages = new MessageCache();

  constructor(mailbox: MailboxConfig, deps: ProviderDeps, tokens: GraphTokenSource, options: GraphProviderOptions) {
    const microsoft = deps.microsoft ?? MICROSOFT_DEFAULTS;
    this.#base = mailboxPath(mailbox);
    this.#retry = options.retry;
    this.#logger = deps.logger;
    this.#client = new GraphClient({
      graphRoot: microsoft.graphRoot,
      tokens,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
      ...(options.valueIdleTimeoutMs === undefined ? {} : { valueIdleTimeoutMs: options.valueIdleTimeoutMs }),
    });
  }

  async listConversations(args: { first: number; after?: string | null; filter?: ConversationFilter }, options?: CallOptions): Promise<Page<ConversationInfo>> {
    const signal = options?.signal;
    const base = this.#mailbox();
    const folders = await this.#resolveFolders(signal);
    const { page, read } = await listConversationPage(
      {
        scan: (range) => (args.filter?.search ? this.#searchScan(base, folders, searchPhrase(args.filter.search), range, signal) : this.#scan(base, folders, range, signal)),
        load: (keys) => this.#readConversations(keys, signal),
      },
      args,
    );
    for (const c of read) for (const m of c.messages) this.#messages.remember(m);
    return page;
  }

  async loadConversations(keys: readonly string[], options?: CallOptions): Promise<(ConversationInfo | null | GatewayError)[]> {
    const valid = [...new Set(keys.filter(isId))];
    const loaded = await this.#readConversations(valid, options?.signal);
    const byKey = new Map<string, ConversationInfo | null | GatewayError>();
    valid.forEach((key, i) => {
      const result = loaded[i];
      if (result instanceof Error) byKey.set(key, isNotFound(result) ? null : result);
      else byKey.set(key, result?.conversation ?? null);
    });
    return keys.map((k) => byKey.get(k) ?? null);
  }

  async loadMessages(keys: readonly string[], options?: CallOptions): Promise<(MessageInfo | null | GatewayError)[]> {
    const out = new Map<string, MessageInfo | null | GatewayError>();
    for (const k of keys) if (isId(k)) {
      const hit = this.#messages.get(k);
      if (hit) out.set(k, hit);
    }
    const missing = [...new Set(keys.filter((k) => isId(k) && !out.has(k)))];
    if (missing.length > 0) {
      const base = this.#mailbox();
      const folders = await this.#resolveFolders(options?.signal);
      const read: MessageInfo[] = [];
      const requests = missing.map((id): GraphBatchRequest => ({ path: `${base}/messages/${encodeURIComponent(id)}`, query: { $select: MESSAGE_SELECT, $expand: MESSAGE_EXPAND } }));
      const results = await this.#batch(requests, options?.signal);
      results.forEach((result, i) => {
        const key = missing[i]!;
        if (!result.ok) return out.set(key, isNotFound(result.error) ? null : result.error);
        const message = result.body as GraphMessage;
        const hidden = typeof message?.parentFolderId === 'string' && folders.hidden.has(message.parentFolderId);
        const info = hidden ? null : messageInfoOf(message ?? {}, folders);
        if (info) this.#messages.remember(info);
        if (info) read.push(info);
        out.set(key, info && info.key === key ? info : null);
      });
      await this.#addLinks(read, options?.signal);
    }
    return keys.map((k) => out.get(k) ?? null);
  }

  async openAttachment(messageKey: string, partId: string, options?: OpenAttachmentOptions): Promise<AttachmentContent> {
    const signal = options?.signal;
    signal?.throwIfAborted();
    if (!isId(messageKey) || !isId(partId)) throw notFound('Attachment');
    const base = this.#mailbox();
    const path = `${base}/messages/${encodeURIComponent(messageKey)}/attachments/${encodeURIComponent(partId)}`;
    let info: { kind: AttachmentInfo['kind']; downloadable: boolean; contentType: string; filename: string | null } | null =
      this.#messages.get(messageKey)?.attachments.find((a) => a.partId === partId) ?? null;
    // The listed kind, type and name came with the URL: no metadata read before `$value`.
    const hint = info ? null : graphDownloadHintOf(options?.hint);
    if (hint) info = { ...hint, downloadable: true };
    if (!info) {
      const answer = (await this.#client.getJson(path, { $select: ATTACHMENT_SELECT }, signal)) as GraphAttachment;
      const read = attachmentInfoOf(messageKey, answer ?? {});
      if (!read || read.partId !== partId) throw notFound('Attachment');
      info = read;
    }
    if (!info.downloadable) throw new NotDownloadableError();
    const value = await this.#client.openValue(`${path}/$value`, signal);
    // An item attachment is the item's MIME, whatever type Graph labels the answer with.
    const contentType = info.kind === 'ITEM' ? 'message/rfc822' : info.contentType;
    return { stream: value.stream, size: value.size, contentType, filename: info.filename };
  }

  async close(): Promise<void> {
    this.#messages.clear();
  }

  /** The mailbox path. @throws PROVIDER_AUTH_FAILED when the settings name no reachable mailbox */
  #mailbox(): string {
    if (this.#base === null) throw new GatewayError(ErrorCode.PROVIDER_AUTH_FAILED, 'The Microsoft Graph mailbox is not configured: application mode needs its address');
    return this.#base;
  }

  /** Requests as `$batch`es with the immutable-id preference on every item. */
  #batch(requests: GraphBatchRequest[], signal: AbortSignal | undefined): Promise<GraphBatchResult[]> {
    return runGraphBatch(this.#client, requests, { ...(signal ? { signal } : {}), headers: { Prefer: PREFER_IMMUTABLE_ID }, ...(this.#retry ? { retry: this.#retry } : {}) });
  }

  /** Sent Items, Deleted Items and Junk Email, resolved once (a failure is not kept: the next call tries again). */
  #resolveFolders(signal: AbortSignal | undefined): Promise<GraphFolders> {
    if (this.#folders) return this.#folders;
    const base = this.#mailbox();
    const names = ['sentitems', 'deleteditems', 'junkemail'] as const;
    const pending = this.#batch(
      names.map((name) => ({ path: `${base}/mailFolders/${name}`, query: { $select: 'id' } })),
      signal,
    ).then((results) => {
      const ids = results.map((r) => {
        if (!r.ok) {
          if (isNotFound(r.error)) return null;
          throw r.error;
        }
        const id = (r.body as { id?: unknown } | null)?.id;
        return typeof id === 'string' && id !== '' ? id : null;
      });
      return { sentItems: ids[0] ?? null, hidden: new Set(ids.slice(1).filter((id): id is string => id !== null)) };
    });
    this.#folders = pending;
    pending.catch(() => {
      if (this.#folders === pending) this.#folders = null;
    });
    return pending;
  }

  /** The scan of messages newest first (see `./listing.ts`), one list request per read. */
  #scan(base: string, folders: GraphFolders, range: { upTo: number | null; since: number | null }, signal: AbortSignal | undefined): MessageScan {
    const filter: string[] = [];
    if (range.upTo !== null) filter.push(`receivedDateTime le ${new Date(range.upTo).toISOString()}`);
    if (range.since !== null) filter.push(`receivedDateTime ge ${new Date(range.since).toISOString()}`);
    let next: string | null = `${base}/messages`;
    let first = true;
    const client = this.#client;
    return {
      get ended() {
        return next === null;
      },
      async next(): Promise<ListedMessage[]> {
        if (next === null) return [];
        const query = first
          ? {
              $select: 'id,conversationId,receivedDateTime,parentFolderId',
              $orderby: 'receivedDateTime desc',
              $top: LIST_PAGE_SIZE,
              ...(filter.length > 0 ? { $filter: filter.join(' and ') } : {}),
            }
          : {};
        first = false;
        const answer = (await client.getJson(next, query, signal)) as { value?: unknown; '@odata.nextLink'?: unknown };
        if (!Array.isArray(answer?.value)) throw malformedGraphAnswer('Microsoft Graph sent a message list without messages');
        next = nextLinkOf(answer);
        return listed(answer.value as GraphMessage[], folders);
      },
    };
  }

  /**
   * The scan of a free-text search: `$search` takes neither `$filter` nor `$orderby` (Graph sorts
   * its hits itself), so up to {@link SEARCH_MAX_READS} list reads of hits are read at once,
   * ordered newest first here and cut to the page's range; a search shows the conversations of at
   * most the first {@link SEARCH_MAX_READS} × {@link LIST_PAGE_SIZE} hits Graph returns.
   */
  #searchScan(base: string, folders: GraphFolders, phrase: string, range: { upTo: number | null; since: number | null }, signal: AbortSignal | undefined): MessageScan {
    let done = false;
    const client = this.#client;
    return {
      get ended() {
        return done;
      },
      async next(): Promise<ListedMessage[]> {
        if (done) return [];
        done = true;
        const hits: ListedMessage[] = [];
        let next: string | null = `${base}/messages`;
        for (let reads = 0; next !== null && reads < SEARCH_MAX_READS; reads++) {
          const query = reads === 0 ? { $search: phrase, $select: 'id,conversationId,receivedDateTime,parentFolderId', $top: LIST_PAGE_SIZE } : {};
          const answer = (await client.getJson(next, query, signal)) as { value?: unknown; '@odata.nextLink'?: unknown };
          if (!Array.isArray(answer?.value)) throw malformedGraphAnswer('Microsoft Graph sent a message list without messages');
          next = nextLinkOf(answer);
          hits.push(...listed(answer.value as GraphMessage[], folders));
        }
        return hits
          .filter((m) => (range.upTo === null || m.receivedAt <= range.upTo) && (range.since === null || m.receivedAt >= range.since))
          .sort((a, b) => b.receivedAt - a.receivedAt);
      },
    };
  }

  /** Conversations read whole by `conversationId`, in order: the conversation, null, or that key's error. */
  async #readConversations(keys: readonly string[], signal: AbortSignal | undefined): Promise<(GraphConversation | null | GatewayError)[]> {
    if (keys.length === 0) return [];
    const base = this.#mailbox();
    const folders = await this.#resolveFolders(signal);
    const query = (key: string) => ({
      $filter: `conversationId eq '${key.replace(/'/g, "''")}'`,
      $select: MESSAGE_SELECT,
      $expand: MESSAGE_EXPAND,
      $top: CONVERSATION_PAGE_SIZE,
    });
    const results = await this.#batch(
      keys.map((key) => ({ path: `${base}/messages`, query: query(key) })),
      signal,
    );
    const read = await Promise.all(
      results.map(async (result, i): Promise<GraphConversation | null | GatewayError> => {
        const key = keys[i]!;
        if (!result.ok) return result.error;
        const body = result.body as { value?: unknown; '@odata.nextLink'?: unknown } | null;
        if (!Array.isArray(body?.value)) return malformedGraphAnswer('Microsoft Graph sent a message list without messages');
        const messages = [...(body.value as GraphMessage[])];
        try {
          for (let link = nextLinkOf(body), reads = 1; link !== null && reads < MAX_CONVERSATION_READS; reads++) {
            const more = (await this.#client.getJson(link, {}, signal)) as { value?: unknown; '@odata.nextLink'?: unknown };
            if (!Array.isArray(more?.value)) break;
            messages.push(...(more.value as GraphMessage[]));
            link = nextLinkOf(more);
          }
        } catch (error) {
          if (signal?.aborted) throw signal.reason;
          if (isGatewayError(error)) return error;
          throw error;
        }
        const read = conversationOf(key, messages, folders);
        if (read) for (const m of read.messages) this.#messages.remember(m);
        return read;
      }),
    );
    await this.#addLinks(
      read.flatMap((r) => (r && !(r instanceof Error) ? r.messages : [])),
      signal,
    );
    return read;
  }

  /**
   * The links of the reference attachments among `messages`: Graph v1.0 gives a
   * referenceAttachment no `sourceUrl`, the beta API does
   * (https://learn.microsoft.com/en-us/graph/api/resources/referenceattachment?view=graph-rest-beta),
   * so they are read from it in one `$batch` (nothing is sent when there is none). Best effort:
   * when the beta API fails, the links stay null and the listing stands.
   */
  async #addLinks(messages: readonly MessageInfo[], signal: AbortSignal | undefined): Promise<void> {
    const base = this.#mailbox();
    const wanted = messages.flatMap((m) => m.attachments.filter((a) => a.kind === 'REFERENCE' && !a.linkUrl).map((a) => ({ message: m.key, attachment: a })));
    if (wanted.length === 0) return;
    try {
      const results = await runGraphBatch(
        this.#client,
        wanted.map((w) => ({ path: `${base}/messages/${encodeURIComponent(w.message)}/attachments/${encodeURIComponent(w.attachment.partId)}`, query: { $select: 'id,microsoft.graph.referenceAttachment/sourceUrl' } })),
        { ...(signal ? { signal } : {}), headers: { Prefer: PREFER_IMMUTABLE_ID }, version: 'beta', ...(this.#retry ? { retry: this.#retry } : {}) },
      );
      results.forEach((r, i) => {
        if (r.ok) wanted[i]!.attachment.linkUrl = httpUrlOf((r.body as { sourceUrl?: unknown } | null)?.sourceUrl);
      });
      const failed = results.find((r) => !r.ok);
      if (failed && !failed.ok) this.#logger.warn({ code: failed.error.code, failed: results.filter((r) => !r.ok).length }, 'reference attachment links not read from the beta API');
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      // The links are extras: the attachments stand without them.
      this.#logger.warn({ code: isGatewayError(error) ? error.code : 'unexpected' }, 'reference attachment links not read from the beta API');
    }
  }
}

/** The listed messages of a list answer: those with a conversation, outside hidden folders. */
function listed(value: GraphMessage[], folders: GraphFolders): ListedMessage[] {
  const out: ListedMessage[] = [];
  for (const m of value) {
    if (typeof m?.conversationId !== 'string' || !ID.test(m.conversationId)) continue;
    if (typeof m.parentFolderId === 'string' && folders.hidden.has(m.parentFolderId)) continue;
    const at = timeOf(m.receivedDateTime);
    if (at) out.push({ conversationId: m.conversationId, receivedAt: at.getTime() });
  }
  return out;
}

/**
 * `$search`'s value for free text: the words in one quoted KQL phrase (double quotes, backslashes
 * and control characters dropped, at most 500 characters), so user text is never read as syntax.
 * @throws GatewayError BAD_USER_INPUT when no word is left
 */
export function searchPhrase(text: string): string {
  const words = text
    .slice(0, 500)
    .replace(/["\\\p{Cc}]/gu, ' ')
    .split(/\s+/)
    .filter((w) => w !== '');
  if (words.length === 0) throw badInput('search has no word to look for');
  return `"${words.join(' ')}"`;
}

function isId(key: unknown): key is string {
  return typeof key === 'string' && ID.test(key);
}

function isNotFound(error: unknown): boolean {
  return isGatewayError(error) && error.code === ErrorCode.NOT_FOUND;
}

/** The `@odata.nextLink` of a list answer, or null at its end. */
function nextLinkOf(answer: { '@odata.nextLink'?: unknown } | null | undefined): string | null {
  const link = answer?.['@odata.nextLink'];
  return typeof link === 'string' && link !== '' ? link : null;
}
