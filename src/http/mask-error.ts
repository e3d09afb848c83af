/**
 * How errors leave the GraphQL endpoint (yoga `maskedErrors.maskError`). A {@link GatewayError}
 * passes with its message and `extensions.code` (plus `retryAfter` for PROVIDER_THROTTLED, and
 * `extensions.http.status` for the request-level codes UNAUTHENTICATED 401 and FORBIDDEN 403; field
 * errors keep HTTP 200 as GraphQL over HTTP expects for partial results). GraphQL's own errors
 * (syntax, validation, variable coercion) pass unchanged. Anything else is logged with the
 * request id and answered as `INTERNAL` with that id, never its text.
 */
import { createGraphQLError } from 'graphql-yoga';
import type { GraphQLError } from 'graphql';
import { isGatewayError } from '../errors.ts';
import type { Logger } from '../providers/types.ts';

const REQUEST_LEVEL_STATUS: Partial<Record<string, number>> = { UNAUTHENTICATED: 401, FORBIDDEN: 403 };

/** By shape, not `instanceof`: graphql can be loaded twice (ESM and CJS builds) in one process. */
function isGraphQLError(error: unknown): error is GraphQLError {
  return error instanceof Error && error.name === 'GraphQLError';
}

/** Builds the `maskError` function. `requestId` reads the id of the request being served. */
export function createMaskError(logger: Logger, requestId: () => string): (error: unknown, message: string) => Error {
  return (error, message) => {
    const original = isGraphQLError(error) ? (error.originalError ?? null) : error;
    const located = isGraphQLError(error) ? { nodes: error.nodes, path: error.path, source: error.source, positions: error.positions } : {};
    if (isGatewayError(original)) {
      const status = REQUEST_LEVEL_STATUS[original.code];
      return createGraphQLError(original.message, {
        ...located,
        extensions: {
          code: original.code,
          ...(original.retryAfter !== undefined ? { retryAfter: original.retryAfter } : {}),
          ...(status !== undefined ? { http: { status } } : {}),
        },
      });
    }
    if (isGraphQLError(error) && (original === null || isGraphQLError(original))) return error;
    const id = requestId();
    logger.error({ err: original, requestId: id, path: isGraphQLError(error) ? error.path : undefined }, 'unexpected error in a GraphQL request');
    return createGraphQLError(message, { ...located, extensions: { code: 'INTERNAL', requestId: id } });
  };
}
