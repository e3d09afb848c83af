/**
 * The HTTP face of the gateway: GraphQL (yoga) at `/graphql` with GraphiQL (when on), `/health`,
 * the signed download route `/attachments/:token`, the OAuth callback of `mailbox connect`
 * (`/oauth/callback`, `src/connect/callback.ts`), `/` and a JSON 404 elsewhere (`src/http/surface.ts`).
 *
 * {@link createGateway} is a fetch handler with no socket (tests call `gateway.fetch`);
 * {@link startServer} puts it on node:http and routes downloads straight to a node:http pipeline
 * before yoga. Measured here (200 MiB, loopback, client in the same process) both paths stream at
 * about 500 MiB/s with flat memory; the node:http path skips the web-stream translation.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import { DEFAULT_LIMITS, type Config, type Limits } from './config.ts';
import { createContextFactory, type GatewayContext } from './context.ts';
import { errorBody } from './errors.ts';
import { createApiKeyCache } from './http/api-key-cache.ts';
import { downloadTokenOf, handleNodeDownload, type DownloadDeps } from './http/download.ts';
import { createGraphiqlPage, wantsGraphiql, type GraphiqlPage } from './http/graphiql.ts';
import { createKeyStatus } from './http/key-status.ts';
import { createMaskError } from './http/mask-error.ts';
import { corsPolicy, isGraphqlPath, useHttpSurface } from './http/surface.ts';
import { useApiKey } from './http/use-api-key.ts';
import { useBodyLimit } from './http/use-body-limit.ts';
import { useDeadline } from './http/use-deadline.ts';
import { useDownloads } from './http/use-downloads.ts';
import { useOAuthCallback } from './http/use-oauth-callback.ts';
import { createOAuthCallback } from './connect/callback.ts';
import { useExecutionLimit } from './http/use-execution-limit.ts';
import { useQueryCost } from './http/use-query-cost.ts';
import { useQueryLimits } from './http/use-query-limits.ts';
import type { ProviderLookup } from './loaders.ts';
import type { Logger } from './domain/logger.ts';
import { schema } from './schema/index.ts';
import { createDownloadSigner } from './signing.ts';
import type { Store } from './store/types.ts';

/** Dependencies of {@link createGateway}. */
export interface GatewayDeps {
  config: Config;
  store: Store;
  logger: Logger;
  /** Gateway secret; the download-token key is derived from it (HKDF, own info string). */
  secret: string;
  /** Finds a mailbox's provider; defaults to a ProviderRegistry over the built-in providers. */
  providers?: ProviderLookup;
  /**
   * Demo mode: filled into GraphiQL's headers editor as `Authorization: Bearer <key>` where no other
   * site can read it (see `src/http/graphiql.ts`); turns GraphiQL on unless GRAPHIQL=false.
   */
  demoApiKey?: string | null;
  /** Base of download URLs; defaults to `config.publicUrl`. */
  publicUrl?: string;
  /** Milliseconds the download route reuses an API key's status (default 30 000; see `src/http/key-status.ts`). */
  keyStatusTtlMs?: number;
}

/** A gateway without a socket. */
export interface Gateway {
  /** Answers one HTTP request (GraphQL, GraphiQL, /health, downloads). */
  fetch(request: Request): Promise<Response>;
  yoga: YogaServerInstance<Record<string, never>, GatewayContext>;
  /** The download route's dependencies, for the node:http fast path. */
  downloads: DownloadDeps;
  /** The GraphiQL page when GraphiQL is on, for the node:http fast path; null when off. */
  graphiql: GraphiqlPage | null;
  /** Runs `fn` with a fresh request id (used for logs and masked errors). */
  withRequestId<T>(fn: () => T, requestId?: string): T;
  /** Closes the providers this gateway created (not the store). */
  close(): Promise<void>;
}

/** The query GraphiQL opens with: it works on the demo mailbox as is. */
export const DEFAULT_GRAPHIQL_QUERY = `# Attachments of the newest conversations, with signed download URLs.
query Attachments {
  mailboxes {
    id
    provider
    address
    conversations(first: 5, filter: { hasAttachments: true }) {
      edges {
        node {
          id
          subject
          lastMessageAt
          attachments {
            index
            filename
            contentType
            size
            downloadUrl(expiresIn: 300) {
              url
              expiresAt
            }
          }
        }
      }
    }
  }
}
`;

const requestIds = new AsyncLocalStorage<string>();

/** A request id from the client's `X-Request-Id` when it is sane, else a new UUID. */
function requestIdFrom(header: string | null | undefined): string {
  return header && /^[A-Za-z0-9._:-]{1,128}$/.test(header) ? header : randomUUID();
}

/** Builds the gateway. Nothing listens; see {@link startServer}. */
export function createGateway(deps: GatewayDeps): Gateway {
  const { config, store, logger } = deps;
  const signer = createDownloadSigner(deps.secret);
  const currentRequestId = () => requestIds.getStore() ?? 'none';

  let closeRegistry: (() => Promise<void>) | null = null;
  let providers = deps.providers;
  if (!providers) {
    // Imported lazily: the registry pulls in every provider, which tests of this layer do not need.
    const registry = import('./providers/registry.ts').then(({ ProviderRegistry }) => {
      // IMAP mailboxes read from the mail index on the gateway's database; the owner id tells this
      // process's sync leases from other instances'.
      const mailIndex = store.mailIndex ? { store: store.mailIndex(), owner: randomUUID() } : undefined;
      const instance = new ProviderRegistry({ dataDir: config.dataDir, logger, imap: config.imap, google: config.google, microsoft: config.microsoft, ...(mailIndex ? { mailIndex } : {}) }, store);
      closeRegistry = () => instance.close();
      return instance;
    });
    providers = async (mailbox) => (await registry).get(mailbox);
  }

  const keys = createKeyStatus(store, deps.keyStatusTtlMs === undefined ? {} : { ttlMs: deps.keyStatusTtlMs });
  const downloads: DownloadDeps = { store, providers, signer, keys, logger: logger.child({ route: 'download' }), stallTimeoutMs: config.downloadStallTimeoutMs };
  const yogaLogger = logger.child({ component: 'yoga' });
  // A Config built by hand (tests, embedders) may predate the limits: the defaults apply then.
  const limits: Limits = { ...DEFAULT_LIMITS, ...(config.limits as Partial<Limits> | undefined) };
  const authenticate = createApiKeyCache(store, { ttlMs: limits.apiKeyCacheMs });
  const publicUrl = (deps.publicUrl ?? config.publicUrl).replace(/\/+$/, '');
  const graphiqlOn = config.graphiql ?? (config.development || Boolean(deps.demoApiKey));
  const graphiql: GraphiqlPage | null = graphiqlOn
    ? createGraphiqlPage({
        title: 'attachment-gateway',
        defaultQuery: DEFAULT_GRAPHIQL_QUERY,
        demoApiKey: deps.demoApiKey ?? null,
        trustedHosts: [config.host, new URL(publicUrl).hostname],
        // GraphiQL's scripts are served inline from the package, not from a CDN, so the explorer
        // works on machines without internet access (air-gapped deployments, CI). The package holds
        // the whole GraphiQL bundle (~80 MiB of RSS once loaded), so it is loaded on the first
        // GraphiQL request, not by gateways that only serve API clients.
        render: async (options) => (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(options),
      })
    : null;
  const yoga = createYoga<Record<string, never>, GatewayContext>({
    schema,
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: '/health',
    landingPage: false,
    context: createContextFactory({
      store,
      authenticate,
      providers,
      signer,
      publicUrl,
      logger,
      requestId: currentRequestId,
    }),
    maskedErrors: { maskError: createMaskError(logger, currentRequestId) },
    logging: {
      debug: () => {},
      info: () => {},
      warn: (...args: unknown[]) => yogaLogger.warn({ args: args.map(String) }, 'yoga warning'),
      error: (...args: unknown[]) => yogaLogger.debug({ args: args.map(String) }, 'yoga error (logged by maskError when unexpected)'),
    },
    // CORS for /graphql from CORS_ORIGINS only; GraphiQL, `/` and unknown paths: useHttpSurface.
    cors: corsPolicy(config.corsOrigins),
    graphiql: false,
    // The request hooks run in this order: the HTTP surface (GraphiQL, `/` and unknown paths
    // answer before any API-key check), downloads, CSRF; then for GraphQL the key (before the body
    // is read), the body size, the request signal; tokens while parsing, depth, aliases and
    // directives while validating; the execution limit (a slot, or a wait for one within the
    // deadline), cost and the deadline around execution.
    maxRequestBodySize: false,
    plugins: [
      // The end of `mailbox connect`: no API key (its state is the credential).
      useOAuthCallback(createOAuthCallback({ store, config, logger })),
      useHttpSurface({ graphiql }),
      useDownloads(downloads),
      useCSRFPrevention({ requestHeaders: ['x-graphql-yoga-csrf'] }),
      useApiKey({ authenticate }),
      useBodyLimit({ maxBodyBytes: limits.maxBodyBytes, maxQueryStringBytes: limits.maxQueryStringBytes }),
      useExecutionLimit(limits),
      useDeadline({ deadlineMs: limits.deadlineMs }),
      useQueryLimits(limits),
      useQueryCost({ maxCost: limits.maxCost }),
    ],
  });

  const withRequestId = <T>(fn: () => T, requestId?: string): T => requestIds.run(requestId ?? randomUUID(), fn);
  return {
    fetch: (request) => withRequestId(() => Promise.resolve(yoga.fetch(request)), requestIdFrom(request.headers.get('x-request-id'))),
    yoga,
    downloads,
    graphiql,
    withRequestId,
    close: async () => {
      await closeRegistry?.();
    },
  };
}

/** Options of {@link startServer}. */
export interface ServerOptions {
  config: Config;
  store: Store;
  logger: Logger;
  secret: string;
  demoApiKey?: string | null;
  /** Overrides the provider registry (tests). */
  providers?: ProviderLookup;
}

/**
 * Listens on `config.host:config.port` (port 0 picks a free one). When PUBLIC_URL was not set and
 * the port was 0, download URLs use the real port.
 */
export async function startServer(options: ServerOptions): Promise<{ url: string; close(): Promise<void> }> {
  const { config } = options;
  let gateway: Gateway | null = null;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (!gateway) {
      res.writeHead(503).end();
      return;
    }
    const g = gateway;
    const requestId = requestIdFrom(req.headers['x-request-id'] as string | undefined);
    let pathname = '';
    try {
      ({ pathname } = new URL(req.url ?? '/', 'http://localhost'));
    } catch {
      // A request target no URL parser takes: yoga answers it (404).
    }
    const token = downloadTokenOf(pathname);
    // Downloads skip yoga's request/response translation: a node Readable piped into the socket.
    // OPTIONS goes to yoga, whose CORS handling refuses preflights as on every other path.
    if (token !== null && req.method !== 'OPTIONS') {
      g.withRequestId(() => void handleNodeDownload(g.downloads, req, res, token), requestId);
      return;
    }
    // The GraphiQL page is written from its kept Buffer (a fetch Response would copy 2-9 MB per load).
    if (g.graphiql && isGraphqlPath(pathname) && wantsGraphiql({ method: req.method ?? '', headers: { get: () => req.headers.accept ?? null } })) {
      const page = g.graphiql;
      g.withRequestId(
        () =>
          void page.respondNode(req, res).catch((error: unknown) => {
            options.logger.error({ err: error }, 'GraphiQL page failed');
            if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(errorBody(error)));
            else res.destroy();
          }),
        requestId,
      );
      return;
    }
    g.withRequestId(() => void g.yoga(req, res), requestId);
  });
  // Node's keep-alive timer starts when a response has been handed to the kernel, not when the
  // client has read it: with the 5 s default, clients still reading a large buffered answer (150
  // GraphiQL loads at once, a 10,000-attachment listing) lost their connection mid-body. 65 s, as
  // load balancers use; idle connections cost a socket each, and the headers timeout still bounds
  // connections that never send a request.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  const derivedPublicUrl = `http://${host}:${config.port}`;
  gateway = createGateway({
    config,
    store: options.store,
    logger: options.logger,
    secret: options.secret,
    demoApiKey: options.demoApiKey ?? null,
    ...(options.providers ? { providers: options.providers } : {}),
    publicUrl: config.publicUrl === derivedPublicUrl ? url : config.publicUrl,
  });
  const g = gateway;
  return {
    url,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await g.close();
    },
  };
}
