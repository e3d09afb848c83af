/**
 * The persistence contract of the gateway: workspaces, API keys and mailboxes. The kysely
 * implementation (`src/db/`) serves SQLite and PostgreSQL; the GraphQL layer and the CLI see only
 * this interface.
 */
import type { MailboxConfig, ProviderKind } from '../providers/types.ts';

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
  createdAt: Date;
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
  /** @throws GatewayError BAD_USER_INPUT when the name is taken or invalid (1-64 chars of [A-Za-z0-9._-]) */
  createWorkspace(name: string): Promise<Workspace>;
  findWorkspaceByName(name: string): Promise<Workspace | null>;
  /** Creates an API key; the plain key is returned once and only its hash is stored. */
  createApiKey(workspaceId: string): Promise<{ key: string; id: string }>;
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
  /** Runs pending migrations. Called at start. */
  migrate(): Promise<void>;
  close(): Promise<void>;
}
