/**
 * The kysely implementation of {@link Store} for SQLite and PostgreSQL.
 */
import crypto from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { Config } from '../config.ts';
import { GatewayError, badInput, notFound } from '../errors.ts';
import type { MailboxConfig, ProviderKind } from '../providers/types.ts';
import type { ConsentStore } from '../store/consents.ts';
import { MAX_RECONSENT_REASON_LENGTH, type ApiKeySummary, type AuthenticatedKey, type MailboxSummary, type MailboxUpdate, type NewMailbox, type Store, type Workspace } from '../store/types.ts';
import { generateApiKey, hashApiKey, looksLikeApiKey } from './api-keys.ts';
import { connect } from './connect.ts';
import { KyselyConsentStore } from './consents.ts';
import { createCredentialCipher } from './credentials.ts';
import { migrateToLatest } from './migrate.ts';
import { openMailIndex, type MailIndexStore } from '../mail-index/store.ts';
import { toDate, type ApiKeyTable, type Database, type MailboxTable } from './schema.ts';

/** Workspace names: 1-64 characters, letters, digits, dot, underscore, hyphen. */
export const WORKSPACE_NAME = /^[A-Za-z0-9._-]{1,64}$/;
/** Provider kinds a mailbox may be stored with (the GraphQL enum values). */
export const PROVIDER_KINDS: readonly ProviderKind[] = ['GMAIL', 'MICROSOFT_GRAPH', 'IMAP', 'LOCAL'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The columns of a mailbox as listed (everything but the credentials). */
const SUMMARY_COLUMNS = ['id', 'workspace_id', 'provider', 'address', 'display_name', 'settings', 'created_at', 'needs_reconsent_at', 'reconsent_reason'] as const;
/** `last_used_at` is refreshed at most this often (milliseconds), so authenticating is not a write per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Opens the store on `config.database` (not migrated yet: call {@link Store.migrate}).
 * @param secret the server secret; credentials are encrypted with a key derived from it
 */
export function createStore(config: Pick<Config, 'database'>, secret: string): Store {
  const connection = connect(config.database);
  return new KyselyStore(connection.db, () => migrateToLatest(connection), secret, openMailIndex(connection));
}

/** Creation times strictly increase within a process, so "oldest first" is exact for rows made in the same millisecond. */
let lastCreated = 0;
function nextCreatedAt(): string {
  lastCreated = Math.max(Date.now(), lastCreated + 1);
  return new Date(lastCreated).toISOString();
}

/** True for a unique-constraint violation from PostgreSQL (23505) or SQLite. */
function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

class KyselyStore implements Store {
  readonly #db: Kysely<Database>;
  readonly #migrate: () => Promise<unknown>;
  readonly #cipher: ReturnType<typeof createCredentialCipher>;
  readonly consents: ConsentStore;
  readonly #mailIndex: MailIndexStore;

  constructor(db: Kysely<Database>, migrate: () => Promise<unknown>, secret: string, mailIndex: MailIndexStore) {
    this.#db = db;
    this.#migrate = migrate;
    this.#cipher = createCredentialCipher(secret);
    this.consents = new KyselyConsentStore(db, this.#cipher);
    this.#mailIndex = mailIndex;
  }

  mailIndex(): MailIndexStore {
    return this.#mailIndex;
  }

  async createWorkspace(name: string): Promise<Workspace> {
    if (typeof name !== 'string' || !WORKSPACE_NAME.test(name)) {
      throw badInput(`Invalid workspace name ${JSON.stringify(name)}: use 1-64 characters of A-Z a-z 0-9 . _ -`);
    }
    const row = { id: crypto.randomUUID(), name, created_at: nextCreatedAt() };
    try {
      await this.#db.insertInto('workspaces').values(row).execute();
    } catch (error) {
      if (isUniqueViolation(error)) throw badInput(`Workspace ${JSON.stringify(name)} already exists`);
      throw error;
    }
    return { id: row.id, name, createdAt: new Date(row.created_at) };
  }

  async findWorkspaceByName(name: string): Promise<Workspace | null> {
    if (typeof name !== 'string' || !WORKSPACE_NAME.test(name)) return null;
    const row = await this.#db.selectFrom('workspaces').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? { id: row.id, name: row.name, createdAt: toDate(row.created_at) } : null;
  }

  async listWorkspaces(): Promise<Workspace[]> {
    const rows = await this.#db.selectFrom('workspaces').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map((row) => ({ id: row.id, name: row.name, createdAt: toDate(row.created_at) }));
  }

  async listApiKeys(workspaceId: string): Promise<ApiKeySummary[]> {
    const rows = await this.#db
      .selectFrom('api_keys')
      .select(['id', 'workspace_id', 'prefix', 'created_at', 'last_used_at', 'revoked_at'])
      .where('workspace_id', '=', workspaceId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(keySummaryOf);
  }

  async revokeApiKey(workspaceId: string, keyId: string): Promise<ApiKeySummary> {
    if (typeof keyId !== 'string' || !UUID.test(keyId)) throw notFound('API key');
    // Only a key still valid gets a time: a second revocation keeps the first one.
    await this.#db
      .updateTable('api_keys')
      .set({ revoked_at: new Date().toISOString() })
      .where('id', '=', keyId)
      .where('workspace_id', '=', workspaceId)
      .where('revoked_at', 'is', null)
      .execute();
    const row = await this.#db
      .selectFrom('api_keys')
      .select(['id', 'workspace_id', 'prefix', 'created_at', 'last_used_at', 'revoked_at'])
      .where('id', '=', keyId)
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirst();
    if (!row) throw notFound('API key');
    return keySummaryOf(row);
  }

  async createApiKey(workspaceId: string): Promise<{ key: string; id: string }> {
    await this.#requireWorkspace(workspaceId);
    const { key, hash, prefix } = generateApiKey();
    const id = crypto.randomUUID();
    await this.#db
      .insertInto('api_keys')
      .values({ id, workspace_id: workspaceId, key_hash: hash, prefix, created_at: nextCreatedAt(), last_used_at: null, revoked_at: null })
      .execute();
    return { key, id };
  }

  async authenticate(apiKey: string): Promise<AuthenticatedKey | null> {
    if (typeof apiKey !== 'string' || !looksLikeApiKey(apiKey)) return null;
    // The lookup is by the digest of the presented key: timing can reveal at most facts about a
    // SHA-256 digest, never about a stored key, so an indexed equality lookup is safe.
    const row = await this.#db
      .selectFrom('api_keys')
      .innerJoin('workspaces', 'workspaces.id', 'api_keys.workspace_id')
      .select(['api_keys.id as key_id', 'api_keys.last_used_at', 'workspaces.id', 'workspaces.name', 'workspaces.created_at'])
      .where('api_keys.key_hash', '=', hashApiKey(apiKey))
      .where('api_keys.revoked_at', 'is', null)
      .executeTakeFirst();
    if (!row) return null;
    const now = Date.now();
    if (row.last_used_at === null || now - toDate(row.last_used_at).getTime() >= LAST_USED_RESOLUTION_MS) {
      await this.#db.updateTable('api_keys').set({ last_used_at: new Date(now).toISOString() }).where('id', '=', row.key_id).execute();
    }
    return { keyId: row.key_id, workspace: { id: row.id, name: row.name, createdAt: toDate(row.created_at) } };
  }

  async activeApiKeyWorkspace(keyId: string): Promise<string | null> {
    if (typeof keyId !== 'string' || !UUID.test(keyId)) return null;
    // Joined with workspaces so that a deleted workspace counts as gone even where the foreign key
    // did not cascade (a row removed by hand, a database restored in part).
    const row = await this.#db
      .selectFrom('api_keys')
      .innerJoin('workspaces', 'workspaces.id', 'api_keys.workspace_id')
      .select('workspaces.id')
      .where('api_keys.id', '=', keyId)
      .where('api_keys.revoked_at', 'is', null)
      .executeTakeFirst();
    return row?.id ?? null;
  }

  async addMailbox(input: NewMailbox): Promise<MailboxSummary> {
    if (!PROVIDER_KINDS.includes(input.provider)) {
      throw badInput(`Unknown provider ${JSON.stringify(input.provider)}; expected one of ${PROVIDER_KINDS.join(', ')}`);
    }
    if (!input.settings || typeof input.settings !== 'object' || Array.isArray(input.settings)) {
      throw badInput('Mailbox settings must be an object');
    }
    await this.#requireWorkspace(input.workspaceId);
    const id = crypto.randomUUID();
    const row = {
      id,
      workspace_id: input.workspaceId,
      provider: input.provider,
      address: input.address,
      display_name: input.displayName,
      settings: JSON.stringify(input.settings),
      credentials: input.credentials === null ? null : this.#cipher.encrypt(id, input.credentials),
      created_at: nextCreatedAt(),
      needs_reconsent_at: null,
      reconsent_reason: null,
    };
    await this.#db.insertInto('mailboxes').values(row).execute();
    return summaryOf(row);
  }

  async listMailboxes(workspaceId?: string): Promise<MailboxSummary[]> {
    let query = this.#db
      .selectFrom('mailboxes')
      .select(SUMMARY_COLUMNS)
      .orderBy('created_at')
      .orderBy('id');
    if (workspaceId !== undefined) query = query.where('workspace_id', '=', workspaceId);
    return (await query.execute()).map(summaryOf);
  }

  async getMailbox(workspaceId: string, mailboxId: string): Promise<MailboxConfig | null> {
    if (typeof mailboxId !== 'string' || !UUID.test(mailboxId)) return null;
    const row = await this.#db
      .selectFrom('mailboxes')
      .selectAll()
      .where('id', '=', mailboxId)
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirst();
    if (!row) return null;
    let settings: Record<string, unknown>;
    try {
      settings = JSON.parse(row.settings) as Record<string, unknown>;
    } catch (cause) {
      throw new GatewayError('INTERNAL', `Settings of mailbox ${row.id} are not valid JSON`, { cause });
    }
    return {
      id: row.id,
      workspaceId: row.workspace_id,
      provider: row.provider as ProviderKind,
      address: row.address,
      displayName: row.display_name,
      settings,
      credentials: row.credentials === null ? null : this.#cipher.decrypt(row.id, row.credentials),
      needsReconsentAt: row.needs_reconsent_at === null ? null : toDate(row.needs_reconsent_at),
      reconsentReason: row.needs_reconsent_at === null ? null : row.reconsent_reason,
    };
  }

  async updateMailbox(workspaceId: string, mailboxId: string, changes: MailboxUpdate): Promise<MailboxSummary> {
    if (typeof mailboxId !== 'string' || !UUID.test(mailboxId)) throw notFound('Mailbox');
    if (changes.settings !== undefined && (!changes.settings || typeof changes.settings !== 'object' || Array.isArray(changes.settings))) {
      throw badInput('Mailbox settings must be an object');
    }
    const set: Partial<{ address: string | null; display_name: string | null; settings: string; credentials: string | null; needs_reconsent_at: null; reconsent_reason: null }> = {};
    if (changes.address !== undefined) set.address = changes.address;
    if (changes.displayName !== undefined) set.display_name = changes.displayName;
    if (changes.settings !== undefined) set.settings = JSON.stringify(changes.settings);
    if (changes.credentials !== undefined) {
      set.credentials = changes.credentials === null ? null : this.#cipher.encrypt(mailboxId, changes.credentials);
      // New credentials are a new grant: whatever was revoked is replaced.
      set.needs_reconsent_at = null;
      set.reconsent_reason = null;
    }
    if (Object.keys(set).length > 0) {
      await this.#db.updateTable('mailboxes').set(set).where('id', '=', mailboxId).where('workspace_id', '=', workspaceId).execute();
    }
    const row = await this.#summaryRow(workspaceId, mailboxId);
    if (!row) throw notFound('Mailbox');
    return summaryOf(row);
  }

  async removeMailbox(workspaceId: string, mailboxId: string): Promise<MailboxSummary> {
    if (typeof mailboxId !== 'string' || !UUID.test(mailboxId)) throw notFound('Mailbox');
    const row = await this.#summaryRow(workspaceId, mailboxId);
    if (!row) throw notFound('Mailbox');
    await this.#db.deleteFrom('mailboxes').where('id', '=', mailboxId).where('workspace_id', '=', workspaceId).execute();
    return summaryOf(row);
  }

  async saveCredentials(workspaceId: string, mailboxId: string, credentials: Record<string, string>): Promise<void> {
    if (typeof mailboxId !== 'string' || !UUID.test(mailboxId)) throw notFound('Mailbox');
    if (!credentials || typeof credentials !== 'object' || Array.isArray(credentials) || Object.values(credentials).some((v) => typeof v !== 'string')) {
      throw badInput('Credentials must be an object of strings');
    }
    const result = await this.#db
      .updateTable('mailboxes')
      .set({ credentials: this.#cipher.encrypt(mailboxId, credentials), needs_reconsent_at: null, reconsent_reason: null })
      .where('id', '=', mailboxId)
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) throw notFound('Mailbox');
  }

  async markNeedsReconsent(workspaceId: string, mailboxId: string, reason: string): Promise<void> {
    if (typeof mailboxId !== 'string' || !UUID.test(mailboxId)) throw notFound('Mailbox');
    const result = await this.#db
      .updateTable('mailboxes')
      .set({ reconsent_reason: cleanReason(reason) })
      .where('id', '=', mailboxId)
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) throw notFound('Mailbox');
    // The first time stays: a mailbox marked again (every refresh fails the same way) is not "new".
    await this.#db
      .updateTable('mailboxes')
      .set({ needs_reconsent_at: new Date().toISOString() })
      .where('id', '=', mailboxId)
      .where('workspace_id', '=', workspaceId)
      .where('needs_reconsent_at', 'is', null)
      .execute();
  }

  async migrate(): Promise<void> {
    await this.#migrate();
  }

  async close(): Promise<void> {
    await this.#db.destroy();
  }

  #summaryRow(workspaceId: string, mailboxId: string) {
    return this.#db
      .selectFrom('mailboxes')
      .select(SUMMARY_COLUMNS)
      .where('id', '=', mailboxId)
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirst();
  }

  async #requireWorkspace(workspaceId: string): Promise<void> {
    const found = await this.#db.selectFrom('workspaces').select('id').where('id', '=', workspaceId).executeTakeFirst();
    if (!found) throw new GatewayError('NOT_FOUND', 'Workspace not found');
  }
}

function summaryOf(row: Pick<Selectable<MailboxTable>, (typeof SUMMARY_COLUMNS)[number]>): MailboxSummary {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    provider: row.provider as ProviderKind,
    address: row.address,
    displayName: row.display_name,
    settings: settingsOf(row.settings),
    createdAt: toDate(row.created_at),
    needsReconsentAt: row.needs_reconsent_at === null ? null : toDate(row.needs_reconsent_at),
    reconsentReason: row.needs_reconsent_at === null ? null : row.reconsent_reason,
  };
}

/**
 * A re-consent reason as stored: control characters (C0, DEL, C1) as spaces, trimmed, at most
 * {@link MAX_RECONSENT_REASON_LENGTH} characters (code points, so no pair is split); a reason that
 * is empty then reads "Re-consent needed".
 */
export function cleanReason(reason: unknown): string {
  const text = typeof reason === 'string' ? reason.slice(0, MAX_RECONSENT_REASON_LENGTH * 2) : '';
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is replaced
  const cleaned = Array.from(text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').trim()).slice(0, MAX_RECONSENT_REASON_LENGTH).join('').trim();
  return cleaned === '' ? 'Re-consent needed' : cleaned;
}

/** The settings object of a row; `{}` when the text is not a JSON object (a listing must not fail on one bad row). */
function settingsOf(text: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function keySummaryOf(row: Pick<Selectable<ApiKeyTable>, 'id' | 'workspace_id' | 'prefix' | 'created_at' | 'last_used_at' | 'revoked_at'>): ApiKeySummary {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    prefix: row.prefix,
    createdAt: toDate(row.created_at),
    lastUsedAt: row.last_used_at === null ? null : toDate(row.last_used_at),
    revokedAt: row.revoked_at === null ? null : toDate(row.revoked_at),
  };
}
