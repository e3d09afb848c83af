/**
 * The error of a GraphQL document over one of the gateway's limits: code QUERY_TOO_COMPLEX, HTTP
 * 400 whatever the response media type, and extensions naming the limit, so clients can tell
 * which one to stay under:
 * `{ code: 'QUERY_TOO_COMPLEX', limit: 'depth' | 'cost' | 'aliases' | 'directives' | 'tokens', max, found? }`.
 */
import { createGraphQLError } from 'graphql-yoga';
import type { GraphQLError } from 'graphql';
import { ERROR_CODES } from '../errors.ts';

/** Which limit a document went over. */
export type QueryLimit = 'depth' | 'cost' | 'aliases' | 'directives' | 'tokens';

/** `QUERY_TOO_COMPLEX` for `limit`; `found` is the document's figure when it is known. */
export function queryTooComplex(limit: QueryLimit, max: number, found?: number): GraphQLError {
  const figure = found === undefined ? '' : `, found ${found}`;
  return createGraphQLError(`The operation exceeds the ${limit} limit of ${max}${figure}`, {
    extensions: {
      code: 'QUERY_TOO_COMPLEX',
      limit,
      max,
      ...(found === undefined ? {} : { found }),
      // spec: false keeps the 400 also for `Accept: application/json`, where GraphQL over HTTP
      // would answer validation errors with 200: these are refusals of the gateway, not of the schema.
      http: { status: ERROR_CODES.QUERY_TOO_COMPLEX.status, spec: false },
    },
  });
}

/** True for an error built by {@link queryTooComplex}. */
export function isQueryTooComplex(error: { extensions?: Record<string, unknown> }): boolean {
  return error.extensions?.code === 'QUERY_TOO_COMPLEX';
}
