/**
 * The kysely implementation of {@link ConsentStore} (table `oauth_consents`, migration 0003) for
 * SQLite and PostgreSQL.
 *
 * - `state` is stored as its SHA-256 (hex): a database reader cannot answer a callback. A lookup is
 *   one indexed read, so a flood of made-up states costs no write.
 * - The PKCE code_verifier is encrypted with the credential cipher (`./credentials.ts`), bound to
 *   `oauth-consent:<id>` so it decrypts on its own row only (and never as a mailbox's credentials).
 * - Single use: {@link ConsentStore.claim} is one conditional UPDATE (`consumed_at IS NULL AND
 *   expires_at > now`), which one statement wins on either dialect.
 * - Timestamps are ISO-8601 UTC text of the same length, so SQLite's text comparison orders them as
 *   PostgreSQL's `timestamptz` does.
 */
import crypto from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { GatewayError } from '../errors.ts';
import type { ProviderKind } from '../providers/types.ts';
import { CONSENT_TTL_MS, type ClaimedConsent, type Consent, type ConsentStatus, type ConsentStore, type NewConsent } from '../store/consents.ts';
import type { CredentialCipher } from './credentials.ts';
import { toDate, type Database, type OAuthConsentTable } from './schema.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** How long an expired consent is kept before {@link ConsentStore.sweep} deletes it, ms. */
const SWEEP_AFTER_MS = 60 * 60_000;
/** Longest outcome error kept, characters. */
const MAX_ERROR_LENGTH = 500;
/** The columns read back (all but the encrypted verifier). */
const COLUMNS = ['id', 'workspace_id', 'provider', 'expected_address', 'display_name', 'redirect_uri', 'created_at', 'expires_at', 'consumed_at', 'finished_at', 'mailbox_id', 'error'] as const;
type Row = Pick<Selectable<OAuthConsentTable>, (typeof COLUMNS)[number]>;

/** Lower-case hex SHA-256 of a state: what is stored and looked up. */
export function stateDigest(state: string): string {
  return crypto.createHash('sha256').update(state, 'utf8').digest('hex');
}

/** The additional authenticated data of a consent's encrypted verifier. */
export function verifierBinding(consentId: string): string {
  return `oauth-consent:${consentId}`;
}

/** Consents on `db`, verifiers encrypted with `cipher`. */
export class KyselyConsentStore implements ConsentStore {
  readonly #db: Kysely<Database>;
  readonly #cipher: CredentialCipher;

  constructor(db: Kysely<Database>, cipher: CredentialCipher) {
    this.#db = db;
    this.#cipher = cipher;
  }

  async create(input: NewConsent): Promise<Consent> {
    await this.sweep();
    const workspace = await this.#db.selectFrom('workspaces').select('id').where('id', '=', input.workspaceId).executeTakeFirst();
    if (!workspace) throw new GatewayError('NOT_FOUND', 'Workspace not found');
    const id = crypto.randomUUID();
    const now = Date.now();
    const row = {
      id,
      state_hash: stateDigest(input.state),
      workspace_id: input.workspaceId,
      provider: input.provider,
      expected_address: input.expectedAddress,
      display_name: input.displayName,
      code_verifier: this.#cipher.encrypt(verifierBinding(id), { codeVerifier: input.codeVerifier }),
      redirect_uri: input.redirectUri,
      created_at: new Date(now).toISOString(),
      expires_at: new Date(now + (input.ttlMs ?? CONSENT_TTL_MS)).toISOString(),
      consumed_at: null,
      finished_at: null,
      mailbox_id: null,
      error: null,
    };
    await this.#db.insertInto('oauth_consents').values(row).execute();
    return consentOf(row);
  }

  async findByState(state: string): Promise<ConsentStatus | null> {
    const row = await this.#db.selectFrom('oauth_consents').select(COLUMNS).where('state_hash', '=', stateDigest(state)).executeTakeFirst();
    return row ? statusOf(row) : null;
  }

  async get(id: string): Promise<ConsentStatus | null> {
    if (!UUID.test(id)) return null;
    const row = await this.#db.selectFrom('oauth_consents').select(COLUMNS).where('id', '=', id).executeTakeFirst();
    return row ? statusOf(row) : null;
  }

  async claim(id: string): Promise<ClaimedConsent | null> {
    if (!UUID.test(id)) return null;
    const now = new Date().toISOString();
    const row = await this.#db
      .updateTable('oauth_consents')
      .set({ consumed_at: now })
      .where('id', '=', id)
      .where('consumed_at', 'is', null)
      .where('expires_at', '>', now)
      .returning([...COLUMNS, 'code_verifier'])
      .executeTakeFirst();
    if (!row) return null;
    const { codeVerifier } = this.#cipher.decrypt(verifierBinding(row.id), row.code_verifier);
    if (typeof codeVerifier !== 'string') throw new GatewayError('INTERNAL', `The verifier of consent ${row.id} decrypted to an unexpected shape`);
    return { ...consentOf(row), codeVerifier };
  }

  async finish(id: string, outcome: { mailboxId: string } | { error: string }): Promise<void> {
    await this.#db
      .updateTable('oauth_consents')
      .set({
        finished_at: new Date().toISOString(),
        mailbox_id: 'mailboxId' in outcome ? outcome.mailboxId : null,
        error: 'error' in outcome ? cleanError(outcome.error) : null,
      })
      .where('id', '=', id)
      .where('consumed_at', 'is not', null)
      .where('finished_at', 'is', null)
      .execute();
  }

  async cancel(id: string): Promise<boolean> {
    if (!UUID.test(id)) return false;
    const result = await this.#db.deleteFrom('oauth_consents').where('id', '=', id).where('consumed_at', 'is', null).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async sweep(olderThan: Date = new Date(Date.now() - SWEEP_AFTER_MS)): Promise<number> {
    const result = await this.#db.deleteFrom('oauth_consents').where('expires_at', '<', olderThan.toISOString()).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function consentOf(row: Pick<Row, 'id' | 'workspace_id' | 'provider' | 'expected_address' | 'display_name' | 'redirect_uri' | 'created_at' | 'expires_at'>): Consent {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    provider: row.provider as ProviderKind,
    expectedAddress: row.expected_address,
    displayName: row.display_name,
    redirectUri: row.redirect_uri,
    createdAt: toDate(row.created_at),
    expiresAt: toDate(row.expires_at),
  };
}

function statusOf(row: Row): ConsentStatus {
  const consent = consentOf(row);
  const state =
    row.consumed_at === null
      ? consent.expiresAt.getTime() <= Date.now()
        ? 'expired'
        : 'pending'
      : row.finished_at === null
        ? 'claimed'
        : row.mailbox_id !== null
          ? 'connected'
          : 'failed';
  return { ...consent, state, consumedAt: row.consumed_at === null ? null : toDate(row.consumed_at), mailboxId: row.mailbox_id, error: row.error };
}

/** An outcome error as stored: control characters as spaces, at most {@link MAX_ERROR_LENGTH} characters. */
function cleanError(error: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is replaced
  const text = Array.from(String(error).slice(0, MAX_ERROR_LENGTH * 2).replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').trim()).slice(0, MAX_ERROR_LENGTH).join('');
  return text === '' ? 'The consent failed' : text;
}
