/** One page of a list, with an opaque cursor for the next one (built by `src/providers/paging.ts`). */
export interface Page<T> {
  items: T[];
  /** Pass as `after` to get the next page; null when there is none. */
  endCursor: string | null;
  hasNextPage: boolean;
}
