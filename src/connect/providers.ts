/**
 * The consent providers `mailbox connect` knows, by provider kind: Gmail and Microsoft Graph
 * (delegated mode; application mode needs no consent flow). A provider joins by one more entry
 * here and its own {@link ConsentProvider}.
 */
import type { UpstreamConfig } from '../config-upstream.ts';
import { gmailConsent } from '../providers/gmail/consent.ts';
import { graphConsent } from '../providers/microsoft-graph/consent.ts';
import type { ProviderKind } from '../providers/types.ts';
import { ConsentError, type ConsentProvider } from './types.ts';

/** Builds a provider's consent side from the configuration; throws ConsentError `config` when its OAuth client is not set. */
type ConsentFactory = (config: Pick<UpstreamConfig, 'google' | 'microsoft'>) => ConsentProvider;

const FACTORIES: Partial<Record<ProviderKind, ConsentFactory>> = {
  GMAIL: (config) => gmailConsent(config.google),
  MICROSOFT_GRAPH: (config) => graphConsent(config.microsoft),
};

/** The provider kinds that can be connected through the consent flow. */
export const CONNECTABLE_PROVIDERS = Object.keys(FACTORIES) as ProviderKind[];

/**
 * The consent provider of `kind`.
 * @throws ConsentError `config` for a kind without a consent flow or without its OAuth client configured
 */
export function consentProviderFor(kind: ProviderKind, config: Pick<UpstreamConfig, 'google' | 'microsoft'>): ConsentProvider {
  const factory = FACTORIES[kind];
  if (!factory) throw new ConsentError(kind, 'config', `provider ${kind} has no consent flow in this gateway build`);
  return factory(config);
}
