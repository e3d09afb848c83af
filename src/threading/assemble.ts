/**
 * Assembly of a {@link ConversationInfo} from the messages of one thread (as grouped by
 * `./link.ts` or by a server: IMAP THREAD, Gmail threadId, Graph conversationId), and the
 * listing order of conversations. Every provider builds its conversations here, so the
 * GraphQL layer sees the same shapes whatever the mailbox.
 */
import type { Address, ConversationInfo } from '../domain/mail.ts';

/** What assembly reads of a message. Any object with these fields will do. */
export interface AssemblableMessage {
  key: string;
  subject: string | null;
  from: Address | null;
  to: readonly Address[];
  cc: readonly Address[];
  /** Date header (or the provider's received time): a Date or epoch milliseconds; null when unknown. */
  date: Date | number | null;
  /** True when the message has an attachment (inline parts included). */
  hasAttachments: boolean;
}

/** Options of {@link assembleConversation}. */
export interface AssembleOptions {
  /**
   * The conversation key; default the key of the oldest message. A provider whose store only grows
   * may prefer its first message in store order (the local store does), which never changes when
   * an older-dated message arrives later.
   */
  key?: string;
}

/** Epoch milliseconds of a date, or null when absent or invalid. */
export function timeOf(date: Date | number | null | undefined): number | null {
  if (date == null) return null;
  const t = typeof date === 'number' ? date : date.getTime();
  return Number.isNaN(t) ? null : t;
}

/**
 * The messages oldest first by date; undated messages come first; ties (and undated messages
 * among themselves) keep their input order, so pass the messages in a stable provider order
 * (store order, folder and UID).
 */
export function oldestFirst<T extends { date?: Date | number | null }>(messages: readonly T[]): T[] {
  return messages
    .map((m, i) => ({ m, i, t: timeOf(m.date) ?? -Infinity }))
    .sort((a, b) => (a.t === b.t ? a.i - b.i : a.t < b.t ? -1 : 1))
    .map(({ m }) => m);
}

/**
 * Distinct senders and recipients (From, To, Cc of each message in the given order), in order of
 * first appearance, deduplicated by lower-cased address (by name when the address is missing;
 * entries with neither are skipped). The first spelling seen is kept.
 */
export function participantsOf(messages: readonly Pick<AssemblableMessage, 'from' | 'to' | 'cc'>[]): Address[] {
  const participants: Address[] = [];
  const seen = new Set<string>();
  for (const m of messages) {
    for (const a of [...(m.from ? [m.from] : []), ...m.to, ...m.cc]) {
      const id = (a.address ?? a.name ?? '').toLowerCase();
      if (id === '' || seen.has(id)) continue;
      seen.add(id);
      participants.push(a);
    }
  }
  return participants;
}

/**
 * The conversation of one thread: messages oldest first ({@link oldestFirst}), subject of the
 * oldest message as written, participants ({@link participantsOf}, in that order), the newest
 * date, and whether any message has an attachment.
 * @param messages the thread's messages, at least one, in a stable provider order
 * @throws Error when `messages` is empty
 */
export function assembleConversation(messages: readonly AssemblableMessage[], options: AssembleOptions = {}): ConversationInfo {
  const ordered = oldestFirst(messages);
  const oldest = ordered[0];
  if (!oldest) throw new Error('assembleConversation needs at least one message');
  // A loop, not Math.max(...times): spreading a thread of 200,000 messages overflows the stack.
  let newest: number | null = null;
  for (const m of ordered) {
    const t = timeOf(m.date);
    if (t !== null && (newest === null || t > newest)) newest = t;
  }
  return {
    key: options.key ?? oldest.key,
    subject: oldest.subject,
    participants: participantsOf(ordered),
    lastMessageAt: newest === null ? null : new Date(newest),
    messageKeys: ordered.map((m) => m.key),
    hasAttachments: ordered.some((m) => m.hasAttachments),
  };
}

/**
 * Listing order of conversations: newest activity first, undated last, ties by key (a total
 * order, as cursors need).
 */
export function compareConversations(a: ConversationInfo, b: ConversationInfo): number {
  const ta = a.lastMessageAt?.getTime() ?? -Infinity;
  const tb = b.lastMessageAt?.getTime() ?? -Infinity;
  if (ta !== tb) return tb - ta;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}
