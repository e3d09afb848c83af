/**
 * `GET /oauth/callback`: where the provider sends the account owner's browser back after the
 * consent page (RFC 6749 §4.1.2). No API key: the `state` is the credential, and it works once.
 *
 * 1. A state that is not of the form the gateway makes is refused without a database query; any
 *    other is looked up by its digest (one read, no write), so made-up states cost no write.
 * 2. Unknown (cancelled or swept), expired and used states: 400.
 * 3. The consent is claimed atomically (a second callback with the same state loses), then its
 *    outcome is recorded whatever happens, so `mailbox connect` waiting in a terminal learns it:
 *    an `error` parameter (`access_denied`: the owner said no) is 400; the code exchange runs
 *    with the request's signal and a deadline, its failures answer 502 (503 throttled, 504 on the
 *    deadline) in words, never the provider's body or a token; an account other than the expected
 *    address or a scope not granted is 400.
 * 4. The mailbox is stored through the store, encrypted, in the shape `mailbox add` stores (the
 *    provider's credentials and settings, e.g. Microsoft Graph's `{ mode: 'delegated' }`): a
 *    mailbox of the workspace with the same provider and address (compared without case) gets the
 *    new credentials, which clears its re-consent mark, and the provider's settings over its own;
 *    otherwise a new mailbox is added.
 *
 * Every answer is a small HTML page (`./page.ts`).
 */
import type { UpstreamConfig } from '../config-upstream.ts';
import type { Logger } from '../domain/logger.ts';
import { errorBody, GatewayError, isGatewayError } from '../errors.ts';
import type { ProviderKind } from '../providers/types.ts';
import type { ClaimedConsent, ConsentStatus } from '../store/consents.ts';
import type { Store } from '../store/types.ts';
import { callbackPage } from './page.ts';
import { STATE_FORMAT } from './pkce.ts';
import { consentProviderFor } from './providers.ts';
import { ConsentError, type ConnectedAccount, type ConsentProvider } from './types.ts';

/** Default deadline of one callback (lookup, exchange, storing), ms; the exchange has its own, shorter one. */
export const DEFAULT_CALLBACK_DEADLINE_MS = 30_000;
/** An `error` parameter value shown on the page only when it looks like an OAuth error code (RFC 6749 §4.1.2.1). */
const ERROR_CODE_FORMAT = /^[a-z_]{1,64}$/;

/** Dependencies of {@link createOAuthCallback}. */
export interface OAuthCallbackDeps {
  store: Store;
  config: Pick<UpstreamConfig, 'google' | 'microsoft'>;
  logger: Logger;
  /** The consent side of a provider kind; default {@link consentProviderFor} over `config`. */
  consentProvider?: (kind: ProviderKind) => ConsentProvider;
  /** Deadline of one callback, ms (default {@link DEFAULT_CALLBACK_DEADLINE_MS}). */
  deadlineMs?: number;
}

/** The mailbox a finished consent stored. */
interface Saved {
  id: string;
  created: boolean;
  wasMarked: boolean;
}

/** A provider kind as the page names it. */
const providerName = (kind: string) => (kind === 'GMAIL' ? 'Gmail' : kind === 'MICROSOFT_GRAPH' ? 'Microsoft 365' : kind);

/** Builds the route's handler: a fetch-style function from the callback request to its page. */
export function createOAuthCallback(deps: OAuthCallbackDeps): (request: Request) => Promise<Response> {
  const logger = deps.logger.child({ route: 'oauth-callback' });
  const providerOf = deps.consentProvider ?? ((kind: ProviderKind) => consentProviderFor(kind, deps.config));
  const deadlineMs = deps.deadlineMs ?? DEFAULT_CALLBACK_DEADLINE_MS;

  return async (request) => {
    if (request.method !== 'GET') {
      const error = new GatewayError('METHOD_NOT_ALLOWED', 'The OAuth callback answers GET only');
      return new Response(JSON.stringify(errorBody(error)), { status: 405, headers: { allow: 'GET', 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' } });
    }
    const params = new URL(request.url).searchParams;
    const state = params.get('state') ?? '';
    if (!STATE_FORMAT.test(state)) {
      return refusal(400, 'This is the end of a mailbox connect, but the link has no valid state. Start again with: attachment-gateway mailbox connect');
    }
    const found = await deps.store.consents.findByState(state);
    const stale = staleness(found);
    if (stale || !found) return refusal(400, stale ?? '');
    const claimed = await deps.store.consents.claim(found.id);
    if (!claimed) return refusal(400, 'This consent link was already used or has expired. Start again with: attachment-gateway mailbox connect');

    const signal = AbortSignal.any([request.signal, AbortSignal.timeout(deadlineMs)]);
    try {
      const account = await finishConsent(claimed, params, signal);
      const saved = await saveMailbox(deps.store, claimed, account);
      await deps.store.consents.finish(claimed.id, { mailboxId: saved.id });
      logger.info({ consentId: claimed.id, provider: claimed.provider, mailboxId: saved.id, created: saved.created }, 'mailbox connected');
      const name = providerName(claimed.provider);
      return callbackPage(200, 'Mailbox connected', [
        `The ${name} mailbox ${account.address} is connected to the gateway${saved.created ? '' : saved.wasMarked ? ' again: its new grant replaces the revoked one' : ': its new grant replaces the old one'}.`,
        'You can close this window.',
      ]);
    } catch (error) {
      const failure = asConsentError(error, claimed.provider, request.signal.aborted);
      await deps.store.consents.finish(claimed.id, { error: failure.message }).catch((finishError: unknown) => logger.error({ err: finishError, consentId: claimed.id }, 'could not record the outcome of a consent'));
      const unexpected = failure.cause === error && !isGatewayError(error) && !request.signal.aborted && !isAbort(error);
      if (unexpected) logger.error({ err: error, consentId: claimed.id }, 'mailbox connect failed unexpectedly');
      else logger.warn({ consentId: claimed.id, provider: claimed.provider, reason: failure.reason, message: failure.message }, 'mailbox connect refused');
      return refusal(unexpected ? 500 : failure.httpStatus, failure.detail, providerName(claimed.provider));
    }
  };

  /** The provider's answer in `params` turned into an account: the error, or the code exchanged. */
  async function finishConsent(consent: ClaimedConsent, params: URLSearchParams, signal: AbortSignal): Promise<ConnectedAccount> {
    const name = providerName(consent.provider);
    const error = params.get('error');
    if (error !== null) {
      if (error === 'access_denied') throw new ConsentError(name, 'denied', 'the account owner did not allow the gateway to read the mailbox');
      throw new ConsentError(name, 'denied', `the provider refused the authorization request (${ERROR_CODE_FORMAT.test(error) ? error : 'an unknown error'})`);
    }
    const code = params.get('code');
    if (!code) throw new ConsentError(name, 'state', 'the answer carried no authorization code');
    const provider = providerOf(consent.provider);
    const account = await provider.exchangeCode({ code, codeVerifier: consent.codeVerifier, redirectUri: consent.redirectUri, signal, expectedAddress: consent.expectedAddress });
    if (consent.expectedAddress && account.address.toLowerCase() !== consent.expectedAddress.trim().toLowerCase()) {
      throw new ConsentError(name, 'address', `the account that consented is ${account.address}, not ${consent.expectedAddress}; connect again and sign in as ${consent.expectedAddress}`);
    }
    return account;
  }
}

/** Why a consent found by its state cannot be used, or null when it is pending. */
function staleness(found: ConsentStatus | null): string | null {
  if (!found) return 'This consent link is unknown: it was cancelled, or it is too old. Start again with: attachment-gateway mailbox connect';
  if (found.state === 'expired') return 'This consent link has expired (a connect must be finished within 10 minutes). Start again with: attachment-gateway mailbox connect';
  if (found.state !== 'pending') return 'This consent link was already used. Start again with: attachment-gateway mailbox connect';
  return null;
}

/** The page of a refusal. */
function refusal(status: number, detail: string, provider?: string): Response {
  return callbackPage(status, 'Mailbox not connected', [provider ? `${provider}: ${detail}.` : detail, 'Nothing was stored. You can close this window.'].map((p) => p.replace(/\.\.$/, '.')));
}

/** Any failure of a claimed consent as a {@link ConsentError}. */
function asConsentError(error: unknown, kind: string, clientGone: boolean): ConsentError {
  const name = providerName(kind);
  if (error instanceof ConsentError) return error;
  if (clientGone) return new ConsentError(name, 'timeout', 'the browser went away before the connect finished', { cause: error });
  if (isAbort(error)) {
    return new ConsentError(name, 'timeout', 'the connect did not finish within its deadline', { cause: error });
  }
  if (isGatewayError(error)) return new ConsentError(name, error.code === 'PROVIDER_THROTTLED' ? 'throttled' : 'upstream', error.message, { cause: error });
  return new ConsentError(name, 'upstream', 'the gateway failed unexpectedly (see its log)', { cause: error });
}

/** True for the reason of an aborted signal (AbortSignal.timeout gives a TimeoutError). */
function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
}

/** Stores the connected account as a mailbox of the consent's workspace (see the module docs, step 4). */
async function saveMailbox(store: Store, consent: ClaimedConsent, account: ConnectedAccount): Promise<Saved> {
  const address = account.address.toLowerCase();
  const existing = (await store.listMailboxes(consent.workspaceId)).find((m) => m.provider === consent.provider && m.address?.toLowerCase() === address);
  if (existing) {
    await store.updateMailbox(consent.workspaceId, existing.id, {
      credentials: account.credentials,
      // A Graph mailbox in application mode becomes delegated: the consent is the user's.
      ...(account.settings ? { settings: { ...existing.settings, ...account.settings } } : {}),
      ...(consent.displayName === null ? {} : { displayName: consent.displayName }),
    });
    return { id: existing.id, created: false, wasMarked: existing.needsReconsentAt !== null };
  }
  const added = await store.addMailbox({
    workspaceId: consent.workspaceId,
    provider: consent.provider,
    address: account.address,
    displayName: consent.displayName,
    settings: account.settings ?? {},
    credentials: account.credentials,
  });
  return { id: added.id, created: true, wasMarked: false };
}
