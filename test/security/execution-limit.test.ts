/**
 * Operations executing at once are bounded (GRAPHQL_MAX_CONCURRENT, per workspace
 * GRAPHQL_MAX_CONCURRENT_PER_WORKSPACE, GRAPHQL_MAX_QUEUED): the ones past the slots wait in order,
 * one past the queue is answered 503 SERVER_BUSY with Retry-After at once, a waiter whose client
 * leaves or whose deadline passes never executes, and one workspace at its own limit does not
 * hold up another.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { setupLimitsGateway } from '../support/limits-gateway.ts';
import { createSlowProvider } from '../support/slow-provider.ts';

const LIST = '{ mailboxes { conversations(first: 1) { edges { node { subject } } } } }';

describe('concurrent executions', () => {
  it('runs the allowed number, queues the next, answers one more 503 SERVER_BUSY with Retry-After at once', async () => {
    const provider = createSlowProvider({ delayMs: 2_000, honourSignal: true });
    const t = await setupLimitsGateway({ provider, env: { GRAPHQL_MAX_CONCURRENT: '2', GRAPHQL_MAX_CONCURRENT_PER_WORKSPACE: '2', GRAPHQL_MAX_QUEUED: '1' } });
    const started = performance.now();
    const timed = () => t.gql(LIST).then((answer) => ({ ...answer, ms: performance.now() - started }));
    const answers = await Promise.all([timed(), timed(), timed(), timed()]);
    const refused = answers.filter((a) => a.status === 503);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.errors?.[0]?.extensions).toMatchObject({ code: 'SERVER_BUSY', retryAfter: 1 });
    // Refused at once, not after waiting for a slot.
    expect(refused[0]!.ms).toBeLessThan(1_500);
    const served = answers.filter((a) => a.status === 200);
    expect(served).toHaveLength(3);
    expect(served.every((a) => a.errors === undefined && a.data.mailboxes[0].conversations.edges.length === 1)).toBe(true);
    // Two ran at once, the third after one of them: two rounds of the provider's delay.
    expect(Math.max(...served.map((a) => a.ms))).toBeGreaterThanOrEqual(3_900);
  });

  it('sends Retry-After with SERVER_BUSY', async () => {
    const provider = createSlowProvider({ delayMs: 400, honourSignal: true });
    const t = await setupLimitsGateway({ provider, env: { GRAPHQL_MAX_CONCURRENT: '1', GRAPHQL_MAX_QUEUED: '0' } });
    const first = t.gql(LIST);
    await new Promise((r) => setTimeout(r, 50));
    const response = await t.gateway.fetch(
      new Request('http://gw.test/graphql', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.key}` }, body: JSON.stringify({ query: LIST }) }),
    );
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect((await first).status).toBe(200);
  });

  it('lets a queued request whose client leaves go at once, and never executes it', async () => {
    const provider = createSlowProvider({ delayMs: 500, honourSignal: true });
    const t = await setupLimitsGateway({ provider, env: { GRAPHQL_MAX_CONCURRENT: '1', GRAPHQL_MAX_QUEUED: '4' } });
    const running = t.gql(LIST);
    await new Promise((r) => setTimeout(r, 50));
    const controller = new AbortController();
    const left = t.gateway
      .fetch(new Request('http://gw.test/graphql', { method: 'POST', signal: controller.signal, headers: { 'content-type': 'application/json', authorization: `Bearer ${t.key}` }, body: JSON.stringify({ query: LIST }) }))
      .catch((error: unknown) => error);
    await new Promise((r) => setTimeout(r, 50));
    const callsBefore = provider.calls.length;
    controller.abort();
    await left;
    expect((await running).status).toBe(200);
    // The running one made its calls; the one that left made none, before or after its turn.
    await new Promise((r) => setTimeout(r, 200));
    expect(provider.calls.length).toBe(callsBefore);
  });

  it('answers a request waiting for a slot at its own deadline, 504 DEADLINE_EXCEEDED', async () => {
    // The provider ignores the signal, so the first request's work runs on for 2 s after its own
    // 504; its execution slot is given back at that 504 (the executor stops there).
    const provider = createSlowProvider({ delayMs: 2_000, honourSignal: false });
    const t = await setupLimitsGateway({ provider, env: { GRAPHQL_MAX_CONCURRENT: '1', REQUEST_DEADLINE_MS: '1000' } });
    const running = t.gql(LIST);
    await new Promise((r) => setTimeout(r, 50));
    const calls = provider.calls.length;
    const started = performance.now();
    const queued = await t.gql(LIST);
    expect(queued.status).toBe(504);
    expect(queued.errors?.[0]?.extensions?.code).toBe('DEADLINE_EXCEEDED');
    // At its deadline (1 s after it was sent), not after the first request's provider call (2 s).
    expect(performance.now() - started).toBeLessThan(1_900);
    expect((await running).status).toBe(504);
    // Whatever it got to start saw its signal abort with the answer.
    for (const call of provider.calls.slice(calls)) expect(call.signal?.aborted).toBe(true);
  });

  it('keeps one workspace at its own limit from holding up another', async () => {
    const provider = createSlowProvider({ delayMs: 700, honourSignal: true });
    const t = await setupLimitsGateway({ provider, env: { GRAPHQL_MAX_CONCURRENT: '4', GRAPHQL_MAX_CONCURRENT_PER_WORKSPACE: '1', GRAPHQL_MAX_QUEUED: '8' } });
    const other = await t.store.createWorkspace('other');
    const { key: otherKey } = await t.store.createApiKey(other.id);
    await t.store.addMailbox({ workspaceId: other.id, provider: 'LOCAL', address: 'other@example.org', displayName: 'Other', settings: {}, credentials: null });
    const started = performance.now();
    const busy = [t.gql(LIST), t.gql(LIST), t.gql(LIST)];
    await new Promise((r) => setTimeout(r, 50));
    const theirs = await t.gql(LIST, {}, otherKey);
    const theirsMs = performance.now() - started;
    expect(theirs.status).toBe(200);
    const ours = await Promise.all(busy);
    const oursMs = performance.now() - started;
    expect(ours.every((a) => a.status === 200)).toBe(true);
    // Ours ran one after another (three rounds); theirs did not wait behind them.
    expect(oursMs).toBeGreaterThanOrEqual(3 * 700 - 50);
    expect(theirsMs).toBeLessThan(oursMs - 700);
  });

  it('has documented defaults (32 at once, 8 per workspace, 256 waiting) and refuses bad values at start', () => {
    expect(loadConfig({ DATA_DIR: '/tmp' }).limits).toMatchObject({ maxConcurrent: 32, maxConcurrentPerWorkspace: 8, maxQueued: 256 });
    expect(loadConfig({ DATA_DIR: '/tmp', GRAPHQL_MAX_QUEUED: '0' }).limits.maxQueued).toBe(0);
    expect(() => loadConfig({ DATA_DIR: '/tmp', GRAPHQL_MAX_CONCURRENT: '0' })).toThrow(/GRAPHQL_MAX_CONCURRENT must be an integer from 1/);
    expect(() => loadConfig({ DATA_DIR: '/tmp', GRAPHQL_MAX_CONCURRENT_PER_WORKSPACE: 'many' })).toThrow(/GRAPHQL_MAX_CONCURRENT_PER_WORKSPACE/);
  });
});
