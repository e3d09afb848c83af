/**
 * Limits on the MIME structure of one message, the same for every provider, so that a message
 * built to exhaust the gateway (100,000 parts, multiparts nested 1,000 deep) costs bounded time
 * and memory. What is cut is never dropped silently: the message reports how many attachments
 * were found and that its list is truncated (`MessageInfo.attachmentCount` and
 * `attachmentsTruncated`, the GraphQL `Message` fields of the same names). Documented in the
 * README ("Limits of a message's MIME structure").
 */

/** The limits; see {@link MIME_LIMITS} for the defaults. */
export interface MimeLimits {
  /**
   * Most MIME parts of one message that are read, below the message root: every node counts
   * (leaves, multipart containers, the parts of an enclosed message that IMAP describes). The
   * parts after it (in document order) are not looked at.
   */
  maxParts: number;
  /**
   * Deepest nesting read: the message root is depth 0, its children depth 1. A multipart at this
   * depth is kept without its children.
   */
  maxDepth: number;
  /** Most attachments listed per message (in MIME order); the count still includes the others. */
  maxAttachments: number;
  /**
   * Most bytes of one message the local store's parser reads (it holds them as one string, and V8
   * refuses strings past 512 Mi characters: a 600 MiB message made the whole store fail). A part
   * that runs past them is counted but not listed (its bytes are incomplete). IMAP servers parse
   * messages themselves, so this limit does not apply there.
   */
  maxParsedBytes: number;
}

/**
 * The defaults: 20,000 parts, depth 32, 10,000 attachments listed, 256 MiB parsed per message. A
 * message with 10,000 attachments and a body lists in full; one with 100,000 parts or nested 1,000
 * deep is cut and says so. Real mail nests a handful of levels and rarely carries more than a few
 * hundred parts.
 */
export const MIME_LIMITS: Readonly<MimeLimits> = Object.freeze({ maxParts: 20_000, maxDepth: 32, maxAttachments: 10_000, maxParsedBytes: 256 * 1024 * 1024 });

/**
 * The part budget of one message being read: how many more parts may be read. Shared by the
 * whole walk of one message, so that parts are counted in document order across all levels.
 */
export interface PartBudget {
  remaining: number;
}

/** A fresh budget of {@link MimeLimits.maxParts} for one message. */
export function partBudget(limits: Readonly<MimeLimits> = MIME_LIMITS): PartBudget {
  return { remaining: limits.maxParts };
}
