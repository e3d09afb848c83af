/** An in-memory Store for tests of the GraphQL and download layers. */
import { randomBytes, randomUUID } from 'node:crypto';
import { badInput, notFound } from '../../src/errors.ts';
import type { MailboxConfig } from '../../src/providers/types.ts';
import type { MailboxSummary, NewMailbox, Store, Workspace } from '../../src/store/types.ts';

/** The memory store, with a counter of `authenticate` calls. */
export interface MemoryStore extends Store {
  /** Removes a mailbox (the Store contract has no such operation yet; tests use it to make one vanish). */
  removeMailbox(id: string): void;
}

export function createMemoryStore(): MemoryStore {
  const workspaces = new Map<string, Workspace>();
  const keys = new Map<string, string>();
  const mailboxes = new Map<string, MailboxConfig & { createdAt: Date }>();
  return {
    async createWorkspace(name) {
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(name) || [...workspaces.values()].some((w) => w.name === name)) throw badInput('bad or taken name');
      const w = { id: randomUUID(), name, createdAt: new Date() };
      workspaces.set(w.id, w);
      return w;
    },
    async findWorkspaceByName(name) {
      return [...workspaces.values()].find((w) => w.name === name) ?? null;
    },
    async createApiKey(workspaceId) {
      const key = `agk_${randomBytes(24).toString('base64url')}`;
      keys.set(key, workspaceId);
      return { key, id: randomUUID() };
    },
    async authenticate(apiKey) {
      const id = keys.get(apiKey);
      return id ? (workspaces.get(id) ?? null) : null;
    },
    async addMailbox(input: NewMailbox): Promise<MailboxSummary> {
      if (!workspaces.has(input.workspaceId)) throw notFound('Workspace');
      const m = { ...input, id: randomUUID(), createdAt: new Date() };
      mailboxes.set(m.id, m);
      return { id: m.id, workspaceId: m.workspaceId, provider: m.provider, address: m.address, displayName: m.displayName, createdAt: m.createdAt };
    },
    async listMailboxes(workspaceId) {
      return [...mailboxes.values()]
        .filter((m) => workspaceId === undefined || m.workspaceId === workspaceId)
        .map((m) => ({ id: m.id, workspaceId: m.workspaceId, provider: m.provider, address: m.address, displayName: m.displayName, createdAt: m.createdAt }));
    },
    async getMailbox(workspaceId, mailboxId) {
      const m = mailboxes.get(mailboxId);
      if (!m || m.workspaceId !== workspaceId) return null;
      const { createdAt: _createdAt, ...config } = m;
      return config;
    },
    async migrate() {},
    async close() {},
    removeMailbox(id) {
      mailboxes.delete(id);
    },
  };
}
