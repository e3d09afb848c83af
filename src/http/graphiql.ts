/**
 * The GraphiQL page (`GET`/`HEAD /graphql` with `Accept: text/html`), rendered once and kept with
 * its gzip and Brotli encodings (node:zlib, run off the event loop) and a strong ETag per encoding,
 * so a repeated load costs a 304 and a first load about 1.9 MB (Brotli) or 2.4 MB (gzip) instead
 * of the 9 MB page (yoga's GraphiQL bundle is inlined: the explorer works without internet access).
 *
 * In `--demo` the page carries the demo API key in GraphiQL's headers editor. That copy is served
 * only where no other site can read it:
 * - no CORS headers, `Cross-Origin-Resource-Policy: same-origin` (no cross-origin embedding as a
 *   script or image), `X-Frame-Options: DENY` and CSP `frame-ancestors 'none'` (no framing);
 * - the `Host` must be a loopback name (`localhost`, `*.localhost`, `127.0.0.1`, `[::1]`) or the
 *   host of HOST / PUBLIC_URL: a page of another site that rebinds its own name to this address
 *   (DNS rebinding, where the browser would treat the gateway as that site) gets no key;
 * - `Sec-Fetch-Site`, when the browser sends it, must be `same-origin` or `none` (typed URL,
 *   bookmark), or the request a top-level navigation (`Sec-Fetch-Mode: navigate`), whose answer the
 *   linking page cannot read.
 * Elsewhere the page asks for a key (`Authorization: Bearer PASTE-AN-API-KEY`).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const gzip = promisify(zlib.gzip);
const brotli = promisify(zlib.brotliCompress);

/** The headers GraphiQL opens with when the page carries no key. */
export const GRAPHIQL_PLACEHOLDER_HEADERS = JSON.stringify({ Authorization: 'Bearer PASTE-AN-API-KEY' });

/** Content codings the page is kept in. */
export type PageEncoding = 'br' | 'gzip' | 'identity';

/** What the page needs. */
export interface GraphiqlPageOptions {
  title: string;
  defaultQuery: string;
  /** Demo mode: the key to fill in (see the module comment for when); null otherwise. */
  demoApiKey: string | null;
  /** Host names (without port) besides the loopback names that may receive the demo key. */
  trustedHosts: readonly string[];
  /** Renders GraphiQL's HTML from yoga's options (loaded on first use: the bundle is large). */
  render: (options: { title: string; defaultQuery: string; headers: string }) => Promise<string>;
}

/** One rendering of the page and its encodings, each computed on first demand and kept. */
class Variant {
  readonly identity: Buffer;
  /** Hash of the identity bytes; the ETag of each encoding is derived from it. */
  readonly hash: string;
  #gzip: Promise<Buffer> | null = null;
  #br: Promise<Buffer> | null = null;
  /** Set once the Brotli copy is ready; until then gzip is offered (the Brotli pass takes seconds). */
  brReady: Buffer | null = null;

  constructor(identity: Buffer) {
    this.identity = identity;
    this.hash = createHash('sha256').update(identity).digest('base64url').slice(0, 32);
  }

  gzip(): Promise<Buffer> {
    return (this.#gzip ??= gzip(this.identity, { level: 9 }));
  }

  br(): Promise<Buffer> {
    if (!this.#br) {
      // Quality 9: 1.86 MB in about 5 s of one core; 11 saves 8 % more for six times the CPU.
      this.#br = brotli(this.identity, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 9, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: this.identity.length } });
      void this.#br.then((bytes) => (this.brReady = bytes));
    }
    return this.#br;
  }
}

/** True for a request GraphiQL answers: GET or HEAD asking for HTML (as yoga decides it, plus HEAD). */
export function wantsGraphiql(request: { method: string; headers: { get(name: string): string | null } }): boolean {
  return (request.method === 'GET' || request.method === 'HEAD') && (request.headers.get('accept') ?? '').includes('text/html');
}

/**
 * Which of br and gzip the client accepts (RFC 9110 §12.5.3 `Accept-Encoding` with q-values; `*`
 * stands for any coding not named). Identity is always possible.
 */
export function acceptedEncodings(acceptEncoding: string | null): { br: boolean; gzip: boolean } {
  if (!acceptEncoding) return { br: false, gzip: false };
  const q = new Map<string, number>();
  for (const item of acceptEncoding.slice(0, 1024).split(',')) {
    const [name = '', ...params] = item.split(';').map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const value = qParam ? Number(qParam.slice(2)) : 1;
    if (name) q.set(name, Number.isFinite(value) ? value : 0);
  }
  const of = (name: string) => q.get(name) ?? q.get('*') ?? 0;
  return { br: of('br') > 0, gzip: of('gzip') > 0 || (q.get('x-gzip') ?? 0) > 0 };
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** The host name of a `Host` header without its port, lower case; null when absent or malformed. */
function hostnameOf(host: string | null): string | null {
  if (!host) return null;
  try {
    return new URL(`http://${host}`).hostname.toLowerCase();
  } catch {
    return null;
  }
}

/** Serves the GraphiQL page; holds the rendered copies. */
export interface GraphiqlPage {
  /** Answers a request for which {@link wantsGraphiql} is true. */
  respond(request: Request): Promise<Response>;
  /** The same on node:http, writing the kept bytes without a copy (the real server's path). */
  respondNode(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

interface PageAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer | null;
}

/** Builds the page server; nothing is rendered before the first request. */
export function createGraphiqlPage(options: GraphiqlPageOptions): GraphiqlPage {
  const trusted = new Set(options.trustedHosts.map((h) => h.toLowerCase().replace(/^\[|\]$/g, '')));
  const variants = new Map<'key' | 'placeholder', Promise<Variant>>();

  const mayCarryKey = (request: Request): boolean => {
    if (!options.demoApiKey) return false;
    const hostname = hostnameOf(request.headers.get('host') ?? new URL(request.url).host);
    if (!hostname) return false;
    const bare = hostname.replace(/^\[|\]$/g, '');
    if (!LOOPBACK.has(hostname) && !hostname.endsWith('.localhost') && !trusted.has(bare)) return false;
    const site = request.headers.get('sec-fetch-site');
    return site === null || site === 'same-origin' || site === 'none' || request.headers.get('sec-fetch-mode') === 'navigate';
  };

  const variant = (kind: 'key' | 'placeholder'): Promise<Variant> => {
    let found = variants.get(kind);
    if (!found) {
      found = (async () => {
        const headers = kind === 'key' ? JSON.stringify({ Authorization: `Bearer ${options.demoApiKey}` }) : GRAPHIQL_PLACEHOLDER_HEADERS;
        return new Variant(Buffer.from(await options.render({ title: options.title, defaultQuery: options.defaultQuery, headers })));
      })();
      // A failed render is not kept: the next request tries again.
      found.catch(() => variants.delete(kind));
      variants.set(kind, found);
    }
    return found;
  };

  const etagOf = (page: Variant, encoding: PageEncoding) => `"${page.hash}${encoding === 'identity' ? '' : `-${encoding}`}"`;

  const answer = async (request: Request): Promise<PageAnswer> => {
    const page = await variant(mayCarryKey(request) ? 'key' : 'placeholder');
    const accepts = acceptedEncodings(request.headers.get('accept-encoding'));
    const headers: Record<string, string> = {
      'content-type': 'text/html; charset=utf-8',
      // Revalidated on every load: a 304 costs a round trip and no bytes.
      'cache-control': 'private, no-cache',
      vary: 'Accept-Encoding, Host, Sec-Fetch-Site, Sec-Fetch-Mode',
      'x-content-type-options': 'nosniff',
      'cross-origin-resource-policy': 'same-origin',
      'cross-origin-opener-policy': 'same-origin',
      'x-frame-options': 'DENY',
      'content-security-policy': "frame-ancestors 'none'",
      'referrer-policy': 'no-referrer',
    };
    // A copy the client holds in any coding it accepts is still good (e.g. gzip kept from a load
    // made before the Brotli copy was ready): weak comparison, RFC 9110 §13.1.2.
    const ifNoneMatch = request.headers.get('if-none-match');
    if (ifNoneMatch) {
      const held = ifNoneMatch.split(',').map((tag) => tag.trim().replace(/^W\//, ''));
      const usable: PageEncoding[] = ['identity', ...(accepts.gzip ? (['gzip'] as const) : []), ...(accepts.br ? (['br'] as const) : [])];
      const match = usable.find((encoding) => held.includes(etagOf(page, encoding))) ?? (held.includes('*') ? 'identity' : null);
      if (match) return { status: 304, headers: { ...headers, etag: etagOf(page, match) }, body: null };
    }
    // Brotli when it is ready (or the only coding accepted), else gzip, else the page as is.
    if (accepts.br) void page.br();
    const encoding: PageEncoding = accepts.br && (page.brReady || !accepts.gzip) ? 'br' : accepts.gzip ? 'gzip' : 'identity';
    const body = encoding === 'identity' ? page.identity : encoding === 'gzip' ? await page.gzip() : (page.brReady ?? (await page.br()));
    headers.etag = etagOf(page, encoding);
    if (encoding !== 'identity') headers['content-encoding'] = encoding;
    headers['content-length'] = String(body.length);
    return { status: 200, headers, body: request.method === 'HEAD' ? null : body };
  };

  return {
    async respond(request) {
      const { status, headers, body } = await answer(request);
      // The fetch Response copies the bytes; the node:http path below does not.
      return new Response(body ? (new Uint8Array(body.buffer, body.byteOffset, body.length) as Uint8Array<ArrayBuffer>) : null, { status, headers });
    },
    async respondNode(req, res) {
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers.set(name, value);
      const request = new Request(new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`), { method: req.method ?? 'GET', headers });
      const { status, headers: out, body } = await answer(request);
      // Every load writes the one kept Buffer: no copy per client.
      res.writeHead(status, out).end(body ?? undefined);
    },
  };
}
