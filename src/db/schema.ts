/**
 * Table types of the gateway database, shared by SQLite and PostgreSQL. Timestamps are written as
 * ISO-8601 strings (UTC, millisecond precision) on both dialects; PostgreSQL stores them as
 * `timestamptz` and reads them back as `Date`, SQLite keeps the text, so readers go through
 * {@link toDate}.
 */
import type { ColumnType } from 'kysely';
import type { MailIndexTables } from '../mail-index/tables.ts';

/** A timestamp column: read as Date (PostgreSQL) or ISO text (SQLite), written as ISO text. */
export type Timestamp = ColumnType<Date | string, string, string>;

/** `workspaces`: tenants. */
export interface WorkspaceTable {
  /** UUID (RFC 9562 version 4) as text. */
  id: string;
  /** Unique, 1-64 chars of [A-Za-z0-9._-]. */
  name: string;
  created_at: Timestamp;
}

/** `api_keys`: the SHA-256 hex digest of each key, never the key itself. */
export interface ApiKeyTable {
  id: string;
  workspace_id: string;
  /** Lower-case hex SHA-256 of the whole plain key; unique. */
  key_hash: string;
  /** The first characters of the key (e.g. `agw_AbCd1234`), for operators to tell keys apart. */
  prefix: string;
  created_at: Timestamp;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

/** `mailboxes`: provider settings in clear, credentials encrypted (see `src/db/credentials.ts`). */
export interface MailboxTable {
  id: string;
  workspace_id: string;
  /** A {@link import('../providers/types.ts').ProviderKind}. */
  provider: string;
  address: string | null;
  display_name: string | null;
  /** JSON object text. */
  settings: string;
  /** `v1:...` AES-256-GCM envelope, or null when the provider needs no secret. */
  credentials: string | null;
  created_at: Timestamp;
  /** When a provider found the grant revoked (migration 0002); null while it works. */
  needs_reconsent_at: Timestamp | null;
  /** Why, in words for operators (at most 500 characters, no token); null with `needs_reconsent_at`. */
  reconsent_reason: string | null;
}

/** `oauth_consents`: pending and finished `mailbox connect` flows (migration 0003; see `src/db/consents.ts`). */
export interface OAuthConsentTable {
  id: string;
  /** Lower-case hex SHA-256 of the `state` sent to the provider; unique. Never the state itself. */
  state_hash: string;
  workspace_id: string;
  /** A {@link import('../providers/types.ts').ProviderKind}. */
  provider: string;
  /** The address the account must have (`--address`), or null to take the account consenting. */
  expected_address: string | null;
  display_name: string | null;
  /** The PKCE code_verifier as a `v1:...` AES-256-GCM envelope (`src/db/credentials.ts`). */
  code_verifier: string;
  /** The redirect URI of the authorization request, repeated in the code exchange. */
  redirect_uri: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  /** When a callback claimed the row (single use); null while pending. */
  consumed_at: Timestamp | null;
  /** When the callback finished, with `mailbox_id` or `error`. */
  finished_at: Timestamp | null;
  mailbox_id: string | null;
  /** Why it failed, in words (no token, no upstream body). */
  error: string | null;
}

/** The whole database, as kysely sees it (the mail index tables: `src/mail-index/tables.ts`). */
export interface Database extends MailIndexTables {
  workspaces: WorkspaceTable;
  api_keys: ApiKeyTable;
  mailboxes: MailboxTable;
  oauth_consents: OAuthConsentTable;
}

/** Normalises a timestamp read from either dialect into a Date. */
export function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}
