/**
 * The IMAP provider (RFC 3501 / RFC 9051 via imapflow): INBOX and Sent of one mailbox as
 * conversations, messages and attachments; attachment bytes streamed on demand.
 *
 * Round trips: every operation first refreshes the folder indexes (`./folder-index.ts`: one STATUS
 * per folder when nothing changed); conversations come from the index; attachment sizes cost one
 * SELECT and one or two `UID FETCH ... BINARY.SIZE[..]` per folder for any number of messages and
 * are cached (IMAP messages are immutable under a UIDVALIDITY). {@link ImapProvider.stats} counts
 * the commands sent.
 *
 * Bounded waits: the pool (`./pool.ts`) bounds acquiring, connecting, the greeting and every
 * command, and caps downloads so that they never take the connection metadata needs. Every call
 * also stops waiting when its `CallOptions.signal` aborts (a command in flight for that call alone
 * is cut by closing its connection; a folder refresh shared with other callers runs on, bounded by
 * the command deadline). A mailbox that keeps failing is backed off by a circuit breaker
 * (cockatiel): after `breakerFailures` PROVIDER_UNAVAILABLE failures in a row it answers
 * PROVIDER_UNAVAILABLE at once, without contacting the server, for `breakerHalfOpenAfterMs`; then
 * one call is let through, and its success closes the breaker again.
 */
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen, type CircuitBreakerPolicy } from 'cockatiel';
import type { AttachmentInfo, ConversationInfo, MessageInfo } from '../../domain/mail.ts';
import type { Page } from '../../domain/page.ts';
import type { AttachmentContent, CallOptions, ConversationFilter, MailboxConfig, MailProvider, ProviderDeps, ProviderFactory } from '../types.ts';
import { GatewayError, NotDownloadableError, badInput, isGatewayError, notFound } from '../../errors.ts';
import { attachmentListing, describeAttachment, findPart, selectAttachmentParts } from '../../mime/attachments.ts';
import { transferEncodingFamily } from '../../mime/decode.ts';
import type { ImapFlow } from 'imapflow';
import { openPartStream } from './download.ts';
import { mapImapError } from './errors.ts';
import type { FolderIndex, MessageSummary } from './folder-index.ts';
import { refreshFolderIndex } from './folder-index.ts';
import type { MailFolders } from './folders.ts';
import { discoverFolders } from './folders.ts';
import { compareConversations } from '../../threading/index.ts';
import { decodeListCursor, pageOfList } from '../paging.ts';
import { decodeMessageKey } from './keys.ts';
import type { ImapConnectionSettings, ImapPoolOptions, ImapStats } from './pool.ts';
import { closeOnAbort, ImapPool } from './pool.ts';
import { atom, execRaw, searchNumbers } from './raw.ts';
import type { PartSize } from './sizes.ts';
import { measureParts } from './sizes.ts';
import { buildConversations } from './threading.ts';
import { IndexedImapReader } from './indexed.ts';
import { encodeMessageKey } from './keys.ts';

/** The IMAP provider with its command counters. */
export interface ImapProvider extends MailProvider {
  /** Commands and connections so far (for tests and benchmarks). */
  readonly stats: ImapStats;
}

/**
 * Reads `{ host, port, user, tls, starttls?, allowPlaintext? }` settings and `{ password }` credentials.
 * @throws GatewayError BAD_USER_INPUT when a setting is missing or of the wrong type
 */
export function imapSettings(mailbox: MailboxConfig): ImapConnectionSettings {
  const s = mailbox.settings;
  const host = s.host;
  const port = s.port;
  const user = s.user;
  const password = mailbox.credentials?.password;
  if (typeof host !== 'string' || host === '') throw badInput('IMAP setting host is required');
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw badInput('IMAP setting port must be 1..65535');
  if (typeof user !== 'string' || user === '') throw badInput('IMAP setting user is required');
  if (typeof password !== 'string') throw badInput('IMAP credential password is required');
  return { host, port, user, password, tls: s.tls === true, starttls: s.starttls === true, allowPlaintext: s.allowPlaintext === true };
}

/** Provider options beyond the mailbox: the pool's limits and deadlines, the breaker, threading. */
export interface ImapProviderOptions extends ImapPoolOptions {
  /** Use THREAD=REFERENCES when the server offers it; default true. */
  useServerThreads?: boolean;
  /** PROVIDER_UNAVAILABLE failures in a row that open the circuit breaker; default 5. */
  breakerFailures?: number;
  /** How long an open breaker answers at once before letting one call try the server again, ms; default 30 000. */
  breakerHalfOpenAfterMs?: number;
  /** With the mail index: a folder checked less than this long ago (ms) is taken as current; default 0 (every call sends STATUS). */
  indexCheckIntervalMs?: number;
}

/** Defaults of the breaker options of {@link ImapProviderOptions}. */
export const IMAP_BREAKER_DEFAULTS = { breakerFailures: 5, breakerHalfOpenAfterMs: 30_000 } as const;

/** Waits for `promise`, or rejects with the signal's reason as soon as it aborts (the work itself runs on). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Conversations built from the folder indexes, rebuilt when a folder index version changes. */
interface ConversationCache {
  versions: string;
  list: ConversationInfo[];
  byMessage: Map<string, ConversationInfo>;
}

class ImapProviderImpl implements ImapProvider {
  readonly kind = 'IMAP' as const;
  readonly #pool: ImapPool;
  readonly #deps: ProviderDeps;
  readonly #useServerThreads: boolean;
  #folders: MailFolders | null = null;
  readonly #indexes = new Map<string, FolderIndex>();
  #conversations: ConversationCache | null = null;
  readonly #sizes = new Map<string, Map<string, PartSize>>();
  #refreshing: Promise<void> | null = null;
  readonly #breaker: CircuitBreakerPolicy;
  readonly #halfOpenAfterMs: number;
  #brokenAt = 0;
  /** Reads from the persistent mail index when the deps give one; else the in-memory folder indexes. */
  readonly #reader: IndexedImapReader | null;

  constructor(mailboxId: string, settings: ImapConnectionSettings, deps: ProviderDeps, options: ImapProviderOptions) {
    this.#deps = deps;
    this.#reader = deps.mailIndex
      ? new IndexedImapReader(mailboxId, { ...deps.mailIndex, minIntervalMs: options.indexCheckIntervalMs ?? deps.mailIndex.minIntervalMs ?? 0 }, deps.logger, (fn) => this.#upstream(fn, undefined))
      : null;
    this.#pool = new ImapPool(settings, deps.logger, options);
    this.#useServerThreads = options.useServerThreads ?? true;
    this.#halfOpenAfterMs = options.breakerHalfOpenAfterMs ?? IMAP_BREAKER_DEFAULTS.breakerHalfOpenAfterMs;
    // Only an unreachable or failing server counts: refused credentials, throttling, NOT_FOUND and
    // a caller's abort say nothing about the server's health.
    this.#breaker = circuitBreaker(
      handleWhen((error) => isGatewayError(error) && error.code === 'PROVIDER_UNAVAILABLE'),
      { halfOpenAfter: this.#halfOpenAfterMs, breaker: new ConsecutiveBreaker(options.breakerFailures ?? IMAP_BREAKER_DEFAULTS.breakerFailures) },
    );
    this.#breaker.onBreak(() => {
      this.#brokenAt = Date.now();
      deps.logger.warn({ halfOpenAfterMs: this.#halfOpenAfterMs }, 'IMAP server keeps failing: circuit breaker open');
    });
    this.#breaker.onReset(() => deps.logger.info({}, 'IMAP server answers again: circuit breaker closed'));
  }

  /**
   * Runs upstream work through the circuit breaker.
   * @throws GatewayError PROVIDER_UNAVAILABLE (with `retryAfter`, seconds) at once while the breaker is open
   */
  async #guarded<T>(fn: () => Promise<T>): Promise<T> {
    // While the one half-open trial runs, cockatiel would make other callers wait for its outcome;
    // they are answered at once instead.
    if (this.#breaker.state === CircuitState.HalfOpen) throw this.#broken(null);
    try {
      return await this.#breaker.execute(fn);
    } catch (error) {
      if (error instanceof BrokenCircuitError) throw this.#broken(error);
      throw error;
    }
  }

  /** PROVIDER_UNAVAILABLE of an open breaker, with `retryAfter` = seconds until the next trial (at least 1). */
  #broken(cause: unknown): GatewayError {
    const retryAfter = Math.max(1, Math.ceil((this.#brokenAt + this.#halfOpenAfterMs - Date.now()) / 1000));
    return new GatewayError('PROVIDER_UNAVAILABLE', `The IMAP server of this mailbox keeps failing; the gateway tries it again in ${retryAfter} s`, {
      cause,
      retryAfter,
    });
  }

  /**
   * Runs `fn` on a pooled metadata connection, through the breaker, with imapflow's errors mapped
   * (inside the breaker, so that it sees PROVIDER_UNAVAILABLE) and the call cut when `signal` aborts.
   * @throws GatewayError PROVIDER_*; the signal's reason when it aborts
   */
  #upstream<T>(fn: (client: ImapFlow) => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    return this.#guarded(() =>
      this.#pool.use(fn, { signal }).catch((error: unknown) => {
        throw signal?.aborted ? error : mapImapError(error);
      }),
    );
  }

  get stats(): ImapStats {
    return this.#pool.stats;
  }

  /**
   * Refreshes INBOX and Sent indexes; concurrent callers share one refresh, and each stops waiting
   * when its own signal aborts (the refresh runs on for the others, bounded by the pool's deadlines).
   */
  async #refresh(signal?: AbortSignal): Promise<void> {
    if (this.#reader) {
      if (!this.#folders) {
        const folders = await untilAborted(this.#upstream((client) => discoverFolders(client), undefined), signal);
        this.#folders ??= folders;
      }
      const entries: [string, 'RECEIVED' | 'SENT'][] = [[this.#folders.inbox, 'RECEIVED']];
      if (this.#folders.sent) entries.push([this.#folders.sent, 'SENT']);
      return this.#reader.refresh(entries, signal);
    }
    if (!this.#refreshing) {
      // No signal: the refresh is shared, so no single caller may cut it.
      this.#refreshing = this.#upstream(async (client) => {
        if (!this.#folders) this.#folders = await discoverFolders(client);
        // Dovecot answers STATUS of the folder a session has selected from that session's view,
        // which misses a delete + recreate by another session (a new UIDVALIDITY): unselect first.
        if (client.mailbox) await client.mailboxClose();
        const useThread = this.#useServerThreads && client.capabilities.has('THREAD=REFERENCES');
        const entries: [string, 'RECEIVED' | 'SENT'][] = [[this.#folders.inbox, 'RECEIVED']];
        if (this.#folders.sent) entries.push([this.#folders.sent, 'SENT']);
        for (const [path, direction] of entries) {
          const index = await refreshFolderIndex(client, path, direction, this.#indexes.get(path) ?? null, useThread, this.#deps.logger);
          if (index) this.#indexes.set(path, index);
          else this.#indexes.delete(path);
        }
      }, undefined).finally(() => {
        this.#refreshing = null;
      });
    }
    return untilAborted(this.#refreshing, signal);
  }

  #conversationIndex(): ConversationCache {
    const folders = [...this.#indexes.values()];
    const versions = folders.map((f) => `${f.path}:${f.uidValidity}:${f.version}`).join('|');
    if (!this.#conversations || this.#conversations.versions !== versions) {
      const list = buildConversations(folders);
      const byMessage = new Map<string, ConversationInfo>();
      for (const c of list) for (const key of c.messageKeys) byMessage.set(key, c);
      this.#conversations = { versions, list, byMessage };
    }
    return this.#conversations;
  }

  #summary(key: string): MessageSummary | null {
    const ref = decodeMessageKey(key);
    if (!ref) return null;
    const index = this.#indexes.get(ref.folder);
    if (!index || index.uidValidity !== ref.uidValidity) return null;
    return index.byUid.get(ref.uid) ?? null;
  }

  async listConversations(args: { first: number; after?: string | null; filter?: ConversationFilter }, options: CallOptions = {}): Promise<Page<ConversationInfo>> {
    if (!Number.isInteger(args.first) || args.first < 1 || args.first > 100) throw badInput('first must be between 1 and 100');
    // Refuse a forged cursor before any upstream work.
    if (args.after != null) decodeListCursor(args.after);
    await this.#refresh(options.signal);
    const filter = args.filter ?? {};
    if (this.#reader) {
      const search = filter.search?.trim();
      const matching = search ? await this.#search(search, options.signal) : null;
      return this.#reader.listConversations(args, matching, options.signal);
    }
    let list = [...this.#conversationIndex().list];
    if (filter.hasAttachments != null) list = list.filter((c) => c.hasAttachments === filter.hasAttachments);
    if (filter.since) {
      const since = filter.since.getTime();
      list = list.filter((c) => c.messageKeys.some((k) => (this.#summary(k)?.date?.getTime() ?? 0) >= since));
    }
    if (filter.search != null && filter.search.trim() !== '') {
      const matching = await this.#search(filter.search.trim(), options.signal);
      list = list.filter((c) => c.messageKeys.some((k) => matching.has(k)));
    }
    list.sort(compareConversations);
    return pageOfList(list, args, options.signal ? { signal: options.signal } : {});
  }

  /** Message keys matching `text` by IMAP SEARCH TEXT (RFC 3501 §6.4.4) in each folder. */
  async #search(text: string, signal: AbortSignal | undefined): Promise<Set<string>> {
    if (text.length > 512) throw badInput('search is too long');
    // Checked here too (not only in the schema): the text goes into an IMAP command line, where CR
    // or LF would end the command and NUL is forbidden (RFC 3501 §4.3, §9).
    if (/[\r\n\0]/.test(text)) throw badInput('search must not contain CR, LF or NUL characters');
    const keys = new Set<string>();
    if (this.#reader) {
      const folders = await this.#reader.uidValidities();
      await this.#upstream(async (client) => {
        for (const [folder, uidValidity] of folders) {
          await client.mailboxOpen(folder, { readOnly: true });
          await execRaw(client, 'UID SEARCH', [atom('CHARSET'), atom('UTF-8'), atom('TEXT'), { type: 'STRING', value: text }], 'SEARCH', (untagged) => {
            for (const uid of searchNumbers(untagged)) keys.add(encodeMessageKey({ folder, uidValidity, uid }));
          });
        }
      }, signal);
      return keys;
    }
    await this.#upstream(async (client) => {
      for (const index of this.#indexes.values()) {
        await client.mailboxOpen(index.path, { readOnly: true });
        await execRaw(client, 'UID SEARCH', [atom('CHARSET'), atom('UTF-8'), atom('TEXT'), { type: 'STRING', value: text }], 'SEARCH', (untagged) => {
          for (const uid of searchNumbers(untagged)) {
            const summary = index.byUid.get(uid);
            if (summary) keys.add(summary.key);
          }
        });
      }
    }, signal);
    return keys;
  }

  async loadConversations(keys: readonly string[], options: CallOptions = {}): Promise<(ConversationInfo | null)[]> {
    await this.#refresh(options.signal);
    if (this.#reader) return this.#reader.loadConversations(keys);
    const { byMessage } = this.#conversationIndex();
    return keys.map((key) => (this.#summary(key) ? (byMessage.get(key) ?? null) : null));
  }

  async loadMessages(keys: readonly string[], options: CallOptions = {}): Promise<(MessageInfo | null)[]> {
    await this.#refresh(options.signal);
    if (this.#reader) return this.#reader.loadMessages(keys);
    const summaries = keys.map((key) => this.#summary(key));
    await this.#ensureSizes(summaries.filter((s): s is MessageSummary => s !== null), options.signal);
    const { byMessage } = this.#conversationIndex();
    return summaries.map((s) => (s ? this.#messageInfo(s, byMessage.get(s.key)?.key ?? s.key) : null));
  }

  /** The attachments of a message with their count and truncation flag (`src/mime/limits.ts`). */
  #attachments(summary: MessageSummary): { list: AttachmentInfo[]; count: number; truncated: boolean } {
    // No structure: the server answered BODYSTRUCTURE with NIL, or imapflow replaced one nested
    // deeper than its parser allows by NIL. Its attachments are unknown, which is said, not hidden.
    if (!summary.structure) return { list: [], count: 0, truncated: true };
    const sizes = this.#sizes.get(summary.key);
    const listing = attachmentListing(summary.structure);
    const list = listing.parts.map((part) => {
      const size = sizes?.get(part.partId) ?? { size: null, exact: false };
      return { ...describeAttachment(part), size: size.size, sizeExact: size.exact };
    });
    return { list, count: listing.count, truncated: listing.truncated };
  }

  #messageInfo(s: MessageSummary, conversationKey: string): MessageInfo {
    const attachments = this.#attachments(s);
    return {
      key: s.key,
      conversationKey,
      subject: s.subject,
      from: s.from,
      to: s.to,
      cc: s.cc,
      date: s.date,
      messageId: s.messageId,
      inReplyTo: s.inReplyTo,
      references: s.references,
      direction: s.direction,
      attachments: attachments.list,
      attachmentCount: attachments.count,
      attachmentsTruncated: attachments.truncated,
    };
  }

  /** Measures attachment sizes of messages not measured yet: one SELECT and one or two FETCH per folder. */
  async #ensureSizes(summaries: MessageSummary[], signal: AbortSignal | undefined): Promise<void> {
    const byFolder = new Map<string, MessageSummary[]>();
    for (const s of summaries) {
      if (this.#sizes.has(s.key) || !s.structure) continue;
      if (selectAttachmentParts(s.structure).length === 0) {
        this.#sizes.set(s.key, new Map());
        continue;
      }
      const list = byFolder.get(s.folder) ?? [];
      list.push(s);
      byFolder.set(s.folder, list);
    }
    if (byFolder.size === 0) return;
    await this.#upstream(async (client) => {
      for (const [folder, list] of byFolder) {
        await client.mailboxOpen(folder, { readOnly: true });
        const measured = await measureParts(
          client,
          list.map((s) => ({ uid: s.uid, structure: s.structure!, parts: selectAttachmentParts(s.structure!) })),
          this.#deps.logger,
        );
        for (const s of list) this.#sizes.set(s.key, measured.get(s.uid) ?? new Map());
      }
    }, signal);
  }

  /**
   * Opens the decoded bytes of one attachment. The stream holds one pooled connection (a download
   * lease, capped per mailbox) until it ends or is destroyed; aborting `options.signal` destroys it.
   * @throws GatewayError NOT_FOUND, NOT_DOWNLOADABLE, PROVIDER_THROTTLED (downloads at the cap, with
   *   `retryAfter`), PROVIDER_UNAVAILABLE, PROVIDER_AUTH_FAILED; the signal's reason when it aborts first
   */
  async openAttachment(messageKey: string, partId: string, options: CallOptions = {}): Promise<AttachmentContent> {
    const { signal } = options;
    const ref = decodeMessageKey(messageKey);
    if (!ref || typeof partId !== 'string' || !/^\d+(\.\d+)*$/.test(partId)) throw notFound('Attachment');
    await this.#refresh(signal);
    let attachment: AttachmentInfo | undefined;
    let transferEncoding: string | null;
    let size: { size: number | null; exact: boolean } | undefined;
    if (this.#reader) {
      const indexed = await this.#reader.attachment(messageKey, partId);
      if (!indexed) throw notFound('Attachment');
      attachment = indexed;
      transferEncoding = indexed.encoding;
      size = { size: indexed.size, exact: indexed.sizeExact };
      if (!attachment.downloadable) throw new NotDownloadableError();
    } else {
      const summary = this.#summary(messageKey);
      if (!summary?.structure) throw notFound('Attachment');
      attachment = this.#attachments(summary).list.find((a) => a.partId === partId);
      const part = findPart(summary.structure, partId);
      if (!part || !attachment) throw notFound('Attachment');
      if (!attachment.downloadable) throw new NotDownloadableError();
      await this.#ensureSizes([summary], signal);
      size = this.#sizes.get(summary.key)?.get(partId);
      transferEncoding = part.encoding;
    }
    signal?.throwIfAborted();
    const encoding = transferEncodingFamily(transferEncoding) === 'identity' ? null : transferEncoding;
    const stream = await this.#guarded(async () => {
      const lease = await this.#pool.acquire({ signal, purpose: 'download' });
      // Until the stream exists, an abort cuts the commands of this lease alone.
      const untie = closeOnAbort(lease, signal);
      try {
        try {
          const selected = await lease.client.mailboxOpen(ref.folder, { readOnly: true });
          if (Number(selected.uidValidity) !== ref.uidValidity) {
            lease.release();
            throw notFound('Attachment');
          }
        } catch (error) {
          if (isGatewayError(error) && error.code === 'NOT_FOUND') throw error;
          lease.release(!lease.client.usable);
          throw error;
        }
        return await openPartStream(lease, ref.uid, partId, encoding);
      } catch (error) {
        throw signal?.aborted ? signal.reason : mapImapError(error);
      } finally {
        untie();
      }
    });
    if (signal) {
      const onAbort = (): void => {
        stream.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        stream.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
    return {
      stream,
      size: size?.exact ? size.size : null,
      contentType: attachment.contentType,
      filename: attachment.filename,
    };
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}

/** Creates the provider of an IMAP mailbox (no connection until first use), with extra options. */
export function createImapProviderWith(mailbox: MailboxConfig, deps: ProviderDeps, options: ImapProviderOptions = {}): ImapProvider {
  return new ImapProviderImpl(mailbox.id, imapSettings(mailbox), deps, options);
}

/** The registry's factory (see `src/providers/registry.ts`). */
export const createImapProvider: ProviderFactory = (mailbox, deps) => createImapProviderWith(mailbox, deps, deps.imap ?? {});
