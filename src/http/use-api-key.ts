/**
 * Yoga plugin: the API key of a GraphQL request is checked before its body is read or parsed.
 *
 * It runs in `onRequestParse`, which yoga calls for the GraphQL endpoint only (after `/health`,
 * GraphiQL, CORS preflights and downloads were answered by their own `onRequest` hooks) and before
 * the request parser reads the body. A request without a valid key is answered 401 UNAUTHENTICATED
 * there, in the same GraphQL error shape as every other error (the thrown GatewayError goes
 * through the gateway's `maskError`). So a large document sent without a key costs neither a read
 * nor a parse nor a validation, and an unauthenticated caller never sees validation messages
 * (field suggestions among them). The key found is kept for the request's context
 * ({@link authenticatedKeyOf}): no second lookup.
 */
import type { Plugin } from 'graphql-yoga';
import { GatewayError } from '../errors.ts';
import type { AuthenticatedKey } from '../store/types.ts';
import type { Authenticate } from './api-key-cache.ts';

/** Options of {@link useApiKey}. */
export interface UseApiKeyOptions {
  /** Looks a key up; use {@link createApiKeyCache} so that requests cost no database query. */
  authenticate: Authenticate;
}

const authenticated = new WeakMap<Request, AuthenticatedKey>();

/** The key {@link useApiKey} accepted for `request`, or null when the request did not pass it. */
export function authenticatedKeyOf(request: Request): AuthenticatedKey | null {
  return authenticated.get(request) ?? null;
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
 * Checks the API key of every GraphQL request before its body is parsed.
 * @throws GatewayError UNAUTHENTICATED (HTTP 401) from the hook when the key is missing, unknown or revoked
 */
export function useApiKey(options: UseApiKeyOptions): Plugin {
  return {
    async onRequestParse({ request }) {
      const key = apiKeyOf(request.headers);
      if (!key) throw new GatewayError('UNAUTHENTICATED', 'An API key is required: send "Authorization: Bearer <key>" or "X-Api-Key: <key>"');
      const found = await options.authenticate(key);
      if (!found) throw new GatewayError('UNAUTHENTICATED', 'Unknown API key');
      authenticated.set(request, found);
    },
  };
}
