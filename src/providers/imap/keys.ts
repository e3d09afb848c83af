/**
 * Provider keys of IMAP messages and conversations, and the cursors of conversation pages.
 *
 * A message key is the JSON array `[folder path, UIDVALIDITY, UID]`: a UID names a message only
 * together with its folder's UIDVALIDITY (RFC 3501 §2.3.1.1), so a key minted before the folder
 * was recreated is recognised as stale. A conversation key is the message key of the thread's
 * oldest message.
 */
import { badInput } from '../../errors.ts';

/** The parts of a message key. */
export interface MessageRef {
  folder: string;
  uidValidity: number;
  uid: number;
}

/** Encodes a message key. */
export function encodeMessageKey(ref: MessageRef): string {
  return JSON.stringify([ref.folder, ref.uidValidity, ref.uid]);
}

/** Decodes a message key; null when malformed (keys are untrusted input). */
export function decodeMessageKey(key: string): MessageRef | null {
  if (typeof key !== 'string' || key.length > 2048) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(key);
  } catch {
    return null;
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) return null;
  const [folder, uidValidity, uid] = parsed as unknown[];
  if (typeof folder !== 'string' || folder === '') return null;
  if (!isUint32(uidValidity) || !isUint32(uid) || uid === 0) return null;
  return { folder, uidValidity, uid };
}

function isUint32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
}

/** Position after which the next page of conversations starts (sort: newest activity first, then key). */
export interface PageCursor {
  /** lastMessageAt of the last item, ms since the epoch (0 when unknown). */
  at: number;
  /** Conversation key of the last item. */
  key: string;
}

const CURSOR_PREFIX = 'imap1:';

/** Encodes a page cursor (opaque to clients). */
export function encodeCursor(cursor: PageCursor): string {
  return Buffer.from(CURSOR_PREFIX + JSON.stringify([cursor.at, cursor.key]), 'utf8').toString('base64url');
}

/**
 * Decodes a page cursor.
 * @throws GatewayError BAD_USER_INPUT when it is not a cursor this provider issued
 */
export function decodeCursor(cursor: string): PageCursor {
  const invalid = badInput('Invalid cursor');
  if (typeof cursor !== 'string' || cursor.length > 4096 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!text.startsWith(CURSOR_PREFIX)) throw invalid;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.slice(CURSOR_PREFIX.length));
  } catch {
    throw invalid;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw invalid;
  const [at, key] = parsed as unknown[];
  if (typeof at !== 'number' || !Number.isFinite(at) || typeof key !== 'string' || decodeMessageKey(key) === null) throw invalid;
  return { at, key };
}
