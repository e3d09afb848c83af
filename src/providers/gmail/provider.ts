/**
 * The Gmail provider, read path: threads as conversations, messages, attachments streamed from
 * `users.messages.attachments.get`, all through the Gmail REST API with the mailbox's OAuth token
 * (a refresh token, or a service account's domain-wide delegation: `./credentials.ts`).
 *
 * Followed (API reference, https://developers.google.com/gmail/api/reference/rest/v1/):
 * `users.threads.list` (`q`, `maxResults`, `pageToken` → `threads[].id`, `nextPageToken`),
 * `users.threads.get` and `users.messages.get` (`format=full`, `fields` partial response,
 * https://developers.google.com/gmail/api/guides/performance#partial),
 * `users.messages.attachments.get` (`{size, data}` base64url), the batch endpoint
 * (https://developers.google.com/gmail/api/guides/batch, `./batch-client.ts`), search operators
 * (https://support.google.com/mail/answer/7190: `has:attachment`, quoted words; `after:` in epoch
 * seconds, since dates are read as midnight Pacific time:
 * https://developers.google.com/gmail/api/guides/filtering). `labelIds` would AND its labels
 * (threads.list reference), so it cannot express INBOX + SENT; it is not sent.
 *
 * - Listing covers the whole mailbox as Gmail's own list does (every label, archived mail
 *   included; spam and trash left out, `includeSpamTrash=false`): a Gmail thread spans labels, so
 *   INBOX + SENT would cut threads in two and hide archived mail. Newest activity first, as Gmail
 *   orders threads. `filter` becomes `q` (`has:attachment`, `after:<epoch s>`, each free word
 *   quoted) and is checked again on the threads read with the shared attachment policy (Gmail's
 *   `has:attachment` ignores some parts the policy lists), so a page may hold fewer than `first`.
 *   The cursor is Gmail's `nextPageToken`, passed through (`../paging.ts`).
 * - One `threads.list` per page, then the page's threads through one batch of `threads.get`
 *   (`fields` mask without inline bodies); messages go through batches of `messages.get`; a
 *   message read in a thread is kept a short while (`MESSAGE_CACHE_TTL_MS` of `../message-cache.ts`), so a listed
 *   conversation's messages cost no second read.
 * - Downloads: a zero-byte part is served empty without a call. A URL minted from a listing
 *   carries the attachment's `downloadHint` (the `attachmentId` seen then, size, type, name:
 *   `./mapping.ts`), so the download is one `attachments.get`, streamed through
 *   `openAttachmentBody` with `Content-Length` from the size. `attachmentId`s are ephemeral: when
 *   Gmail answers that one stale (400 "Invalid attachment token") or unknown (404), one
 *   `messages.get` (a `fields` mask) reads a current id and `attachments.get` is tried once more
 *   (three requests in all). Without a hint (older URLs) the download starts with that
 *   `messages.get`, and a stale-id answer re-reads the message once. Small parts Gmail inlines
 *   (`body.data`, no `attachmentId`) are decoded from the `messages.get` answer.
 * - Every call carries the request's signal, runs under the one retry policy
 *   (`src/upstream/retry.ts`; fetch never retries by itself) and has a deadline; a 401 refreshes
 *   the access token once. Failures are mapped by `./errors.ts`.
 */
import { Readable } from 'node:stream';
import type { ConversationInfo, MessageInfo } from '../../domain/mail.ts';
import type { Page } from '../../domain/page.ts';
import { badInput, ErrorCode, GatewayError, isGatewayError, notFound } from '../../errors.ts';
import { readBodyLimited } from '../../upstream/body.ts';
import { retryUpstream } from '../../upstream/retry.ts';
import { MessageCache } from '../message-cache.ts';
import { nativePage, nativePageToken } from '../paging.ts';
import type { AttachmentContent, CallOptions, ConversationFilter, MailboxConfig, MailProvider, OpenAttachmentOptions, ProviderDeps } from '../types.ts';
import { openAttachmentBody } from './attachment-body.ts';
import { batchGet } from './batch-client.ts';
import { gmailPath, GMAIL_BATCH_ADVISED, type BatchItemResult, type BatchRequest } from './batch.ts';
import { isGmailFailure, mapGmailAnswer, mapGmailError } from './errors.ts';
import { attachmentsOf, conversationOf, findGmailPart, gmailDownloadHintOf, gmailPartIdOf, messageInfoOf, MESSAGE_FIELDS, THREAD_FIELDS, type GmailMessage, type GmailThread } from './mapping.ts';
import { GOOGLE_DEFAULTS } from './settings.ts';
import { createGmailTokenSource } from './credentials.ts';
import type { GoogleTokenSource } from './token-source.ts';

/** Keys per loadConversations / loadMessages call: Google's advised batch size. */
export const GMAIL_BATCH_LIMIT = GMAIL_BATCH_ADVISED;
/** Longest JSON answer read whole (a threads.list page, one messages.get), bytes. */
export const MAX_JSON_BYTES = 16 * 1024 * 1024;
/** Deadline for an attachments.get answer to begin its `data`, retries included, ms (the stream itself then has an idle timeout). */
export const ATTACHMENT_START_TIMEOUT_MS = 30_000;
/** Longest free-text search sent as `q`, characters. */
const MAX_SEARCH_CHARS = 500;

const ID = /^[A-Za-z0-9_-]{1,256}$/;

/** Options of {@link createGmailProvider} beyond the factory's. */
export interface GmailProviderOptions {
  /** The fetch used for every call (tests may count or fault it); Node's by default. It must not retry. */
  fetch?: typeof fetch;
}

/** Builds the Gmail provider of one mailbox (a {@link ProviderFactory}). Connects nothing yet. */
export function createGmailProvider(mailbox: MailboxConfig, deps: ProviderDeps, options: GmailProviderOptions = {}): MailProvider {
  return new GmailProvider(mailbox, deps, options);
}

class GmailProvider implements MailProvider {
  readonly kind = 'GMAIL' as const;
  readonly batchLimit = GMAIL_BATCH_LIMIT;
  readonly #root: string;
  readonly #tokens: GoogleTokenSource;
  readonly #fetch: typeof fetch;
  /** Messages read recently (with their thread), by id; insertion order is age. */
  readonly #messages = new MessageCache();

  constructor(mailbox: MailboxConfig, deps: ProviderDeps, options: GmailProviderOptions) {
    const google = deps.google ?? GOOGLE_DEFAULTS;
    this.#root = google.apiRoot.replace(/\/+$/, '');
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#tokens = createGmailTokenSource({ google, address: mailbox.address, credentials: mailbox.credentials, writer: deps.credentials, logger: deps.logger, fetch: options.fetch });
  }

  async listConversations(args: { first: number; after?: string | null; filter?: ConversationFilter }, options?: CallOptions): Promise<Page<ConversationInfo>> {
    if (!Number.isInteger(args.first) || args.first < 1 || args.first > 100) throw badInput('first must be an integer from 1 to 100');
    const pageToken = nativePageToken(args.after);
    const signal = options?.signal;
    const q = searchQuery(args.filter);
    const list = (await this.#getJson(gmailPath('users', 'me', 'threads'), { maxResults: args.first, pageToken, q, fields: 'threads(id),nextPageToken' }, signal)) as {
      threads?: { id?: unknown }[];
      nextPageToken?: unknown;
    };
    const ids = (Array.isArray(list.threads) ? list.threads : []).map((t) => t?.id).filter((id): id is string => typeof id === 'string' && ID.test(id));
    const loaded = await this.#readThreads(ids, signal);
    const items: ConversationInfo[] = [];
    for (const result of loaded) {
      if (result instanceof Error) {
        // A thread deleted between the list and the read is simply gone.
        if (isGatewayError(result) && result.code === ErrorCode.NOT_FOUND) continue;
        throw result;
      }
      if (result && matches(result, args.filter)) items.push(result);
    }
    return nativePage(items, typeof list.nextPageToken === 'string' ? list.nextPageToken : null);
  }

  async loadConversations(keys: readonly string[], options?: CallOptions): Promise<(ConversationInfo | null | GatewayError)[]> {
    const valid = keys.map((k) => (typeof k === 'string' && ID.test(k) ? k : null));
    const loaded = await this.#readThreads(
      valid.filter((k): k is string => k !== null),
      options?.signal,
    );
    let at = 0;
    return valid.map((k) => {
      if (k === null) return null;
      const result = loaded[at++];
      if (result instanceof Error) {
        if (isGatewayError(result)) return result.code === ErrorCode.NOT_FOUND ? null : result;
        throw result;
      }
      return result ?? null;
    });
  }

  async loadMessages(keys: readonly string[], options?: CallOptions): Promise<(MessageInfo | null | GatewayError)[]> {
    const out: (MessageInfo | null)[] = keys.map((k) => (typeof k === 'string' && ID.test(k) ? (this.#messages.get(k) ?? null) : null));
    const missing = [...new Set(keys.filter((k, i) => out[i] === null && typeof k === 'string' && ID.test(k)))];
    if (missing.length === 0) return out;
    const requests = missing.map((id): BatchRequest => ({ path: gmailPath('users', 'me', 'messages', id), query: { format: 'full', fields: MESSAGE_FIELDS } }));
    const results = await this.#batch(requests, options?.signal);
    // One item that still failed after the retries fails only its own key (its field), not the batch.
    const byId = new Map<string, MessageInfo | null | GatewayError>();
    results.forEach((result, i) => {
      if (!result.ok) return byId.set(missing[i]!, result.error.code === ErrorCode.NOT_FOUND ? null : result.error);
      const info = messageInfoOf(result.body as GmailMessage);
      if (info) this.#messages.remember(info);
      byId.set(missing[i]!, info);
    });
    return keys.map((k, i) => out[i] ?? byId.get(k) ?? null);
  }

  async openAttachment(messageKey: string, partKey: string, options?: OpenAttachmentOptions): Promise<AttachmentContent> {
    const signal = options?.signal;
    signal?.throwIfAborted();
    const partId = typeof partKey === 'string' ? gmailPartIdOf(partKey) : null;
    if (typeof messageKey !== 'string' || !ID.test(messageKey) || partId === null) throw notFound('Attachment');
    // A zero-byte part needs no call at all when the message was read lately.
    const known = this.#messages.get(messageKey)?.attachments.find((a) => a.partId === partKey);
    if (known && known.size === 0) return { stream: Readable.from([]), size: 0, contentType: known.contentType, filename: known.filename };

    // The fast path: attachments.get with the id seen while listing, no messages.get.
    const hint = gmailDownloadHintOf(options?.hint);
    if (hint) {
      const base = { size: hint.size, contentType: hint.contentType, filename: hint.filename };
      if (hint.size === 0) return { ...base, stream: Readable.from([]) };
      try {
        return { ...base, stream: await this.#attachmentStream(messageKey, hint.attachmentId, hint.size, signal) };
      } catch (error) {
        // The listed id went stale (or never was this message's): one lookup, one more try.
        if (!isGmailFailure(error, 'stale-attachment-id') && !isGmailFailure(error, 'not-found') && !isGmailFailure(error, 'invalid-id')) throw error;
      }
      return this.#openByLookup(messageKey, partKey, partId, 1, signal);
    }
    return this.#openByLookup(messageKey, partKey, partId, 2, signal);
  }

  /**
   * messages.get (a `fields` mask) for a current attachmentId, then attachments.get; a stale-id
   * answer re-reads the message while `tries` allow.
   */
  async #openByLookup(messageKey: string, partKey: string, partId: string, tries: number, signal: AbortSignal | undefined): Promise<AttachmentContent> {
    for (let read = 1; ; read++) {
      const message = (await this.#getJson(
        gmailPath('users', 'me', 'messages', messageKey),
        { format: 'full', fields: 'id,payload' },
        signal,
      )) as GmailMessage;
      const info = attachmentsOf(messageKey, message.payload).attachments.find((a) => a.partId === partKey);
      const part = findGmailPart(message.payload, partId);
      if (!info || !part) throw notFound('Attachment');
      const base = { size: info.size, contentType: info.contentType, filename: info.filename };
      if (info.size === 0) return { ...base, stream: Readable.from([]) };
      const attachmentId = part.body?.attachmentId;
      if (typeof attachmentId !== 'string' || attachmentId === '') {
        // Gmail inlined this small part in the message itself.
        const data = Buffer.from(part.body?.data ?? '', 'base64url');
        return { ...base, size: data.length, stream: Readable.from([data]) };
      }
      try {
        const stream = await this.#attachmentStream(messageKey, attachmentId, info.size, signal);
        return { ...base, stream };
      } catch (error) {
        // attachmentIds are ephemeral: a stale one is replaced by a fresh read while tries allow.
        if (read < tries && isGmailFailure(error, 'stale-attachment-id')) continue;
        throw error;
      }
    }
  }

  async close(): Promise<void> {
    this.#messages.clear();
  }

  /** Threads by id, in order: the conversation, null (unreadable), or the item's error. */
  async #readThreads(ids: readonly string[], signal: AbortSignal | undefined): Promise<(ConversationInfo | null | GatewayError)[]> {
    if (ids.length === 0) return [];
    const requests = ids.map((id): BatchRequest => ({ path: gmailPath('users', 'me', 'threads', id), query: { format: 'full', fields: THREAD_FIELDS } }));
    const results = await this.#batch(requests, signal);
    return results.map((result) => {
      if (!result.ok) return result.error;
      const read = conversationOf(result.body as GmailThread);
      if (!read) return null;
      for (const m of read.messages) this.#messages.remember(m);
      return read.conversation;
    });
  }

  /** A batch of GETs; calls answered 401 get a fresh token and one more try. */
  async #batch(requests: BatchRequest[], signal: AbortSignal | undefined): Promise<BatchItemResult[]> {
    const token = (s: AbortSignal) => this.#tokens.accessToken(s);
    const results = await batchGet(this.#fetch, this.#root, token, requests, { signal, limit: GMAIL_BATCH_LIMIT });
    const unauthorized = results.map((r, i) => (!r.ok && isGmailFailure(r.error, 'auth') && r.error.status === 401 ? i : -1)).filter((i) => i >= 0);
    if (unauthorized.length === 0) return throwWholeFailure(results);
    this.#tokens.invalidate();
    const again = await batchGet(
      this.#fetch,
      this.#root,
      token,
      unauthorized.map((i) => requests[i]!),
      { signal, limit: GMAIL_BATCH_LIMIT },
    );
    unauthorized.forEach((i, k) => (results[i] = again[k]!));
    return throwWholeFailure(results);
  }

  /** One GET answered with JSON, under the retry policy; a 401 refreshes the token once. */
  async #getJson(path: string, query: Record<string, string | number | undefined>, signal: AbortSignal | undefined): Promise<unknown> {
    const url = `${this.#root}${path}?${queryString(query)}`;
    let refreshed = false;
    for (;;) {
      try {
        return await retryUpstream(
          async ({ signal: attempt }) => {
            const token = await this.#tokens.accessToken(attempt);
            let response: Response;
            try {
              response = await this.#fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, signal: attempt });
            } catch (error) {
              if (attempt.aborted) throw attempt.reason;
              throw mapGmailError(error);
            }
            const text = await readBounded(response, MAX_JSON_BYTES, attempt);
            if (!response.ok) {
              const error = mapGmailAnswer({ status: response.status, body: text, headers: response.headers });
              if (response.status === 401) this.#tokens.invalidate(token);
              throw error;
            }
            try {
              return JSON.parse(text) as unknown;
            } catch {
              throw new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'Gmail sent an answer that is not JSON');
            }
          },
          { signal, mapError: mapGmailError },
        );
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (!refreshed && isGmailFailure(error, 'auth') && error.status === 401) {
          refreshed = true;
          continue;
        }
        throw error;
      }
    }
  }

  /**
   * attachments.get streamed: resolves once the `data` string has begun. 429/5xx before that are
   * retried; the stream then lives on the request's signal only (no budget cuts a long download).
   */
  async #attachmentStream(messageId: string, attachmentId: string, size: number | null, signal: AbortSignal | undefined): Promise<Readable> {
    if (!ID.test(attachmentId)) throw notFound('Attachment');
    const url = `${this.#root}${gmailPath('users', 'me', 'messages', messageId, 'attachments', attachmentId)}`;
    return retryUpstream(
      async ({ signal: attempt }) => {
        const token = await this.#tokens.accessToken(attempt);
        // The fetch lives on its own controller: the try's signal (the request's, and the retry
        // budget as the deadline to start) reaches it only until the data begins; the stream
        // then lives on the request's signal alone, so no budget cuts a long download.
        const controller = new AbortController();
        const onAttemptAbort = () => controller.abort(attempt.reason);
        const onAbort = () => controller.abort(signal?.reason);
        attempt.addEventListener('abort', onAttemptAbort, { once: true });
        signal?.addEventListener('abort', onAbort, { once: true });
        try {
          let response: Response;
          try {
            response = await this.#fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
          } catch (error) {
            if (controller.signal.aborted) throw controller.signal.reason;
            throw mapGmailError(error);
          }
          if (response.status === 401) this.#tokens.invalidate(token);
          const stream = await openAttachmentBody({ status: response.status, headers: response.headers, body: response.body }, { expectedSize: size, signal: controller.signal });
          stream.once('close', () => signal?.removeEventListener('abort', onAbort));
          return stream;
        } catch (error) {
          signal?.removeEventListener('abort', onAbort);
          if (controller.signal.aborted) throw controller.signal.reason;
          throw error;
        } finally {
          attempt.removeEventListener('abort', onAttemptAbort);
        }
      },
      { signal, budgetMs: ATTACHMENT_START_TIMEOUT_MS, mapError: mapGmailError },
    );
  }
}

/**
 * Gmail's `q` for a filter: `has:attachment`, `after:<epoch seconds>`, and each free word quoted
 * (quotes and control characters dropped, at most 500 characters), so user text is never read as
 * an operator. Undefined when the filter asks for nothing.
 */
export function searchQuery(filter: ConversationFilter | undefined): string | undefined {
  const terms: string[] = [];
  if (filter?.hasAttachments === true) terms.push('has:attachment');
  if (filter?.since instanceof Date && !Number.isNaN(filter.since.getTime())) terms.push(`after:${Math.max(0, Math.floor(filter.since.getTime() / 1000))}`);
  if (typeof filter?.search === 'string') {
    const words = filter.search
      .slice(0, MAX_SEARCH_CHARS)
      .replace(/["\p{Cc}]/gu, ' ')
      .split(/\s+/)
      .filter((w) => w !== '');
    for (const w of words) terms.push(`"${w}"`);
  }
  return terms.length > 0 ? terms.join(' ') : undefined;
}

/** The filter checked again on a conversation read (attachments by the shared policy, since by its dates). */
function matches(c: ConversationInfo, filter: ConversationFilter | undefined): boolean {
  if (filter?.hasAttachments != null && c.hasAttachments !== filter.hasAttachments) return false;
  if (filter?.since instanceof Date && (c.lastMessageAt === null || c.lastMessageAt < filter.since)) return false;
  return true;
}

function queryString(query: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
  return params.toString();
}

/** At most `max` bytes of a body as UTF-8 text; a longer body is PROVIDER_UNAVAILABLE. */
async function readBounded(response: Response, max: number, signal: AbortSignal): Promise<string> {
  let text: string | null;
  try {
    text = await readBodyLimited(response, max);
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw mapGmailError(error);
  }
  if (text === null) throw new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'Gmail sent a larger answer than the gateway reads');
  return text;
}

/**
 * The batch's results, or the one error of a failure of the whole batch (no token, the batch
 * request itself refused or unreachable: `batchGet` then gives every call the same error object),
 * thrown so the caller fails as a whole, as the provider contract asks; item failures stay per item.
 */
function throwWholeFailure(results: BatchItemResult[]): BatchItemResult[] {
  const first = results[0];
  if (first && !first.ok && results.every((r) => !r.ok && r.error === first.error)) throw first.error;
  return results;
}
