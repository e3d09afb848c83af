/**
 * How errors leave the GraphQL endpoint (yoga `maskedErrors.maskError`); every error leaves with
 * an `extensions.code` from `src/errors.ts`. A {@link GatewayError} passes with its message and
 * code (plus `retryAfter` for PROVIDER_THROTTLED, and `extensions.http.status` for the
 * request-level codes UNAUTHENTICATED 401 and FORBIDDEN 403; field errors keep HTTP 200 as GraphQL
 * over HTTP expects for partial results). An error that came from one mailbox's provider (see
 * `src/providers/attribution.ts`) also names that mailbox: `extensions.mailboxId` (its GraphQL
 * ID, as `Mailbox.id` gives it) and `extensions.provider` (IMAP, LOCAL, ...), masked ones included. GraphQL's and yoga's own errors keep their message and
 * code (GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, BAD_REQUEST); those that carry none get
 * one: a refused CSRF check (HTTP 403) FORBIDDEN, a variable value that does not fit its type
 * BAD_USER_INPUT. Anything else is logged with the request id and answered as `INTERNAL` with
 * that id, never its text.
 */
import { createGraphQLError } from 'graphql-yoga';
import type { GraphQLError } from 'graphql';
import { isGatewayError } from '../errors.ts';
import { encodeNodeId } from '../ids.ts';
import { attributionOf } from '../providers/attribution.ts';
import type { Logger } from '../domain/logger.ts';

const REQUEST_LEVEL_STATUS: Partial<Record<string, number>> = { UNAUTHENTICATED: 401, FORBIDDEN: 403 };

/** By shape, not `instanceof`: graphql can be loaded twice (ESM and CJS builds) in one process. */
function isGraphQLError(error: unknown): error is GraphQLError {
  return error instanceof Error && error.name === 'GraphQLError';
}

/**
 * `error` with an `extensions.code`, and without yoga's `originalError` details (a JSON parser's
 * message says nothing the client needs and is not ours to promise).
 */
function withCode(error: GraphQLError): GraphQLError {
  const { originalError: _detail, ...extensions } = error.extensions as Record<string, unknown> & { http?: { status?: number } };
  if (typeof extensions.code !== 'string') extensions.code = extensions.http?.status === 403 ? 'FORBIDDEN' : 'BAD_USER_INPUT';
  else if (_detail === undefined) return error;
  return createGraphQLError(error.message, { nodes: error.nodes, path: error.path, source: error.source, positions: error.positions, extensions });
}

/** Builds the `maskError` function. `requestId` reads the id of the request being served. */
export function createMaskError(logger: Logger, requestId: () => string): (error: unknown, message: string) => Error {
  return (error, message) => {
    const original = isGraphQLError(error) ? (error.originalError ?? null) : error;
    const located = isGraphQLError(error) ? { nodes: error.nodes, path: error.path, source: error.source, positions: error.positions } : {};
    const source = attributionOf(original);
    const mailbox = source ? { mailboxId: encodeNodeId('Mailbox', [source.mailboxId]), provider: source.provider } : {};
    if (isGatewayError(original)) {
      const status = REQUEST_LEVEL_STATUS[original.code];
      return createGraphQLError(original.message, {
        ...located,
        extensions: {
          code: original.code,
          ...mailbox,
          ...(original.retryAfter !== undefined ? { retryAfter: original.retryAfter } : {}),
          ...(status !== undefined ? { http: { status } } : {}),
        },
      });
    }
    // GraphQL's own errors without a code and without a path come before execution (a variable
    // value that does not fit): the client's. With a path they come from execution (a null for a
    // non-null field, an unresolvable type): ours, so they are masked below like any bug.
    const own = isGraphQLError(error) && (original === null || isGraphQLError(original));
    if (own && (typeof error.extensions.code === 'string' || !error.path)) return withCode(error);
    const id = requestId();
    logger.error({ err: original, requestId: id, path: isGraphQLError(error) ? error.path : undefined, ...mailbox }, 'unexpected error in a GraphQL request');
    return createGraphQLError(message, { ...located, extensions: { code: 'INTERNAL', requestId: id, ...mailbox } });
  };
}
