/**
 * The GraphQL context: who is asking (the workspace of the API key) and the per-request loaders.
 * Built once per GraphQL request by {@link createContextFactory}; an unauthenticated request never
 * reaches a resolver.
 */
import { GatewayError } from './errors.ts';
import { createLoaders, type Loaders, type ProviderLookup } from './loaders.ts';
import type { Logger } from './providers/types.ts';
import type { DownloadSigner } from './signing.ts';
import type { Store, Workspace } from './store/types.ts';

/** What every resolver sees. */
export interface GatewayContext {
  workspace: Workspace;
  /** The id of the API key of the request (download tokens minted with it stop working when it is revoked). */
  apiKeyId: string;
  requestId: string;
  logger: Logger;
  loaders: Loaders;
  signer: DownloadSigner;
  /** Base of signed download URLs, without a trailing slash. */
  publicUrl: string;
}

/** Dependencies of {@link createContextFactory}. */
export interface ContextDeps {
  store: Store;
  providers: ProviderLookup;
  signer: DownloadSigner;
  publicUrl: string;
  logger: Logger;
  /** The id of the current request (set by the server around each request). */
  requestId: () => string;
}

/**
 * The API key of a request: `Authorization: Bearer <key>` (RFC 6750 §2.1) or `X-Api-Key: <key>`;
 * null when neither is present.
 */
export function apiKeyOf(headers: Headers): string | null {
  const authorization = headers.get('authorization');
  if (authorization) {
    const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(authorization);
    if (match?.[1]) return match[1];
  }
  const key = headers.get('x-api-key')?.trim();
  return key ? key : null;
}

/**
 * Builds the yoga context factory.
 * @throws GatewayError UNAUTHENTICATED (HTTP 401) when the request has no API key or an unknown one
 */
export function createContextFactory(deps: ContextDeps): (initial: { request: Request }) => Promise<GatewayContext> {
  return async ({ request }) => {
    const key = apiKeyOf(request.headers);
    if (!key) throw new GatewayError('UNAUTHENTICATED', 'An API key is required: send "Authorization: Bearer <key>" or "X-Api-Key: <key>"');
    // Bounded so an absurd header cannot turn into an expensive hash; real keys are far shorter.
    const authenticated = key.length <= 512 ? await deps.store.authenticate(key) : null;
    if (!authenticated) throw new GatewayError('UNAUTHENTICATED', 'Unknown API key');
    const { workspace, keyId: apiKeyId } = authenticated;
    const requestId = deps.requestId();
    return {
      workspace,
      apiKeyId,
      requestId,
      logger: deps.logger.child({ requestId, workspaceId: workspace.id }),
      loaders: createLoaders({ workspaceId: workspace.id, store: deps.store, providers: deps.providers }),
      signer: deps.signer,
      publicUrl: deps.publicUrl,
    };
  };
}
