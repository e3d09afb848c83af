/**
 * Starting a connect: a new state and PKCE pair, the pending row (`Store.consents`), and the
 * provider's consent URL for the account owner to open.
 */
import type { ProviderKind } from '../providers/types.ts';
import type { Consent } from '../store/consents.ts';
import type { Store } from '../store/types.ts';
import { newPkcePair, newState } from './pkce.ts';
import type { ConsentProvider } from './types.ts';

/** The path of the callback route on the gateway. */
export const OAUTH_CALLBACK_PATH = '/oauth/callback';

/** The redirect URI to register with every provider: PUBLIC_URL followed by {@link OAUTH_CALLBACK_PATH}. */
export function redirectUriOf(publicUrl: string): string {
  return `${publicUrl.replace(/\/+$/, '')}${OAUTH_CALLBACK_PATH}`;
}

/** A started connect: the pending consent and the URL to open. */
export interface StartedConsent {
  consent: Consent;
  /** The provider's consent page, carrying the state and the code challenge. */
  url: string;
}

/**
 * Stores a pending consent and builds its consent URL.
 * @param args.expectedAddress the account the owner must consent with (sent as `login_hint`); null for any
 * @throws GatewayError NOT_FOUND when the workspace does not exist
 */
export async function startConsent(
  store: Store,
  provider: ConsentProvider,
  args: { workspaceId: string; redirectUri: string; expectedAddress: string | null; displayName: string | null },
): Promise<StartedConsent> {
  const state = newState();
  const { codeVerifier, codeChallenge } = newPkcePair();
  const kind: ProviderKind = provider.kind;
  const consent = await store.consents.create({ ...args, provider: kind, state, codeVerifier });
  return { consent, url: provider.authorizationUrl({ state, codeChallenge, redirectUri: args.redirectUri, loginHint: args.expectedAddress }) };
}
