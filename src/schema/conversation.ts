/** Conversation: a thread of received and sent messages, and the attachments across all of them. */
import { badInput } from '../errors.ts';
import { parseKeyParts } from '../ids.ts';
import { AddressRef } from './address.ts';
import { builder } from './builder.ts';
import { forwardConnection, forwardPageArgs } from './connections.ts';
import { offsetConnection } from './pagination.ts';
import { AttachmentRef, ConversationRef, MessageRef, type AttachmentShape, type ConversationShape } from './refs.ts';

const ConversationMessagesConnection = forwardConnection(MessageRef, 'ConversationMessagesConnection', 'the messages of a conversation, oldest first');

builder.node(ConversationRef, {
  description: 'A conversation (thread): the messages received and sent that belong together.',
  id: { resolve: (c) => JSON.stringify([c.mailboxId, c.info.key]) },
  loadOne: async (id, ctx): Promise<ConversationShape | null> => {
    const [mailboxId, key] = parseKeyParts('Conversation', id) as [string, string];
    if (!(await ctx.loaders.mailbox(mailboxId))) return null;
    const info = await ctx.loaders.conversation(mailboxId, key);
    return info ? { mailboxId, info } : null;
  },
  fields: (t) => ({
    subject: t.string({ nullable: true, description: 'Subject of the first message, reply prefixes kept as written.', resolve: (c) => c.info.subject }),
    participants: t.field({
      type: [AddressRef],
      description: 'Distinct senders and recipients, in order of first appearance.',
      resolve: (c) => c.info.participants,
    }),
    lastMessageAt: t.field({ type: 'DateTime', nullable: true, description: 'Date of the newest message.', resolve: (c) => c.info.lastMessageAt }),
    messages: t.field({
      type: ConversationMessagesConnection,
      // Nullable, like every field that reaches a provider: a provider failure nulls this field only.
      nullable: true,
      description:
        'The messages, received and sent, oldest first, paged forward with `first` and `after`. Null when the provider fails, with an error naming the mailbox (`extensions.mailboxId`, `extensions.provider`).',
      args: forwardPageArgs(t.arg),
      resolve: (c, args, ctx) =>
        offsetConnection(c.info.messageKeys, args, async (keys) => {
          const messages = await Promise.all(keys.map((key) => ctx.loaders.message(c.mailboxId, key)));
          return messages.map((info) => (info ? { mailboxId: c.mailboxId, info } : null));
        }),
    }),
    attachments: t.field({
      type: [AttachmentRef],
      nullable: true,
      description:
        'Every attachment of every message of the conversation, received and sent, in message date order then MIME order. ' +
        'With `includeInline: false` inline parts are left out, and the others keep their `index`. ' +
        'Null when the provider fails, with an error naming the mailbox (`extensions.mailboxId`, `extensions.provider`).',
      args: { includeInline: t.arg.boolean({ required: false, defaultValue: true, description: 'Include inline parts (Content-Disposition: inline, e.g. images shown in the body).' }) },
      resolve: async (c, args, ctx) => {
        const list = await ctx.loaders.conversationAttachments(c.mailboxId, c.info.key);
        const shown = args.includeInline === false ? list.filter((a) => a.info.disposition !== 'INLINE') : list;
        return shown.map((a): AttachmentShape => ({ mailboxId: c.mailboxId, message: a.message, info: a.info }));
      },
    }),
    attachmentsTruncated: t.boolean({
      description:
        "True when `attachments` misses attachments because a message's MIME structure passed the gateway's limits (see `Message.attachmentsTruncated` and `Message.attachmentCount` for which message and how many).",
      resolve: (c, _args, ctx) => ctx.loaders.conversationAttachmentsTruncated(c.mailboxId, c.info.key),
    }),
    attachment: t.field({
      type: AttachmentRef,
      nullable: true,
      description: 'The attachment at `index` in `attachments` (inline included); null past the end.',
      args: { index: t.arg.int({ required: true, description: 'Zero-based position, as `Attachment.index` gives it.' }) },
      resolve: async (c, args, ctx) => {
        if (args.index < 0) throw badInput('index must not be negative');
        const found = (await ctx.loaders.conversationAttachments(c.mailboxId, c.info.key))[args.index];
        return found ? { mailboxId: c.mailboxId, message: found.message, info: found.info } : null;
      },
    }),
  }),
});
