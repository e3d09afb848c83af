/**
 * One page of a Graph mailbox's conversations, newest activity first, from its messages.
 *
 * Graph lists messages, not conversations: `GET /messages?$orderby=receivedDateTime desc` gives
 * messages newest first, each with its `conversationId`, and a conversation's messages span many
 * list pages. So a page is made like this:
 *
 * 1. Messages are scanned newest first (`$filter=receivedDateTime le <cursor time>`, and
 *    `ge <since>` for the filter; the property of `$orderby` comes first in `$filter`, Graph's
 *    InefficientFilter rule). The first message seen of a conversation not decided yet makes it a
 *    candidate; candidates are collected until there are as many as the page still needs (and all
 *    messages received at the same instant as the last one, so ties are never cut).
 * 2. The candidates are read whole (one `$batch` request per conversation, through `load`), which
 *    gives each its newest `receivedDateTime` (its position) and its attachments.
 * 3. A candidate is listed when its position comes after the cursor (so a conversation shown on
 *    an earlier page, whose older messages the scan meets again, is not shown twice) and it passes
 *    the filter. `hasAttachments` is decided on the attachments read, inline ones included: Graph's
 *    own `hasAttachments` property ignores inline attachments, so it is never sent as a filter.
 * 4. Until the page is full, 1-3 repeat, within {@link LISTING_LIMITS} (list reads and candidates
 *    per page), so a filter that matches little costs a bounded amount per page: such a page may
 *    hold fewer than `first` conversations and still say `hasNextPage`.
 *
 * The cursor is the shared list cursor of `../paging.ts` (`lastMessageAt` and key of the last
 * conversation shown, the order of `compareConversations`), not Graph's `@odata.nextLink`: a
 * nextLink cannot say "after conversation X" once conversations span list pages. A page ends at a
 * conversation, so every conversation after the cursor is shown on exactly one page, whatever
 * arrived meanwhile (new activity moves a conversation to the top, as in Gmail).
 */
import type { ConversationInfo } from '../../domain/mail.ts';
import type { Page } from '../../domain/page.ts';
import { badInput, ErrorCode, isGatewayError } from '../../errors.ts';
import { compareConversations } from '../../threading/index.ts';
import { decodeListCursor, encodeListCursor, isAfter, type ListPosition } from '../paging.ts';
import type { ConversationFilter } from '../types.ts';
import type { GraphConversation } from './mapping.ts';

/** Bounds of one page's work. */
export const LISTING_LIMITS = {
  /** List reads (of {@link LIST_PAGE_SIZE} messages) per page. */
  maxListReads: 4,
  /** Conversations read per page, as a multiple of `first`. */
  maxCandidatesFactor: 4,
  /**
   * List reads per page while messages keep sharing one instant (ties are never cut within it:
   * 16 reads, 4,000 messages received in the same second). Past it the rest of that instant is
   * skipped, so a hostile mailbox cannot make a page read without end.
   */
  maxTieReads: 16,
} as const;

/** Messages per list read (`$top`; Graph allows up to 1000). */
export const LIST_PAGE_SIZE = 250;

/** One listed message: its conversation and when it was received (epoch ms). */
export interface ListedMessage {
  conversationId: string;
  receivedAt: number;
}

/** The scan of the mailbox's messages, newest first, a list read at a time. */
export interface MessageScan {
  /** The next read's messages (one list request); [] once the list has ended. */
  next(): Promise<ListedMessage[]>;
  /** True once the last read of the list was returned (Graph sent no `@odata.nextLink`). */
  readonly ended: boolean;
}

/** What a page needs from the provider. */
export interface ListingDeps {
  /** Opens a scan of messages received at or before `upTo` (ms, or no bound) and at or after `since`. */
  scan(range: { upTo: number | null; since: number | null }): MessageScan;
  /** Reads conversations whole, in the order of `keys`: the conversation, null (gone), or the key's own error. */
  load(keys: string[]): Promise<(GraphConversation | null | Error)[]>;
}

/** A page and every conversation read for it (the provider primes its caches with them). */
export interface GraphListing {
  page: Page<ConversationInfo>;
  read: GraphConversation[];
}

/**
 * One page (see the module docs).
 * @throws GatewayError BAD_USER_INPUT for `first` outside 1..100 or a foreign cursor; the first
 *   error of a conversation read other than NOT_FOUND; what `scan` throws
 */
export async function listConversationPage(deps: ListingDeps, args: { first: number; after?: string | null; filter?: ConversationFilter }): Promise<GraphListing> {
  const { first, filter } = args;
  if (!Number.isInteger(first) || first < 1 || first > 100) throw badInput('first must be an integer from 1 to 100');
  const position: ListPosition | null = args.after == null ? null : decodeListCursor(args.after);
  const since = filter?.since instanceof Date && !Number.isNaN(filter.since.getTime()) ? filter.since.getTime() : null;
  const scan = deps.scan({ upTo: position?.at ?? null, since });
  const maxCandidates = first * LISTING_LIMITS.maxCandidatesFactor;

  const decided = new Set<string>();
  const shown: ConversationInfo[] = [];
  const read: GraphConversation[] = [];
  let buffer: ListedMessage[] = [];
  let reads = 0;
  let candidates = 0;
  /** When the last message taken from the scan was received. */
  let lastTaken: number | null = null;

  /** The next message without taking it, reading more of the list when needed; null when the scan ended or its reads are used up. */
  const peek = async (tie: boolean): Promise<ListedMessage | null> => {
    while (buffer.length === 0) {
      if (scan.ended || reads >= (tie ? LISTING_LIMITS.maxTieReads : LISTING_LIMITS.maxListReads)) return null;
      reads++;
      buffer = await scan.next();
    }
    return buffer[0]!;
  };

  while (shown.length < first && candidates < maxCandidates) {
    const need = Math.min(first - shown.length, maxCandidates - candidates);
    const round: string[] = [];
    let lastAt: number | null = null;
    for (;;) {
      const m = await peek(round.length >= need);
      if (!m) break;
      // Enough for the round, unless the next message shares the last one's instant (a tie).
      if (round.length >= need && m.receivedAt !== lastAt) break;
      buffer.shift();
      lastTaken = m.receivedAt;
      if (decided.has(m.conversationId)) continue;
      decided.add(m.conversationId);
      round.push(m.conversationId);
      lastAt = m.receivedAt;
    }
    if (round.length === 0) break;
    candidates += round.length;
    const loaded = await deps.load(round);
    loaded.forEach((result) => {
      if (result instanceof Error) {
        if (isGatewayError(result) && result.code === ErrorCode.NOT_FOUND) return;
        throw result;
      }
      if (!result) return;
      read.push(result);
      const c = result.conversation;
      if (position && !isAfter(c, position)) return;
      if (!passes(c, filter, since)) return;
      shown.push(c);
    });
  }

  shown.sort(compareConversations);
  const items = shown.slice(0, first);
  const more = shown.length > first || buffer.length > 0 || !scan.ended;
  if (!more) return { page: { items, hasNextPage: false, endCursor: null }, read };
  const last = items.at(-1);
  return { page: { items, hasNextPage: true, endCursor: last ? encodeListCursor(last) : emptyPageCursor(position, lastTaken) }, read };
}

/**
 * The cursor of a page that showed nothing within its bounds but has more to scan: past every
 * message taken, keeping the conversations received at the last instant taken (they are decided
 * again; none of them was shown). When the scan did not even get past the cursor's own instant
 * (more messages at one instant than a page reads), past that instant, so paging always ends.
 */
function emptyPageCursor(position: ListPosition | null, lastTaken: number | null): string {
  const at = lastTaken ?? position?.at ?? 0;
  if (position && position.at === at) return encodeListCursor({ lastMessageAt: new Date(at - 1), key: '\u0000' });
  return encodeListCursor({ lastMessageAt: new Date(at), key: '\u0000' });
}

/** The filter checked on a conversation read whole (attachments inline included, since by its newest message). */
function passes(c: ConversationInfo, filter: ConversationFilter | undefined, since: number | null): boolean {
  if (filter?.hasAttachments != null && c.hasAttachments !== filter.hasAttachments) return false;
  if (since !== null && (c.lastMessageAt === null || c.lastMessageAt.getTime() < since)) return false;
  return true;
}
