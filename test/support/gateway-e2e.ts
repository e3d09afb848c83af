/**
 * End-to-end harness: a real gateway (`startServer`, real HTTP on loopback) over a real SQLite
 * store in a temp DATA_DIR, with one workspace, one API key and the mailboxes a test adds. Tests
 * then speak GraphQL and follow signed URLs exactly as a client would.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { createStore } from '../../src/db/store.ts';
import { createLogger } from '../../src/logger.ts';
import type { NewMailbox, Store } from '../../src/store/types.ts';
import { startServer } from '../../src/server.ts';
import type { ProviderLookup } from '../../src/loaders.ts';
import { print } from 'graphql';
import { E2eMailboxPageDocument, type E2eMailboxPageQuery } from '../generated/graphql.ts';
import { dovecotMailbox, type DovecotInstance } from './dovecot.ts';

/** The gateway secret of every e2e gateway (tests that mint or open tokens themselves use it). */
export const E2E_SECRET = 'e2e-secret-'.padEnd(48, 'x');

/** A running gateway with a workspace and its key. */
export interface E2eGateway {
  url: string;
  apiKey: string;
  workspaceId: string;
  store: Store;
  /** Adds a mailbox to the test workspace; returns its (store) id. */
  addMailbox(input: Omit<NewMailbox, 'workspaceId'>): Promise<string>;
  /** Adds the IMAP mailbox of a private Dovecot (plain text on loopback), owner `owner@example.test`, named `dovecot`; returns its id. */
  addDovecotMailbox(dovecot: DovecotInstance): Promise<string>;
  /** POSTs a GraphQL operation with the key; throws on transport errors, returns the JSON body. */
  graphql<T = unknown>(query: string, variables?: Record<string, unknown>, apiKey?: string): Promise<{ data?: T; errors?: { message: string; extensions?: { code?: string } }[] }>;
  close(): Promise<void>;
}

/**
 * Starts a gateway on a free loopback port with a fresh SQLite store.
 * @param env more configuration variables (e.g. `IMAP_COMMAND_TIMEOUT_MS`), as `loadConfig` reads them
 * @param options.providers the providers' lookup (e.g. a registry with a test factory); the built-in registry otherwise
 */
export async function startE2eGateway(env: Record<string, string> = {}, options: { providers?: ProviderLookup } = {}): Promise<E2eGateway> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'agw-e2e-'));
  const config = loadConfig({ ...env, DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent' });
  const secret = E2E_SECRET;
  const store = createStore(config, secret);
  await store.migrate();
  const workspace = await store.createWorkspace('e2e');
  const { key } = await store.createApiKey(workspace.id);
  const server = await startServer({ config, store, logger: createLogger('silent'), secret, ...(options.providers ? { providers: options.providers } : {}) });
  const graphql: E2eGateway['graphql'] = async (query, variables = {}, apiKey = key) => {
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as never;
  };
  return {
    url: server.url,
    apiKey: key,
    workspaceId: workspace.id,
    store,
    async addMailbox(input) {
      return (await store.addMailbox({ ...input, workspaceId: workspace.id })).id;
    },
    async addDovecotMailbox(dovecot) {
      const input = dovecotMailbox(dovecot, { address: 'owner@example.test', displayName: 'dovecot' });
      return (await store.addMailbox({ ...input, workspaceId: workspace.id })).id;
    },
    graphql,
    async close() {
      await server.close();
      await store.close();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

type MailboxPage = NonNullable<Extract<NonNullable<E2eMailboxPageQuery['node']>, { __typename: 'Mailbox' }>['conversations']>;
type PageMessage = NonNullable<MailboxPage['edges'][number]['node']['messages']>['edges'][number]['node'];

/**
 * A message as a client sees it through GraphQL (typed by codegen from `test/operations/e2e.graphql`);
 * its attachment list, nullable in the schema (a provider failure nulls it), is present here.
 */
export type SeenMessage = Omit<PageMessage, 'attachments'> & { attachments: NonNullable<PageMessage['attachments']> };

/** An attachment as a client sees it through GraphQL. */
export type SeenAttachment = SeenMessage['attachments'][number];

/** The signed URL of an attachment. @throws when the gateway gave none */
export function signedUrlOf(a: SeenAttachment): string {
  if (!a.downloadUrl) throw new Error(`no signed URL for ${a.filename}`);
  return a.downloadUrl.url;
}

const PAGE = print(E2eMailboxPageDocument);

/** `value`, or a thrown error naming `what` when GraphQL gave null. */
function present<T>(value: T | null | undefined, what: string): T {
  if (value == null) throw new Error(`${what} is null`);
  return value;
}

/**
 * Pages through every conversation of a mailbox (global id) and returns all messages with their
 * attachments, checking on the way that each conversation's attachment list carries the same
 * indexes as its messages' lists.
 * @throws when GraphQL answers with errors
 */
export async function collectMessages(gateway: E2eGateway, mailboxGlobalId: string): Promise<SeenMessage[]> {
  const messages: SeenMessage[] = [];
  let after: string | null = null;
  for (;;) {
    const result: Awaited<ReturnType<E2eGateway['graphql']>> & { data?: E2eMailboxPageQuery } = await gateway.graphql<E2eMailboxPageQuery>(PAGE, { id: mailboxGlobalId, after });
    if (result.errors?.length || !result.data) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
    const node = result.data.node;
    if (node?.__typename !== 'Mailbox') throw new Error(`${mailboxGlobalId} is a ${node?.__typename ?? 'missing node'}, not a Mailbox`);
    const page = present(node.conversations, 'Mailbox.conversations');
    for (const edge of page.edges) {
      const pageMessages = present(edge.node.messages, 'Conversation.messages');
      if (pageMessages.pageInfo.hasNextPage) throw new Error('a conversation has more than 100 messages');
      const seen = pageMessages.edges.map((m): SeenMessage => ({ ...m.node, attachments: present(m.node.attachments, 'Message.attachments') }));
      const inMessages = seen.flatMap((m) => m.attachments.map((a) => `${a.id}@${a.index}`));
      const inConversation = present(edge.node.attachments, 'Conversation.attachments').map((a) => `${a.id}@${a.index}`);
      if (JSON.stringify([...inMessages].sort()) !== JSON.stringify([...inConversation].sort())) {
        throw new Error(`conversation ${edge.node.id}: attachment indexes differ between Conversation.attachments and Message.attachments`);
      }
      messages.push(...seen);
    }
    if (!page.pageInfo.hasNextPage) return messages;
    after = page.pageInfo.endCursor;
  }
}

/** What a signed URL served: status, headers and the bytes' sha256 and length. */
export interface Downloaded {
  status: number;
  contentType: string | null;
  contentLength: string | null;
  contentDisposition: string | null;
  sha256: string;
  bytes: number;
  /** The body itself, when asked for with `keep` (small attachments only). */
  body: Buffer | null;
}

/** GETs a signed URL (no API key) and hashes the streamed body; `keep` also returns the body. */
export async function download(url: string, keep = false): Promise<Downloaded> {
  const response = await fetch(url);
  const hash = createHash('sha256');
  let bytes = 0;
  const chunks: Buffer[] = [];
  if (response.body) {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      bytes += chunk.byteLength;
      if (keep) chunks.push(Buffer.from(chunk));
    }
  }
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    contentLength: response.headers.get('content-length'),
    contentDisposition: response.headers.get('content-disposition'),
    sha256: hash.digest('hex'),
    bytes,
    body: keep ? Buffer.concat(chunks) : null,
  };
}
