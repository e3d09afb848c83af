/** Mailbox: a connected mail account of the workspace, and its conversations. */
import { isEmailAddress } from '../email-address.ts';
import { badInput } from '../errors.ts';
import { parseKeyParts } from '../ids.ts';
import type { ConversationFilter } from '../providers/types.ts';
import { builder } from './builder.ts';
import { ProviderKindEnum } from './enums.ts';
import { forwardConnection, forwardPageArgs } from './connections.ts';
import { decodePageCursor, encodePageCursor, MAX_PAGE_SIZE, pageSize, type Connection } from './pagination.ts';
import { ConversationRef, MailboxRef, type ConversationShape, type MailboxShape } from './refs.ts';

const MAX_SEARCH_LENGTH = 1000;


const ConversationFilterInput = builder.inputType('ConversationFilter', {
  description: 'Conditions on conversations; all given ones must hold.',
  fields: (t) => ({
    hasAttachments: t.boolean({ required: false, description: 'Only conversations with (true) or without (false) any attachment, inline parts included.' }),
    since: t.field({ type: 'DateTime', required: false, description: 'Only conversations with a message at or after this time.' }),
    search: t.string({
      required: false,
      description: `Free text matched against subjects, addresses and filenames with the provider's own search (IMAP TEXT, Gmail q, Graph $search); at most ${MAX_SEARCH_LENGTH} characters, without CR, LF or NUL (BAD_USER_INPUT).`,
    }),
  }),
});

const MailboxConversationsConnection = forwardConnection(ConversationRef, 'MailboxConversationsConnection', 'the conversations of a mailbox, newest activity first');

builder.node(MailboxRef, {
  description: 'A mailbox connected to the gateway: one account at one provider.',
  id: { resolve: (mailbox) => JSON.stringify([mailbox.id]) },
  loadOne: async (id, ctx): Promise<MailboxShape | null> => {
    const [mailboxId] = parseKeyParts('Mailbox', id) as [string];
    return ctx.loaders.mailbox(mailboxId);
  },
  fields: (t) => ({
    provider: t.field({ type: ProviderKindEnum, description: 'The service behind the mailbox.', resolve: (m) => m.provider }),
    address: t.field({
      type: 'EmailAddress',
      nullable: true,
      description: "The owner's email address, as configured; it tells sent from received mail. Null when none is configured.",
      resolve: (m) => (m.address !== null && isEmailAddress(m.address) ? m.address : null),
    }),
    displayName: t.exposeString('displayName', { nullable: true, description: 'A name for people, as configured.' }),
    needsReconsent: t.boolean({
      description:
        "True when the provider found the mailbox's grant revoked (an OAuth refresh refused with `invalid_grant`): its reads then fail with PROVIDER_AUTH_FAILED until an operator stores new credentials (`mailbox update`), which clears this.",
      resolve: (m) => m.needsReconsentAt != null,
    }),
    reconsentReason: t.string({
      nullable: true,
      description: 'Why the mailbox needs re-consent, in words (at most 500 characters); null when `needsReconsent` is false.',
      resolve: (m) => (m.needsReconsentAt != null ? (m.reconsentReason ?? null) : null),
    }),
    conversations: t.field({
      type: MailboxConversationsConnection,
      // Nullable: a mailbox whose provider fails (server down, credentials refused) nulls this
      // field only; the non-null list of mailboxes and every other mailbox keep their data.
      nullable: true,
      description:
        'Conversations (threads), newest activity first, paged forward with `first` and `after`.' +
        " Null when the mailbox's provider fails (PROVIDER_* code), with an error whose `extensions` name the mailbox (`mailboxId`, `provider`); the other mailboxes still answer.",
      args: {
        ...forwardPageArgs(t.arg),
        filter: t.arg({ type: ConversationFilterInput, required: false, description: 'Conditions on the conversations.' }),
      },
      resolve: async (mailbox, args, ctx): Promise<Connection<ConversationShape>> => {
        const first = pageSize(args);
        const { providerAfter, skip } = decodePageCursor(args.after);
        const filter: ConversationFilter = {};
        if (args.filter?.hasAttachments != null) filter.hasAttachments = args.filter.hasAttachments;
        if (args.filter?.since != null) filter.since = args.filter.since;
        if (args.filter?.search != null) {
          if (args.filter.search.length > MAX_SEARCH_LENGTH) throw badInput(`search must be at most ${MAX_SEARCH_LENGTH} characters`);
          // CR and LF end an IMAP command line and NUL is not allowed in one (RFC 3501 §4.3, §9).
          if (/[\r\n\0]/.test(args.filter.search)) throw badInput('search must not contain CR, LF or NUL characters');
          if (args.filter.search.trim() !== '') filter.search = args.filter.search;
        }
        const provider = await ctx.loaders.provider(mailbox.id);
        const page = await provider.listConversations({ first: Math.min(MAX_PAGE_SIZE, skip + first), after: providerAfter, filter });
        const items = page.items.slice(skip, skip + first);
        // The listing already holds each conversation whole: its fields must not load it again.
        await ctx.loaders.primeConversations(mailbox.id, items);
        const edges = items.map((info, i) => {
          const consumed = skip + i + 1;
          // The provider's own cursor can only resume after the last item of its page.
          const cursor =
            consumed === page.items.length && page.endCursor !== null
              ? encodePageCursor({ providerAfter: page.endCursor, skip: 0 })
              : encodePageCursor({ providerAfter, skip: consumed });
          return { cursor, node: { mailboxId: mailbox.id, info } };
        });
        return {
          edges,
          pageInfo: {
            hasNextPage: skip + first < page.items.length || page.hasNextPage,
            hasPreviousPage: providerAfter !== null || skip > 0,
            startCursor: edges[0]?.cursor ?? null,
            endCursor: edges.at(-1)?.cursor ?? args.after ?? null,
          },
        };
      },
    }),
  }),
});

builder.queryField('mailboxes', (t) =>
  t.field({
    // Items stay non-null: they come from the gateway's own store, and no field of Mailbox that
    // reaches a provider is non-null, so one failing mailbox cannot null its item or the list.
    type: [MailboxRef],
    description: 'The mailboxes of the workspace of the API key, oldest first.',
    resolve: (_root, _args, ctx) => ctx.loaders.mailboxes(),
  }),
);
