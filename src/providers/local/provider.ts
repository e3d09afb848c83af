/**
 * The LOCAL provider: a mail store on this machine — an mbox file (mboxrd/mboxo), a Maildir
 * (cur/ new/, Maildir++ subfolders such as `.Sent`), or a folder of `.eml` files — served through
 * the {@link MailProvider} interface. Settings: `{ path: string }`.
 *
 * The store is indexed once (see `./indexer.ts`, cached under `deps.dataDir/local-index/`);
 * every call checks cheaply (stat) whether the source changed and re-indexes then. Downloads read
 * only the attachment's byte range from the file and decode it while streaming.
 *
 * `CallOptions.signal` is honoured: a call whose signal aborts rejects with the signal's reason
 * at once, stops scanning (listings yield to the event loop every
 * `SCAN_SLICE` conversations in `../paging.ts` and look at the signal then) and closes what it opened. An
 * index being built is shared by every request of the mailbox, so an abort stops the waiting
 * for it, not the build.
 */
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream';
import { PassThrough } from 'node:stream';
import type { AttachmentInfo, ConversationInfo, MessageInfo } from '../../domain/mail.ts';
import type { Progress } from '../../domain/logger.ts';
import type { Page } from '../../domain/page.ts';
import type { AttachmentContent, CallOptions, ConversationFilter, MailboxConfig, MailProvider, ProviderDeps, ProviderFactory } from '../types.ts';
import { GatewayError, badInput, notFound } from '../../errors.ts';
import { createTransferDecoder } from '../../mime/decode.ts';
import { untilAborted } from '../../request-signal.ts';
import { pageOfList } from '../paging.ts';
import { buildIndex, isIndexFresh, openRange } from './indexer.ts';
import type { IndexedMessage, LocalIndex, PartRange } from './indexer.ts';
import { MboxrdUnquote } from './mbox.ts';
import { buildThreads } from './threads.ts';
import type { Threads } from './threads.ts';
import { localIndexFile } from './index-file.ts';

/** Maildir folder names (Maildir++ `.Name`, last path element) that hold sent mail. */
const SENT_FOLDER = /^(?:inbox[./])?(?:sent|sent items|sent messages|sent mail|gesendet|gesendete (?:objekte|elemente)|envoy[ée]s|[ée]l[ée]ments envoy[ée]s|enviados|inviata|posta inviata)$/i;

/** True for the errors of a path that no longer exists (or whose folder became a file). */
function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** A part whose file is open and matches the index. */
interface OpenPart {
  stale: null;
  handle: FileHandle;
  message: IndexedMessage;
  info: AttachmentInfo;
  range: PartRange;
}

/** What `#openPart` found: the open part, or why its file could not be used. */
type OpenedPart = OpenPart | { stale: 'missing' | 'changed' };

interface State {
  index: LocalIndex;
  threads: Threads;
  byKey: Map<string, IndexedMessage>;
}

/** Creates the LOCAL provider of one mailbox (nothing is read until first use). */
export const createLocalProvider: ProviderFactory = (mailbox: MailboxConfig, deps: ProviderDeps): MailProvider => new LocalProvider(mailbox, deps);

class LocalProvider implements MailProvider {
  readonly kind = 'LOCAL' as const;
  readonly #mailbox: MailboxConfig;
  readonly #deps: ProviderDeps;
  readonly #source: string;
  readonly #cacheFile: string;
  #state: State | null = null;
  #building: Promise<State> | null = null;
  #lastCheck = 0;

  constructor(mailbox: MailboxConfig, deps: ProviderDeps) {
    this.#mailbox = mailbox;
    this.#deps = deps;
    const p = mailbox.settings.path;
    if (typeof p !== 'string' || p.trim() === '') throw badInput('A LOCAL mailbox needs settings.path (an mbox file, a Maildir or a folder of .eml files)');
    this.#source = path.resolve(p);
    this.#cacheFile = localIndexFile(deps.dataDir, mailbox.id);
  }

  /** Indexes the store now (bytes progress); later calls only check for changes. */
  async prepare(onProgress?: (progress: Progress) => void): Promise<void> {
    await this.#load(onProgress, true);
  }

  async #load(onProgress?: (progress: Progress) => void, force = false): Promise<State> {
    if (this.#building) return this.#building;
    if (this.#state && !force) {
      // A stat per second at most: calls in one request burst share one check.
      if (Date.now() - this.#lastCheck < 1000) return this.#state;
      this.#lastCheck = Date.now();
      if (await isIndexFresh(this.#state.index)) return this.#state;
    }
    this.#building = (async () => {
      try {
        const index = await buildIndex({ source: this.#source, cacheFile: this.#cacheFile, logger: this.#deps.logger, onProgress });
        const threads = buildThreads(index.messages);
        const state: State = { index, threads, byKey: new Map(index.messages.map((m) => [m.key, m])) };
        this.#state = state;
        this.#lastCheck = Date.now();
        return state;
      } catch (error) {
        if (error instanceof GatewayError) throw error;
        const code = (error as NodeJS.ErrnoException).code;
        this.#deps.logger.error({ err: error, source: this.#source }, 'Cannot index the local mail store');
        throw new GatewayError('PROVIDER_UNAVAILABLE', code === 'ENOENT' ? 'The local mail store does not exist' : 'The local mail store cannot be read', { cause: error });
      } finally {
        this.#building = null;
      }
    })();
    return this.#building;
  }

  #direction(m: IndexedMessage): MessageInfo['direction'] {
    if (m.folder && SENT_FOLDER.test(m.folder)) return 'SENT';
    const own = this.#mailbox.address?.trim().toLowerCase();
    return own && m.from?.address?.toLowerCase() === own ? 'SENT' : 'RECEIVED';
  }

  #toMessage(state: State, m: IndexedMessage): MessageInfo {
    return {
      key: m.key,
      conversationKey: state.threads.conversationOf.get(m.key) ?? m.key,
      subject: m.subject,
      from: m.from,
      to: m.to,
      cc: m.cc,
      date: m.date == null ? null : new Date(m.date),
      messageId: m.messageId,
      inReplyTo: m.inReplyTo,
      references: m.references,
      direction: this.#direction(m),
      attachments: m.attachments,
      attachmentCount: m.attachmentCount,
      attachmentsTruncated: m.attachmentsTruncated,
    };
  }

  #matches(state: State, c: ConversationInfo, filter: ConversationFilter | undefined): boolean {
    if (!filter) return true;
    if (filter.hasAttachments != null && c.hasAttachments !== filter.hasAttachments) return false;
    const messages = c.messageKeys.map((k) => state.byKey.get(k)).filter((m): m is IndexedMessage => !!m);
    if (filter.since) {
      const since = filter.since.getTime();
      if (!messages.some((m) => m.date != null && m.date >= since)) return false;
    }
    const needle = filter.search?.trim().toLowerCase();
    if (needle) {
      const hit = messages.some((m) => {
        const texts = [m.subject, ...[m.from, ...m.to, ...m.cc].flatMap((a) => (a ? [a.name, a.address] : [])), ...m.attachments.map((a) => a.filename)];
        return texts.some((t) => t != null && t.toLowerCase().includes(needle));
      });
      if (!hit) return false;
    }
    return true;
  }

  /**
   * Conversations, newest activity first, filtered.
   * @throws GatewayError BAD_USER_INPUT for `first` outside 1..100 or a cursor not issued here
   */
  async listConversations(args: { first: number; after?: string | null; filter?: ConversationFilter }, options?: CallOptions): Promise<Page<ConversationInfo>> {
    const signal = options?.signal;
    const state = await untilAborted(this.#load(), signal);
    return pageOfList(state.threads.ordered, args, { matches: (c) => this.#matches(state, c, args.filter), ...(signal ? { signal } : {}) });
  }

  async loadConversations(keys: readonly string[], options?: CallOptions): Promise<(ConversationInfo | null)[]> {
    const state = await untilAborted(this.#load(), options?.signal);
    return keys.map((k) => state.threads.conversations.get(k) ?? null);
  }

  async loadMessages(keys: readonly string[], options?: CallOptions): Promise<(MessageInfo | null)[]> {
    const state = await untilAborted(this.#load(), options?.signal);
    return keys.map((k) => {
      const m = state.byKey.get(k);
      return m ? this.#toMessage(state, m) : null;
    });
  }

  /**
   * Streams one attachment's decoded bytes from its byte range in the store. The file is opened
   * and checked against the index before this returns, so a message deleted or truncated since
   * indexing is refused here (before any HTTP header is sent) and the stream reads the handle
   * opened then, even if the file is removed meanwhile.
   * @throws GatewayError NOT_FOUND for an unknown message key or part, or a message whose bytes are
   *   gone from the store; PROVIDER_UNAVAILABLE when the store cannot be read or keeps changing
   */
  async openAttachment(messageKey: string, partId: string, options?: CallOptions): Promise<AttachmentContent> {
    options?.signal?.throwIfAborted();
    const { handle, message: m, range, info } = await this.#openFresh(messageKey, partId, options?.signal);
    if (options?.signal?.aborted) {
      await handle.close();
      options.signal.throwIfAborted();
    }
    const raw = openRange(handle, m.offset + range.start, m.offset + range.end);
    const decoder = createTransferDecoder(range.encoding);
    const out = new PassThrough();
    // Stages: file range -> mboxrd unquoting (mbox only) -> transfer decoding -> consumer.
    // pipeline() forwards errors and destroys every stage (closing the file) when the consumer
    // destroys `out` or the signal aborts.
    const done = (error: NodeJS.ErrnoException | null) => {
      if (error && !out.destroyed) {
        this.#deps.logger.warn({ err: error, messageKey, partId }, 'Reading an attachment from the local store failed');
        out.destroy(new GatewayError('PROVIDER_UNAVAILABLE', 'The local mail store cannot be read', { cause: error }));
      }
    };
    if (m.mboxrd) pipeline(raw, new MboxrdUnquote(), decoder, out, done);
    else pipeline(raw, decoder, out, done);
    if (options?.signal) {
      const signal = options.signal;
      const onAbort = () => out.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      out.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    return { stream: out, size: info.size, contentType: info.contentType, filename: info.filename };
  }

  /**
   * Opens the file of one part, looking at the store again when the file is not what was indexed.
   * @throws GatewayError as {@link openAttachment} does
   */
  async #openFresh(messageKey: string, partId: string, signal: AbortSignal | undefined): Promise<OpenPart> {
    const first = await this.#openPart(await untilAborted(this.#load(), signal), messageKey, partId);
    if (first.stale === null) return first;
    // The file differs from what was indexed (a Maildir flag change renames it; an mbox was
    // rewritten, cut or removed): look at the store now rather than at the next periodic check.
    this.#lastCheck = 0;
    const state = await untilAborted(this.#load(), signal).catch((error: unknown) => {
      throw isMissing(error instanceof GatewayError ? error.cause : error) ? notFound('Attachment') : error;
    });
    const second = await this.#openPart(state, messageKey, partId);
    if (second.stale === null) return second;
    if (second.stale === 'missing') throw notFound('Attachment');
    throw new GatewayError('PROVIDER_UNAVAILABLE', 'The local mail store changed while the attachment was opened; try again');
  }

  /**
   * Opens the file of one indexed part and checks it still is what was indexed. `stale` says why
   * it is not: `missing` (the file is gone or too short for the part's bytes) or `changed` (its
   * size or mtime differ); the handle is closed then.
   * @throws GatewayError NOT_FOUND when the index has no such message or part; PROVIDER_UNAVAILABLE when the file cannot be read
   */
  async #openPart(state: State, messageKey: string, partId: string): Promise<OpenedPart> {
    const message = state.byKey.get(messageKey);
    const info = message?.attachments.find((a) => a.partId === partId);
    const range = message?.parts[partId];
    if (!message || !info || !range) throw notFound('Attachment');
    let handle: FileHandle;
    try {
      handle = await fsp.open(message.file, 'r');
    } catch (error) {
      if (isMissing(error)) return { stale: 'missing' };
      throw this.#unreadable(error, messageKey, partId);
    }
    let stale: 'missing' | 'changed' | null;
    try {
      const stat = await handle.stat();
      // An mbox has one stamp for the whole file; directory stores have one per message file.
      const indexed = state.index.mbox ? `${state.index.mbox.size}:${state.index.mbox.mtimeMs}` : message.stamp;
      if (stat.size < message.offset + range.end) stale = 'missing';
      else if (indexed !== undefined && indexed !== `${stat.size}:${stat.mtimeMs}`) stale = 'changed';
      else stale = null;
    } catch (error) {
      await handle.close();
      throw this.#unreadable(error, messageKey, partId);
    }
    if (stale) {
      await handle.close();
      return { stale };
    }
    return { stale: null, handle, message, info, range };
  }

  #unreadable(error: unknown, messageKey: string, partId: string): GatewayError {
    this.#deps.logger.warn({ err: error, messageKey, partId }, 'Opening an attachment in the local store failed');
    return new GatewayError('PROVIDER_UNAVAILABLE', 'The local mail store cannot be read', { cause: error });
  }

  async close(): Promise<void> {
    this.#state = null;
  }
}
