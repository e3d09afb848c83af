/**
 * Which mailbox an error came from. Every provider call made for a GraphQL request goes through a
 * provider wrapped by {@link attributeErrors}; an error it throws is remembered with its mailbox
 * (by identity, in a WeakMap: the error itself stays untouched), so that the GraphQL error mask
 * (`src/http/mask-error.ts`) can name the mailbox in `extensions.mailboxId` and
 * `extensions.provider` beside the error's own stable `extensions.code`.
 */
import type { MailboxConfig, MailProvider, ProviderKind } from './types.ts';

/** The mailbox an error belongs to: its store id and provider kind. */
export interface MailboxAttribution {
  mailboxId: string;
  provider: ProviderKind;
}

const attributions = new WeakMap<object, MailboxAttribution>();

/** Remembers that `error` (any object) came from `mailbox`; the first attribution wins. Returns `error`. */
export function attribute<E>(error: E, mailbox: Pick<MailboxConfig, 'id' | 'provider'>): E {
  if (typeof error === 'object' && error !== null && !attributions.has(error)) {
    attributions.set(error, { mailboxId: mailbox.id, provider: mailbox.provider });
  }
  return error;
}

/** The mailbox `error` was attributed to, or undefined. */
export function attributionOf(error: unknown): MailboxAttribution | undefined {
  return typeof error === 'object' && error !== null ? attributions.get(error) : undefined;
}

/** `results` with every per-key error (see `MailProvider.loadMessages`) attributed to `mailbox`. */
function attributeEach<R>(results: R[], mailbox: Pick<MailboxConfig, 'id' | 'provider'>): R[] {
  for (const result of results) if (result instanceof Error) attribute(result, mailbox);
  return results;
}

/** Wrappers by provider, then mailbox id (a test may serve several mailboxes with one provider). */
const wrapped = new WeakMap<MailProvider, Map<string, MailProvider>>();

/**
 * `provider` with every rejection of its read methods attributed to `mailbox` (one wrapper per
 * provider, reused). Arguments (the `CallOptions` with the request's signal included) pass through
 * unchanged; a synchronous throw becomes an attributed rejection as well. `prepare` and `close`
 * are the provider's own.
 */
export function attributeErrors(provider: MailProvider, mailbox: Pick<MailboxConfig, 'id' | 'provider'>): MailProvider {
  let byMailbox = wrapped.get(provider);
  if (!byMailbox) wrapped.set(provider, (byMailbox = new Map()));
  const known = byMailbox.get(mailbox.id);
  if (known) return known;
  // Methods are looked up at call time, not bound once: the provider object stays the authority.
  const guard = async <R>(call: () => Promise<R>): Promise<R> => {
    try {
      return await call();
    } catch (error) {
      throw attribute(error, mailbox);
    }
  };
  const wrapper: MailProvider = {
    kind: provider.kind,
    ...(provider.batchLimit === undefined ? {} : { batchLimit: provider.batchLimit }),
    listConversations: (...args) => guard(() => provider.listConversations(...args)),
    loadConversations: (...args) => guard(async () => attributeEach(await provider.loadConversations(...args), mailbox)),
    loadMessages: (...args) => guard(async () => attributeEach(await provider.loadMessages(...args), mailbox)),
    openAttachment: (...args) => guard(() => provider.openAttachment(...args)),
    ...(provider.prepare ? { prepare: (...args) => provider.prepare!(...args) } : {}),
    close: () => provider.close(),
  };
  byMailbox.set(mailbox.id, wrapper);
  return wrapper;
}
