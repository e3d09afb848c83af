/**
 * Gmail resources as JSON (https://developers.google.com/gmail/api/reference/rest/v1/users.messages,
 * users.threads, users.messages.attachments, Format), and the ephemeral attachment ids.
 *
 * - `format=full`: every part with `partId`, `mimeType`, `filename` ("" when unnamed), `headers`,
 *   `body` and `parts` (absent on leaves). `body` is `{size: 0}` for multiparts and empty parts,
 *   `{attachmentId, size}` for named, non-text, message/rfc822 and very large parts, else
 *   `{size, data}` with `data` base64url WITH `=` padding. `size` is the decoded byte count.
 * - `format=metadata`: no body; the payload carries the top part's `mimeType` and `headers`
 *   (only those named in `metadataHeaders`, case-insensitive, when given).
 * - `format=minimal`: id, threadId, labelIds, snippet, sizeEstimate, historyId, internalDate.
 * - `format=raw`: the minimal fields plus `raw`, the whole message, base64url with padding.
 * - Attachment ids: every full read of a message issues NEW ids for its parts (Gmail's are
 *   ephemeral). An id stays valid for {@link AttachmentIdPolicy.ttlMs} and for
 *   {@link AttachmentIdPolicy.maxLaterReads} later reads of the same message (default: forever).
 */
import crypto from 'node:crypto';
import type { StoredMessage, StoredPart } from './mailbox.ts';

/** Base64url with `=` padding, as Gmail's JSON carries bytes. */
export function base64urlPadded(bytes: Buffer): string {
  const s = bytes.toString('base64url');
  return s + '='.repeat((4 - (s.length % 4)) % 4);
}

/** When issued attachment ids stop working. Null fields never expire. */
export interface AttachmentIdPolicy {
  /** Age in ms after which an id is invalid. */
  ttlMs?: number | null;
  /** How many later full reads of the same message an id survives (0: invalid as soon as the message is read again). */
  maxLaterReads?: number | null;
}

interface IssuedId {
  messageId: string;
  partId: string;
  generation: number;
  issuedAt: number;
}

/** The registry of issued attachment ids. */
export class AttachmentIds {
  policy: AttachmentIdPolicy;
  private readonly issued = new Map<string, IssuedId>();
  private readonly reads = new Map<string, number>();
  /** How many ids were issued (a test may check ids are fresh). */
  issuedCount = 0;

  constructor(policy: AttachmentIdPolicy = {}) {
    this.policy = policy;
  }

  /** Starts a full read of a message: the generation the ids of this read belong to. */
  beginRead(messageId: string): number {
    const gen = (this.reads.get(messageId) ?? 0) + 1;
    this.reads.set(messageId, gen);
    return gen;
  }

  /** A new id for one part in the read `generation`. */
  issue(messageId: string, partId: string, generation: number): string {
    // Gmail's ids are long opaque base64url strings starting "ANGjdJ".
    const id = `ANGjdJ${crypto.randomBytes(96).toString('base64url')}`;
    this.issued.set(id, { messageId, partId, generation, issuedAt: Date.now() });
    this.issuedCount++;
    return id;
  }

  /** The partId an id names when it is valid for this message, else null. */
  resolve(messageId: string, id: string): string | null {
    const rec = this.issued.get(id);
    if (!rec || rec.messageId !== messageId) return null;
    const { ttlMs, maxLaterReads } = this.policy;
    if (ttlMs != null && Date.now() - rec.issuedAt >= ttlMs) return null;
    if (maxLaterReads != null && (this.reads.get(messageId) ?? 0) - rec.generation > maxLaterReads) return null;
    return rec.partId;
  }

  /** Makes every id issued so far invalid. */
  expireAll(): void {
    this.issued.clear();
  }
}

/** Message formats of messages.get / threads.get. */
export type MessageFormat = 'full' | 'metadata' | 'minimal' | 'raw';

function minimal(m: StoredMessage): Record<string, unknown> {
  return {
    id: m.id,
    threadId: m.threadId,
    labelIds: [...m.labelIds],
    snippet: m.snippet,
    sizeEstimate: m.raw.length,
    historyId: m.historyId,
    internalDate: String(m.internalDate),
  };
}

function renderPart(p: StoredPart, issue: (partId: string) => string): Record<string, unknown> {
  let body: Record<string, unknown>;
  if (p.bytes.length === 0) body = { size: 0 };
  else if (p.external) body = { attachmentId: issue(p.partId), size: p.bytes.length };
  else body = { size: p.bytes.length, data: base64urlPadded(p.bytes) };
  const out: Record<string, unknown> = { partId: p.partId, mimeType: p.mimeType, filename: p.filename, headers: p.headers.map((h) => ({ ...h })), body };
  if (p.parts.length > 0) out.parts = p.parts.map((c) => renderPart(c, issue));
  return out;
}

/**
 * A message resource in a format. A `full` read issues new attachment ids.
 * @param metadataHeaders header names for `metadata` (empty: all)
 */
export function renderMessage(m: StoredMessage, format: MessageFormat, ids: AttachmentIds, metadataHeaders: string[] = []): Record<string, unknown> {
  const out = minimal(m);
  if (format === 'raw') out.raw = base64urlPadded(m.raw);
  else if (format === 'metadata') {
    const wanted = new Set(metadataHeaders.map((h) => h.toLowerCase()));
    out.payload = { mimeType: m.payload.mimeType, headers: m.payload.headers.filter((h) => wanted.size === 0 || wanted.has(h.name.toLowerCase())).map((h) => ({ ...h })) };
  } else if (format === 'full') {
    const gen = ids.beginRead(m.id);
    out.payload = renderPart(m.payload, (partId) => ids.issue(m.id, partId, gen));
  }
  return out;
}

/** Finds a stored part by Gmail partId. */
export function findStoredPart(root: StoredPart, partId: string): StoredPart | null {
  if (root.partId === partId) return root;
  for (const c of root.parts) {
    if (partId === c.partId || partId.startsWith(`${c.partId}.`)) {
      const hit = findStoredPart(c, partId);
      if (hit) return hit;
    }
  }
  return null;
}
