/** Message: one received or sent message, its headers and its attachments in MIME order. */
import { notFound } from '../errors.ts';
import { MIME_LIMITS } from '../mime/limits.ts';
import { parseKeyParts } from '../ids.ts';
import { AddressRef } from './address.ts';
import { builder } from './builder.ts';
import { MessageDirectionEnum } from './enums.ts';
import { AttachmentRef, ConversationRef, MessageRef, type AttachmentShape, type MessageShape } from './refs.ts';

builder.node(MessageRef, {
  description: 'One message of a conversation, received or sent by the mailbox owner.',
  id: { resolve: (m) => JSON.stringify([m.mailboxId, m.info.key]) },
  loadOne: async (id, ctx): Promise<MessageShape | null> => {
    const [mailboxId, key] = parseKeyParts('Message', id) as [string, string];
    if (!(await ctx.loaders.mailbox(mailboxId))) return null;
    const info = await ctx.loaders.message(mailboxId, key);
    return info ? { mailboxId, info } : null;
  },
  fields: (t) => ({
    conversation: t.field({
      type: ConversationRef,
      nullable: true,
      description:
        'The conversation (thread) the message belongs to. Null with NOT_FOUND when it is gone, or with a PROVIDER_* error naming the mailbox when the provider fails.',
      resolve: async (m, _args, ctx) => {
        const info = await ctx.loaders.conversation(m.mailboxId, m.info.conversationKey);
        if (!info) throw notFound('Conversation');
        return { mailboxId: m.mailboxId, info };
      },
    }),
    subject: t.string({ nullable: true, description: 'The Subject header, RFC 2047 decoded.', resolve: (m) => m.info.subject }),
    from: t.field({ type: AddressRef, nullable: true, description: 'The From header (first mailbox).', resolve: (m) => m.info.from }),
    to: t.field({ type: [AddressRef], description: 'The To header.', resolve: (m) => m.info.to }),
    cc: t.field({ type: [AddressRef], description: 'The Cc header.', resolve: (m) => m.info.cc }),
    date: t.field({ type: 'DateTime', nullable: true, description: "The Date header, or the provider's received time when absent.", resolve: (m) => m.info.date }),
    messageIdHeader: t.string({ nullable: true, description: 'The Message-ID header with its angle brackets (RFC 5322 §3.6.4).', resolve: (m) => m.info.messageId }),
    inReplyTo: t.string({ nullable: true, description: 'The first msg-id of In-Reply-To, with angle brackets.', resolve: (m) => m.info.inReplyTo }),
    direction: t.field({ type: MessageDirectionEnum, description: 'Whether the mailbox owner received or sent it.', resolve: (m) => m.info.direction }),
    attachmentCount: t.field({
      type: 'NonNegativeInt',
      description:
        'How many attachments (inline parts included) the message holds as far as the gateway read its MIME structure. Equals the length of `attachments` unless `attachmentsTruncated` is true; then it also counts the attachments past the listing limit, and is a lower bound when the structure itself was cut.',
      resolve: (m) => m.info.attachmentCount,
    }),
    attachmentsTruncated: t.boolean({
      description: `True when \`attachments\` is not the whole list: more than ${MIME_LIMITS.maxAttachments} attachments (only the first are listed), or a MIME structure with more than ${MIME_LIMITS.maxParts} parts or nested deeper than ${MIME_LIMITS.maxDepth} levels (parts past these limits are not read), or a local-store message past its first ${MIME_LIMITS.maxParsedBytes / 1024 / 1024} MiB (a part running past them is counted, not listed). Never a silent drop.`,
      resolve: (m) => m.info.attachmentsTruncated,
    }),
    attachments: t.field({
      type: [AttachmentRef],
      // Nullable: an attachment's `index` reads the whole conversation from the provider, and a
      // failure there must not null the message.
      nullable: true,
      description:
        'The attachments of this message in MIME order (see `attachmentsTruncated` for the limits). Their `index` is their position in the whole conversation. Null when the provider fails while listing them, with an error naming the mailbox.',
      args: { includeInline: t.arg.boolean({ required: false, defaultValue: true, description: 'Include inline parts.' }) },
      resolve: (m, args) =>
        m.info.attachments
          .filter((a) => args.includeInline !== false || a.disposition !== 'INLINE')
          .map((info): AttachmentShape => ({ mailboxId: m.mailboxId, message: m.info, info })),
    }),
    attachment: t.field({
      type: AttachmentRef,
      nullable: true,
      description: 'The first attachment, in MIME order, whose decoded filename equals `filename` exactly; null when none does.',
      args: { filename: t.arg.string({ required: true, description: 'The decoded filename, e.g. "report.pdf".' }) },
      resolve: (m, args) => {
        const info = m.info.attachments.find((a) => a.filename === args.filename);
        return info ? { mailboxId: m.mailboxId, message: m.info, info } : null;
      },
    }),
  }),
});
