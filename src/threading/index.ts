/**
 * Conversation threading shared by every provider:
 * - `./union-find.ts`: {@link UnionFind}, the grouping structure;
 * - `./link.ts`: grouping by Message-ID / In-Reply-To / References with the duplicate-id rule,
 *   optional RFC 5256 base-subject merge ({@link threadMessages}, {@link baseSubject});
 * - `./assemble.ts`: the `ConversationInfo` of a thread ({@link assembleConversation}) and the
 *   listing order ({@link compareConversations}).
 *
 * A provider with server-side threads (IMAP THREAD, Gmail threadId, Graph conversationId) joins
 * those groups with {@link joinMessages}, may add header links with {@link linkByIds}, and
 * assembles each group; one without (a local store) calls {@link threadMessages}.
 */
export { UnionFind } from './union-find.ts';
export { baseSubject, groupBy, joinMessages, linkByIds, mergeBySubject, normalizeMsgId, threadMessages } from './link.ts';
export type { LinkableMessage, ThreadOptions } from './link.ts';
export { assembleConversation, compareConversations, oldestFirst, participantsOf, timeOf } from './assemble.ts';
export type { AssemblableMessage, AssembleOptions } from './assemble.ts';
