/**
 * The HTTP side of one Graph mailbox: every request the provider sends goes through here, built
 * by `@microsoft/microsoft-graph-client` (URL, OData query, bearer token) and bounded by the
 * gateway's rules:
 *
 * - The client's middleware chain is `AuthenticationHandler` → our fetch handler, nothing else:
 *   its RetryHandler is left out, so `src/upstream/retry.ts` is the one retry policy, and its
 *   RedirectHandler too (fetch follows redirects itself and drops the bearer across origins).
 *   The bearer comes from the mailbox's {@link GraphTokenSource}, asked with the try's signal
 *   (`AuthenticationHandlerOptions` per request). The graph-client adds it only to `https` URLs
 *   whose host is a Graph host or in `customHosts` (FIELD-NOTES), so the host of `graphRoot` is
 *   the one custom host, and a URL elsewhere never gets the token.
 * - Every request asks for immutable ids (`Prefer: IdType="ImmutableId"`,
 *   https://learn.microsoft.com/en-us/graph/outlook-immutable-id), so message and attachment keys
 *   survive moves between folders.
 * - Every request holds a slot of the mailbox ({@link MailboxSlots}, 4 by default: Outlook's
 *   MailboxConcurrency) while it runs, carries the request's signal and has a deadline (the retry
 *   helper's budget); a 401 drops the cached token and tries once more with a fresh one.
 * - Answers are read within a size bound; failures are mapped by `./errors.ts`.
 */
import { AuthenticationHandler, AuthenticationHandlerOptions, Client, GraphClientError, ResponseType } from '@microsoft/microsoft-graph-client';
import type { Context, Middleware } from '@microsoft/microsoft-graph-client';
import { ErrorCode, GatewayError } from '../../errors.ts';
import { readBodyLimited, readErrorBody } from '../../upstream/body.ts';
import { retryUpstream, type RetryOptions } from '../../upstream/retry.ts';
import { isGraphFailure, malformedGraphAnswer, mapGraphAnswer, mapGraphError } from './errors.ts';
import { MailboxSlots } from './mailbox-slots.ts';
import type { GraphTokenSource } from './token-source.ts';
import { GraphValueStream } from './value-stream.ts';

/** Graph's version segment the provider speaks. */
export const GRAPH_VERSION = 'v1.0';
/** Requests in flight per mailbox (Outlook's MailboxConcurrency). */
export const GRAPH_MAILBOX_CONCURRENCY = 4;
/** Longest JSON answer read whole (a list page, a `$batch` answer of 20 conversations), bytes. */
export const MAX_GRAPH_JSON_BYTES = 32 * 1024 * 1024;
/** Deadline for a `$value` answer to begin, retries included, ms (the body then has an idle timeout). */
export const VALUE_START_TIMEOUT_MS = 30_000;
/** The `Prefer` header of every request. */
export const PREFER_IMMUTABLE_ID = 'IdType="ImmutableId"';

/** Query parameters of a Graph call; values are sent percent-encoded. */
export type GraphQuery = Record<string, string | number | undefined>;

/** Options of {@link GraphClient}. */
export interface GraphClientOptions {
  /** Origin of Graph, e.g. `https://graph.microsoft.com` (MS_GRAPH_ROOT); https only. */
  graphRoot: string;
  tokens: GraphTokenSource;
  /** The fetch every request goes through (tests count or fault it); Node's by default. It must not retry. */
  fetch?: typeof fetch;
  /** Requests in flight at once for this mailbox; default {@link GRAPH_MAILBOX_CONCURRENCY}. */
  concurrency?: number;
  /** Retry policy numbers (tries, budget = the deadline of a call); `retryUpstream`'s defaults otherwise. */
  retry?: Omit<RetryOptions, 'signal' | 'mapError'>;
  /** Idle timeout of a `$value` body, ms (see `GraphValueStream`). */
  valueIdleTimeoutMs?: number;
}

/** An attachment's `$value`, streaming. */
export interface GraphValue {
  stream: GraphValueStream;
  /** Content-Length of the answer, or null when Graph sent none. */
  size: number | null;
  /** The answer's media type, lower case, without parameters; null when absent. */
  contentType: string | null;
}

/** The terminal middleware: one fetch with the options graph-client built (the signal among them). */
class FetchHandler implements Middleware {
  readonly #fetch: typeof fetch;
  constructor(fetchFn: typeof fetch) {
    this.#fetch = fetchFn;
  }
  async execute(context: Context): Promise<void> {
    try {
      context.response = await this.#fetch(context.request, context.options as RequestInit);
    } catch (error) {
      // graph-client rethrows a GraphClientError as is; anything else it would wrap and lose.
      const wrapped = new GraphClientError('fetch failed');
      wrapped.customError = error;
      throw wrapped;
    }
  }
}

/** The requests of one Graph mailbox (see the module docs). */
export class GraphClient {
  readonly #client: Client;
  readonly #root: string;
  readonly #tokens: GraphTokenSource;
  readonly #slots: MailboxSlots;
  readonly #retry: Omit<RetryOptions, 'signal' | 'mapError'>;
  readonly #idleMs: number | undefined;

  constructor(options: GraphClientOptions) {
    const root = new URL(options.graphRoot);
    if (root.protocol !== 'https:') throw new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'The Microsoft Graph root must be an https origin');
    this.#root = root.origin;
    this.#tokens = options.tokens;
    this.#slots = new MailboxSlots(options.concurrency ?? GRAPH_MAILBOX_CONCURRENCY);
    this.#retry = options.retry ?? {};
    this.#idleMs = options.valueIdleTimeoutMs;
    const fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
    const auth = new AuthenticationHandler({ getAccessToken: () => this.#tokens.accessToken() });
    this.#client = Client.initWithMiddleware({
      baseUrl: `${this.#root}/`,
      defaultVersion: GRAPH_VERSION,
      customHosts: new Set([root.hostname]),
      middleware: [auth, new FetchHandler(fetchFn)],
    });
  }

  /** The mailbox's slots (tests read `busy`). */
  get slots(): MailboxSlots {
    return this.#slots;
  }

  /**
   * GETs JSON under the retry policy: 429/5xx and network failures are retried (Retry-After
   * honoured), a 401 refreshes the token once.
   * @param path a path below the version root (`/me/messages`) or an absolute URL under the Graph root
   * @throws GatewayError from `./errors.ts` (NOT_FOUND, PROVIDER_*), or the signal's reason
   */
  async getJson(path: string, query: GraphQuery = {}, signal?: AbortSignal): Promise<unknown> {
    return this.#withFreshToken(signal, () =>
      retryUpstream(async ({ signal: attempt }) => this.#readJson(await this.#send(path, query, attempt)), { ...this.#retry, signal, mapError: mapGraphError }),
    );
  }

  /**
   * One `$batch` POST (no retry here: the `$batch` runner retries what failed itself). It holds as
   * many of the mailbox's slots as it may run requests at once: at least one, up to `maxWidth`,
   * as many as are free; `build` makes the body for that width.
   * @param version the API version of the batch and its requests (`v1.0`; `beta` only where v1.0 lacks a property)
   * @returns the answer's parsed JSON
   * @throws GatewayError from `./errors.ts` for an error status or an unreadable answer; the signal's reason
   */
  async postBatchOnce(build: (width: number) => unknown, maxWidth: number, signal: AbortSignal, version: string = GRAPH_VERSION): Promise<unknown> {
    const { count, release } = await this.#slots.acquireUpTo(Math.max(1, maxWidth), signal);
    let response: Response;
    try {
      response = await this.#fetchRaw('POST', '/$batch', {}, build(count), signal, signal, version);
    } catch (error) {
      release();
      throw error;
    }
    return this.#readJson({ response, release, signal });
  }

  /** Runs `call`; when it fails with a 401, drops the token and runs it once more. */
  async #withFreshToken<T>(signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (!(isGraphFailure(error, 'auth') && error.status === 401)) throw error;
      this.#tokens.invalidate();
      return call();
    }
  }

  /** Drops the cached token (after a 401 seen elsewhere, e.g. inside a `$batch`). */
  invalidateToken(): void {
    this.#tokens.invalidate();
  }

  /**
   * Opens an attachment's `/$value` for streaming: resolves once the answer's status and headers
   * arrived (429/5xx before that are retried), so the caller can still answer a clean error. The
   * body then lives on the request's signal only (no retry budget cuts a long download), and
   * holds a download slot of the mailbox until it ends or is destroyed.
   * @throws GatewayError NOT_FOUND, NOT_DOWNLOADABLE (405: a reference attachment), PROVIDER_*; the signal's reason
   */
  async openValue(path: string, signal?: AbortSignal): Promise<GraphValue> {
    return this.#withFreshToken(signal, () =>
      retryUpstream(
        async ({ signal: attempt }) => {
          // The fetch lives on its own controller: the try's signal (the request's, and the
          // budget as the deadline to start) reaches it only until the answer began.
          const controller = new AbortController();
          const onAttemptAbort = () => controller.abort(attempt.reason);
          const onAbort = () => controller.abort(signal?.reason);
          attempt.addEventListener('abort', onAttemptAbort, { once: true });
          signal?.addEventListener('abort', onAbort, { once: true });
          let release: (() => void) | undefined;
          try {
            release = await this.#slots.acquire(attempt, true);
            // The bytes as stored, so Content-Length counts what the client gets.
            const response = await this.#fetchRaw('GET', path, {}, undefined, controller.signal, attempt, GRAPH_VERSION, { 'Accept-Encoding': 'identity' });
            if (!response.ok) {
              const error = mapGraphAnswer({ status: response.status, body: await readErrorBody(response), headers: response.headers }, { attachmentValue: true });
              throw error;
            }
            if (!response.body) throw malformedGraphAnswer('Microsoft Graph sent an attachment without a body');
            const length = response.headers.get('content-length');
            const encoded = (response.headers.get('content-encoding') ?? 'identity').trim().toLowerCase() !== 'identity';
            // fetch undoes a content coding; the length of the coded body would not be the bytes served.
            const size = !encoded && length !== null && /^\d{1,15}$/.test(length) ? Number(length) : null;
            const type = response.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase() || null;
            const held = release;
            release = undefined;
            const stream = new GraphValueStream(response.body, {
              expectedSize: size,
              ...(signal ? { signal } : {}),
              ...(this.#idleMs === undefined ? {} : { idleTimeoutMs: this.#idleMs }),
              onClose: () => {
                signal?.removeEventListener('abort', onAbort);
                held();
              },
            });
            return { stream, size, contentType: type };
          } catch (error) {
            signal?.removeEventListener('abort', onAbort);
            // An answer not taken is dropped with its connection.
            controller.abort();
            if (attempt.aborted) throw attempt.reason;
            throw error;
          } finally {
            release?.();
            attempt.removeEventListener('abort', onAttemptAbort);
          }
        },
        { ...this.#retry, budgetMs: this.#retry.budgetMs ?? VALUE_START_TIMEOUT_MS, signal, mapError: mapGraphError },
      ),
    );
  }

  /** One GET holding a slot until its answer is read whole (by {@link readJson}). */
  async #send(path: string, query: GraphQuery, signal: AbortSignal): Promise<{ response: Response; release: () => void; signal: AbortSignal }> {
    const release = await this.#slots.acquire(signal);
    try {
      const response = await this.#fetchRaw('GET', path, query, undefined, signal, signal);
      return { response, release, signal };
    } catch (error) {
      release();
      throw error;
    }
  }

  /** The graph-client request: URL, query, Prefer, bearer (asked with `tokenSignal`), the raw Response back. */
  async #fetchRaw(method: 'GET' | 'POST', path: string, query: GraphQuery, body: unknown, signal: AbortSignal, tokenSignal: AbortSignal, version = GRAPH_VERSION, headers: Record<string, string> = {}): Promise<Response> {
    const request = this.#client
      .api(this.#target(path))
      .version(version)
      .responseType(ResponseType.RAW)
      .headers(headers)
      .header('Prefer', PREFER_IMMUTABLE_ID)
      .option('signal', signal)
      .middlewareOptions([new AuthenticationHandlerOptions({ getAccessToken: () => this.#token(tokenSignal) })]);
    const encoded: Record<string, string> = {};
    for (const [name, value] of Object.entries(query)) if (value !== undefined) encoded[name] = encodeURIComponent(String(value));
    if (Object.keys(encoded).length > 0) request.query(encoded);
    try {
      return (await (method === 'GET' ? request.get() : request.post(body))) as Response;
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (tokenSignal.aborted) throw tokenSignal.reason;
      const inner = error instanceof GraphClientError && error.customError !== undefined ? error.customError : error;
      throw mapGraphError(inner);
    }
  }

  /**
   * The bearer for one request. A failure of the token source (a revoked grant: PROVIDER_AUTH_FAILED)
   * is handed through graph-client as a GraphClientError, which it rethrows untouched; anything
   * else it would turn into a GraphError of its own and lose the code.
   */
  async #token(signal: AbortSignal): Promise<string> {
    try {
      return await this.#tokens.accessToken(signal);
    } catch (error) {
      const wrapped = new GraphClientError('no access token');
      wrapped.customError = error;
      throw wrapped;
    }
  }

  /** A path below the version root, or an absolute URL under the Graph root. @throws PROVIDER_UNAVAILABLE for any other URL */
  #target(path: string): string {
    if (path.startsWith('/')) return path;
    if (path.startsWith(`${this.#root}/${GRAPH_VERSION}/`)) return path;
    throw new GatewayError(ErrorCode.PROVIDER_UNAVAILABLE, 'Microsoft Graph pointed the gateway to another server');
  }

  /** The answer's JSON, read within {@link MAX_GRAPH_JSON_BYTES}; the slot is released once read. */
  async #readJson({ response, release, signal }: { response: Response; release: () => void; signal: AbortSignal }): Promise<unknown> {
    try {
      if (!response.ok) throw mapGraphAnswer({ status: response.status, body: await readErrorBody(response), headers: response.headers });
      const text = await readBounded(response, MAX_GRAPH_JSON_BYTES, signal);
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw malformedGraphAnswer('Microsoft Graph sent an answer that is not JSON');
      }
    } finally {
      release();
    }
  }
}

/** At most `max` bytes of a body as UTF-8 text; a longer body is PROVIDER_UNAVAILABLE (not retried). */
async function readBounded(response: Response, max: number, signal: AbortSignal): Promise<string> {
  let text: string | null;
  try {
    text = await readBodyLimited(response, max);
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw mapGraphError(error);
  }
  if (text === null) throw malformedGraphAnswer('Microsoft Graph sent a larger answer than the gateway reads', false);
  return text;
}

