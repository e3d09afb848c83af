/** One page of a list, with an opaque cursor for the next one (see `src/domain/paging.ts` for building them). */
export interface Page<T> {
  items: T[];
  /** Pass as `after` to get the next page; null when there is none. */
  endCursor: string | null;
  hasNextPage: boolean;
}
