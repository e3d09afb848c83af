/**
 * Errors that refuse a whole GraphQL request before or instead of execution (size, deadline): a
 * GraphQLError with the code's `extensions.code` and its HTTP status from `src/errors.ts`, which
 * yoga answers as is (the gateway's `maskError` keeps GraphQL errors that carry a code).
 */
import { createGraphQLError } from 'graphql-yoga';
import type { GraphQLError } from 'graphql';
import { ERROR_CODES, type ErrorCode } from '../errors.ts';

/** A request-level error answered with the HTTP status of `code`. */
export function requestError(code: ErrorCode, message: string): GraphQLError {
  return createGraphQLError(message, { extensions: { code, http: { status: ERROR_CODES[code].status } } });
}
