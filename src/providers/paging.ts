/**
 * Pagination of `MailProvider.listConversations`, the one way for every provider.
 *
 * - Providers that hold the list (IMAP's folder index, the local store's index, test fakes) page
 *   it with {@link pageOfList}: keyset cursors on the listing order of
 *   `compareConversations` (newest activity first, undated last, ties by key), so a page resumes
 *   right after the last item shown even when conversations arrived or went meanwhile. The cursor
 *   is base64url JSON `["lc1", lastMessageAt ms | null, key]`, the format the local store has
 *   always issued: its old cursors keep working. IMAP's former `imap1:` cursors are still read
 *   (see {@link decodeListCursor}).
 * - Providers that page on the server (Gmail's `pageToken` query parameter and `nextPageToken`
 *   answer field of `users.threads.list`,
 *   https://developers.google.com/gmail/api/reference/rest/v1/users.threads/list; Graph's
 *   `@odata.nextLink`) pass the native token through unchanged: {@link nativePage} and
 *   {@link nativePageToken}, no codec of their own. Gmail documents the token as an opaque
 *   string; an empty or absent `nextPageToken` ends the list.
 *
 * Either way the cursor is the provider's `Page.endCursor`; the schema wraps it in its own
 * client cursor (`src/schema/pagination.ts`), which never looks inside.
 */
import type { ConversationInfo } from '../domain/mail.ts';
import type { Page } from '../domain/page.ts';
import { badInput } from '../errors.ts';
import { compareConversations } from '../threading/index.ts';

/** A position in the listing order: the `lastMessageAt` (epoch ms, null when undated) and key of a conversation. */
export interface ListPosition {
  at: number | null;
  key: string;
}

const LIST_CURSOR = 'lc1';
const LEGACY_IMAP_CURSOR = 'imap1:';
/** Longest cursor or native token accepted, in characters. */
export const MAX_CURSOR_LENGTH = 4096;
/** Conversations scanned between yields to the event loop (and abort checks) in {@link pageOfList}. */
export const SCAN_SLICE = 500;

/** Encodes the position of `c` as an opaque list cursor. */
export function encodeListCursor(c: Pick<ConversationInfo, 'lastMessageAt' | 'key'>): string {
  return Buffer.from(JSON.stringify([LIST_CURSOR, c.lastMessageAt?.getTime() ?? null, c.key]), 'utf8').toString('base64url');
}

/**
 * Decodes a list cursor. Also reads the `imap1:[at, key]` cursors the IMAP provider issued before
 * this helper (at 0 meant "undated" there, as null does here).
 * @throws GatewayError BAD_USER_INPUT for anything else (not issued by {@link encodeListCursor})
 */
export function decodeListCursor(cursor: string): ListPosition {
  const invalid = () => badInput('Invalid cursor');
  if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.startsWith(LEGACY_IMAP_CURSOR) ? `["${LEGACY_IMAP_CURSOR}",${text.slice(LEGACY_IMAP_CURSOR.length).replace(/^\[/, '')}` : text);
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) throw invalid();
  const [kind, at, key] = parsed as unknown[];
  if (typeof key !== 'string' || key === '') throw invalid();
  if (kind === LIST_CURSOR && (at === null || (typeof at === 'number' && Number.isFinite(at)))) return { at, key };
  if (kind === LEGACY_IMAP_CURSOR && typeof at === 'number' && Number.isFinite(at)) return { at: at === 0 ? null : at, key };
  throw invalid();
}

/** True when `c` comes after `position` in the listing order of `compareConversations`. */
export function isAfter(c: Pick<ConversationInfo, 'lastMessageAt' | 'key'>, position: ListPosition): boolean {
  const probe = { lastMessageAt: position.at === null ? null : new Date(position.at), key: position.key } as ConversationInfo;
  return compareConversations(c as ConversationInfo, probe) > 0;
}

/** Options of {@link pageOfList}. */
export interface PageOfListOptions {
  /** Keeps the conversations that pass the listing's filter; all when absent. */
  matches?: (c: ConversationInfo) => boolean;
  /** Checked every {@link SCAN_SLICE} conversations scanned; the page then rejects with its reason. */
  signal?: AbortSignal;
}

/**
 * One page of a list held whole, in listing order: the first `first` conversations after the
 * cursor `after` that pass `matches`. `ordered` must already be in `compareConversations` order
 * (it is not sorted here). Linear in the conversations scanned; a filtered scan of a big list
 * yields to the event loop every {@link SCAN_SLICE} items, so other requests keep running.
 * @throws GatewayError BAD_USER_INPUT for `first` outside 1..100 or a cursor not issued by {@link encodeListCursor}
 */
export async function pageOfList(ordered: Iterable<ConversationInfo>, args: { first: number; after?: string | null }, options: PageOfListOptions = {}): Promise<Page<ConversationInfo>> {
  if (!Number.isInteger(args.first) || args.first < 1 || args.first > 100) throw badInput('first must be an integer from 1 to 100');
  const after = args.after == null ? null : decodeListCursor(args.after);
  const items: ConversationInfo[] = [];
  let hasNextPage = false;
  let scanned = 0;
  for (const c of ordered) {
    if (++scanned % SCAN_SLICE === 0) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      options.signal?.throwIfAborted();
    }
    if (after && !isAfter(c, after)) continue;
    if (options.matches && !options.matches(c)) continue;
    if (items.length === args.first) {
      hasNextPage = true;
      break;
    }
    items.push(c);
  }
  const last = items.at(-1);
  return { items, hasNextPage, endCursor: last && hasNextPage ? encodeListCursor(last) : null };
}

/**
 * The native page token in `after`, for a provider that pages on the server: the token exactly as
 * the upstream issued it (Gmail `nextPageToken`, sent back as `pageToken`), or undefined for the
 * first page. Only its shape is checked here (1..4096 printable ASCII characters), so a forged
 * token is refused before it reaches the upstream; the upstream judges the rest.
 * @throws GatewayError BAD_USER_INPUT for a token of another shape
 */
export function nativePageToken(after: string | null | undefined): string | undefined {
  if (after == null) return undefined;
  if (typeof after !== 'string' || after.length === 0 || after.length > MAX_CURSOR_LENGTH || !/^[\x21-\x7e]+$/.test(after)) throw badInput('Invalid cursor');
  return after;
}

/** A page from a server-paged answer: `nextPageToken` (absent or empty on the last page) becomes the cursor unchanged. */
export function nativePage<T>(items: T[], nextPageToken: string | null | undefined): Page<T> {
  const token = typeof nextPageToken === 'string' && nextPageToken !== '' ? nextPageToken : null;
  return { items, endCursor: token, hasNextPage: token !== null };
}
