/**
 * The HTTP surface around the GraphQL endpoint, as one yoga plugin plus yoga's CORS option:
 *
 * - CORS only for `/graphql` API calls from the exact origins in CORS_ORIGINS (never a wildcard,
 *   never `Access-Control-Allow-Credentials`: the API authenticates by header, not cookie). A
 *   preflight (`OPTIONS`) from any other origin, or to any other path, is refused with 403
 *   FORBIDDEN; the GraphiQL page, `/`, `/health` and downloads never carry CORS headers.
 * - GraphiQL (when on) from `createGraphiqlPage`: compressed, cached, ETag / 304.
 * - `/`: a redirect to `/graphql` when GraphiQL is on, else a small page naming the API and
 *   linking `/README.md` (the gateway's own README, served as text); a browser opening `/graphql`
 *   while GraphiQL is off gets that page too.
 * - Any path that is no route: JSON 404 `NOT_FOUND` (never yoga's empty 404); yoga's 405 and
 *   406 on `/graphql` carry `METHOD_NOT_ALLOWED` and `NOT_ACCEPTABLE`.
 */
import fs from 'node:fs/promises';
import type { Plugin } from 'graphql-yoga';
import { errorBody, GatewayError } from '../errors.ts';
import { DOWNLOAD_PATH_PREFIX } from './download.ts';
import { wantsGraphiql, type GraphiqlPage } from './graphiql.ts';

/** The GraphQL endpoint path. */
export const GRAPHQL_PATH = '/graphql';
/** Request headers a listed origin may send to `/graphql`. */
export const CORS_ALLOWED_HEADERS = ['authorization', 'content-type', 'x-api-key', 'x-request-id', 'x-graphql-yoga-csrf'];
/** Seconds a browser may reuse a CORS preflight answer. */
export const CORS_MAX_AGE = 600;

/** True for `/graphql` and `/graphql/`. */
export const isGraphqlPath = (pathname: string) => pathname === GRAPHQL_PATH || pathname === `${GRAPHQL_PATH}/`;

/** yoga's `cors` option value for a request: the policy above; false means no CORS headers at all. */
export type CorsPolicy = (request: Request) => { origin: string[]; credentials: false; methods: string[]; allowedHeaders: string[]; maxAge: number } | false;

/** The CORS policy for `origins` (exact `scheme://host[:port]` strings, as validated by the config). */
export function corsPolicy(origins: readonly string[]): CorsPolicy {
  const allowed = new Set(origins);
  return (request) => {
    const origin = request.headers.get('origin');
    if (origin === null || !allowed.has(origin)) return false;
    if (!isGraphqlPath(new URL(request.url).pathname) || wantsGraphiql(request)) return false;
    // A one-element list makes yoga answer with exactly this origin.
    return { origin: [origin], credentials: false, methods: ['GET', 'POST'], allowedHeaders: CORS_ALLOWED_HEADERS, maxAge: CORS_MAX_AGE };
  };
}

/** Options of {@link useHttpSurface}. */
export interface HttpSurfaceOptions {
  /** The GraphiQL page (see {@link createGraphiqlPage}), or null when GraphiQL is off. */
  graphiql: GraphiqlPage | null;
}

function json(error: GatewayError, extraHeaders: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(errorBody(error)), {
    status: error.httpStatus,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...extraHeaders },
  });
}

/** The README of the package (two levels above this module). */
const README_FILE = new URL('../../README.md', import.meta.url);

const ROOT_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>attachment-gateway</title></head>
<body>
<h1>attachment-gateway</h1>
<p>A GraphQL API over the attachments of mailboxes. Send queries to <code>POST /graphql</code> with
<code>Authorization: Bearer &lt;API key&gt;</code>; signed download URLs live under <code>/attachments/</code>;
<code>/health</code> answers when the gateway is up.</p>
<p>GraphiQL is off here (<code>GRAPHIQL=true</code> turns it on). How to connect mailboxes, create keys and query:
<a href="/README.md">README.md</a>.</p>
</body>
</html>
`;

/** The small page of `/` (and of `GET /graphql` from a browser while GraphiQL is off). */
function rootPage(request: Request): Response {
  const headers = {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  };
  return new Response(request.method === 'HEAD' ? null : ROOT_PAGE, { status: 200, headers });
}

/** The plugin. Put it first among the user plugins: GraphiQL must answer before any API-key check. */
export function useHttpSurface(options: HttpSurfaceOptions): Plugin {
  const graphiql = options.graphiql;
  let readme: Promise<Buffer | null> | null = null;
  return {
    async onRequest({ request, url, endResponse }) {
      const { pathname } = url;
      if (isGraphqlPath(pathname)) {
        // With GraphiQL off a browser gets the small page saying so, not yoga's empty 406.
        if (wantsGraphiql(request)) endResponse(graphiql ? await graphiql.respond(request) : rootPage(request));
        return;
      }
      if (pathname === '/') {
        if (request.method !== 'GET' && request.method !== 'HEAD') {
          endResponse(json(new GatewayError('METHOD_NOT_ALLOWED', 'The root page answers GET and HEAD only'), { allow: 'GET, HEAD' }));
        } else if (graphiql) {
          endResponse(new Response(null, { status: 302, headers: { location: GRAPHQL_PATH, 'cache-control': 'no-cache' } }));
        } else {
          endResponse(rootPage(request));
        }
        return;
      }
      if (pathname === '/README.md' && (request.method === 'GET' || request.method === 'HEAD')) {
        readme ??= fs.readFile(README_FILE).catch(() => null);
        const text = await readme;
        if (text) {
          const headers = { 'content-type': 'text/markdown; charset=utf-8', 'cache-control': 'public, max-age=3600', 'x-content-type-options': 'nosniff' };
          endResponse(new Response(request.method === 'HEAD' ? null : (new Uint8Array(text) as Uint8Array<ArrayBuffer>), { status: 200, headers }));
          return;
        }
      }
      if (pathname === '/health' || pathname.startsWith(DOWNLOAD_PATH_PREFIX)) return;
      endResponse(json(new GatewayError('NOT_FOUND', 'No such route: the API is POST /graphql')));
    },
    onResponse({ request, response, setResponse }) {
      // yoga's own 405 (code BAD_REQUEST) and 406 (no body) get the codes of the error table.
      if ((response.status === 405 || response.status === 406) && request.method !== 'OPTIONS' && isGraphqlPath(new URL(request.url).pathname)) {
        const error =
          response.status === 405
            ? new GatewayError('METHOD_NOT_ALLOWED', 'The GraphQL endpoint answers GET and POST only')
            : new GatewayError('NOT_ACCEPTABLE', 'The Accept header names no type this endpoint answers in; accept application/graphql-response+json or application/json');
        const headers = new Headers({ 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
        const allow = response.headers.get('allow');
        if (allow) headers.set('allow', allow);
        for (const [name, value] of response.headers) if (name.startsWith('access-control-')) headers.set(name, value);
        setResponse(new Response(JSON.stringify({ errors: [{ message: error.message, extensions: { code: error.code } }] }), { status: error.httpStatus, headers }));
        return;
      }
      // yoga answers every OPTIONS with 204; without CORS headers that is a refusal the client cannot read.
      if (request.method === 'OPTIONS' && !response.headers.has('access-control-allow-origin')) {
        setResponse(json(new GatewayError('FORBIDDEN', 'Cross-origin requests are allowed only from the origins in CORS_ORIGINS, to /graphql')));
      } else if (response.headers.has('access-control-allow-origin')) {
        // The answer depends on the Origin: caches must keep one copy per origin.
        response.headers.set('vary', [response.headers.get('vary'), 'Origin'].filter(Boolean).join(', '));
      }
    },
  };
}
