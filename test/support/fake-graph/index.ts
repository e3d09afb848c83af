/**
 * A fake Microsoft Graph and Microsoft identity platform for tests, over HTTPS on 127.0.0.1 (a free
 * port per call), speaking the real wire format to the real client libraries.
 *
 * ## Starting it
 * ```ts
 * const fake = await startFakeGraph({ addresses: ['adele@fake-graph.test'] });
 * // msal-node: authority and knownAuthorities (the login origin is not a Microsoft host)
 * const msal = new ConfidentialClientApplication({ auth: { clientId: fake.app.clientId,
 *   clientSecret: fake.app.clientSecret, authority: fake.authority, knownAuthorities: fake.knownAuthorities } });
 * // graph-client: baseUrl with a trailing slash, the host as a custom host (else no bearer is sent)
 * const client = Client.init({ baseUrl: `${fake.graphRoot}/`, customHosts: new Set(['127.0.0.1']), authProvider });
 * await fake.close();
 * ```
 * Tokens: `fake.refreshToken(address)` (as a finished consent would give), `fake.accessToken(address)`
 * or `fake.accessToken(undefined, 'application')` (no grant at all); `fake.identity` revokes, expires,
 * sets the rotation policy and the consent decision.
 * The gateway takes `MS_GRAPH_ROOT = MS_LOGIN_ROOT = fake.origin`, `MS_TENANT_ID = fake.tenantId`,
 * `MS_CLIENT_ID`/`MS_CLIENT_SECRET` from `fake.app`. TLS: the server certificate is signed by the
 * run's test CA, which the vitest global setup (`./global-setup.ts`) makes and puts in
 * `NODE_EXTRA_CA_CERTS` before the workers start; a child process needs `testCaEnv()` (`./tls.ts`)
 * in its environment. Outside vitest, call `relaunchWithTestCa()` (`./process.ts`) first; a
 * separate server process: `spawnFakeGraph()` (`./process.ts`).
 *
 * ## Options ({@link FakeGraphOptions})
 * Mailbox addresses (one user of the fake tenant each; the default app is granted application
 * access to all of them), the identity platform's token lifetime, refresh token rotation policy
 * (`keep`, `revoke`, or a grace window) and code lifetime, the default app's redirect URIs, the
 * per-app, per-mailbox concurrency limit (4, as Outlook; 429 `ApplicationThrottled` past it).
 *
 * ## Routes
 * Identity (`./identity.ts`): `GET /{tenant}/v2.0/.well-known/openid-configuration`,
 * `POST /{tenant}/oauth2/v2.0/token` (grants `refresh_token` with rotation, `client_credentials`,
 * `authorization_code` with PKCE), `GET /{tenant}/oauth2/v2.0/authorize` (consent answered at once as
 * `fake.identity.consent` says: approve as a user, with some requested scopes withheld, or deny; a
 * code brings a refresh token only when `offline_access` was asked and granted), `GET /{tenant}/discovery/v2.0/keys`,
 * `GET /common/discovery/instance`. Tenant: `fake.tenantId`, `fake.identity.domain`, `common`,
 * `organizations`. Graph (`./api.ts`): `/v1.0/me`, `/v1.0/users/{id | upn}`, with bearer checks
 * (a delegated token reads its own user; an app token only the mailboxes granted to it; mail needs
 * `Mail.Read`). Mail under either (`./mail-routes.ts`): mailFolders, messages with `$select`,
 * `$expand=attachments($select=...)`, `$filter` (and-ed comparisons on conversationId,
 * hasAttachments, receivedDateTime, ...; the InefficientFilter rule), `$orderby`, `$top` (≤ 1000),
 * `@odata.nextLink` with `$skiptoken`, `$count`, `$search`; attachments and their `$value`;
 * `Prefer: IdType="ImmutableId"`. `POST /v1.0/$batch` (`./batch.ts`): ≤ 20 requests, `dependsOn`,
 * responses shuffled by default, binary bodies base64. `/beta` serves the same plus the
 * referenceAttachment link properties. Every mailbox allows each app 4 concurrent requests (a
 * `$batch` takes one slot per inner request while it runs); past them, 429 `ApplicationThrottled`.
 *
 * ## Mail
 * `fake.add(raw | {raw, folder: 'sentitems', received, references: [{name, sourceUrl}]})` builds a
 * message the Exchange way (`./mailbox.ts`: attachments chosen by the shared MIME policy, unnamed
 * ones `ATT00001.bin`, enclosed messages as item attachments, stored `size` larger than the bytes,
 * REST ids that change on `mailbox.move()` and immutable ids that do not). Pitfalls a client meets
 * here as on Graph: `contentId` is selected as `microsoft.graph.fileAttachment/contentId` (a plain
 * `contentId` is a 400 on the attachment base type); listing and `$expand` include `contentBytes`
 * unless `$select` leaves them out; an item attachment's `contentType` is null.
 *
 * ## What it records
 * `fake.requests`: every outer request in arrival order with method, path, query, headers, a
 * {@link RequestKind} and the final status; a `$batch` entry lists its inner requests in `inner`.
 * `fake.graphCalls()` flattens them to what Graph counts (outer non-batch Graph requests and each
 * request inside a batch). Faults (`fake.faults.add(match, action, times)`, `./faults.ts`): errors
 * with `Retry-After`, delays, slowed or cut bodies, hangs, on outer requests or inside batches.
 */
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { mailboxSettings, mayReadMail, resolveTarget, userProfile, type ApiContext, type GraphCall, type RouteResult, type Target } from './api.ts';
import { orderResponses, parseBatch, runBatch, type BatchOrder } from './batch.ts';
import { GraphErrors, type GraphError } from './errors.ts';
import { Faults, requestKind, type FaultAction, type LoggedRequest, type RequestKind } from './faults.ts';
import { GRAPH_RESOURCE, IdentityPlatform, type AppRegistration, type IdentityOptions, type IdentityReply } from './identity.ts';
import { FakeGraphMailbox, type GraphMessageInput, type StoredMessage } from './mailbox.ts';
import { mailRoute } from './mail-routes.ts';
import { errorReply, graphHeaders, jsonReply, send, type Reply } from './output.ts';
import { loadTestCa, serverCertificate, type TestCa } from './tls.ts';

export { aadError, GraphErrors } from './errors.ts';
export type { FaultAction, FaultMatch, FaultRule, LoggedRequest, RequestKind } from './faults.ts';
export type { AppRegistration, ConsentBehaviour, RotationPolicy } from './identity.ts';
export { GRAPH_RESOURCE } from './identity.ts';
export { testCaEnv } from './tls.ts';
export type { GraphMessageInput, ReferenceInput, StoredAttachment, StoredMessage } from './mailbox.ts';
export { attachmentId, storedSize } from './mailbox.ts';
export { MAX_BATCH_REQUESTS, type BatchOrder } from './batch.ts';

/** Options of {@link startFakeGraph}. */
export interface FakeGraphOptions {
  /** Mailbox addresses (users of the fake tenant); default one, `adele.vance@fake-graph.test`. */
  addresses?: string[];
  /** Token lifetime, rotation policy, code lifetime. */
  identity?: IdentityOptions;
  /** Redirect URIs of the default app. */
  redirectUris?: string[];
  /** Concurrent requests allowed per app and mailbox (Outlook's limit is 4); 0 turns the limit off. */
  mailboxConcurrency?: number;
  /** The CA that signs the server certificate; default the run's CA (`FAKE_GRAPH_CA_DIR`). */
  ca?: TestCa;
  /** Order of `$batch` responses: `shuffled` (default: Graph promises no order), `given`, `reversed`. */
  batchOrder?: BatchOrder;
}

/** What {@link FakeGraph.counts} returns. */
export interface RequestCounts {
  outer: number;
  batches: number;
  inBatches: number;
  /** Graph calls (outer and inside batches) by {@link RequestKind}; token requests under `token`. */
  byKind: Partial<Record<RequestKind, number>>;
}

/** A running fake. */
export interface FakeGraph {
  /** `https://127.0.0.1:PORT`: both the Graph root (`MS_GRAPH_ROOT`) and the login root (`MS_LOGIN_ROOT`). */
  origin: string;
  graphRoot: string;
  loginRoot: string;
  /** `origin + '/v1.0'`. */
  serviceRoot: string;
  /** The fake tenant's id (a GUID). */
  tenantId: string;
  /** `origin + '/' + tenantId`, an msal authority. */
  authority: string;
  /** What msal needs in `knownAuthorities`: `['127.0.0.1:PORT']`. */
  knownAuthorities: string[];
  /** The default app registration (granted application access to every mailbox given at start). */
  app: AppRegistration;
  identity: IdentityPlatform;
  faults: Faults;
  /** Every outer request, in arrival order. */
  requests: LoggedRequest[];
  /** The Graph requests as Graph counts them: outer non-batch `/v1.0` and `/beta` requests and each request inside a batch (a batch refused whole counts none). */
  graphCalls(): LoggedRequest[];
  /**
   * Counts over the log: outer HTTP requests, `$batch` requests, requests inside batches, and
   * Graph calls ({@link graphCalls}) by kind. Empty the log with `fake.requests.length = 0`.
   */
  counts(): RequestCounts;
  /** The mailbox of an address (default the first). @throws for an unknown address */
  mailbox(address?: string): FakeGraphMailbox;
  /** Adds a message (raw bytes, or a {@link GraphMessageInput}) to a mailbox (default the first). */
  add(message: Buffer | GraphMessageInput, address?: string): StoredMessage;
  /** A refresh token of a mailbox's user for the default app (Mail.Read and User.Read unless scopes given). */
  refreshToken(address?: string, scopes?: string[]): string;
  /**
   * An access token without a grant: delegated for a mailbox's user (Mail.Read and User.Read) by
   * default, or the default app's application token (Mail.Read role).
   */
  accessToken(address?: string, kind?: 'delegated' | 'application'): Promise<string>;
  /** Lets an app (default the default app) read a mailbox with application tokens, or stops it. */
  grantAppAccess(address: string, granted: boolean, app?: AppRegistration): void;
  /** Stops the server, dropping open and hung connections. */
  close(): Promise<void>;
}

const MAX_BODY = 16 * 1024 * 1024;

/** Starts a fake on https://127.0.0.1:0. */
export async function startFakeGraph(options: FakeGraphOptions = {}): Promise<FakeGraph> {
  const addresses = options.addresses ?? ['adele.vance@fake-graph.test'];
  const mailboxes = addresses.map((a) => new FakeGraphMailbox(a));
  const byUserId = new Map(mailboxes.map((m) => [m.user.id, m]));
  const domain = addresses[0]?.split('@')[1] ?? 'fake-graph.test';
  const concurrencyLimit = options.mailboxConcurrency ?? 4;
  const batchOrder = options.batchOrder ?? 'shuffled';
  const entryIndex = (entry: LoggedRequest) => requests.indexOf(entry);
  const inFlight = new Map<string, number>();
  const faults = new Faults();
  const requests: LoggedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let origin = '';
  const identity = new IdentityPlatform(() => origin, domain, () => mailboxes.map((m) => m.user), options.identity);
  const app = identity.addApp({ redirectUris: options.redirectUris ?? [], appGrants: mailboxes.map((m) => m.user.id) });
  const ctx: ApiContext = { identity, mailboxOf: (id) => byUserId.get(id) };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  /** Takes one of an app's concurrency slots on a mailbox; null when none is free. */
  function acquire(mailbox: FakeGraphMailbox, clientId: string): (() => void) | null {
    // Outlook counts concurrent requests per app and mailbox.
    const id = `${clientId} ${mailbox.user.id}`;
    const used = inFlight.get(id) ?? 0;
    if (concurrencyLimit > 0 && used >= concurrencyLimit) return null;
    inFlight.set(id, used + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      inFlight.set(id, (inFlight.get(id) ?? 1) - 1);
    };
  }

  /** Turns a fault's error or status action into a reply; undefined for the other actions. */
  function faultReply(action: FaultAction, requestId: string, clientRequestId: string | undefined): Reply | undefined {
    if ('error' in action) {
      const preset = GraphErrors[action.error] as () => GraphError;
      const reply = errorReply(preset(), requestId, clientRequestId);
      if (action.retryAfter !== undefined) reply.headers['retry-after'] = String(action.retryAfter);
      return reply;
    }
    if ('status' in action) {
      const text = typeof action.body === 'string';
      const body = action.body === undefined ? Buffer.alloc(0) : Buffer.from(text ? (action.body as string) : JSON.stringify(action.body));
      const headers: Record<string, string> = { 'content-type': text ? 'text/plain; charset=utf-8' : 'application/json', ...action.headers };
      if (action.retryAfter !== undefined) headers['retry-after'] = String(action.retryAfter);
      return { status: action.status, headers, body };
    }
    return undefined;
  }

  /**
   * Answers one Graph call (outer or inside a batch) with faults applied. The reply's `release`
   * frees the mailbox's concurrency slot; call it once the answer is written.
   */
  async function graphCall(call: GraphCall, inBatch: boolean, logged: LoggedRequest): Promise<{ reply: Reply; release: () => void }> {
    const { requestId, headers } = graphHeaders(call.headers['client-request-id']);
    const withHeaders = (reply: Reply): Reply => ({ ...reply, headers: { ...headers, ...reply.headers } });
    const action = faults.take({ method: logged.method, path: logged.path, query: logged.query, inBatch, kind: logged.kind });
    const none = () => undefined;
    if (action) {
      const immediate = faultReply(action, requestId, call.headers['client-request-id']);
      if (immediate) return { reply: withHeaders(immediate), release: none };
      if ('hang' in action) return { reply: { status: 0, headers: {}, body: Buffer.alloc(0), hang: true }, release: none };
    }
    const target = resolveTarget(call, ctx);
    if ('status' in target) return { reply: withHeaders(errorReply(target, requestId, call.headers['client-request-id'])), release: none };
    // The user profile is a directory read, not a mailbox request: it takes no Outlook slot.
    const release = target.rest.length === 0 ? none : acquire(target.mailbox, target.principal.clientId);
    if (!release) return { reply: withHeaders(errorReply(GraphErrors.mailboxConcurrency(), requestId, call.headers['client-request-id'])), release: none };
    let result: RouteResult | GraphError;
    try {
      // A slow answer holds its mailbox slot, as a slow Exchange request does.
      if (action && 'delayMs' in action) await sleep(action.delayMs);
      result = route(target, call);
    } catch (e) {
      release();
      throw e;
    }
    let reply: Reply;
    if ('code' in result) reply = errorReply(result, requestId, call.headers['client-request-id']);
    else if ('json' in result) reply = jsonReply(result.status ?? 200, result.json, { 'odata-version': '4.0', ...result.headers });
    else reply = { status: result.status ?? 200, headers: { 'content-type': result.contentType, ...result.headers }, body: result.bytes };
    if (action && 'cutAfterBytes' in action) reply.cutAfter = action.cutAfterBytes;
    if (action && 'chunkDelayMs' in action) reply.chunkDelayMs = action.chunkDelayMs;
    return { reply: withHeaders(reply), release };
  }

  /** The Graph routes of a resolved target. */
  function route(target: Target, call: GraphCall): RouteResult | GraphError {
    if (call.method !== 'GET') return GraphErrors.methodNotAllowed(`The HTTP method '${call.method}' is not allowed for this resource.`);
    if (target.rest.length === 0) return userProfile(target, call);
    if (target.rest.length === 1 && target.rest[0] === 'mailboxSettings') return mailboxSettings(target, call);
    if (!mayReadMail(target.principal)) return GraphErrors.accessDenied();
    return mailRoute(target, call, call.serviceRoot.endsWith('/beta'));
  }

  /** `POST /v1.0/$batch`: runs the inner requests and writes one JSON answer. */
  async function batch(version: string, headers: Record<string, string>, body: Buffer, entry: LoggedRequest, res: http.ServerResponse): Promise<void> {
    const { requestId, headers: base } = graphHeaders(headers['client-request-id']);
    const action = faults.take({ method: entry.method, path: entry.path, query: entry.query, inBatch: false, kind: entry.kind });
    let reply: Reply | undefined = action ? faultReply(action, requestId, headers['client-request-id']) : undefined;
    if (action && 'hang' in action) return;
    if (action && 'delayMs' in action) await sleep(action.delayMs);
    if (!reply) {
      const batchRequests = parseBatch(body);
      if ('status' in batchRequests) {
        reply = errorReply(batchRequests, requestId, headers['client-request-id']);
      } else {
        entry.inner = [];
        const { responses, outerFault } = await runBatch(batchRequests, async (r) => {
          // graph-client's BatchRequestContent keeps the version segment (`/v1.0/me/...`); Graph takes both forms.
          const relative = r.url.replace(new RegExp(`^/?${version.replace('.', '\\.')}(?=/)`), '');
          const target = new URL(`${origin}/${version}${relative.startsWith('/') ? '' : '/'}${relative}`);
          const innerHeaders = { ...r.headers, ...(headers.authorization ? { authorization: headers.authorization } : {}) };
          const logged: LoggedRequest = {
            method: r.method,
            path: target.pathname,
            query: Object.fromEntries(target.searchParams),
            headers: innerHeaders,
            kind: requestKind(r.method, target.pathname),
            batchOf: entryIndex(entry),
            batchId: r.id,
            status: 0,
          };
          entry.inner!.push(logged);
          if (/^https?:/i.test(r.url)) {
            logged.status = 400;
            return { reply: errorReply(GraphErrors.badRequest('The URL of a batch request must be relative to the service root.'), requestId, undefined), release: () => undefined };
          }
          const call: GraphCall = {
            method: r.method,
            segments: target.pathname.slice(version.length + 2).split('/').filter(Boolean).map(safeDecode),
            query: target.searchParams,
            headers: innerHeaders,
            serviceRoot: `${origin}/${version}`,
          };
          const answer = await graphCall(call, true, logged);
          logged.status = answer.reply.hang || answer.reply.cutAfter !== undefined ? 0 : answer.reply.status;
          return answer;
        });
        if (outerFault.hang) return;
        reply = jsonReply(200, { responses: orderResponses(responses, batchRequests, batchOrder) }, { 'odata-version': '4.0' });
        reply.cutAfter = outerFault.cutAfter;
        reply.chunkDelayMs = outerFault.chunkDelayMs;
      }
    }
    if (action && 'cutAfterBytes' in action) reply.cutAfter = action.cutAfterBytes;
    if (action && 'chunkDelayMs' in action) reply.chunkDelayMs = action.chunkDelayMs;
    reply.headers = { ...base, ...reply.headers };
    entry.status = reply.cutAfter !== undefined ? 0 : reply.status;
    await send(res, reply, sleep);
  }

  function identityRoute(method: string, url: URL, headers: Record<string, string>, body: Buffer): Promise<IdentityReply> | IdentityReply | null {
    const parts = url.pathname.split('/').filter(Boolean);
    const tenant = parts[0] ?? '';
    const rest = parts.slice(1).join('/');
    if (method === 'GET' && url.pathname === '/common/discovery/instance') return identity.instanceDiscovery(url.searchParams);
    if (method === 'GET' && rest === 'v2.0/.well-known/openid-configuration') return identity.openIdConfiguration(tenant);
    if (method === 'GET' && rest === 'discovery/v2.0/keys') return identity.keys();
    if (method === 'GET' && rest === 'oauth2/v2.0/authorize') return identity.authorize(tenant, url.searchParams);
    if (method === 'POST' && rest === 'oauth2/v2.0/token') return identity.token(tenant, new URLSearchParams(body.toString('utf8')), headers.authorization, headers['client-request-id']);
    return null;
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    const method = req.method ?? 'GET';
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
    const entry: LoggedRequest = { method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers, kind: requestKind(method, url.pathname), status: 0 };
    requests.push(entry);
    const body = await readBody(req);
    if (body === null) {
      entry.status = 413;
      await send(res, jsonReply(413, { error: { code: 'RequestEntityTooLarge', message: 'The request is too large.' } }), sleep);
      return;
    }
    const version = /^\/(v1\.0|beta)\//.exec(url.pathname)?.[1];
    if (version && url.pathname === `/${version}/$batch` && method === 'POST') {
      await batch(version, headers, body, entry, res);
      return;
    }
    if (version) {
      const call: GraphCall = {
        method,
        segments: url.pathname.slice(version.length + 2).split('/').filter(Boolean).map(safeDecode),
        query: url.searchParams,
        headers,
        serviceRoot: `${origin}/${version}`,
      };
      const { reply, release } = await graphCall(call, false, entry);
      entry.status = reply.hang || reply.cutAfter !== undefined ? 0 : reply.status;
      try {
        await send(res, reply, sleep);
      } finally {
        release();
      }
      return;
    }
    const action = faults.take({ method, path: url.pathname, query: entry.query, inBatch: false, kind: entry.kind });
    const { requestId, headers: base } = graphHeaders(headers['client-request-id']);
    if (action) {
      const immediate = faultReply(action, requestId, headers['client-request-id']);
      if (immediate) {
        entry.status = immediate.status;
        await send(res, immediate, sleep);
        return;
      }
      if ('hang' in action) return;
      if ('delayMs' in action) await sleep(action.delayMs);
    }
    const answer = await identityRoute(method, url, headers, body);
    let reply: Reply;
    if (answer === null) reply = jsonReply(404, { error: { code: 'NotFound', message: `No route ${method} ${url.pathname}` } }, {}, 'application/json');
    else if ('location' in answer) reply = { status: 302, headers: { location: answer.location }, body: Buffer.alloc(0) };
    else if ('text' in answer) reply = { status: answer.status, headers: { 'content-type': 'text/html; charset=utf-8' }, body: Buffer.from(answer.text) };
    else reply = jsonReply(answer.status, answer.json, { 'cache-control': 'no-store, no-cache', pragma: 'no-cache', 'x-ms-request-id': base['request-id']! }, 'application/json; charset=utf-8');
    entry.status = reply.status;
    await send(res, reply, sleep);
  }

  const ca = options.ca ?? loadTestCa();
  const cert = await serverCertificate(ca);
  const server = https.createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  origin = `https://127.0.0.1:${port}`;

  const mailboxOf = (address?: string) => {
    const box = address === undefined ? mailboxes[0] : mailboxes.find((m) => m.address.toLowerCase() === address.toLowerCase());
    if (!box) throw new Error(`fake Graph: no mailbox ${address ?? '(none)'}`);
    return box;
  };

  return {
    origin,
    graphRoot: origin,
    loginRoot: origin,
    serviceRoot: `${origin}/v1.0`,
    tenantId: identity.tenantId,
    authority: `${origin}/${identity.tenantId}`,
    knownAuthorities: [`127.0.0.1:${port}`],
    app,
    identity,
    faults,
    requests,
    graphCalls: () => requests.flatMap((r) => (r.kind === 'batch' ? (r.inner ?? []) : /^\/(v1\.0|beta)\//.test(r.path) ? [r] : [])),
    mailbox: mailboxOf,
    counts: () => {
      const byKind: Partial<Record<RequestKind, number>> = {};
      const calls = requests.flatMap((r) => (r.kind === 'batch' ? (r.inner ?? []) : [r]));
      for (const c of calls) byKind[c.kind] = (byKind[c.kind] ?? 0) + 1;
      const batches = requests.filter((r) => r.kind === 'batch');
      return { outer: requests.length, batches: batches.length, inBatches: batches.reduce((n, b) => n + (b.inner?.length ?? 0), 0), byKind };
    },
    add: (message, address) => mailboxOf(address).add(Buffer.isBuffer(message) ? { raw: message } : message),
    refreshToken: (address, scopes) => identity.issueRefreshToken({ clientId: app.clientId, address: mailboxOf(address).address, scopes }),
    accessToken: (address, kind = 'delegated') =>
      kind === 'application'
        ? identity.issueAccessToken({ kind: 'application', clientId: app.clientId, roles: ['Mail.Read'] })
        : identity.issueAccessToken({ kind: 'delegated', userId: mailboxOf(address).user.id, clientId: app.clientId, scopes: [`${GRAPH_RESOURCE}/Mail.Read`, `${GRAPH_RESOURCE}/User.Read`] }),
    grantAppAccess: (address, granted, which = app) => {
      const id = mailboxOf(address).user.id;
      if (granted) which.appGrants.add(id);
      else which.appGrants.delete(id);
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

async function readBody(req: http.IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

