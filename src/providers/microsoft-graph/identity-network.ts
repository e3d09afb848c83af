/**
 * The HTTP client msal-node uses for the identity platform (its `system.networkClient`), so that
 * the gateway, not msal, decides how a token request may wait and fail:
 *
 * - Every call carries the signal of the token acquisition it belongs to ({@link begin}): the
 *   acquisition's deadline ends a hung OpenID-configuration GET or token POST (msal-node 7's own
 *   client sets no timeout on POST).
 * - A 429 or 5xx answer is thrown as PROVIDER_THROTTLED (with its Retry-After) or
 *   PROVIDER_UNAVAILABLE before msal sees it. msal would otherwise record a "throttling" entry for
 *   the request (msal-common `ThrottlingUtils.postProcess`, 60 s by default) and refuse the next
 *   try locally: a second retry policy stacked on `src/upstream/retry.ts`, the one the gateway has.
 * - A network failure is thrown as PROVIDER_UNAVAILABLE naming `dns`, `refused`, `tls` or
 *   `unreachable`. msal wraps whatever its client throws into a `ClientAuthError(network_error)`
 *   and drops the cause, so the failure is also kept here ({@link takeFailure}).
 * - Answers are read up to {@link MAX_IDENTITY_ANSWER_BYTES}; a larger or non-JSON one is `protocol`.
 * - The token endpoint's `refresh_token` is kept ({@link takeRefreshToken}): msal-node's
 *   `AuthenticationResult` does not carry it, and its cache stores a refresh-token answer only
 *   under an account it already holds (ResponseHandler, `forceCache`). The rotated token is read
 *   where it arrives, so it is saved even when msal refuses the rest of the answer.
 *
 * OAuth error answers (400/401 with `{error, error_codes, ...}`) are handed to msal unchanged: it
 * turns them into `ServerError` / `InteractionRequiredAuthError` for `./auth-errors.ts`.
 */
import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import { parseRetryAfter } from '../../upstream/retry.ts';
import { GraphAuthError } from './auth-errors.ts';
import { readBodyLimited } from '../../upstream/body.ts';
import { networkErrorCode, networkFailureKind } from './network-failure.ts';

/** Largest identity-platform answer read, bytes (an OpenID document or a token answer is a few KiB). */
export const MAX_IDENTITY_ANSWER_BYTES = 256 * 1024;

/** The network module of one msal application (one token source). */
export class IdentityNetwork implements INetworkModule {
  readonly #origin: string;
  readonly #tenantId: string;
  readonly #fetch: typeof fetch;
  #signal: AbortSignal | undefined;
  #failure: GraphAuthError | null = null;
  #refreshToken: string | null = null;

  /**
   * @param loginRoot MS_LOGIN_ROOT, named in messages
   * @param tenantId MS_TENANT_ID, named when the authority is unknown
   * @param fetchFn Node's fetch by default
   */
  constructor(loginRoot: string, tenantId: string, fetchFn: typeof fetch = fetch) {
    this.#origin = loginRoot;
    this.#tenantId = tenantId;
    this.#fetch = fetchFn;
  }

  /**
   * Starts one token acquisition: its calls get `signal` (the acquisition's deadline), and what
   * the previous one left in {@link takeFailure} / {@link takeRefreshToken} is forgotten.
   * Acquisitions of one instance must not overlap (the token sources run one at a time).
   */
  begin(signal: AbortSignal): void {
    this.#signal = signal;
    this.#failure = null;
    this.#refreshToken = null;
  }

  /** The failure this module threw during the current acquisition, if any (msal hides it). */
  takeFailure(): GraphAuthError | null {
    const failure = this.#failure;
    this.#failure = null;
    return failure;
  }

  /** The `refresh_token` of the current acquisition's token answer, if it had one. */
  takeRefreshToken(): string | null {
    const token = this.#refreshToken;
    this.#refreshToken = null;
    return token;
  }

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    return this.#send<T>('GET', url, options, timeout);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.#send<T>('POST', url, options);
  }

  async #send<T>(method: 'GET' | 'POST', url: string, options: NetworkRequestOptions | undefined, timeoutMs?: number): Promise<NetworkResponse<T>> {
    const signals = [this.#signal, timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    const what = method === 'POST' ? `the token endpoint at ${this.#origin}` : `the identity platform at ${this.#origin}`;
    let response: Response;
    try {
      response = await this.#fetch(url, { method, headers: options?.headers, body: method === 'POST' ? (options?.body ?? '') : undefined, signal, redirect: 'error' });
    } catch (error) {
      if (signal?.aborted) throw this.#fail(new GraphAuthError('timeout', `${what} did not answer in time`, { cause: error }));
      const code = networkErrorCode(error);
      throw this.#fail(new GraphAuthError(networkFailureKind(code), `${what} could not be reached (${code ?? 'network error'})`, { cause: error }));
    }
    if (response.status === 429) {
      await response.body?.cancel().catch(() => undefined);
      throw this.#fail(new GraphAuthError('throttled', `${what} is throttling the gateway (HTTP 429)`, { retryAfter: parseRetryAfter(response.headers.get('retry-after')) ?? 5 }));
    }
    if (response.status >= 500) {
      await response.body?.cancel().catch(() => undefined);
      throw this.#fail(new GraphAuthError('upstream', `${what} answered HTTP ${response.status}`, { retryAfter: parseRetryAfter(response.headers.get('retry-after')) }));
    }
    let text: string | null;
    try {
      text = await readBodyLimited(response, MAX_IDENTITY_ANSWER_BYTES);
    } catch (error) {
      if (signal?.aborted) throw this.#fail(new GraphAuthError('timeout', `${what} did not finish its answer in time`, { cause: error }));
      throw this.#fail(new GraphAuthError('unreachable', `${what} broke off its answer`, { cause: error }));
    }
    if (text === null) throw this.#fail(new GraphAuthError('protocol', `${what} answered with more than ${MAX_IDENTITY_ANSWER_BYTES} bytes`));
    if (method === 'GET' && (response.status === 400 || response.status === 404)) {
      // The OpenID document of an unknown tenant: Microsoft answers 400 (AADSTS90002), others 404.
      throw this.#fail(new GraphAuthError('tenant', `the identity platform at ${this.#origin} does not know tenant ${JSON.stringify(this.#tenantId)} (HTTP ${response.status}); check MS_TENANT_ID and MS_LOGIN_ROOT`));
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw this.#fail(new GraphAuthError('protocol', `${what} answered HTTP ${response.status} with something other than JSON`));
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw this.#fail(new GraphAuthError('protocol', `${what} answered HTTP ${response.status} with JSON that is not an object`));
    if (method === 'POST' && response.ok) {
      const rotated = (body as { refresh_token?: unknown }).refresh_token;
      if (typeof rotated === 'string' && rotated !== '') this.#refreshToken = rotated;
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name] = value;
    });
    return { headers, body: body as T, status: response.status };
  }

  #fail(error: GraphAuthError): GraphAuthError {
    this.#failure = error;
    return error;
  }
}
