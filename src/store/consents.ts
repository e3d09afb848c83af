/**
 * The persistence contract of pending OAuth consents (`mailbox connect`): the CLI creates one, the
 * gateway's callback route claims it once and records what happened, the CLI reads the outcome.
 * Everything lives in the database, so any gateway instance can finish a consent any process
 * started. The kysely implementation is `src/db/consents.ts`.
 */
import type { ProviderKind } from '../providers/types.ts';

/** How long a started consent can be finished, ms (Google's own authorization codes live 10 minutes too). */
export const CONSENT_TTL_MS = 10 * 60_000;

/** Input of {@link ConsentStore.create}. */
export interface NewConsent {
  workspaceId: string;
  provider: ProviderKind;
  /** The `state` sent to the provider; only its SHA-256 is stored. */
  state: string;
  /** The PKCE code_verifier (RFC 7636 §4.1); stored encrypted. */
  codeVerifier: string;
  redirectUri: string;
  expectedAddress: string | null;
  displayName: string | null;
  /** Lifetime, ms (default {@link CONSENT_TTL_MS}). */
  ttlMs?: number;
}

/** A consent as stored, without its secret. */
export interface Consent {
  id: string;
  workspaceId: string;
  provider: ProviderKind;
  expectedAddress: string | null;
  displayName: string | null;
  redirectUri: string;
  createdAt: Date;
  expiresAt: Date;
}

/**
 * Where a consent stands: `pending` (waiting for the callback), `expired` (never finished in time),
 * `claimed` (a callback is exchanging the code), `connected` (with `mailboxId`), `failed` (with
 * `error`).
 */
export type ConsentState = 'pending' | 'expired' | 'claimed' | 'connected' | 'failed';

/** A consent with where it stands. */
export interface ConsentStatus extends Consent {
  state: ConsentState;
  /** When a callback claimed it; null before. */
  consumedAt: Date | null;
  mailboxId: string | null;
  error: string | null;
}

/** What a callback gets when it claims a consent: the consent and its decrypted verifier. */
export interface ClaimedConsent extends Consent {
  codeVerifier: string;
}

/** Pending OAuth consents. */
export interface ConsentStore {
  /**
   * Stores a new pending consent, and first deletes consents expired more than an hour ago.
   * @throws GatewayError NOT_FOUND when the workspace does not exist
   */
  create(input: NewConsent): Promise<Consent>;
  /** The consent whose state is `state` (looked up by its digest: one read, no write), or null. */
  findByState(state: string): Promise<ConsentStatus | null>;
  /** The consent `id`, or null when it is gone (swept, cancelled). */
  get(id: string): Promise<ConsentStatus | null>;
  /**
   * Claims a pending consent for one callback, atomically: of two callbacks with the same state
   * one gets it, and an expired consent is never claimed.
   * @returns the consent with its verifier, or null when it was already claimed, is expired or gone
   */
  claim(id: string): Promise<ClaimedConsent | null>;
  /** Records the outcome of a claimed consent: the mailbox connected, or why it failed (words, cut to 500 characters). */
  finish(id: string, outcome: { mailboxId: string } | { error: string }): Promise<void>;
  /** Deletes a consent nobody claimed yet (the CLI gave up waiting); true when it was deleted. */
  cancel(id: string): Promise<boolean>;
  /**
   * Deletes consents that expired before `olderThan` (default an hour ago); returns how many.
   * Expired consents are refused anyway; they are kept a while so a late callback hears "expired".
   */
  sweep(olderThan?: Date): Promise<number>;
}
