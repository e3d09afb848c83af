/**
 * Yoga plugin: bounds on the size of a GraphQL request before it is parsed.
 *
 * - A POST body larger than `maxBodyBytes` answers 413 PAYLOAD_TOO_LARGE: at once when its
 *   Content-Length says so, otherwise (chunked) as soon as the bytes read pass the limit. The body
 *   is read as a stream through a counting stage that errors at the limit, so it is never
 *   buffered beyond it.
 * - A GET whose query string is longer than `maxQueryStringBytes` answers 414 URI_TOO_LONG. (Behind
 *   node:http, Node's own 16 KiB header limit answers 431 first for longer request lines.)
 *
 * Runs in `onRequestParse` after {@link useApiKey}, so an unauthenticated request is answered 401
 * whatever its size. Replaces yoga's own `maxRequestBodySize` (turn that off) to answer with the
 * gateway's codes.
 */
import type { FetchAPI, Plugin } from 'graphql-yoga';
import { DEFAULT_LIMITS } from '../config.ts';
import { requestError } from './request-error.ts';

/** Options of {@link useBodyLimit}. */
export interface UseBodyLimitOptions {
  /** Largest POST body, bytes. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Largest query string of a GET, bytes (the `?` excluded). Default 16 KiB. */
  maxQueryStringBytes?: number;
}

/** The error of a body over the limit (a GraphQLError, so the body stream and parsers pass it on unchanged). */
function tooLarge(limit: number) {
  return requestError('PAYLOAD_TOO_LARGE', `The request body is larger than ${limit} bytes`);
}

/**
 * `request` with its body counted and cut at `limit` bytes. The transform must match the body's
 * stream class (as in yoga's own limiter): node:http requests carry the fetch ponyfill's streams,
 * `gateway.fetch` callers may pass native ones.
 */
function limitedRequest(request: Request, limit: number, fetchAPI: FetchAPI): Request {
  let read = 0;
  const Transform = request.body instanceof ReadableStream ? globalThis.TransformStream : fetchAPI.TransformStream;
  const counted = request.body!.pipeThrough(
    new Transform<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        read += chunk.byteLength;
        if (read > limit) controller.error(tooLarge(limit));
        else controller.enqueue(chunk);
      },
    }),
  );
  return new fetchAPI.Request(request.url, { method: request.method, headers: request.headers, signal: request.signal, body: counted, duplex: 'half' } as RequestInit);
}

/**
 * Refuses GraphQL requests over the size limits before they are parsed.
 * @throws GraphQLError PAYLOAD_TOO_LARGE (413), URI_TOO_LONG (414), BAD_REQUEST (400) for a malformed Content-Length
 */
export function useBodyLimit(options: UseBodyLimitOptions = {}): Plugin {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_LIMITS.maxBodyBytes;
  const maxQueryStringBytes = options.maxQueryStringBytes ?? DEFAULT_LIMITS.maxQueryStringBytes;
  return {
    onRequestParse({ request, url, requestParser, setRequestParser, fetchAPI }) {
      if (request.method === 'GET') {
        if (Buffer.byteLength(url.search) - 1 > maxQueryStringBytes) {
          throw requestError('URI_TOO_LONG', `The query string is longer than ${maxQueryStringBytes} bytes; send the operation as a POST`);
        }
        return;
      }
      const contentLength = request.headers.get('content-length');
      if (contentLength !== null) {
        if (!/^\d+$/.test(contentLength)) throw requestError('BAD_REQUEST', 'Content-Length is malformed');
        if (Number(contentLength) > maxBodyBytes) throw tooLarge(maxBodyBytes);
      }
      if (requestParser && request.body) {
        const parse = requestParser;
        setRequestParser((req) => parse(limitedRequest(req, maxBodyBytes, fetchAPI)));
      }
    },
  };
}
