/**
 * The GraphQL context: who is asking (the workspace of the API key), the request's AbortSignal and
 * the per-request loaders. Built once per GraphQL request by {@link createContextFactory}, after
 * `useApiKey` (src/http/use-api-key.ts) accepted the key before parsing; an unauthenticated request
 * never reaches a resolver.
 */
import { GatewayError } from './errors.ts';
import type { Authenticate } from './http/api-key-cache.ts';
import { apiKeyOf, authenticatedKeyOf } from './http/use-api-key.ts';
import { requestSignalOf } from './http/use-deadline.ts';
import { createLoaders, type Loaders, type ProviderLookup } from './loaders.ts';
export { apiKeyOf } from './http/use-api-key.ts';
import type { Logger } from './domain/logger.ts';
import type { DownloadSigner } from './signing.ts';
import type { Store, Workspace } from './store/types.ts';

/** What every resolver sees. */
export interface GatewayContext {
  workspace: Workspace;
  /** The id of the API key of the request (download tokens minted with it stop working when it is revoked). */
  apiKeyId: string;
  requestId: string;
  /**
   * Aborts when the client goes away or the request's deadline passes; the loaders pass it to
   * every provider call. Its reason is a DOMException AbortError or a GatewayError DEADLINE_EXCEEDED.
   */
  signal: AbortSignal;
  logger: Logger;
  loaders: Loaders;
  signer: DownloadSigner;
  /** Base of signed download URLs, without a trailing slash. */
  publicUrl: string;
}

/** Dependencies of {@link createContextFactory}. */
export interface ContextDeps {
  store: Store;
  /** The cached key lookup, used only when `useApiKey` did not run for the request. */
  authenticate: Authenticate;
  providers: ProviderLookup;
  signer: DownloadSigner;
  publicUrl: string;
  logger: Logger;
  /** The id of the current request (set by the server around each request). */
  requestId: () => string;
}

/**
 * Builds the yoga context factory. The key was checked by `useApiKey` before parsing; its result is
 * taken from there without a second lookup.
 * @throws GatewayError UNAUTHENTICATED (HTTP 401) when the request has no API key or an unknown one
 */
export function createContextFactory(deps: ContextDeps): (initial: { request: Request }) => Promise<GatewayContext> {
  return async ({ request }) => {
    let authenticated = authenticatedKeyOf(request);
    if (!authenticated) {
      const key = apiKeyOf(request.headers);
      if (!key) throw new GatewayError('UNAUTHENTICATED', 'An API key is required: send "Authorization: Bearer <key>" or "X-Api-Key: <key>"');
      authenticated = await deps.authenticate(key);
      if (!authenticated) throw new GatewayError('UNAUTHENTICATED', 'Unknown API key');
    }
    const { workspace, keyId: apiKeyId } = authenticated;
    const requestId = deps.requestId();
    const signal = requestSignalOf(request) ?? request.signal;
    return {
      workspace,
      apiKeyId,
      requestId,
      signal,
      logger: deps.logger.child({ requestId, workspaceId: workspace.id }),
      loaders: createLoaders({ workspaceId: workspace.id, store: deps.store, providers: deps.providers, signal }),
      signer: deps.signer,
      publicUrl: deps.publicUrl,
    };
  };
}
