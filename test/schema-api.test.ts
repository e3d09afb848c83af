/**
 * The GraphQL API through `gateway.fetch` (no socket): auth, workspace isolation, Relay nodes and
 * connections, conversation attachment indexes, error codes, and dataloader batching counts.
 */
import { describe, expect, it } from 'vitest';
import { encodeGlobalId, encodeNodeId } from '../src/ids.ts';
import { DEFAULT_GRAPHIQL_QUERY } from '../src/server.ts';
import { fakeAttachment, fakeMessage, setupGateway, type FakeMessage } from './support/fake-provider.ts';

function fixture(): FakeMessage[] {
  const pdf = Buffer.from('%PDF-1.4 report');
  return [
    fakeMessage('m1', 'c1', '2024-01-01T10:00:00Z', [
      fakeAttachment('2', 'report.pdf', pdf, { contentType: 'application/pdf' }),
      fakeAttachment('3', 'logo.png', Buffer.from('png'), { contentType: 'image/png', disposition: 'INLINE', contentId: 'logo@x' }),
    ]),
    // Listed before m3 by the provider, but dated later: attachments follow message dates.
    fakeMessage('m2', 'c1', '2024-01-03T10:00:00Z', [fakeAttachment('2', 'reply.txt', Buffer.from('thanks'))], { direction: 'SENT' }),
    fakeMessage('m3', 'c1', '2024-01-02T10:00:00Z', [fakeAttachment('1.2', 'notes.txt', Buffer.from('notes'))]),
    ...[2, 3, 4, 5, 6].map((n) => fakeMessage(`m${n}0`, `c${n}`, `2024-02-0${n}T10:00:00Z`, [fakeAttachment('2', `file${n}.bin`, Buffer.alloc(n, n))])),
    fakeMessage('m70', 'c7', '2023-12-01T10:00:00Z', [
      fakeAttachment('2', 'link', Buffer.alloc(0), { kind: 'REFERENCE', downloadable: false, linkUrl: 'https://files.example.org/d/Q3%20plan.xlsx', providerRef: { attachmentId: 'AAMk-1' } }),
      fakeAttachment('3', 'bad link', Buffer.alloc(0), { kind: 'REFERENCE', downloadable: false, linkUrl: 'javascript:alert(1)' }),
    ]),
    fakeMessage('m80', 'c8', '2023-11-01T10:00:00Z', []),
  ];
}

const CONVERSATIONS = /* GraphQL */ `
  query Conversations($first: Int, $after: String, $filter: ConversationFilter) {
    mailboxes {
      id
      conversations(first: $first, after: $after, filter: $filter) {
        edges { cursor node { id subject } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
`;

describe('authentication', () => {
  it('refuses a request without a key with UNAUTHENTICATED and HTTP 401', async () => {
    const t = await setupGateway(fixture());
    const r = await t.gql('{ mailboxes { id } }', {}, null);
    expect(r.status).toBe(401);
    expect(r.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(r.data ?? null).toBeNull();
    expect(t.provider.calls.loadMessages).toHaveLength(0);
  });

  it('refuses an unknown key with 401', async () => {
    const t = await setupGateway(fixture());
    const r = await t.gql('{ mailboxes { id } }', {}, 'agk_not-a-real-key');
    expect(r.status).toBe(401);
    expect(r.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('accepts the key in X-Api-Key', async () => {
    const t = await setupGateway(fixture());
    const r = await t.gql('{ mailboxes { displayName } }', {}, null, { 'x-api-key': t.keyA });
    expect(r.status).toBe(200);
    expect(r.data.mailboxes).toEqual([{ displayName: 'Mine' }]);
  });

  it('serves the GraphiQL page without a key, with the demo key in its headers, and /health', async () => {
    const t = await setupGateway(fixture(), { demoApiKey: 'agk_demo-key-123' });
    const page = await t.gateway.fetch(new Request('http://gw.test/graphql', { headers: { accept: 'text/html' } }));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain('query Attachments');
    expect(html).toContain('Bearer agk_demo-key-123');
    // Self-contained: GraphiQL must work without internet access, so no script or style from elsewhere.
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)=["']?https?:/i);
    const health = await t.gateway.fetch(new Request('http://gw.test/health'));
    expect(health.status).toBe(200);
  });

  it('runs the GraphiQL default query without errors', async () => {
    const t = await setupGateway(fixture());
    const r = await t.gql(DEFAULT_GRAPHIQL_QUERY);
    expect(r.errors).toBeUndefined();
    expect(r.data.mailboxes[0].conversations.edges.length).toBeGreaterThan(0);
    expect(r.data.mailboxes[0].conversations.edges[0].node.attachments[0].downloadUrl.url).toMatch(/^http:\/\/gw\.test\/attachments\//);
  });

  it('refuses a GET query without the CSRF header', async () => {
    const t = await setupGateway(fixture());
    const url = `http://gw.test/graphql?query=${encodeURIComponent('{ mailboxes { id } }')}`;
    const r = await t.gateway.fetch(new Request(url, { headers: { authorization: `Bearer ${t.keyA}` } }));
    expect(r.status).toBe(403);
    const ok = await t.gateway.fetch(new Request(url, { headers: { authorization: `Bearer ${t.keyA}`, 'x-graphql-yoga-csrf': '1' } }));
    expect(ok.status).toBe(200);
  });
});

describe('workspace isolation', () => {
  it('lists only the mailboxes of the key’s workspace', async () => {
    const t = await setupGateway(fixture());
    const a = await t.gql('{ mailboxes { id address provider } }');
    const b = await t.gql('{ mailboxes { id address provider } }', {}, t.keyB);
    expect(a.data.mailboxes).toEqual([{ id: encodeNodeId('Mailbox', [t.mailboxA.id]), address: 'me@example.org', provider: 'LOCAL' }]);
    expect(b.data.mailboxes).toEqual([{ id: encodeNodeId('Mailbox', [t.mailboxB.id]), address: 'other@example.org', provider: 'IMAP' }]);
  });

  it('types Mailbox.address as EmailAddress and answers null, not an error, for a configured value that is no address', async () => {
    const t = await setupGateway(fixture());
    await t.store.addMailbox({ workspaceId: t.wsA.id, provider: 'IMAP', address: 'alice (no domain)', displayName: 'Odd', settings: {}, credentials: null });
    const r = await t.gql('{ mailboxes { displayName address } }');
    expect(r.errors).toBeUndefined();
    expect(r.data.mailboxes).toEqual(
      expect.arrayContaining([
        { displayName: 'Mine', address: 'me@example.org' },
        { displayName: 'Odd', address: null },
      ]),
    );
    const type = await t.gql('{ __type(name: "Mailbox") { fields { name type { name } } } }');
    expect(type.data.__type.fields.find((f: { name: string }) => f.name === 'address').type.name).toBe('EmailAddress');
  });

  it('answers NOT_FOUND for another workspace’s IDs exactly as for absent ones, without asking its provider', async () => {
    const t = await setupGateway(fixture());
    const foreign = encodeNodeId('Conversation', [t.mailboxB.id, 'c1']);
    const absent = encodeNodeId('Conversation', [t.mailboxA.id, 'nope']);
    const r1 = await t.gql('query($id: ID!) { node(id: $id) { id } }', { id: foreign });
    const r2 = await t.gql('query($id: ID!) { node(id: $id) { id } }', { id: absent });
    expect(r1.data).toEqual({ node: null });
    expect(r1.errors?.map((e) => [e.message, e.extensions?.code])).toEqual(r2.errors?.map((e) => [e.message, e.extensions?.code]));
    expect(r1.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(t.providerB.calls.loadConversations).toHaveLength(0);
    const foreignMailbox = await t.gql('query($id: ID!) { node(id: $id) { id } }', { id: encodeNodeId('Mailbox', [t.mailboxB.id]) });
    expect(foreignMailbox.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});

describe('re-consent', () => {
  it('shows needsReconsent and its reason on Mailbox (list and node) once a provider marks it, and clears them with new credentials', async () => {
    const t = await setupGateway(fixture());
    const q = '{ mailboxes { id needsReconsent reconsentReason } }';
    expect((await t.gql(q)).data.mailboxes).toEqual([{ id: expect.any(String), needsReconsent: false, reconsentReason: null }]);
    const { mailboxCredentials } = await import('../src/providers/registry.ts');
    const writer = mailboxCredentials(t.store, t.mailboxA, t.logger);
    await writer.markNeedsReconsent('Google refused the refresh token (invalid_grant)');
    const listed = await t.gql(q);
    expect(listed.data.mailboxes).toEqual([{ id: listed.data.mailboxes[0].id, needsReconsent: true, reconsentReason: 'Google refused the refresh token (invalid_grant)' }]);
    const node = await t.gql('query($id: ID!) { node(id: $id) { ... on Mailbox { needsReconsent reconsentReason } } }', { id: listed.data.mailboxes[0].id });
    expect(node.data.node).toEqual({ needsReconsent: true, reconsentReason: 'Google refused the refresh token (invalid_grant)' });
    // Workspace B's mailbox is untouched: the writer is bound to its own mailbox.
    expect((await t.gql(q, {}, t.keyB)).data.mailboxes).toEqual([{ id: expect.any(String), needsReconsent: false, reconsentReason: null }]);
    await writer.save({ refreshToken: 'fresh' });
    expect((await t.gql(q)).data.mailboxes[0]).toMatchObject({ needsReconsent: false, reconsentReason: null });
    expect((await t.store.getMailbox(t.wsA.id, t.mailboxA.id))?.credentials).toEqual({ refreshToken: 'fresh' });
  });
});

describe('node and nodes', () => {
  it('round-trips every node type through node(id)', async () => {
    const t = await setupGateway(fixture());
    const r = await t.gql(`{ mailboxes { id conversations(first: 1, filter: { search: "c1" }) { edges { node { id messages(first: 1) { edges { node { id attachments { id filename } } } } } } } } }`);
    const mailbox = r.data.mailboxes[0];
    const conversation = mailbox.conversations.edges[0].node;
    const message = conversation.messages.edges[0].node;
    const attachment = message.attachments[0];
    expect(attachment.id).toBe(encodeNodeId('Attachment', [t.mailboxA.id, 'm1', '2']));
    const q = `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on Attachment { filename } ... on Message { subject } } }`;
    const back = await t.gql(q, { ids: [mailbox.id, conversation.id, message.id, attachment.id] });
    expect(back.errors).toBeUndefined();
    expect(back.data.nodes.map((n: { __typename: string; id: string }) => [n.__typename, n.id])).toEqual([
      ['Mailbox', mailbox.id],
      ['Conversation', conversation.id],
      ['Message', message.id],
      ['Attachment', attachment.id],
    ]);
    expect(back.data.nodes[3].filename).toBe('report.pdf');
  });

  it('gives null plus NOT_FOUND at its index for one absent node among others', async () => {
    const t = await setupGateway(fixture());
    const ids = [encodeNodeId('Message', [t.mailboxA.id, 'm1']), encodeNodeId('Message', [t.mailboxA.id, 'gone']), encodeNodeId('Message', [t.mailboxB.id, 'm1'])];
    const r = await t.gql('query($ids: [ID!]!) { nodes(ids: $ids) { id } }', { ids });
    expect(r.data.nodes).toEqual([{ id: ids[0] }, null, null]);
    expect(r.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([
      [['nodes', 1], 'NOT_FOUND'],
      [['nodes', 2], 'NOT_FOUND'],
    ]);
  });

  it.each([
    ['not base64url', '!!!'],
    ['unknown type', encodeGlobalId('Workspace', '["x"]')],
    ['wrong arity', encodeGlobalId('Attachment', '["a","b"]')],
    ['not JSON', encodeGlobalId('Message', 'm1')],
    ['empty', ''],
  ])('answers BAD_USER_INPUT for a malformed ID (%s), not a 500', async (_name, id) => {
    const t = await setupGateway(fixture());
    const r = await t.gql('query($id: ID!) { node(id: $id) { id } }', { id });
    expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(r.errors?.[0]?.message).not.toMatch(/Unexpected/);
  });
});

describe('connections', () => {
  it('pages through all conversations with first/after, edge cursors resuming after their edge', async () => {
    const t = await setupGateway(fixture());
    const seen: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 10; i++) {
      const r = await t.gql(CONVERSATIONS, { first: 3, after });
      const conn = r.data.mailboxes[0].conversations;
      seen.push(...conn.edges.map((e: { node: { subject: string } }) => e.node.subject));
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    expect(seen).toEqual(['c6', 'c5', 'c4', 'c3', 'c2', 'c1', 'c7', 'c8'].map((c) => `Subject of ${c}`));
    // Resume from an edge in the middle of a page.
    const page = await t.gql(CONVERSATIONS, { first: 3 });
    const second = page.data.mailboxes[0].conversations.edges[0].cursor;
    const rest = await t.gql(CONVERSATIONS, { first: 2, after: second });
    expect(rest.data.mailboxes[0].conversations.edges.map((e: { node: { subject: string } }) => e.node.subject)).toEqual(['Subject of c5', 'Subject of c4']);
  });

  it('applies the filter', async () => {
    const t = await setupGateway(fixture());
    const r = await t.gql(CONVERSATIONS, { first: 10, filter: { hasAttachments: false } });
    expect(r.data.mailboxes[0].conversations.edges.map((e: { node: { subject: string } }) => e.node.subject)).toEqual(['Subject of c8']);
    const since = await t.gql(CONVERSATIONS, { first: 10, filter: { since: '2024-02-05T00:00:00Z' } });
    expect(since.data.mailboxes[0].conversations.edges).toHaveLength(2);
  });

  it.each([0, 101, -1])('refuses first: %i with BAD_USER_INPUT', async (first) => {
    const t = await setupGateway(fixture());
    const r = await t.gql(CONVERSATIONS, { first });
    expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(t.provider.calls.listConversations).toBe(0);
  });

  it('refuses a malformed cursor with BAD_USER_INPUT and backward pagination as invalid', async () => {
    const t = await setupGateway(fixture());
    expect((await t.gql(CONVERSATIONS, { first: 2, after: 'garbage!' })).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await t.gql(CONVERSATIONS, { first: 2, after: Buffer.from('["p",5,0]').toString('base64url') })).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    // Backward pagination is not in the schema (providers page forward only): a validation error.
    const r = await t.gql('{ mailboxes { conversations(last: 2) { edges { cursor } } } }');
    expect(r.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('pages the messages of a conversation', async () => {
    const t = await setupGateway(fixture());
    const id = encodeNodeId('Conversation', [t.mailboxA.id, 'c1']);
    const q = `query($id: ID!, $after: String) { node(id: $id) { ... on Conversation { messages(first: 2, after: $after) { edges { node { messageIdHeader direction } } pageInfo { hasNextPage endCursor } } } } }`;
    const p1 = await t.gql(q, { id });
    const conn1 = p1.data.node.messages;
    expect(conn1.edges.map((e: { node: { messageIdHeader: string } }) => e.node.messageIdHeader)).toEqual(['<m1@example.org>', '<m2@example.org>']);
    expect(conn1.edges[1].node.direction).toBe('SENT');
    expect(conn1.pageInfo.hasNextPage).toBe(true);
    const p2 = await t.gql(q, { id, after: conn1.pageInfo.endCursor });
    expect(p2.data.node.messages.edges.map((e: { node: { messageIdHeader: string } }) => e.node.messageIdHeader)).toEqual(['<m3@example.org>']);
    expect(p2.data.node.messages.pageInfo.hasNextPage).toBe(false);
  });
});

describe('attachments and indexes', () => {
  const Q = `query($id: ID!) { node(id: $id) { ... on Conversation {
    all: attachments { index filename disposition contentId size sizeExact kind downloadable message { messageIdHeader } }
    files: attachments(includeInline: false) { index filename }
    second: attachment(index: 2) { filename }
    past: attachment(index: 99) { filename }
    messages { edges { node { attachments { index filename } named: attachment(filename: "notes.txt") { index } none: attachment(filename: "x") { index } } } }
  } } }`;

  it('orders attachments by message date then MIME order, with indexes that survive filtering and match Message.attachments', async () => {
    const t = await setupGateway(fixture());
    const r = await t.gql(Q, { id: encodeNodeId('Conversation', [t.mailboxA.id, 'c1']) });
    expect(r.errors).toBeUndefined();
    const c = r.data.node;
    expect(c.all.map((a: { index: number; filename: string }) => [a.index, a.filename])).toEqual([
      [0, 'report.pdf'],
      [1, 'logo.png'],
      [2, 'notes.txt'],
      [3, 'reply.txt'],
    ]);
    expect(c.all[1]).toMatchObject({ disposition: 'INLINE', contentId: 'logo@x', size: 3, sizeExact: true, kind: 'FILE', downloadable: true });
    expect(c.all[3].message.messageIdHeader).toBe('<m2@example.org>');
    expect(c.files).toEqual([
      { index: 0, filename: 'report.pdf' },
      { index: 2, filename: 'notes.txt' },
      { index: 3, filename: 'reply.txt' },
    ]);
    expect(c.second).toEqual({ filename: 'notes.txt' });
    expect(c.past).toBeNull();
    const viaMessages = c.messages.edges.flatMap((e: { node: { attachments: unknown[] } }) => e.node.attachments);
    expect(viaMessages).toEqual(expect.arrayContaining(c.all.map((a: { index: number; filename: string }) => ({ index: a.index, filename: a.filename }))));
    expect(c.messages.edges[2].node.named).toEqual({ index: 2 });
    expect(c.messages.edges[0].node.none).toBeNull();
  });

  it('refuses a negative index with BAD_USER_INPUT', async () => {
    const t = await setupGateway(fixture());
    const neg = await t.gql('query($id: ID!) { node(id: $id) { ... on Conversation { attachment(index: -1) { index } } } }', { id: encodeNodeId('Conversation', [t.mailboxA.id, 'c1']) });
    expect(neg.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('answers downloadUrl of a reference attachment with null and NOT_DOWNLOADABLE at its path, keeping the list', async () => {
    const t = await setupGateway(fixture());
    const ref = await t.gql('query($id: ID!) { node(id: $id) { ... on Conversation { attachments { kind downloadable downloadUrl { url } } } } }', {
      id: encodeNodeId('Conversation', [t.mailboxA.id, 'c7']),
    });
    expect(ref.data.node.attachments).toEqual([
      { kind: 'REFERENCE', downloadable: false, downloadUrl: null },
      { kind: 'REFERENCE', downloadable: false, downloadUrl: null },
    ]);
    expect(ref.errors).toHaveLength(2);
    expect(ref.errors?.[0]).toMatchObject({ path: ['node', 'attachments', 0, 'downloadUrl'], extensions: { code: 'NOT_DOWNLOADABLE' } });
  });

  it('shows linkUrl for a link attachment only: http(s) links as given, other schemes and files null; providerRef never shown', async () => {
    const t = await setupGateway(fixture());
    const q = 'query($id: ID!) { node(id: $id) { ... on Conversation { attachments { kind linkUrl } } } }';
    const ref = await t.gql(q, { id: encodeNodeId('Conversation', [t.mailboxA.id, 'c7']) });
    expect(ref.errors).toBeUndefined();
    expect(ref.data.node.attachments).toEqual([
      { kind: 'REFERENCE', linkUrl: 'https://files.example.org/d/Q3%20plan.xlsx' },
      { kind: 'REFERENCE', linkUrl: null },
    ]);
    expect(JSON.stringify(ref.body)).not.toContain('AAMk-1');
    const files = await t.gql(q, { id: encodeNodeId('Conversation', [t.mailboxA.id, 'c1']) });
    expect(files.data.node.attachments.map((a: { linkUrl: unknown }) => a.linkUrl)).toEqual([null, null, null, null]);
  });

  it.each([0, 3601])('refuses downloadUrl(expiresIn: %i) with BAD_USER_INPUT', async (expiresIn) => {
    const t = await setupGateway(fixture());
    const r = await t.gql('query($id: ID!, $e: Int) { node(id: $id) { ... on Attachment { filename downloadUrl(expiresIn: $e) { url } } } }', {
      id: encodeNodeId('Attachment', [t.mailboxA.id, 'm1', '2']),
      e: expiresIn,
    });
    expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(r.errors?.[0]?.path).toEqual(['node', 'downloadUrl']);
    // Only the field is nulled; the attachment itself is still answered.
    expect(r.data.node).toEqual({ filename: expect.any(String), downloadUrl: null });
  });

  it('signs a URL under PUBLIC_URL that expires after expiresIn seconds', async () => {
    const t = await setupGateway(fixture());
    const before = Date.now();
    const r = await t.gql('query($id: ID!) { node(id: $id) { ... on Attachment { downloadUrl(expiresIn: 60) { url expiresAt } } } }', {
      id: encodeNodeId('Attachment', [t.mailboxA.id, 'm1', '2']),
    });
    const { url, expiresAt } = r.data.node.downloadUrl;
    expect(url).toMatch(/^http:\/\/gw\.test\/attachments\/[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/); // compact JWE, no encrypted key (dir)
    const life = Date.parse(expiresAt) - before;
    expect(life).toBeGreaterThan(58_000);
    expect(life).toBeLessThanOrEqual(61_000);
  });
});

describe('errors', () => {
  it('passes provider GatewayErrors with their code and masks unexpected errors as INTERNAL with a logged request id', async () => {
    const t = await setupGateway(fixture());
    t.provider.listConversations = async () => {
      throw new Error('secret internal detail: password=hunter2');
    };
    const r = await t.gql(CONVERSATIONS, { first: 1 }, t.keyA, { 'x-request-id': 'req-42' });
    expect(r.status).toBe(200);
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'INTERNAL', requestId: 'req-42' });
    expect(JSON.stringify(r.body)).not.toContain('hunter2');
    expect(JSON.stringify(t.logger.errors)).toContain('req-42');
    const { GatewayError } = await import('../src/errors.ts');
    t.provider.listConversations = async () => {
      throw new GatewayError('PROVIDER_THROTTLED', 'Slow down', { retryAfter: 7 });
    };
    const throttled = await t.gql(CONVERSATIONS, { first: 1 });
    expect(throttled.errors?.[0]?.extensions).toMatchObject({ code: 'PROVIDER_THROTTLED', retryAfter: 7 });
    expect(throttled.errors?.[0]?.message).toBe('Slow down');
  });

  it('keeps GraphQL validation errors as they are', async () => {
    const t = await setupGateway(fixture());
    const r = await t.gql('{ mailboxes { nope } }', {}, t.keyA, { accept: 'application/graphql-response+json' });
    expect(r.status).toBe(400);
    expect(r.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(r.errors?.[0]?.message).toMatch(/Cannot query field "nope"/);
  });

  describe('gives every request error a code from GatewayErrorCode', () => {
    const post = async (t: Awaited<ReturnType<typeof setupGateway>>, body: string, headers: Record<string, string> = {}, method = 'POST') => {
      const response = await t.gateway.fetch(
        new Request('http://gw.test/graphql', {
          method,
          headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${t.keyA}`, ...headers },
          ...(method === 'GET' ? {} : { body }),
        }),
      );
      const json = (await response.json()) as { errors: { message: string; extensions: Record<string, unknown> }[] };
      return { status: response.status, error: json.errors[0]! };
    };
    const cases: [string, (t: Awaited<ReturnType<typeof setupGateway>>) => ReturnType<typeof post>, number, string][] = [
      ['a variable of the wrong type', (t) => post(t, JSON.stringify({ query: 'query($f: Int!) { mailboxes { conversations(first: $f) { edges { cursor } } } }', variables: { f: 'x' } })), 400, 'BAD_USER_INPUT'],
      ['a missing required variable', (t) => post(t, JSON.stringify({ query: 'query($f: Int!) { mailboxes { conversations(first: $f) { edges { cursor } } } }' })), 400, 'BAD_USER_INPUT'],
      ['a DateTime filter that is no date', (t) => post(t, JSON.stringify({ query: '{ mailboxes { conversations(filter: { since: "yesterday" }) { edges { cursor } } } }' })), 400, 'GRAPHQL_VALIDATION_FAILED'],
      ['a body that is not JSON', (t) => post(t, '{"query":'), 400, 'BAD_REQUEST'],
      ['a syntax error', (t) => post(t, JSON.stringify({ query: '{ mailboxes ' })), 400, 'GRAPHQL_PARSE_FAILED'],
      ['a text/plain POST (CSRF check)', (t) => post(t, JSON.stringify({ query: '{ mailboxes { id } }' }), { 'content-type': 'text/plain' }), 403, 'FORBIDDEN'],
      ['a PUT', (t) => post(t, JSON.stringify({ query: '{ mailboxes { id } }' }), {}, 'PUT'), 405, 'METHOD_NOT_ALLOWED'],
    ];
    it.each(cases)('%s', async (_label, send, status, code) => {
      const t = await setupGateway(fixture());
      const { status: got, error } = await send(t);
      expect(got).toBe(status);
      expect(error.extensions.code).toBe(code);
      expect(error.message.length).toBeGreaterThan(0);
      // Parser internals stay out of the answer.
      expect(error.extensions).not.toHaveProperty('originalError');
    });
  });
});

describe('dataloader batching', () => {
  const DEEP = `query($first: Int) { mailboxes { conversations(first: $first) { edges { node {
    subject
    attachments { index filename message { subject conversation { subject } } }
    messages(first: 10) { edges { node { subject conversation { lastMessageAt } attachments { index } } } }
  } } } } }`;

  it('costs the same number of provider calls for 2 and for 8 conversations', async () => {
    const counts: number[][] = [];
    for (const first of [2, 8]) {
      const t = await setupGateway(fixture());
      const r = await t.gql(DEEP, { first });
      expect(r.errors).toBeUndefined();
      expect(r.data.mailboxes[0].conversations.edges).toHaveLength(first);
      const calls = t.provider.calls;
      counts.push([calls.listConversations, calls.loadConversations.length, calls.loadMessages.length]);
    }
    expect(counts[0]).toEqual(counts[1]);
    // One page, no conversation load (the listing primes the loader), and message batches bounded by the query depth, not by N.
    expect(counts[1]![0]).toBe(1);
    expect(counts[1]![1]).toBe(0);
    expect(counts[1]![2]).toBeLessThanOrEqual(2);
  });

  it('splits batches to the provider batchLimit: n keys cost ceil(n / limit) calls of at most limit keys', async () => {
    const t = await setupGateway(fixture(), { batchLimit: 3 });
    const ids = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8'].map((c) => encodeNodeId('Conversation', [t.mailboxA.id, c]));
    const r = await t.gql('query($ids: [ID!]!) { nodes(ids: $ids) { ... on Conversation { subject messages(first: 10) { edges { node { subject } } } } } }', { ids });
    expect(r.errors).toBeUndefined();
    expect(r.data.nodes.map((n: { subject: string }) => n.subject)).toEqual(['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8'].map((c) => `Subject of ${c}`));
    const { loadConversations, loadMessages } = t.provider.calls;
    // 8 conversation keys at 3 a call: 3 calls; 10 message keys: 4 calls.
    expect(loadConversations.map((keys) => keys.length)).toEqual([3, 3, 2]);
    expect(loadConversations.flat().sort()).toEqual(['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8']);
    expect(loadMessages.map((keys) => keys.length)).toEqual([3, 3, 3, 1]);
    expect(loadMessages.flat()).toHaveLength(10);
  });

  it('sends one batch call for many keys when the provider declares no limit', async () => {
    const t = await setupGateway(fixture());
    const ids = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8'].map((c) => encodeNodeId('Conversation', [t.mailboxA.id, c]));
    const r = await t.gql('query($ids: [ID!]!) { nodes(ids: $ids) { ... on Conversation { subject } } }', { ids });
    expect(r.errors).toBeUndefined();
    expect(t.provider.calls.loadConversations.map((keys) => keys.length)).toEqual([8]);
  });

  it('loads each message once per request even when reached by several paths', async () => {
    const t = await setupGateway(fixture());
    await t.gql(DEEP, { first: 8 });
    const keys = t.provider.calls.loadMessages.flat();
    expect(new Set(keys).size).toBe(keys.length);
  });
});
