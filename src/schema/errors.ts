/**
 * Errors as data (Pothos errors plugin): failures a client is expected to handle per object are
 * members of a field's result union, all implementing the `GatewayError` interface, so one
 * `... on GatewayError { code message }` fragment reads any of them. Other failures stay in the
 * response's `errors` with the same codes in `extensions.code` (see `src/errors.ts`).
 *
 * The names are prefixed (`GatewayError`, `GatewayErrorCode`) so that composing this subgraph
 * into a supergraph does not collide with another subgraph's `Error` types.
 */
import { ERROR_CODES, type ErrorCode, type GatewayError, NotDownloadableError } from '../errors.ts';
import { builder } from './builder.ts';

export const GatewayErrorCodeEnum = builder.enumType('GatewayErrorCode', {
  description:
    'Stable error codes, as in `errors[].extensions.code` and in the `code` of the JSON body of HTTP errors. New codes may be added; none is ever renamed.',
  values: Object.fromEntries(
    Object.entries(ERROR_CODES).map(([code, { status, description }]) => [code, { value: code as ErrorCode, description: `${description} (HTTP ${status} on the download route.)` }]),
  ) as Record<ErrorCode, { value: ErrorCode; description: string }>,
});

export const GatewayErrorInterface = builder.interfaceRef<GatewayError>('GatewayError').implement({
  description: 'A failure returned as data in a result union; `code` is stable, `message` is for people.',
  fields: (t) => ({
    code: t.field({ type: GatewayErrorCodeEnum, description: 'The stable error code.', resolve: (e) => e.code }),
    message: t.exposeString('message', { description: 'What went wrong, in English; safe to show, never contains secrets.' }),
  }),
});

builder.objectType(NotDownloadableError, {
  name: 'NotDownloadableError',
  description: 'The attachment has no bytes the gateway can serve: it is a link to a file stored elsewhere (`kind: REFERENCE`). Code: NOT_DOWNLOADABLE.',
  interfaces: [GatewayErrorInterface],
  isTypeOf: (value) => value instanceof NotDownloadableError,
});
