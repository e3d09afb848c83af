/**
 * The LOCAL provider: a mail store on this machine — an mbox file (mboxrd/mboxo), a Maildir
 * (cur/ new/, Maildir++ subfolders such as `.Sent`), or a folder of `.eml` files — served through
 * the {@link MailProvider} interface. Settings: `{ path: string }`.
 *
 * The store is indexed once (see `./indexer.ts`, cached under `deps.dataDir/local-index/`);
 * every call checks cheaply (stat) whether the source changed and re-indexes then. Downloads read
 * only the attachment's byte range from the file and decode it while streaming.
 */
import path from 'node:path';
import { pipeline } from 'node:stream';
import { PassThrough } from 'node:stream';
import type {
  AttachmentContent,
  ConversationFilter,
  ConversationInfo,
  MailboxConfig,
  MailProvider,
  MessageInfo,
  Page,
  Progress,
  ProviderDeps,
  ProviderFactory,
} from '../types.ts';
import { GatewayError, badInput, notFound } from '../../errors.ts';
import { createTransferDecoder } from '../../mime/decode.ts';
import { compareConversations } from '../../threading/index.ts';
import { buildIndex, isIndexFresh, openRange } from './indexer.ts';
import type { IndexedMessage, LocalIndex } from './indexer.ts';
import { MboxrdUnquote } from './mbox.ts';
import { buildThreads } from './threads.ts';
import type { Threads } from './threads.ts';

/** Maildir folder names (Maildir++ `.Name`, last path element) that hold sent mail. */
const SENT_FOLDER = /^(?:inbox[./])?(?:sent|sent items|sent messages|sent mail|gesendet|gesendete (?:objekte|elemente)|envoy[ée]s|[ée]l[ée]ments envoy[ée]s|enviados|inviata|posta inviata)$/i;

/** Cursor format version; a cursor of another shape is refused. */
const CURSOR_PREFIX = 'lc1';

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
    this.#cacheFile = path.join(deps.dataDir, 'local-index', `${mailbox.id.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
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
      messageIdHeader: m.messageId,
      inReplyTo: m.inReplyTo,
      references: m.references,
      direction: this.#direction(m),
      attachments: m.attachments,
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
  async listConversations(args: { first: number; after?: string | null; filter?: ConversationFilter }): Promise<Page<ConversationInfo>> {
    if (!Number.isInteger(args.first) || args.first < 1 || args.first > 100) throw badInput('first must be an integer from 1 to 100');
    const after = args.after ? decodeCursor(args.after) : null;
    const state = await this.#load();
    const items: ConversationInfo[] = [];
    let hasNextPage = false;
    for (const c of state.threads.ordered) {
      if (after && compareConversations(c, after) <= 0) continue;
      if (!this.#matches(state, c, args.filter)) continue;
      if (items.length === args.first) {
        hasNextPage = true;
        break;
      }
      items.push(c);
    }
    const last = items[items.length - 1];
    return { items, hasNextPage, endCursor: last && hasNextPage ? encodeCursor(last) : null };
  }

  async loadConversations(keys: readonly string[]): Promise<(ConversationInfo | null)[]> {
    const state = await this.#load();
    return keys.map((k) => state.threads.conversations.get(k) ?? null);
  }

  async loadMessages(keys: readonly string[]): Promise<(MessageInfo | null)[]> {
    const state = await this.#load();
    return keys.map((k) => {
      const m = state.byKey.get(k);
      return m ? this.#toMessage(state, m) : null;
    });
  }

  /**
   * Streams one attachment's decoded bytes from its byte range in the store.
   * @throws GatewayError NOT_FOUND for an unknown message key or part; PROVIDER_UNAVAILABLE when the store cannot be read
   */
  async openAttachment(messageKey: string, partId: string, options?: { signal?: AbortSignal }): Promise<AttachmentContent> {
    const state = await this.#load();
    const m = state.byKey.get(messageKey);
    const info = m?.attachments.find((a) => a.partId === partId);
    const range = m?.parts[partId];
    if (!m || !info || !range) throw notFound('Attachment');
    options?.signal?.throwIfAborted();
    const raw = openRange(m.file, m.offset + range.start, m.offset + range.end);
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

  async close(): Promise<void> {
    this.#state = null;
  }
}

function encodeCursor(c: ConversationInfo): string {
  return Buffer.from(JSON.stringify([CURSOR_PREFIX, c.lastMessageAt?.getTime() ?? null, c.key]), 'utf8').toString('base64url');
}

/** Decodes a listing cursor into the sort position it stands for. @throws GatewayError BAD_USER_INPUT */
function decodeCursor(cursor: string): ConversationInfo {
  let parsed: unknown;
  try {
    if (!/^[A-Za-z0-9_-]{1,2048}$/.test(cursor)) throw new Error('shape');
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badInput('Invalid cursor');
  }
  if (!Array.isArray(parsed) || parsed.length !== 3 || parsed[0] !== CURSOR_PREFIX || (parsed[1] !== null && typeof parsed[1] !== 'number') || typeof parsed[2] !== 'string') {
    throw badInput('Invalid cursor');
  }
  return { key: parsed[2], lastMessageAt: parsed[1] === null ? null : new Date(parsed[1]), subject: null, participants: [], messageKeys: [], hasAttachments: false };
}
