/**
 * Bounded work per GraphQL request: depth, cost, aliases, directives and tokens, each tested at
 * its edge (the limit passes, one more is refused with QUERY_TOO_COMPLEX and HTTP 400 naming the
 * limit); the body-size and query-string limits (413, 414); field suggestions; and the shipped
 * operations (examples/, test/operations/, the README's queries, GraphiQL's default query), which
 * must fit the default limits with room. The issue's probes (a 25-level query, 1,000 aliases, a
 * 550 KB document) print their time and RSS.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { getIntrospectionQuery, parse, Source } from 'graphql';
import { getComplexity } from 'graphql-query-complexity';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, loadConfig } from '../../src/config.ts';
import { gatewayCostEstimator } from '../../src/http/query-cost.ts';
import { schema } from '../../src/schema/index.ts';
import { DEFAULT_GRAPHIQL_QUERY } from '../../src/server.ts';
import { createFakeProvider, fakeAttachment, fakeMessage } from '../support/fake-provider.ts';
import { rssMiB, setupLimitsGateway } from '../support/limits-gateway.ts';

const root = path.resolve(import.meta.dirname, '../..');

function messages() {
  return [
    fakeMessage('m1', 'c1', '2024-01-01T10:00:00Z', [fakeAttachment('2', 'a.pdf', Buffer.from('pdf'))]),
    fakeMessage('m2', 'c1', '2024-01-02T10:00:00Z', [fakeAttachment('2', 'b.txt', Buffer.from('txt'))]),
    fakeMessage('m3', 'c2', '2024-01-03T10:00:00Z', []),
  ];
}

async function setup(env: Record<string, string> = {}) {
  const provider = createFakeProvider(messages());
  return { provider, ...(await setupLimitsGateway({ provider, env })) };
}

type Result = Awaited<ReturnType<Awaited<ReturnType<typeof setup>>['gql']>>;

function expectRefused(r: Result, limit: string, max: number) {
  expect(r.status).toBe(400);
  expect(r.data ?? null).toBeNull();
  expect(r.errors).toHaveLength(1);
  expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit, max });
}

function expectAccepted(r: Result) {
  expect(r.errors?.filter((e) => e.extensions?.code === 'QUERY_TOO_COMPLEX') ?? []).toEqual([]);
  expect(r.status).toBe(200);
}

/**
 * A query `depth` levels deep (fragments none, leaf `__typename` included), every list of size 1:
 * mailboxes › conversations › edges › node › messages › edges › node › conversation › messages › ...
 */
function queryOfDepth(depth: number): string {
  const cycle = ['messages(first: 1)', 'edges', 'node', 'conversation'];
  const fields = ['mailboxes', 'conversations(first: 1)', 'edges', 'node'];
  while (fields.length < depth - 1) fields.push(cycle[(fields.length - 4) % 4]!);
  const chain = fields.slice(0, depth - 1);
  return `{ ${chain.map((f) => `${f} { `).join('')}__typename${' }'.repeat(chain.length)} }`;
}

/** The operations shipped with the project, each as its own document. */
function shippedOperations(): { name: string; query: string }[] {
  const out: { name: string; query: string }[] = [];
  const files = [
    ...fs.readdirSync(path.join(root, 'examples')).map((f) => path.join(root, 'examples', f)),
    ...fs.readdirSync(path.join(root, 'test/operations')).map((f) => path.join(root, 'test/operations', f)),
  ].filter((f) => f.endsWith('.graphql'));
  for (const file of files) {
    const document = parse(new Source(fs.readFileSync(file, 'utf8')));
    const fragments = document.definitions.filter((d) => d.kind === 'FragmentDefinition');
    for (const op of document.definitions) {
      if (op.kind !== 'OperationDefinition') continue;
      const text = [op, ...fragments].map((d) => d.loc!.source.body.slice(d.loc!.start, d.loc!.end)).join('\n');
      out.push({ name: `${path.relative(root, file)} ${op.name?.value ?? ''}`, query: text });
    }
  }
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  for (const [i, block] of [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].entries()) out.push({ name: `README graphql block ${i}`, query: block[1]! });
  for (const [i, json] of [...readme.matchAll(/'(\{"query":".*?"\})'/g)].entries()) out.push({ name: `README curl ${i}`, query: (JSON.parse(json[1]!) as { query: string }).query });
  out.push({ name: 'DEFAULT_GRAPHIQL_QUERY', query: DEFAULT_GRAPHIQL_QUERY });
  return out;
}

/** Depth as armor counts it with flattened fragments (the leaf counts as a level). */
function depthOf(query: string): number {
  type Sel = { kind: string; selectionSet?: { selections: readonly Sel[] } };
  const walk = (node: Sel): number =>
    Math.max(0, ...(node.selectionSet?.selections ?? []).map((child) => (child.kind === 'Field' ? 1 : 0) + walk(child)));
  const op = parse(query).definitions.find((d) => d.kind === 'OperationDefinition') as unknown as Sel;
  return walk(op);
}

describe('the shipped operations fit the default limits with room', () => {
  const operations = shippedOperations();

  it('finds the operations of examples/, test/operations/, the README and GraphiQL', () => {
    expect(operations.length).toBeGreaterThanOrEqual(7);
  });

  it.each(operations)('$name: at most two thirds of the depth limit plus one, half of the cost limit, and accepted', async ({ query }) => {
    expect(depthOf(query)).toBeLessThanOrEqual(DEFAULT_LIMITS.maxDepth - 2);
    // Worst case the variables allow: pages of 100.
    const variables = { first: 100, id: 'x', conversationId: 'x', index: 0 };
    const cost = getComplexity({ schema, query: parse(query), variables, estimators: [gatewayCostEstimator] });
    expect(cost).toBeLessThanOrEqual(DEFAULT_LIMITS.maxCost / 2);
    const t = await setup();
    const list = await t.gql('{ mailboxes { id conversations(first: 1) { edges { node { id } } } } }');
    const ids = { id: list.data.mailboxes[0].id, conversationId: list.data.mailboxes[0].conversations.edges[0].node.id, index: 0 };
    const r = await t.gql(query, { ...ids, first: 100 });
    expectAccepted(r);
    expect(r.errors).toBeUndefined();
  });
});

describe('introspection', () => {
  it('GraphiQL\'s introspection query (every option on) is accepted', async () => {
    const t = await setup();
    const query = getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true });
    const r = await t.gql(query);
    expectAccepted(r);
    expect(r.errors).toBeUndefined();
    expect(r.data.__schema.queryType.name).toBe('Query');
  });
});

describe('depth', () => {
  it(`accepts depth ${DEFAULT_LIMITS.maxDepth} and refuses ${DEFAULT_LIMITS.maxDepth + 1}`, async () => {
    const t = await setup();
    expect(depthOf(queryOfDepth(DEFAULT_LIMITS.maxDepth))).toBe(DEFAULT_LIMITS.maxDepth);
    const atLimit = await t.gql(queryOfDepth(DEFAULT_LIMITS.maxDepth));
    expectAccepted(atLimit);
    expect(atLimit.errors).toBeUndefined();
    const over = await t.gql(queryOfDepth(DEFAULT_LIMITS.maxDepth + 1));
    expectRefused(over, 'depth', DEFAULT_LIMITS.maxDepth);
    expect(over.errors?.[0]?.extensions?.found).toBe(DEFAULT_LIMITS.maxDepth + 1);
  });

  it('follows GRAPHQL_MAX_DEPTH', async () => {
    const t = await setup({ GRAPHQL_MAX_DEPTH: '5' });
    expectAccepted(await t.gql(queryOfDepth(5)));
    expectRefused(await t.gql(queryOfDepth(6)), 'depth', 5);
  });

  it('probe: a 25-level Message.conversation ↔ Conversation.messages query is refused fast, memory flat', async () => {
    const t = await setup();
    let query = 'id';
    for (let i = 0; i < 6; i++) query = `conversation { messages { edges { node { ${query} } } } }`;
    query = `{ node(id: "x") { ... on Message { ${query} } } }`;
    expect(depthOf(query)).toBe(26);
    const rssBefore = rssMiB();
    const started = performance.now();
    const r = await t.gql(query);
    const ms = performance.now() - started;
    const rssAfter = rssMiB();
    console.log(`probe depth-25: ${ms.toFixed(1)} ms, RSS ${rssBefore} -> ${rssAfter} MiB`);
    expectRefused(r, 'depth', DEFAULT_LIMITS.maxDepth);
    expect(ms).toBeLessThan(1000);
    expect(rssAfter - rssBefore).toBeLessThan(50);
    expect(t.provider.calls.loadMessages).toHaveLength(0);
    expectAccepted(await t.gql('{ mailboxes { id } }'));
  });
});

describe('aliases', () => {
  const aliased = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: mailboxes { id }`).join(' ')} }`;

  it(`accepts ${DEFAULT_LIMITS.maxAliases} aliases and refuses ${DEFAULT_LIMITS.maxAliases + 1}`, async () => {
    const t = await setup();
    const atLimit = await t.gql(aliased(DEFAULT_LIMITS.maxAliases));
    expectAccepted(atLimit);
    expect(Object.keys(atLimit.data)).toHaveLength(DEFAULT_LIMITS.maxAliases);
    const over = await t.gql(aliased(DEFAULT_LIMITS.maxAliases + 1));
    expectRefused(over, 'aliases', DEFAULT_LIMITS.maxAliases);
    expect(over.errors?.[0]?.extensions?.found).toBe(DEFAULT_LIMITS.maxAliases + 1);
  });

  it('probe: 1,000 aliases of a list field are refused fast, no provider call', async () => {
    const t = await setup();
    const query = `{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: mailboxes { conversations(first: 100) { edges { node { id } } } }`).join(' ')} }`;
    const rssBefore = rssMiB();
    const started = performance.now();
    const r = await t.gql(query);
    const ms = performance.now() - started;
    console.log(`probe 1000-aliases (${query.length} chars): ${ms.toFixed(1)} ms, RSS ${rssBefore} -> ${rssMiB()} MiB`);
    // 1,000 aliases are 16,000 tokens: the token limit stops the parser before validation counts them.
    expectRefused(r, 'tokens', DEFAULT_LIMITS.maxTokens);
    expect(ms).toBeLessThan(1000);
    expect(t.provider.calls.listConversations).toBe(0);
  });

  it('probe: 1,000 aliases under a raised token limit are refused by the alias limit', async () => {
    const t = await setup({ GRAPHQL_MAX_TOKENS: '100000' });
    const query = `{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: mailboxes { id }`).join(' ')} }`;
    const started = performance.now();
    const r = await t.gql(query);
    console.log(`probe 1000-aliases (token limit raised): ${(performance.now() - started).toFixed(1)} ms`);
    expectRefused(r, 'aliases', DEFAULT_LIMITS.maxAliases);
    expect(r.errors?.[0]?.extensions?.found).toBe(1000);
  });
});

describe('directives', () => {
  const directed = (n: number) => `{ mailboxes { ${Array.from({ length: n }, () => '__typename @include(if: true)').join(' ')} } }`;

  it(`accepts ${DEFAULT_LIMITS.maxDirectives} directives and refuses ${DEFAULT_LIMITS.maxDirectives + 1}`, async () => {
    const t = await setup();
    const atLimit = await t.gql(directed(DEFAULT_LIMITS.maxDirectives));
    expectAccepted(atLimit);
    expect(atLimit.errors).toBeUndefined();
    expectRefused(await t.gql(directed(DEFAULT_LIMITS.maxDirectives + 1)), 'directives', DEFAULT_LIMITS.maxDirectives);
  });
});

describe('tokens', () => {
  // `{`, n × `__typename`, `}`: n + 2 tokens.
  const typenames = (tokens: number) => `{${' __typename'.repeat(tokens - 2)} }`;

  it(`accepts ${DEFAULT_LIMITS.maxTokens} tokens and refuses ${DEFAULT_LIMITS.maxTokens + 1}`, async () => {
    const t = await setup();
    const atLimit = await t.gql(typenames(DEFAULT_LIMITS.maxTokens));
    expectAccepted(atLimit);
    expect(atLimit.data).toEqual({ __typename: 'Query' });
    expectRefused(await t.gql(typenames(DEFAULT_LIMITS.maxTokens + 1)), 'tokens', DEFAULT_LIMITS.maxTokens);
  });

  it('probe: { __typename ×50000 } (550 KB) with a valid key is refused while parsing, in well under a second', async () => {
    const t = await setup();
    const query = typenames(50_002);
    expect(query.length).toBeGreaterThan(540_000);
    const rssBefore = rssMiB();
    const started = performance.now();
    const r = await t.gql(query);
    const ms = performance.now() - started;
    console.log(`probe 550KB-authenticated: ${ms.toFixed(1)} ms, RSS ${rssBefore} -> ${rssMiB()} MiB`);
    expectRefused(r, 'tokens', DEFAULT_LIMITS.maxTokens);
    expect(ms).toBeLessThan(1000);
  });
});

describe('cost', () => {
  const CONVERSATIONS = 'query ($first: Int) { mailboxes { conversations(first: $first) { edges { node { id } } } } }';

  it('follows the page size: cost = mailboxes (10 assumed) × (1 + first × 3)', () => {
    const cost = (first: number) => getComplexity({ schema, query: parse(CONVERSATIONS), variables: { first }, estimators: [gatewayCostEstimator] });
    expect(cost(1)).toBe(10 * (1 + 1 * 3));
    expect(cost(100)).toBe(10 * (1 + 100 * 3));
    // `first` omitted: the default page size (20).
    expect(getComplexity({ schema, query: parse(CONVERSATIONS), variables: {}, estimators: [gatewayCostEstimator] })).toBe(10 * (1 + 20 * 3));
  });

  it('gives the figures the README quotes', () => {
    const cost = (name: string, variables: Record<string, unknown> = {}) =>
      getComplexity({ schema, query: parse(shippedOperations().find((o) => o.name === name)!.query), variables, estimators: [gatewayCostEstimator] });
    expect(cost('README graphql block 0')).toBe(2_310);
    expect(cost('examples/attachments.graphql MailboxAttachments', { first: 100 })).toBe(34_010);
    expect(cost('test/operations/e2e.graphql E2eMailboxPage', { id: 'x' })).toBe(241_401);
  });

  it('accepts a cost equal to GRAPHQL_MAX_COST and refuses one more, with the variables the request sends', async () => {
    const t = await setup({ GRAPHQL_MAX_COST: String(10 * (1 + 50 * 3)) });
    const atLimit = await t.gql(CONVERSATIONS, { first: 50 });
    expectAccepted(atLimit);
    expect(atLimit.errors).toBeUndefined();
    const over = await t.gql(CONVERSATIONS, { first: 51 });
    expectRefused(over, 'cost', 10 * (1 + 50 * 3));
    expect(over.errors?.[0]?.extensions?.found).toBe(10 * (1 + 51 * 3));
    expect(t.provider.calls.listConversations).toBe(1);
  });

  it('refuses nested pages whose product is over the default limit, before any provider call', async () => {
    const t = await setup();
    const query = `{ mailboxes { conversations(first: 100) { edges { node { messages(first: 100) { edges { node {
      conversation { messages(first: 100) { edges { node { id } } } } } } } } } } } }`;
    expect(depthOf(query)).toBeLessThanOrEqual(DEFAULT_LIMITS.maxDepth);
    const r = await t.gql(query);
    expectRefused(r, 'cost', DEFAULT_LIMITS.maxCost);
    expect(t.provider.calls.listConversations).toBe(0);
  });
});

describe('field suggestions', () => {
  it('are hidden by default, for field names and enum values alike', async () => {
    const t = await setup();
    const field = await t.gql('{ mailboxes { provder } }');
    expect(field.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(field.errors?.[0]?.message).toBe('Cannot query field "provder" on type "Mailbox".');
    const variable = await t.gql('query ($f: ConversationFilter) { mailboxes { conversations(filter: $f) { edges { cursor } } } }', { f: { hasAtachments: true } });
    expect(JSON.stringify(variable.errors)).not.toContain('Did you mean');
    expect(JSON.stringify(variable.errors)).toContain('hasAtachments');
  });

  it('are shown with GRAPHQL_FIELD_SUGGESTIONS=true', async () => {
    const t = await setup({ GRAPHQL_FIELD_SUGGESTIONS: 'true' });
    const r = await t.gql('{ mailboxes { provder } }');
    expect(r.errors?.[0]?.message).toContain('Did you mean "provider"?');
  });
});

describe('request size', () => {
  const padded = (bytes: number) => {
    const base = JSON.stringify({ query: '{ mailboxes { id } }', variables: { pad: '' } });
    return JSON.stringify({ query: '{ mailboxes { id } }', variables: { pad: 'x'.repeat(bytes - base.length) } });
  };
  const post = async (t: Awaited<ReturnType<typeof setup>>, body: string, headers: Record<string, string> = {}) => {
    const response = await t.gateway.fetch(
      new Request('http://gw.test/graphql', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.key}`, ...headers }, body }),
    );
    return { status: response.status, body: (await response.json()) as { errors?: { extensions?: { code?: string } }[] } };
  };

  it('reads a body of exactly GRAPHQL_MAX_BODY_BYTES and refuses one byte more with 413 PAYLOAD_TOO_LARGE (streamed, no Content-Length)', async () => {
    const t = await setup({ GRAPHQL_MAX_BODY_BYTES: '4096' });
    expect(Buffer.byteLength(padded(4096))).toBe(4096);
    expect((await post(t, padded(4096))).status).toBe(200);
    const over = await post(t, padded(4097));
    expect(over.status).toBe(413);
    expect(over.body.errors?.[0]?.extensions?.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses a Content-Length over the limit without reading, and a malformed one with 400', async () => {
    const t = await setup({ GRAPHQL_MAX_BODY_BYTES: '4096' });
    const over = await post(t, '{}', { 'content-length': '4097' });
    expect(over.status).toBe(413);
    expect(over.body.errors?.[0]?.extensions?.code).toBe('PAYLOAD_TOO_LARGE');
    const bad = await post(t, '{}', { 'content-length': '12, 13' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');
  });

  it('refuses a GET query string over GRAPHQL_MAX_QUERY_STRING_BYTES with 414 URI_TOO_LONG', async () => {
    const t = await setup({ GRAPHQL_MAX_QUERY_STRING_BYTES: '1024' });
    const get = async (query: string) => {
      const url = `http://gw.test/graphql?query=${encodeURIComponent(query)}`;
      const response = await t.gateway.fetch(new Request(url, { headers: { authorization: `Bearer ${t.key}`, accept: 'application/graphql-response+json', 'x-graphql-yoga-csrf': '1' } }));
      return { status: response.status, body: (await response.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] }, length: new URL(url).search.length - 1 };
    };
    // A GraphQL comment pads the query; its letters are not escaped, so the query string is exactly 1024 bytes.
    const base = `query=${encodeURIComponent('{ mailboxes { id } } #')}`;
    const fits = await get(`{ mailboxes { id } } #${'a'.repeat(1024 - base.length)}`);
    expect(fits.length).toBe(1024);
    expect(fits.status).toBe(200);
    const over = await get(`{ mailboxes { id } } #${'a'.repeat(1025 - base.length)}`);
    expect(over.length).toBe(1025);
    expect(over.status).toBe(414);
    expect(over.body.errors?.[0]?.extensions?.code).toBe('URI_TOO_LONG');
  });
});

describe('request size over real HTTP', () => {
  it('probe: a 64 MiB chunked body is cut at the limit with 413, without buffering it', async () => {
    const provider = createFakeProvider(messages());
    const t = await setupLimitsGateway({ provider, listen: true });
    const { hostname, port } = new URL(t.url!);
    const rssBefore = rssMiB();
    const started = performance.now();
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const { status, body, written } = await new Promise<{ status: number; body: string; written: number }>((resolve, reject) => {
      let written = 0;
      let answered = false;
      const request = http.request({
        host: hostname,
        port,
        path: '/graphql',
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${t.key}`, 'transfer-encoding': 'chunked' },
      });
      request.on('response', (response) => {
        answered = true;
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (d: string) => (text += d));
        response.on('end', () => {
          resolve({ status: response.statusCode ?? 0, body: text, written });
          request.destroy();
        });
      });
      request.on('error', (error) => (answered ? undefined : reject(error)));
      // JSON that never ends: only the size can stop it.
      request.write('{"query":"{ mailboxes { id } }","pad":"');
      const pump = () => {
        while (!answered && written < 64 * 1048576) {
          written += chunk.length;
          if (!request.write(chunk)) return void request.once('drain', pump);
        }
      };
      pump();
    });
    const ms = performance.now() - started;
    const rssAfter = rssMiB();
    console.log(`probe 64MiB-body: ${status} after ${(written / 1048576).toFixed(1)} MiB sent in ${ms.toFixed(0)} ms, RSS ${rssBefore} -> ${rssAfter} MiB`);
    expect(status).toBe(413);
    expect(JSON.parse(body).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    expect(written).toBeLessThan(64 * 1048576);
    expect(ms).toBeLessThan(5000);
    expect(rssAfter - rssBefore).toBeLessThan(64);
    expect((await fetch(`${t.url}/health`)).status).toBe(200);
  });
});

describe('configuration', () => {
  // loadConfig only checks that DATA_DIR could be created; nothing is written.
  const base = { DATA_DIR: path.join(os.tmpdir(), 'agw-limits-config-not-created'), PORT: '0' };

  it('reads every limit from the environment', () => {
    const { limits } = loadConfig({
      ...base,
      GRAPHQL_MAX_DEPTH: '8',
      GRAPHQL_MAX_COST: '1000',
      GRAPHQL_MAX_ALIASES: '3',
      GRAPHQL_MAX_DIRECTIVES: '4',
      GRAPHQL_MAX_TOKENS: '500',
      GRAPHQL_MAX_BODY_BYTES: '65536',
      GRAPHQL_MAX_QUERY_STRING_BYTES: '2048',
      REQUEST_DEADLINE_MS: '5000',
      API_KEY_CACHE_MS: '0',
      GRAPHQL_MAX_CONCURRENT: '5',
      GRAPHQL_MAX_CONCURRENT_PER_WORKSPACE: '2',
      GRAPHQL_MAX_QUEUED: '7',
      GRAPHQL_FIELD_SUGGESTIONS: 'true',
    });
    expect(limits).toEqual({
      maxDepth: 8,
      maxCost: 1000,
      maxAliases: 3,
      maxDirectives: 4,
      maxTokens: 500,
      maxBodyBytes: 65536,
      maxQueryStringBytes: 2048,
      deadlineMs: 5000,
      apiKeyCacheMs: 0,
      maxConcurrent: 5,
      maxConcurrentPerWorkspace: 2,
      maxQueued: 7,
      fieldSuggestions: true,
    });
    expect(loadConfig(base).limits).toEqual(DEFAULT_LIMITS);
  });

  it('names every bad limit in one BAD_USER_INPUT error', () => {
    let error: unknown;
    try {
      loadConfig({ ...base, GRAPHQL_MAX_DEPTH: '0', REQUEST_DEADLINE_MS: '30s', GRAPHQL_FIELD_SUGGESTIONS: 'yes' });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'BAD_USER_INPUT' });
    const message = (error as Error).message;
    expect(message).toContain('GRAPHQL_MAX_DEPTH must be an integer from 1 to 1000, got "0"');
    expect(message).toContain('REQUEST_DEADLINE_MS must be an integer from 100 to 3600000, got "30s"');
    expect(message).toContain('GRAPHQL_FIELD_SUGGESTIONS must be true or false, got "yes"');
  });
});
