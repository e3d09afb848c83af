/**
 * Provider keys of IMAP messages and conversations (conversation pages use the shared list
 * cursors of `../paging.ts`).
 *
 * A message key is the JSON array `[folder path, UIDVALIDITY, UID]`: a UID names a message only
 * together with its folder's UIDVALIDITY (RFC 3501 §2.3.1.1), so a key minted before the folder
 * was recreated is recognised as stale. A conversation key is the message key of the thread's
 * oldest message.
 */

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
