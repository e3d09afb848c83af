/**
 * The error codes in the schema: `GatewayErrorCode` lists every stable code a client may find in
 * `errors[].extensions.code` (and in the JSON body of HTTP errors), so that generated client types
 * can switch on them. Built from the one table in `src/errors.ts`.
 *
 * Prefixed so that composing this subgraph into a supergraph does not collide with another
 * subgraph's `ErrorCode` type.
 */
import { ERROR_CODES, type ErrorCode } from '../errors.ts';
import { builder } from './builder.ts';

export const GatewayErrorCodeEnum = builder.enumType('GatewayErrorCode', {
  description:
    'Stable error codes, as in `errors[].extensions.code` and in the `code` of the JSON body of HTTP errors. New codes may be added; none is ever renamed.',
  values: Object.fromEntries(
    Object.entries(ERROR_CODES).map(([code, { status, description }]) => [code, { value: code as ErrorCode, description: `${description} (HTTP ${status}.)` }]),
  ) as Record<ErrorCode, { value: ErrorCode; description: string }>,
});
