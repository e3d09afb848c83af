/**
 * A fake Gmail API and Google OAuth server for tests, on 127.0.0.1 (a free port per call).
 * Start one per test file with {@link startFakeGmail}; point googleapis at it with
 * `google.gmail({version: 'v1', auth, rootUrl: fake.rootUrl})` and
 * `new google.auth.OAuth2({clientId, clientSecret, endpoints: {oauth2TokenUrl: fake.tokenUrl}})`.
 *
 * Routes: `/gmail/v1/users/{userId}/…` (`./api.ts`), `POST /batch/gmail/v1` (`./batch.ts`),
 * `POST /token`, `GET /o/oauth2/v2/auth` and `POST /revoke` (`./oauth.ts`). Scripted faults and
 * the request log: `./faults.ts`. The mailbox model: `./mailbox.ts`. In a child process (for
 * memory measurements): `./process.ts`.
 *
 * Checked against the API reference (developers.google.com/gmail/api/reference/rest/v1:
 * users.messages, users.threads, users.messages.attachments, users.labels, users.getProfile,
 * Format), guides/batch, guides/handle-errors, guides/performance (partial response), and the
 * identity guides named in `./oauth.ts`. Not documented by Google, taken from what clients report
 * (and marked so where used): the 400 "Invalid attachment token" for a stale attachmentId
 * (dust-tt/dust PR 27314 and 22105), 400 "Invalid id value" for a malformed id, "Metadata scope
 * doesn't allow format FULL"; the exact wording of the 400 past 100 batch calls and of
 * "Invalid field selection" is the fake's own.
 *
 * google-auth-library's JWT client (gtoken 8) posts to https://oauth2.googleapis.com/token and
 * signs `aud` with it whatever the configuration: against this fake give it
 * `additionalClaims: {aud: fake.tokenUrl}` and redirect that URL with a gaxios request interceptor
 * on `jwt.transporter` (see the JWT test), or sign the assertion yourself.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleApi, errorReply, jsonReply, type ApiCall, type StreamBody } from './api.ts';
import { boundaryOf, BatchFormatError, MAX_BATCH_CALLS, parseBatch, responsePartHead } from './batch.ts';
import { apiError, GmailErrors } from './errors.ts';
import { Faults, type FaultAction, type LoggedRequest } from './faults.ts';
import { FakeMailbox, type MessageInput, type StoredMessage } from './mailbox.ts';
import { OAuthServer, type OAuthClient, type OAuthOptions } from './oauth.ts';
import { Out, send, wantsGzip, writeBody, type Reply } from './output.ts';
import { Quota } from './quota.ts';
import { AttachmentIds, type AttachmentIdPolicy } from './resources.ts';

export { GmailErrors } from './errors.ts';
export type { FaultAction, FaultMatch, FaultRule, LoggedRequest } from './faults.ts';
export type { MessageInput, StoredMessage } from './mailbox.ts';
export type { ServiceAccountKey } from './oauth.ts';
export { READ_SCOPES, METADATA_SCOPE } from './oauth.ts';
export { base64urlPadded } from './resources.ts';

/** Options of {@link startFakeGmail}. */
export interface FakeGmailOptions {
  /** Mailbox addresses; default one, `owner@fake-gmail.test`. */
  addresses?: string[];
  /** When attachment ids expire (default never). Changeable later through `fake.attachmentIds.policy`. */
  attachmentIds?: AttachmentIdPolicy;
  oauth?: OAuthOptions;
  /** Redirect URIs of the default OAuth client. */
  redirectUris?: string[];
  /**
   * Gzip answers as Google does when the request has `Accept-Encoding: gzip` and a User-Agent
   * containing `gzip` (googleapis sends both): default level 1; false never compresses.
   */
  gzip?: false | { level: number };
}

/** A running fake. */
export interface FakeGmail {
  /** `http://127.0.0.1:PORT` (an origin: googleapis drops a path in its rootUrl). */
  origin: string;
  /** `origin + '/'`, what `google.gmail({rootUrl})` takes. */
  rootUrl: string;
  tokenUrl: string;
  authUrl: string;
  revokeUrl: string;
  batchUrl: string;
  /** The default OAuth client (id, secret, redirect URIs). */
  client: OAuthClient;
  oauth: OAuthServer;
  faults: Faults;
  attachmentIds: AttachmentIds;
  /** The per-user rate limit in quota units (off by default; set `unitsPerMinute`). */
  quota: Quota;
  /** Every outer request, in arrival order (batch entries list their inner calls). */
  requests: LoggedRequest[];
  /** The API calls Gmail would count against quota: outer non-batch API requests and each call inside a batch. */
  apiCalls(): LoggedRequest[];
  /** The mailbox of an address (default the first). @throws for an unknown address */
  mailbox(address?: string): FakeMailbox;
  /** Adds a message (a raw Buffer or a {@link MessageInput}) to a mailbox (default the first). */
  add(message: Buffer | MessageInput, address?: string): StoredMessage;
  /** A refresh token for a mailbox through the default client (gmail.readonly unless scopes given). */
  refreshToken(address?: string, scopes?: string[]): string;
  /** Stops the server, dropping open and hung connections. */
  close(): Promise<void>;
}

const MAX_BODY = 16 * 1024 * 1024;

/** Starts a fake on 127.0.0.1:0. */
export async function startFakeGmail(options: FakeGmailOptions = {}): Promise<FakeGmail> {
  const addresses = options.addresses ?? ['owner@fake-gmail.test'];
  const mailboxes = new Map(addresses.map((a) => [a.toLowerCase(), new FakeMailbox(a)]));
  const faults = new Faults();
  const attachmentIds = new AttachmentIds(options.attachmentIds);
  const requests: LoggedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const gzipLevel = options.gzip === false ? null : (options.gzip?.level ?? 1);
  let origin = '';
  const oauth = new OAuthServer(
    () => `${origin}/token`,
    (address) => mailboxes.get(address.toLowerCase())?.address ?? null,
    () => addresses[0] ?? null,
    options.oauth,
  );
  const client = oauth.addClient({ redirectUris: options.redirectUris ?? [] });
  const quota = new Quota();
  const ctx = { mailboxOf: (a: string) => mailboxes.get(a.toLowerCase()), authenticate: (h: string | undefined) => oauth.authenticate(h), attachmentIds, quota };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  /** Applies a fault action, or answers for real through `real`. */
  async function withFaults(
    call: { method: string; path: string; query: Record<string, string> },
    inBatch: boolean,
    real: (cutAfter?: number) => Promise<Reply> | Reply,
  ): Promise<Reply> {
    const action: FaultAction | undefined = faults.take({ ...call, inBatch });
    if (!action) return real();
    if ('error' in action) {
      const reply = errorReply(GmailErrors[action.error]());
      if (action.retryAfter !== undefined) reply.headers['retry-after'] = String(action.retryAfter);
      return reply;
    }
    if ('status' in action) {
      const body = action.body === undefined ? Buffer.alloc(0) : Buffer.from(typeof action.body === 'string' ? action.body : JSON.stringify(action.body, null, 2));
      const headers: Record<string, string> = { 'content-type': typeof action.body === 'string' ? 'text/plain; charset=UTF-8' : 'application/json; charset=UTF-8', ...action.headers };
      if (action.retryAfter !== undefined) headers['retry-after'] = String(action.retryAfter);
      return { status: action.status, headers, body };
    }
    if ('delayMs' in action) {
      await sleep(action.delayMs);
      return real();
    }
    if ('hang' in action) return { status: 0, headers: {}, body: Buffer.alloc(0), hang: true };
    return { ...(await real(action.cutAfterBytes)), cutAfter: action.cutAfterBytes };
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
    const entry: LoggedRequest = { method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), headers, status: 0 };
    const index = requests.push(entry) - 1;
    const body = await readBody(req);
    const out = new Out(res, gzipLevel !== null && wantsGzip(headers) ? gzipLevel : null);
    entry.gzip = out.gzip;
    const reply = await withFaults(entry, false, (cutAfter) => route(req, url, headers, body, entry, index, out, cutAfter));
    if (reply.status === -1) return; // streamed by the batch writer
    entry.status = reply.hang || reply.cutAfter !== undefined ? 0 : reply.status;
    await send(out, reply);
  }

  async function route(
    req: http.IncomingMessage,
    url: URL,
    headers: Record<string, string>,
    body: Buffer | null,
    entry: LoggedRequest,
    index: number,
    out: Out,
    cutAfter?: number,
  ): Promise<Reply> {
    if (body === null) return jsonReply(413, apiError(413, 'Request too large', 'uploadTooLarge').body);
    const method = req.method ?? 'GET';
    if (url.pathname === '/token' && method === 'POST') {
      const answer = await oauth.token(new URLSearchParams(body.toString('utf8')), headers.authorization);
      return jsonReply(answer.status, answer.body, true, { 'cache-control': 'no-cache, no-store, max-age=0, must-revalidate', pragma: 'no-cache' });
    }
    if (url.pathname === '/revoke' && method === 'POST') {
      const token = url.searchParams.get('token') ?? new URLSearchParams(body.toString('utf8')).get('token') ?? '';
      return oauth.revoke(token) ? jsonReply(200, {}) : jsonReply(400, { error: 'invalid_token', error_description: 'Token expired or revoked' });
    }
    if (url.pathname === '/o/oauth2/v2/auth' && method === 'GET') {
      const answer = oauth.consentRedirect(url.searchParams);
      if (answer.status === 302) return { status: 302, headers: { location: answer.location }, body: Buffer.alloc(0) };
      return { status: answer.status, headers: { 'content-type': 'text/plain; charset=UTF-8' }, body: Buffer.from(answer.text) };
    }
    if (url.pathname === '/batch/gmail/v1' && method === 'POST') return batch(headers, body, entry, index, out, cutAfter);
    return handleApi({ method, path: url.pathname, query: url.searchParams, headers }, ctx);
  }

  /**
   * Answers a batch, streaming part after part. A cut of the whole batch (`outerCut`) or of one
   * part destroys the socket after that many bytes of the batch body or of that part's body.
   */
  async function batch(headers: Record<string, string>, body: Buffer, entry: LoggedRequest, index: number, out: Out, outerCut?: number): Promise<Reply> {
    const boundary = boundaryOf(headers['content-type']);
    if (!boundary) return errorReply(apiError(400, 'Invalid batch request: Content-Type must be multipart/mixed with a boundary', 'badRequest'));
    let parts;
    try {
      parts = parseBatch(body.toString('latin1'), boundary);
    } catch (e) {
      if (e instanceof BatchFormatError) return errorReply(apiError(400, e.message, 'badRequest'));
      throw e;
    }
    if (parts.length === 0) return errorReply(apiError(400, 'Invalid batch request: no parts', 'badRequest'));
    if (parts.length > MAX_BATCH_CALLS) return errorReply(apiError(400, `Too many requests in batch (${parts.length}); the limit is ${MAX_BATCH_CALLS}.`, 'badRequest'));
    entry.inner = [];
    entry.status = 200;
    const outBoundary = `batch_${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
    out.head(200, { 'content-type': `multipart/mixed; boundary=${outBoundary}`, vary: 'Origin, X-Origin, Referer' }, null);
    let budget = outerCut ?? Infinity;
    const done: Reply = { status: -1, headers: {}, body: Buffer.alloc(0) };
    /** Writes within the outer cut's budget; false once the batch is cut or the client is gone. */
    const put = async (chunk: Buffer | StreamBody, partCut?: number): Promise<boolean> => {
      const limit = Math.min(budget, partCut ?? Infinity);
      const size = Buffer.isBuffer(chunk) ? chunk.length : chunk.length;
      if (limit === Infinity) return writeBody(out, chunk);
      budget -= Math.min(size, limit);
      if (size <= limit && partCut === undefined) return writeBody(out, chunk);
      await writeBody(out, chunk, limit);
      return false;
    };
    const shared = Object.fromEntries(Object.entries(headers).filter(([k]) => !k.startsWith('content-') && k !== 'host' && k !== 'transfer-encoding'));
    for (const [i, part] of parts.entries()) {
      const url = new URL(part.target, origin);
      const innerHeaders = { ...shared, ...part.headers };
      const call: ApiCall = { method: part.method, path: url.pathname, query: url.searchParams, headers: innerHeaders };
      const logged: LoggedRequest = { method: call.method, path: call.path, query: Object.fromEntries(url.searchParams), headers: innerHeaders, batchOf: index, status: 0 };
      entry.inner.push(logged);
      const reply = await withFaults(logged, true, () => (url.pathname.startsWith('/gmail/v1/') ? handleApi(call, ctx) : errorReply(apiError(404, 'Not Found', 'notFound'))));
      if (reply.hang) return done;
      logged.status = reply.cutAfter !== undefined ? 0 : reply.status;
      if (!(await put(responsePartHead(outBoundary, part.contentId ?? String(i + 1), reply.status, reply.headers)))) return done;
      if (!(await put(reply.body, reply.cutAfter))) return done;
      if (!(await put(Buffer.from('\r\n')))) return done;
    }
    if (await put(Buffer.from(`--${outBoundary}--\r\n`))) await out.end();
    return done;
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const mailboxOf = (address?: string) => {
    const box = address === undefined ? mailboxes.values().next().value : mailboxes.get(address.toLowerCase());
    if (!box) throw new Error(`fake Gmail: no mailbox ${address ?? '(none)'}`);
    return box;
  };

  return {
    origin,
    rootUrl: `${origin}/`,
    tokenUrl: `${origin}/token`,
    authUrl: `${origin}/o/oauth2/v2/auth`,
    revokeUrl: `${origin}/revoke`,
    batchUrl: `${origin}/batch/gmail/v1`,
    client,
    oauth,
    faults,
    attachmentIds,
    quota,
    requests,
    apiCalls: () => requests.flatMap((r) => (r.inner ? r.inner : r.path.startsWith('/gmail/v1/') ? [r] : [])),
    mailbox: mailboxOf,
    add: (message, address) => mailboxOf(address).add(Buffer.isBuffer(message) ? { raw: message } : message),
    refreshToken: (address, scopes) => oauth.issueRefreshToken({ clientId: client.clientId, address: mailboxOf(address).address, scopes }),
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
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
