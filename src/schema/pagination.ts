/**
 * Relay cursor connections (https://relay.dev/graphql/connections.htm), forward only.
 *
 * Two cursor kinds, both opaque base64url JSON:
 * - provider pages: `["p", <provider cursor of the page start or null>, <items to skip>]`; the last
 *   edge of a page carries the provider's own `endCursor` with skip 0, earlier edges the page start
 *   plus their offset, so any edge cursor resumes right after that edge;
 * - offsets into a list we hold whole (a conversation's messages): `["o", <offset>]`.
 */
import { badInput } from '../errors.ts';

/** Largest page size. */
export const MAX_PAGE_SIZE = 100;
/** Page size when `first` is omitted. */
export const DEFAULT_PAGE_SIZE = 20;

/** The arguments of a forward connection. */
export interface ConnectionArgs {
  first?: number | null;
  after?: string | null;
}

/** One edge. */
export interface Edge<T> {
  cursor: string;
  node: T;
}

/** A connection result in the relay plugin's shape. */
export interface Connection<T> {
  edges: Edge<T>[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

/**
 * The page size of forward pagination.
 * @throws GatewayError BAD_USER_INPUT when `first` is outside 1..100
 */
export function pageSize(args: ConnectionArgs): number {
  const first = args.first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) throw badInput(`first must be an integer from 1 to ${MAX_PAGE_SIZE}`);
  return first;
}

function encodeCursor(value: unknown[]): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): unknown[] {
  if (cursor.length > 4096 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw badInput('Malformed cursor');
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value)) return value;
  } catch {
    // fall through to the uniform error
  }
  throw badInput('Malformed cursor');
}

/** A decoded provider-page cursor. */
export interface PageCursor {
  providerAfter: string | null;
  skip: number;
}

/** Encodes a provider-page cursor. */
export function encodePageCursor(cursor: PageCursor): string {
  return encodeCursor(['p', cursor.providerAfter, cursor.skip]);
}

/** Decodes an `after` argument of a provider-backed connection. @throws GatewayError BAD_USER_INPUT when malformed */
export function decodePageCursor(after: string | null | undefined): PageCursor {
  if (after == null) return { providerAfter: null, skip: 0 };
  const [kind, providerAfter, skip] = decodeCursor(after);
  if (kind !== 'p' || !(providerAfter === null || typeof providerAfter === 'string') || !Number.isInteger(skip) || (skip as number) < 0 || (skip as number) > MAX_PAGE_SIZE) {
    throw badInput('Malformed cursor');
  }
  return { providerAfter, skip: skip as number };
}

/**
 * Forward pagination over a list held whole. `load` gets the keys of the page and returns their
 * items (null for stale ones, which are left out).
 * @throws GatewayError BAD_USER_INPUT for a bad `first` or a malformed `after`
 */
export async function offsetConnection<K, T>(keys: readonly K[], args: ConnectionArgs, load: (keys: K[]) => Promise<(T | null)[]>): Promise<Connection<T>> {
  const first = pageSize(args);
  let start = 0;
  if (args.after != null) {
    const [kind, offset] = decodeCursor(args.after);
    if (kind !== 'o' || !Number.isInteger(offset) || (offset as number) < 0) throw badInput('Malformed cursor');
    start = (offset as number) + 1;
  }
  const slice = keys.slice(start, start + first);
  const items = await load(slice);
  const edges: Edge<T>[] = [];
  items.forEach((node, i) => {
    if (node !== null) edges.push({ cursor: encodeCursor(['o', start + i]), node });
  });
  const lastOffset = start + slice.length - 1;
  return {
    edges,
    pageInfo: {
      hasNextPage: start + first < keys.length,
      hasPreviousPage: start > 0,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: slice.length > 0 ? encodeCursor(['o', lastOffset]) : (args.after ?? null),
    },
  };
}
