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

/** A running gateway with a workspace and its key. */
export interface E2eGateway {
  url: string;
  apiKey: string;
  workspaceId: string;
  store: Store;
  /** Adds a mailbox to the test workspace; returns its (store) id. */
  addMailbox(input: Omit<NewMailbox, 'workspaceId'>): Promise<string>;
  /** POSTs a GraphQL operation with the key; throws on transport errors, returns the JSON body. */
  graphql<T = unknown>(query: string, variables?: Record<string, unknown>, apiKey?: string): Promise<{ data?: T; errors?: { message: string; extensions?: { code?: string } }[] }>;
  close(): Promise<void>;
}

/** Starts a gateway on a free loopback port with a fresh SQLite store. */
export async function startE2eGateway(): Promise<E2eGateway> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'agw-e2e-'));
  const config = loadConfig({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent' });
  const secret = 'e2e-secret-'.padEnd(48, 'x');
  const store = createStore(config, secret);
  await store.migrate();
  const workspace = await store.createWorkspace('e2e');
  const { key } = await store.createApiKey(workspace.id);
  const server = await startServer({ config, store, logger: createLogger('silent'), secret });
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
    graphql,
    async close() {
      await server.close();
      await store.close();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** An attachment as a client sees it through GraphQL. */
export interface SeenAttachment {
  id: string;
  index: number;
  filename: string | null;
  contentType: string;
  size: number | null;
  sizeExact: boolean;
  contentId: string | null;
  disposition: 'ATTACHMENT' | 'INLINE';
  kind: string;
  downloadUrl: { url: string; expiresAt: string } | null;
}

/** The signed URL of an attachment. @throws when the gateway answered an error instead */
export function signedUrlOf(a: SeenAttachment): string {
  if (!a.downloadUrl) throw new Error(`no signed URL for ${a.filename}`);
  return a.downloadUrl.url;
}

/** A message as a client sees it through GraphQL. */
export interface SeenMessage {
  id: string;
  subject: string | null;
  messageIdHeader: string | null;
  direction: 'RECEIVED' | 'SENT';
  attachments: SeenAttachment[];
}

const PAGE = /* GraphQL */ `
  query Page($id: ID!, $after: String) {
    node(id: $id) {
      ... on Mailbox {
        conversations(first: 100, after: $after) {
          pageInfo { hasNextPage endCursor }
          edges {
            node {
              id
              attachments { id index }
              messages(first: 100) {
                pageInfo { hasNextPage }
                edges {
                  node {
                    id subject messageIdHeader direction
                    attachments {
                      id index filename contentType size sizeExact contentId disposition kind
                      downloadUrl(expiresIn: 600) { url expiresAt }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
`;

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
    type PageData = {
      node: {
        conversations: {
          pageInfo: { hasNextPage: boolean; endCursor: string | null };
          edges: { node: { id: string; attachments: { id: string; index: number }[]; messages: { pageInfo: { hasNextPage: boolean }; edges: { node: SeenMessage }[] } } }[];
        };
      };
    };
    const result: Awaited<ReturnType<E2eGateway['graphql']>> & { data?: PageData } = await gateway.graphql<PageData>(PAGE, { id: mailboxGlobalId, after });
    if (result.errors?.length || !result.data) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
    const page = result.data.node.conversations;
    for (const edge of page.edges) {
      if (edge.node.messages.pageInfo.hasNextPage) throw new Error('a conversation has more than 100 messages');
      const inMessages = edge.node.messages.edges.flatMap((m) => m.node.attachments.map((a) => `${a.id}@${a.index}`));
      const inConversation = edge.node.attachments.map((a) => `${a.id}@${a.index}`);
      if (JSON.stringify([...inMessages].sort()) !== JSON.stringify([...inConversation].sort())) {
        throw new Error(`conversation ${edge.node.id}: attachment indexes differ between Conversation.attachments and Message.attachments`);
      }
      messages.push(...edge.node.messages.edges.map((m) => m.node));
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
