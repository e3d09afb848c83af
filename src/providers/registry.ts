/**
 * One long-lived provider instance per mailbox, created on first use from the stored mailbox and
 * closed on shutdown. The per-request batching lives in the dataloaders (`src/loaders.ts`); this
 * registry only keeps connection pools and file handles from being rebuilt on every request.
 */
import type { MailboxConfig, MailProvider, ProviderDeps, ProviderFactory, ProviderKind } from './types.ts';
import { GatewayError } from '../errors.ts';
import { createImapProvider } from './imap/provider.ts';
import { createLocalProvider } from './local/provider.ts';

const FACTORIES: Partial<Record<ProviderKind, ProviderFactory>> = {
  IMAP: createImapProvider,
  LOCAL: createLocalProvider,
};

/** Builds the provider for a mailbox. @throws GatewayError PROVIDER_UNAVAILABLE for a provider kind this build does not serve yet */
export function createProvider(mailbox: MailboxConfig, deps: ProviderDeps): MailProvider {
  const factory = FACTORIES[mailbox.provider];
  if (!factory) throw new GatewayError('PROVIDER_UNAVAILABLE', `Provider ${mailbox.provider} is not available in this gateway build`);
  return factory(mailbox, deps);
}

/** Caches one provider per mailbox id. */
export class ProviderRegistry {
  readonly #deps: ProviderDeps;
  readonly #providers = new Map<string, MailProvider>();

  constructor(deps: ProviderDeps) {
    this.#deps = deps;
  }

  /** The provider of `mailbox`, created on first call. */
  get(mailbox: MailboxConfig): MailProvider {
    let provider = this.#providers.get(mailbox.id);
    if (!provider) {
      provider = createProvider(mailbox, { ...this.#deps, logger: this.#deps.logger.child({ mailbox: mailbox.id, provider: mailbox.provider }) });
      this.#providers.set(mailbox.id, provider);
    }
    return provider;
  }

  /** Closes every provider. */
  async close(): Promise<void> {
    const all = [...this.#providers.values()];
    this.#providers.clear();
    await Promise.allSettled(all.map((p) => p.close()));
  }
}
