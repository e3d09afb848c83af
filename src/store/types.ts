/**
 * The persistence contract of the gateway: workspaces, API keys and mailboxes. The kysely
 * implementation (`src/db/`) serves SQLite and PostgreSQL; the GraphQL layer and the CLI see only
 * this interface.
 */
import type { MailIndexStore } from '../mail-index/store.ts';
import type { MailboxConfig, ProviderKind } from '../providers/types.ts';
import type { ConsentStore } from './consents.ts';

/** Longest re-consent reason stored, in characters. */
export const MAX_RECONSENT_REASON_LENGTH = 500;

/** A tenant: API keys and mailboxes belong to exactly one workspace. */
export interface Workspace {
  id: string;
  name: string;
  createdAt: Date;
}

/** A mailbox as listed (no credentials). */
export interface MailboxSummary {
  id: string;
  workspaceId: string;
  provider: ProviderKind;
  address: string | null;
  displayName: string | null;
  /** The provider settings, which hold no secret (IMAP `{ host, port, user, tls, ... }`, LOCAL `{ path }`); `{}` when unreadable. */
  settings: Record<string, unknown>;
  createdAt: Date;
  /** When a provider marked the mailbox as needing re-consent (grant revoked); null while the grant works. */
  needsReconsentAt: Date | null;
  /** Why it needs re-consent (see {@link Store.markNeedsReconsent}); null when it does not. */
  reconsentReason: string | null;
}

/** An API key as operators see it: never the key nor its hash. */
export interface ApiKeySummary {
  id: string;
  workspaceId: string;
  /** The first characters of the key (`agw_` + 8), to tell keys apart. */
  prefix: string;
  createdAt: Date;
  /** Last successful authentication, to the minute; null when never used. */
  lastUsedAt: Date | null;
  /** When it was revoked; null while it is valid. */
  revokedAt: Date | null;
}

/** Changes of {@link Store.updateMailbox}; absent fields stay as they are. */
export interface MailboxUpdate {
  address?: string | null;
  displayName?: string | null;
  /** Replaces the whole settings object. */
  settings?: Record<string, unknown>;
  /** Replaces the credentials (encrypted before they are written) and clears the re-consent mark. */
  credentials?: Record<string, string> | null;
}

/** A valid API key: which key it is (its row id, never the key) and the workspace it belongs to. */
export interface AuthenticatedKey {
  /** The key's id, as `createApiKey` returned it; download tokens name it so revoking the key revokes them. */
  keyId: string;
  workspace: Workspace;
}

/** Input of {@link Store.addMailbox}. Credentials are encrypted before they are written. */
export interface NewMailbox {
  workspaceId: string;
  provider: ProviderKind;
  address: string | null;
  displayName: string | null;
  settings: Record<string, unknown>;
  credentials: Record<string, string> | null;
}

/** The gateway's persistent state. Every method may throw GatewayError BAD_USER_INPUT / NOT_FOUND as documented. */
export interface Store {
  /** Pending OAuth consents of `mailbox connect` (`./consents.ts`). */
  readonly consents: ConsentStore;
  /** @throws GatewayError BAD_USER_INPUT when the name is taken or invalid (1-64 chars of [A-Za-z0-9._-]) */
  createWorkspace(name: string): Promise<Workspace>;
  findWorkspaceByName(name: string): Promise<Workspace | null>;
  /** Every workspace, oldest first. */
  listWorkspaces(): Promise<Workspace[]>;
  /** Creates an API key; the plain key is returned once and only its hash is stored. */
  createApiKey(workspaceId: string): Promise<{ key: string; id: string }>;
  /** The keys of a workspace, revoked ones included, oldest first. */
  listApiKeys(workspaceId: string): Promise<ApiKeySummary[]>;
  /**
   * Revokes a key of `workspaceId`: from the moment this returns, {@link authenticate} refuses it
   * (and download tokens naming it stop working). Revoking a revoked key keeps its first revocation time.
   * @throws GatewayError NOT_FOUND when no key with this id belongs to the workspace
   */
  revokeApiKey(workspaceId: string, keyId: string): Promise<ApiKeySummary>;
  /** The key id and workspace of a plain API key, or null when unknown or revoked. Looked up by the key's SHA-256 digest. */
  authenticate(apiKey: string): Promise<AuthenticatedKey | null>;
  /**
   * The workspace id of the API key `keyId` (its row id, as {@link AuthenticatedKey.keyId}) while the
   * key is usable: null when the key is revoked, deleted or unknown, or its workspace is gone.
   * Download tokens name the key that minted them; the download route asks this (through a short
   * cache) before serving.
   */
  activeApiKeyWorkspace(keyId: string): Promise<string | null>;
  /** @throws GatewayError NOT_FOUND when the workspace does not exist */
  addMailbox(input: NewMailbox): Promise<MailboxSummary>;
  /** Mailboxes of one workspace, or of all when `workspaceId` is omitted, oldest first. */
  listMailboxes(workspaceId?: string): Promise<MailboxSummary[]>;
  /** One mailbox with decrypted credentials, only when it belongs to `workspaceId`; else null. */
  getMailbox(workspaceId: string, mailboxId: string): Promise<MailboxConfig | null>;
  /**
   * Changes a mailbox of `workspaceId` and returns it as listed.
   * @throws GatewayError NOT_FOUND when it does not belong to the workspace; BAD_USER_INPUT for settings that are not an object
   */
  updateMailbox(workspaceId: string, mailboxId: string, changes: MailboxUpdate): Promise<MailboxSummary>;
  /**
   * Deletes a mailbox of `workspaceId` (its row only: the caller removes files such as a local index).
   * @returns the mailbox as it was
   * @throws GatewayError NOT_FOUND when it does not belong to the workspace
   */
  removeMailbox(workspaceId: string, mailboxId: string): Promise<MailboxSummary>;
  /**
   * Replaces the credentials of a mailbox (encrypted as by {@link addMailbox}) and clears its
   * re-consent mark: what a provider calls when the upstream rotates a refresh token.
   * @throws GatewayError NOT_FOUND when the mailbox does not belong to the workspace (e.g. removed meanwhile)
   */
  saveCredentials(workspaceId: string, mailboxId: string, credentials: Record<string, string>): Promise<void>;
  /**
   * Marks a mailbox as needing re-consent (the grant was revoked) with a reason for operators;
   * control characters are replaced and the reason is cut to {@link MAX_RECONSENT_REASON_LENGTH}.
   * A mailbox already marked keeps its first time and takes the new reason. The mark goes when
   * new credentials are stored ({@link saveCredentials}, {@link updateMailbox}).
   * @throws GatewayError NOT_FOUND when the mailbox does not belong to the workspace
   */
  markNeedsReconsent(workspaceId: string, mailboxId: string, reason: string): Promise<void>;
  /** Runs pending migrations. Called at start. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /**
   * The mail index on the same database (`src/mail-index/`), which IMAP mailboxes read from;
   * absent in stores without one (test doubles): providers then keep per-process indexes.
   */
  mailIndex?(): MailIndexStore;
}
