/**
 * One long-lived provider instance per mailbox, created on first use from the stored mailbox and
 * closed on shutdown. The per-request batching lives in the dataloaders (`src/loaders.ts`); this
 * registry only keeps connection pools and file handles from being rebuilt on every request.
 */
import { createHash } from 'node:crypto';
import type { Store } from '../store/types.ts';
import type { MailboxConfig, MailboxCredentials, MailProvider, ProviderDeps, ProviderFactory, ProviderKind } from './types.ts';
import { GatewayError } from '../errors.ts';
import { createGmailProvider } from './gmail/provider.ts';
import { createImapProvider } from './imap/provider.ts';
import { createLocalProvider } from './local/provider.ts';
import { graphTokenSource } from './microsoft-graph/auth.ts';
import { createGraphProvider } from './microsoft-graph/provider.ts';

const FACTORIES: ProviderFactories = {
  GMAIL: (mailbox, deps) => createGmailProvider(mailbox, deps),
  MICROSOFT_GRAPH: (mailbox, deps) => createGraphProvider(mailbox, deps, graphTokenSource(mailbox, deps)),
  IMAP: createImapProvider,
  LOCAL: createLocalProvider,
};

/** The factories of a registry, by provider kind. */
export type ProviderFactories = Partial<Record<ProviderKind, ProviderFactory>>;

/**
 * Builds the provider for a mailbox with the built-in factories (or `factories`).
 * @throws GatewayError PROVIDER_UNAVAILABLE for a provider kind this build does not serve yet
 */
export function createProvider(mailbox: MailboxConfig, deps: ProviderDeps, factories: ProviderFactories = FACTORIES): MailProvider {
  const factory = factories[mailbox.provider];
  if (!factory) throw new GatewayError('PROVIDER_UNAVAILABLE', `Provider ${mailbox.provider} is not available in this gateway build`);
  return factory(mailbox, deps);
}

/**
 * The credential writer of one mailbox over `store` (see {@link MailboxCredentials}): scoped to the
 * mailbox's own workspace and id, so a provider can only ever write its own row. Marking logs a
 * warning for operators.
 */
export function mailboxCredentials(store: Pick<Store, 'saveCredentials' | 'markNeedsReconsent'>, mailbox: Pick<MailboxConfig, 'id' | 'workspaceId'>, logger: ProviderDeps['logger']): MailboxCredentials {
  return {
    save: (credentials) => store.saveCredentials(mailbox.workspaceId, mailbox.id, credentials),
    markNeedsReconsent: async (reason) => {
      await store.markNeedsReconsent(mailbox.workspaceId, mailbox.id, reason);
      logger.warn({ reason }, 'mailbox needs re-consent');
    },
  };
}

/** How long a provider replaced by a newer configuration of its mailbox is kept open for the work it still does (a download), ms. */
const RETIRED_CLOSE_AFTER_MS = 60_000;

/** What a provider was built from: a mailbox whose stored configuration differs gets a new provider. */
function fingerprintOf(mailbox: Pick<MailboxConfig, 'provider' | 'address' | 'settings' | 'credentials'>): string {
  return createHash('sha256').update(JSON.stringify([mailbox.provider, mailbox.address, mailbox.settings, mailbox.credentials])).digest('base64url');
}

/** Configurations a provider answers for: its own and its latest self-saved rotations. */
const KEPT_FINGERPRINTS = 8;

/**
 * Caches one provider per mailbox id. When the stored configuration of a mailbox changes (new
 * credentials from `mailbox update` or `mailbox connect` on any gateway instance, new settings), the
 * next request gets a provider built from it; credentials the provider saved itself (a rotated
 * refresh token) do not count as a change, also for a request that read the mailbox before the
 * rotation. The replaced provider is closed a minute later.
 */
export class ProviderRegistry {
  readonly #deps: Omit<ProviderDeps, 'credentials'>;
  readonly #store: Pick<Store, 'saveCredentials' | 'markNeedsReconsent'> | null;
  readonly #factories: ProviderFactories;
  /** By mailbox id: the provider and the fingerprints it serves (its configuration and what it saved itself). */
  readonly #providers = new Map<string, { provider: MailProvider; fingerprints: Set<string> }>();
  readonly #retired = new Set<MailProvider>();

  /**
   * @param store where providers save rotated credentials and mark re-consent; without it providers get no `credentials` writer
   * @param factories the provider factories by kind; the built-in ones by default
   */
  constructor(deps: Omit<ProviderDeps, 'credentials'>, store?: Pick<Store, 'saveCredentials' | 'markNeedsReconsent'>, factories: ProviderFactories = FACTORIES) {
    this.#deps = deps;
    this.#store = store ?? null;
    this.#factories = factories;
  }

  /** The provider of `mailbox`, created on first call, with its own logger and credential writer. */
  get(mailbox: MailboxConfig): MailProvider {
    const fingerprint = fingerprintOf(mailbox);
    const cached = this.#providers.get(mailbox.id);
    // A mailbox read before the provider saved a rotated token (a request's own snapshot) is
    // still this provider's: only a configuration it never had means a change.
    if (cached?.fingerprints.has(fingerprint)) return cached.provider;
    if (cached) this.#retire(cached.provider);
    const logger = this.#deps.logger.child({ mailbox: mailbox.id, provider: mailbox.provider });
    const entry = { provider: null as unknown as MailProvider, fingerprints: new Set([fingerprint]) };
    let credentials: MailboxCredentials | undefined;
    if (this.#store) {
      const writer = mailboxCredentials(this.#store, mailbox, logger);
      credentials = {
        save: async (saved) => {
          await writer.save(saved);
          // The provider already uses what it saved: the stored row is now its own configuration.
          entry.fingerprints.add(fingerprintOf({ ...mailbox, credentials: saved }));
          // Snapshots live as long as a request: the latest few rotations are all one can hold.
          if (entry.fingerprints.size > KEPT_FINGERPRINTS) entry.fingerprints.delete(entry.fingerprints.values().next().value!);
        },
        markNeedsReconsent: writer.markNeedsReconsent,
      };
    }
    entry.provider = createProvider(mailbox, { ...this.#deps, logger, ...(credentials ? { credentials } : {}) }, this.#factories);
    this.#providers.set(mailbox.id, entry);
    return entry.provider;
  }

  /** Closes every provider. */
  async close(): Promise<void> {
    const all = [...[...this.#providers.values()].map((e) => e.provider), ...this.#retired];
    this.#providers.clear();
    this.#retired.clear();
    await Promise.allSettled(all.map((p) => p.close()));
  }

  /** Closes a replaced provider once the work it may still do has had time to end. */
  #retire(provider: MailProvider): void {
    this.#retired.add(provider);
    setTimeout(() => {
      if (this.#retired.delete(provider)) void provider.close().catch((error: unknown) => this.#deps.logger.warn({ err: error }, 'closing a replaced provider failed'));
    }, RETIRED_CLOSE_AFTER_MS).unref();
  }
}
