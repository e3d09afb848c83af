/**
 * The Graph JSON `$batch` codec and runner (`src/providers/microsoft-graph/batch.ts`), on bodies
 * shaped as https://learn.microsoft.com/en-us/graph/json-batching shows them (answers in any order,
 * per-item status and headers, base64 binary bodies), and the mailbox's request slots.
 */
import { describe, expect, it } from 'vitest';
import { binaryBodyOf, decodeGraphBatch, encodeGraphBatch, runGraphBatch, type GraphBatchBody } from '../src/providers/microsoft-graph/batch.ts';
import { mapGraphAnswer } from '../src/providers/microsoft-graph/errors.ts';
import { MailboxSlots } from '../src/providers/microsoft-graph/mailbox-slots.ts';

const fast = { initialDelayMs: 1, maxDelayMs: 5, budgetMs: 5_000 };

describe('Graph $batch codec', () => {
  it('encodes ids 1..n, relative URLs with encoded query values, the given headers on every item; at most 20', () => {
    const body = encodeGraphBatch(
      [{ path: '/me/messages', query: { $filter: "conversationId eq 'AAQk+/='", $top: 100, $skip: undefined } }, { path: '/me/mailFolders/sentitems' }],
      { Prefer: 'IdType="ImmutableId"' },
    );
    expect(body).toEqual({
      requests: [
        { id: '1', method: 'GET', url: "/me/messages?$filter=conversationId%20eq%20'AAQk%2B%2F%3D'&$top=100", headers: { Prefer: 'IdType="ImmutableId"' } },
        { id: '2', method: 'GET', url: '/me/mailFolders/sentitems', headers: { Prefer: 'IdType="ImmutableId"' } },
      ],
    });
    expect(() => encodeGraphBatch(Array.from({ length: 21 }, () => ({ path: '/me' })))).toThrow(RangeError);
    expect(() => encodeGraphBatch([])).toThrow(RangeError);
  });

  it('decodes answers in any order by id, each with its own status; a missing or foreign id is a retryable failure', () => {
    const results = decodeGraphBatch(
      {
        responses: [
          { id: '3', status: 429, headers: { 'Retry-After': '5' }, body: { error: { code: 'ApplicationThrottled', message: 'x' } } },
          { id: '1', status: 200, headers: { 'Content-Type': 'application/json' }, body: { id: 'A' } },
          { id: '99', status: 200, body: {} },
          { id: '1', status: 500, body: {} },
        ],
      },
      4,
    );
    expect(results[0]).toMatchObject({ ok: true, status: 200, body: { id: 'A' } });
    expect(results[1]).toMatchObject({ ok: false, error: { code: 'PROVIDER_UNAVAILABLE', kind: 'malformed' } });
    expect(results[2]).toMatchObject({ ok: false, error: { code: 'PROVIDER_THROTTLED', retryAfter: 5 } });
    expect(results[3]).toMatchObject({ ok: false, error: { code: 'PROVIDER_UNAVAILABLE' } });
    expect(() => decodeGraphBatch({ value: [] }, 1)).toThrow(/without responses/);
  });

  it('binary bodies come back base64 inside the JSON', () => {
    const bytes = Buffer.from([0, 1, 2, 250, 251, 252, 253]);
    expect(binaryBodyOf(bytes.toString('base64'))).toEqual(bytes);
    expect(binaryBodyOf({ id: 'A' })).toBeNull();
    expect(binaryBodyOf('not base64!')).toBeNull();
  });
});

/**
 * A client whose `$batch` POST answers with the script's items, honouring `dependsOn` as Graph
 * does (a request after a failed one gets 424); records the URLs of each POST and the width it gave.
 */
function scriptedClient(answer: (urls: string[], call: number) => { status: number; body?: unknown; headers?: Record<string, string> }[] | Error, width = 4) {
  const posts: string[][] = [];
  const bodies: GraphBatchBody[] = [];
  let invalidated = 0;
  return {
    posts,
    bodies,
    get invalidated() {
      return invalidated;
    },
    invalidateToken: () => void invalidated++,
    async postBatchOnce(build: (width: number) => unknown, maxWidth: number) {
      const body = build(Math.min(width, maxWidth)) as GraphBatchBody;
      bodies.push(body);
      const urls = body.requests.map((r) => r.url);
      posts.push(urls);
      const items = answer(urls, posts.length);
      if (items instanceof Error) throw items;
      const status = new Map<string, number>();
      const responses = body.requests.map((r, i) => {
        const failedBefore = (r.dependsOn ?? []).some((d) => (status.get(d) ?? 0) >= 400);
        const item = failedBefore ? { status: 424, body: { error: { code: 'FailedDependency' } } } : items[i]!;
        status.set(r.id, item.status);
        return { id: r.id, ...item };
      });
      // Answer in reverse order: the runner must match by id.
      return { responses: responses.reverse() };
    },
  };
}

describe('Graph $batch runner', () => {
  it('cuts 45 requests into batches of 20, 20 and 5 and keeps the request order', async () => {
    const client = scriptedClient((urls) => urls.map((url) => ({ status: 200, body: { url } })));
    const requests = Array.from({ length: 45 }, (_, i) => ({ path: `/me/messages/m${i}` }));
    const results = await runGraphBatch(client, requests, { retry: fast });
    expect(client.posts.map((p) => p.length)).toEqual([20, 20, 5]);
    expect(results.map((r) => (r.ok ? (r.body as { url: string }).url : null))).toEqual(requests.map((r) => r.path));
  });

  it('retries only the throttled items and gives up on the ones that stay failed, each with its own error', async () => {
    const client = scriptedClient((urls, call) =>
      urls.map((url) => {
        if (url.endsWith('/gone')) return { status: 404, body: { error: { code: 'ErrorItemNotFound' } } };
        if (url.endsWith('/busy') && call === 1) return { status: 429, body: { error: { code: 'ApplicationThrottled' } } };
        if (url.endsWith('/down')) return { status: 503, body: {} };
        return { status: 200, body: { url } };
      }),
    );
    const results = await runGraphBatch(client, [{ path: '/m/ok' }, { path: '/m/busy' }, { path: '/m/gone' }, { path: '/m/down' }], { retry: { ...fast, maxAttempts: 3 } });
    expect(client.posts).toEqual([['/m/ok', '/m/busy', '/m/gone', '/m/down'], ['/m/busy', '/m/down'], ['/m/down']]);
    expect(results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['ok', 'ok', 'NOT_FOUND', 'PROVIDER_UNAVAILABLE']);
  });

  it('resends the whole batch when the POST itself fails with a retryable status', async () => {
    const client = scriptedClient((urls, call) => (call === 1 ? mapGraphAnswer({ status: 503, headers: {} }) : urls.map(() => ({ status: 200, body: {} }))));
    const results = await runGraphBatch(client, [{ path: '/a' }, { path: '/b' }], { retry: fast });
    expect(client.posts).toEqual([
      ['/a', '/b'],
      ['/a', '/b'],
    ]);
    expect(results.every((r) => r.ok)).toBe(true);
  });

  it('items answered 401 get one more try with a fresh token', async () => {
    const client = scriptedClient((urls, call) => urls.map((url) => (url === '/b' && call === 1 ? { status: 401, body: { error: { code: 'InvalidAuthenticationToken' } } } : { status: 200, body: {} })));
    const results = await runGraphBatch(client, [{ path: '/a' }, { path: '/b' }], { retry: fast });
    expect(client.invalidated).toBe(1);
    expect(client.posts).toEqual([['/a', '/b'], ['/b']]);
    expect(results.every((r) => r.ok)).toBe(true);
  });

  it('chains the requests to the width the mailbox allows, and sends again at once what followed a request that failed for good', async () => {
    const client = scriptedClient((urls) => urls.map((url) => (url.endsWith('/gone') ? { status: 404, body: { error: { code: 'ErrorItemNotFound' } } } : { status: 200, body: { url } })), 2);
    const paths = ['/a', '/gone', '/c', '/d', '/e', '/f'];
    const results = await runGraphBatch(client, paths.map((path) => ({ path })), { retry: fast });
    expect(client.bodies[0]!.requests.map((r) => r.dependsOn ?? [])).toEqual([[], [], ['1'], ['2'], ['3'], ['4']]);
    expect(client.posts).toEqual([paths, ['/d', '/f']]);
    expect(results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['ok', 'NOT_FOUND', 'ok', 'ok', 'ok', 'ok']);
  });

  it('stops at once when the request is aborted', async () => {
    const controller = new AbortController();
    const client = scriptedClient((urls) => {
      controller.abort(new Error('client gone'));
      return urls.map(() => ({ status: 503, body: {} }));
    });
    await expect(runGraphBatch(client, [{ path: '/a' }], { signal: controller.signal, retry: fast })).rejects.toThrow('client gone');
    expect(client.posts).toHaveLength(1);
  });
});

describe('Graph mailbox slots', () => {
  it('holds at most 4 requests in flight, downloads at most 3, so a listing passes queued downloads', async () => {
    const slots = new MailboxSlots(4);
    const downloads = await Promise.all([slots.acquire(undefined, true), slots.acquire(undefined, true), slots.acquire(undefined, true)]);
    let fourthDownload = false;
    const queued = slots.acquire(undefined, true).then((release) => {
      fourthDownload = true;
      return release;
    });
    const listing = await slots.acquire();
    expect(slots.busy).toBe(4);
    await Promise.resolve();
    expect(fourthDownload).toBe(false);
    listing();
    await Promise.resolve();
    expect(fourthDownload).toBe(false);
    downloads[0]!();
    (await queued)();
    expect(fourthDownload).toBe(true);
    downloads[1]!();
    downloads[2]!();
    expect(slots.busy).toBe(0);
  }, 5_000);

  it('a waiter whose signal aborts leaves the queue with the reason', async () => {
    const slots = new MailboxSlots(1);
    const held = await slots.acquire();
    const controller = new AbortController();
    const waiting = slots.acquire(controller.signal);
    controller.abort(new Error('deadline'));
    await expect(waiting).rejects.toThrow('deadline');
    held();
    expect(slots.busy).toBe(0);
    (await slots.acquire())();
  });
});
