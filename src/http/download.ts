/**
 * `GET` / `HEAD /attachments/:token`: streams the decoded bytes of one attachment from its
 * provider, nothing stored or buffered whole. The token (see `src/signing.ts`) is the only
 * credential. One core ({@link prepareDownload}) and two adapters: {@link handleDownloadRequest}
 * answers a fetch `Request` (yoga plugin, `gateway.fetch` in tests) and
 * {@link handleNodeDownload} writes to a node:http response with `pipeline` back-pressure (the
 * fast path of the real server).
 *
 * Error answers are JSON `{ error, message, code }` (`errorBody()`): malformed or forged token 401
 * TOKEN_INVALID, expired 410 TOKEN_EXPIRED, key revoked or gone, workspace gone or another audience
 * 403 TOKEN_FORBIDDEN, mailbox or attachment gone 404, not downloadable 409, another method 405
 * METHOD_NOT_ALLOWED, provider failure 502, provider throttling 503 with Retry-After. Never a 500
 * for user input.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errorBody, GatewayError, httpStatusOf, isGatewayError, NotDownloadableError, notFound } from '../errors.ts';
import type { ProviderLookup } from '../loaders.ts';
import type { Logger } from '../domain/logger.ts';
import type { DownloadSigner } from '../signing.ts';
import type { Store } from '../store/types.ts';
import { attachmentDisposition, safeContentType } from './filename.ts';
import type { KeyStatus } from './key-status.ts';

/** URL path prefix of downloads. */
export const DOWNLOAD_PATH_PREFIX = '/attachments/';

/** What the download route needs. */
export interface DownloadDeps {
  store: Store;
  providers: ProviderLookup;
  signer: DownloadSigner;
  /** Whether the API key named by a token is still usable, and its workspace (cached briefly). */
  keys: KeyStatus;
  logger: Logger;
  /**
   * A node:http download whose client accepts no byte for this long (ms) is cut, which frees the
   * provider connection it holds; default {@link DEFAULT_STALL_TIMEOUT_MS}.
   */
  stallTimeoutMs?: number;
}

/** Default of {@link DownloadDeps.stallTimeoutMs}: 30 s. */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;

/**
 * Cuts a response whose client stopped reading. The client is the one stalling only while the
 * response is back-pressured (`writableNeedDrain`: the socket buffers are full); a slow provider
 * leaves it false and is bounded by the provider's own deadlines instead. So the clock runs from
 * the last 'drain' or the last check without back-pressure, and `onStall` fires once it passes
 * `timeoutMs` (checked every tenth of it, at least every 50 ms). Returns the stop function.
 */
function watchStalledClient(res: ServerResponse, timeoutMs: number, onStall: () => void): () => void {
  let progressAt = Date.now();
  const onDrain = (): void => {
    progressAt = Date.now();
  };
  res.on('drain', onDrain);
  const timer = setInterval(
    () => {
      if (!res.writableNeedDrain) progressAt = Date.now();
      else if (Date.now() - progressAt >= timeoutMs) {
        stop();
        onStall();
      }
    },
    Math.max(50, Math.floor(timeoutMs / 10)),
  );
  timer.unref();
  const stop = (): void => {
    clearInterval(timer);
    res.off('drain', onDrain);
  };
  return stop;
}

/** A download ready to send: headers and, for GET, the byte stream (destroy it to release the provider). */
export interface PreparedDownload {
  headers: Record<string, string>;
  stream: Readable | null;
}

/** The token of a download path (`/attachments/<token>`), or null when the path is not a download path. */
export function downloadTokenOf(pathname: string): string | null {
  if (!pathname.startsWith(DOWNLOAD_PATH_PREFIX)) return null;
  return pathname.slice(DOWNLOAD_PATH_PREFIX.length);
}

/**
 * Verifies the token and opens the attachment (GET) or reads its facts (HEAD).
 * @param now clock for the token check and the Cache-Control max-age
 * @throws GatewayError TOKEN_INVALID, TOKEN_FORBIDDEN (also: the minting key revoked, or its workspace gone), TOKEN_EXPIRED, NOT_FOUND, NOT_DOWNLOADABLE, PROVIDER_* (provider errors
 *   that are not GatewayErrors become PROVIDER_UNAVAILABLE and are logged)
 */
export async function prepareDownload(deps: DownloadDeps, token: string, method: 'GET' | 'HEAD', signal?: AbortSignal, now = new Date()): Promise<PreparedDownload> {
  const claims = await deps.signer.verify(token, now);
  const workspaceId = await deps.keys.workspaceOf(claims.keyId);
  if (workspaceId === null) throw new GatewayError('TOKEN_FORBIDDEN', 'This download link is no longer valid: its API key was revoked or its workspace deleted');
  const mailbox = await deps.store.getMailbox(workspaceId, claims.mailboxId);
  if (!mailbox) throw notFound('Attachment');
  const log = deps.logger.child({ mailboxId: claims.mailboxId, keyId: claims.keyId });
  const provider = await deps.providers(mailbox);
  const maxAge = Math.max(0, claims.exp - Math.floor(now.getTime() / 1000));
  const headers: Record<string, string> = {
    'cache-control': `private, max-age=${maxAge}`,
    'x-content-type-options': 'nosniff',
    // An HTML or SVG attachment opened in place must not run script in our origin.
    'content-security-policy': "default-src 'none'; sandbox",
  };
  try {
    if (method === 'HEAD') {
      const [message] = await provider.loadMessages([claims.messageKey]);
      if (message instanceof Error) throw message;
      const info = message?.attachments.find((a) => a.partId === claims.partId);
      if (!info) throw notFound('Attachment');
      if (!info.downloadable) throw new NotDownloadableError();
      headers['content-type'] = safeContentType(info.contentType);
      headers['content-disposition'] = attachmentDisposition(info.filename);
      if (info.sizeExact && info.size !== null) headers['content-length'] = String(info.size);
      return { headers, stream: null };
    }
    const content = await provider.openAttachment(claims.messageKey, claims.partId, { ...(signal ? { signal } : {}), ...(claims.hint === undefined ? {} : { hint: claims.hint }) });
    headers['content-type'] = safeContentType(content.contentType);
    headers['content-disposition'] = attachmentDisposition(content.filename);
    if (content.size !== null) headers['content-length'] = String(content.size);
    return { headers, stream: content.stream };
  } catch (error) {
    if (isGatewayError(error)) throw error;
    log.error({ err: error }, 'provider failed to serve an attachment');
    throw new GatewayError('PROVIDER_UNAVAILABLE', 'The mail provider failed to serve the attachment', { cause: error });
  }
}

/** Headers and JSON body of an error answer. */
export function downloadErrorResponse(error: unknown): { status: number; headers: Record<string, string>; body: string } {
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  };
  if (isGatewayError(error) && error.code === 'PROVIDER_THROTTLED') headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfter ?? 30)));
  return { status: httpStatusOf(error), headers, body: JSON.stringify(errorBody(error)) };
}

function methodNotAllowed(): GatewayError {
  return new GatewayError('METHOD_NOT_ALLOWED', 'Downloads accept GET and HEAD only');
}

function logUnexpected(logger: Logger, error: unknown): void {
  if (!isGatewayError(error)) logger.error({ err: error }, 'download failed unexpectedly');
}

/** Answers a download `Request` with a streaming `Response` (the body is a web stream over the provider's Readable). */
export async function handleDownloadRequest(deps: DownloadDeps, request: Request, token: string): Promise<Response> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    const { status, headers, body } = downloadErrorResponse(methodNotAllowed());
    return new Response(body, { status, headers: { ...headers, allow: 'GET, HEAD' } });
  }
  try {
    const { headers, stream } = await prepareDownload(deps, token, request.method, request.signal);
    if (!stream) return new Response(null, { status: 200, headers });
    // A client gone mid-download aborts the request signal: destroying the Readable releases the provider.
    const onAbort = () => stream.destroy();
    request.signal.addEventListener('abort', onAbort, { once: true });
    stream.once('close', () => request.signal.removeEventListener('abort', onAbort));
    return new Response(Readable.toWeb(stream) as ReadableStream<Uint8Array>, { status: 200, headers });
  } catch (error) {
    logUnexpected(deps.logger, error);
    const { status, headers, body } = downloadErrorResponse(error);
    return new Response(request.method === 'HEAD' ? null : body, { status, headers });
  }
}

/**
 * Answers a download on node:http: `pipeline` gives back-pressure (the provider is read only as
 * fast as the client takes bytes) and destroys the provider stream when the client disconnects or
 * reads nothing for `deps.stallTimeoutMs` (the transfer is then cut: the client sees fewer bytes
 * than Content-Length), so a client that stops reading cannot hold a provider connection.
 */
export async function handleNodeDownload(deps: DownloadDeps, req: IncomingMessage, res: ServerResponse, token: string): Promise<void> {
  const method = req.method === 'HEAD' ? 'HEAD' : req.method === 'GET' ? 'GET' : null;
  const abort = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) abort.abort();
  };
  res.once('close', onClose);
  let prepared: PreparedDownload;
  try {
    if (!method) {
      const { status, headers, body } = downloadErrorResponse(methodNotAllowed());
      res.writeHead(status, { ...headers, allow: 'GET, HEAD' }).end(body);
      return;
    }
    prepared = await prepareDownload(deps, token, method, abort.signal);
  } catch (error) {
    logUnexpected(deps.logger, error);
    const { status, headers, body } = downloadErrorResponse(error);
    if (!res.headersSent && !res.destroyed) res.writeHead(status, headers).end(body);
    return;
  }
  const { headers, stream } = prepared;
  if (res.destroyed) {
    stream?.destroy();
    return;
  }
  res.writeHead(200, headers);
  if (!stream) {
    res.end();
    return;
  }
  const stallTimeoutMs = deps.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  let stalled = false;
  const stopWatching = watchStalledClient(res, stallTimeoutMs, () => {
    stalled = true;
    deps.logger.info({ stallTimeoutMs }, 'download cut: the client read nothing for too long');
    stream.destroy();
    res.destroy();
  });
  try {
    await pipeline(stream, res);
  } catch (error) {
    // Headers are gone: the only honest signal left is a cut connection (the length will not match).
    if (!abort.signal.aborted && !stalled) deps.logger.warn({ err: error }, 'download stream failed mid-way');
    stream.destroy();
    res.destroy();
  } finally {
    stopWatching();
    res.off('close', onClose);
  }
}
