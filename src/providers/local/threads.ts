/**
 * Conversations of the local store, by message headers only (`src/threading/`): messages linked
 * by Message-ID / In-Reply-To / References are one conversation; no subject merging, so two
 * unrelated mails both called "Re: hello" stay apart. Store order decides which of two mails
 * with one Message-ID owns it (the first; see `src/threading/link.ts`).
 *
 * A conversation's key is the key of its first message in store order, which stays stable while
 * the store only grows (an older-dated message arriving later does not change it).
 */
import { assembleConversation, compareConversations, threadMessages } from '../../threading/index.ts';
import type { ConversationInfo } from '../../domain/mail.ts';
import type { IndexedMessage } from './indexer.ts';

/** The threading result. */
export interface Threads {
  conversations: Map<string, ConversationInfo>;
  conversationOf: Map<string, string>;
  /** Conversations, newest activity first (ties by key), for listing. */
  ordered: ConversationInfo[];
}

/** Groups messages (in store order) into conversations. */
export function buildThreads(messages: readonly IndexedMessage[]): Threads {
  const views = messages.map((m) => ({ ...m, hasAttachments: m.attachmentCount > 0 }));
  const conversations = new Map<string, ConversationInfo>();
  const conversationOf = new Map<string, string>();
  for (const group of threadMessages(views)) {
    const info = assembleConversation(group, { key: group[0]!.key });
    conversations.set(info.key, info);
    for (const m of group) conversationOf.set(m.key, info.key);
  }
  const ordered = [...conversations.values()].sort(compareConversations);
  return { conversations, conversationOf, ordered };
}
