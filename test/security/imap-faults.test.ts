/**
 * IMAP faults, tried as a client would meet them: a real private Dovecot, real gateways on loopback
 * (real SQLite store, real HTTP), small deadlines set through the documented environment variables.
 *
 * Probes (each prints its time and the process RSS before and after):
 * 1. slow readers: download clients that read nothing take at most IMAP_MAX_DOWNLOADS of the
 *    mailbox's connections; one more download answers 503 + Retry-After (PROVIDER_THROTTLED), and
 *    a listing of the same mailbox still answers within seconds (it waited 27 s before);
 * 2. vanished clients: once they disconnect, their connections serve new downloads again;
 * 3. a stalled reader is cut after DOWNLOAD_STALL_TIMEOUT_MS and its connection is freed;
 * 4. a closed-port mailbox beside the Dovecot one: the good one answers in full, the bad one's
 *    field is null with an error naming it;
 * 5. a frozen server (SIGSTOP of every Dovecot process) answers PROVIDER_UNAVAILABLE within the
 *    command / greeting deadline while /health stays fast; after repeated failures the breaker
 *    answers at once; thawed, the mailbox answers again after the half-open delay;
 * 6. a restarted Dovecot (every connection cut) is used again at once;
 * 7. a slow server that keeps sending (a throttling proxy) is not cut by the command deadline,
 *    which is a deadline of silence, even when one FETCH takes longer than it;
 * 8. the provider honours `CallOptions.signal`: a call waiting on a frozen server or for a busy
 *    pool stops when its signal aborts, with the signal's reason; without a signal the pool's
 *    acquire timeout answers PROVIDER_UNAVAILABLE.
 */
import { randomBytes } from 'node:crypto';
import { get, type IncomingMessage } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createImapProviderWith, type ImapProviderOptions } from '../../src/providers/imap/provider.ts';
import { DOVECOT_MISSING, dovecotAvailable, startDovecot, type DovecotInstance } from '../support/dovecot.ts';
import { startE2eGateway, type E2eGateway } from '../support/gateway-e2e.ts';
import { silentLogger } from '../support/logger.ts';
import { mailWithAttachment } from '../support/mail.ts';
import { freePort as closedPort } from '../support/net.ts';
import { loaded } from '../support/loaded.ts';

if (!dovecotAvailable()) console.warn(`\n*** ${DOVECOT_MISSING} ***\n`);

/** Size of the big attachment: far more than loopback socket buffers hold, so a reader that stops really stalls. */
const BIG_BYTES = 48 * 1024 * 1024;


/** A download client that reads nothing: resolves with the response (paused) once headers arrive. */
function stalledClient(url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = get(url, (response) => {
      response.pause();
      resolve(response);
    });
    request.on('error', reject);
  });
}

/** Reads a response to its end or its cut; resolves with the byte count and whether it completed. */
function drain(response: IncomingMessage): Promise<{ bytes: number; complete: boolean }> {
  return new Promise((resolve) => {
    let bytes = 0;
    response.on('data', (chunk: Buffer) => (bytes += chunk.length));
    response.on('end', () => resolve({ bytes, complete: response.complete }));
    response.on('error', () => resolve({ bytes, complete: false }));
    response.on('aborted', () => resolve({ bytes, complete: false }));
    response.resume();
  });
}

/** GETs a URL and reads all of it. */
async function fullDownload(url: string): Promise<{ status: number; bytes: number; complete: boolean; retryAfter: string | undefined; body: string }> {
  const response = await stalledClient(url);
  if (response.statusCode !== 200) {
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(chunk as Buffer);
    return { status: response.statusCode ?? 0, bytes: 0, complete: true, retryAfter: response.headers['retry-after'], body: Buffer.concat(chunks).toString('utf8') };
  }
  const { bytes, complete } = await drain(response);
  return { status: 200, bytes, complete, retryAfter: undefined, body: '' };
}

/**
 * A loopback TCP proxy to `port` that passes the server's bytes on at about `bytesPerTick` every
 * 10 ms (a slow link that never goes silent). Returns its port and a close function.
 */
async function throttlingProxy(port: number, bytesPerTick: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream);
    const queue: Buffer[] = [];
    const timer = setInterval(() => {
      let budget = bytesPerTick;
      while (budget > 0 && queue.length > 0) {
        const head = queue[0]!;
        const piece = head.subarray(0, budget);
        client.write(piece);
        budget -= piece.length;
        if (piece.length === head.length) queue.shift();
        else queue[0] = head.subarray(piece.length);
      }
      if (queue.length === 0) upstream.resume();
    }, 10);
    upstream.on('data', (chunk: Buffer) => {
      queue.push(chunk);
      upstream.pause();
    });
    const end = (): void => {
      clearInterval(timer);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(0);

/** Measured figures of the probes, printed at the end. */
const figures: string[] = [];

/** Runs a probe, recording its duration and the RSS before and after. */
async function probe<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const rssBefore = process.memoryUsage().rss;
  const started = performance.now();
  const result = await fn();
  const ms = Math.round(performance.now() - started);
  figures.push(`${name}: ${ms} ms, RSS ${mib(rssBefore)} → ${mib(process.memoryUsage().rss)} MiB`);
  return result;
}

const LIST = '{ mailboxes { id displayName conversations(first: 10) { edges { node { subject attachments { filename size downloadUrl { url } } } } } } }';

interface Listing {
  data?: {
    mailboxes: {
      id: string;
      displayName: string | null;
      conversations: { edges: { node: { subject: string; attachments: { filename: string; size: number; downloadUrl: { url: string } | null }[] } }[] } | null;
    }[];
  } | null;
  errors?: { message: string; path?: unknown[]; extensions?: Record<string, unknown> }[];
}

describe.skipIf(!dovecotAvailable())('IMAP faults: slow clients, frozen and restarted servers, unreachable mailboxes', () => {
  let dovecot: DovecotInstance;
  const gateways: E2eGateway[] = [];

  /** A gateway over the Dovecot mailbox with these settings; returns it with the big attachment's URL. */
  async function gatewayWith(env: Record<string, string>): Promise<{ gateway: E2eGateway; bigUrl: () => Promise<string> }> {
    const gateway = await startE2eGateway(env);
    gateways.push(gateway);
    await gateway.addMailbox({
      provider: 'IMAP',
      address: 'bob@example.test',
      displayName: 'dovecot',
      settings: { host: dovecot.host, port: dovecot.port, user: dovecot.user, tls: false },
      credentials: { password: dovecot.password },
    });
    const bigUrl = async (): Promise<string> => {
      const listing = (await gateway.graphql(LIST)) as Listing;
      const big = listing.data!.mailboxes[0]!.conversations!.edges.flatMap((e) => e.node.attachments).find((a) => a.filename === 'big.bin');
      return big!.downloadUrl!.url;
    };
    return { gateway, bigUrl };
  }

  beforeAll(async () => {
    dovecot = await startDovecot();
    await dovecot.appendMany([
      { folder: 'INBOX', raw: mailWithAttachment({ subject: 'Big one', filename: 'big.bin', bytes: randomBytes(BIG_BYTES) }) },
      { folder: 'INBOX', raw: mailWithAttachment({ subject: 'Small one', filename: 'small.txt', bytes: Buffer.from('small bytes') }) },
    ]);
  });

  afterAll(async () => {
    dovecot?.thaw();
    for (const gateway of gateways) await gateway.close();
    await dovecot?.close();
    console.log(`\nIMAP fault probes (this machine):\n  ${figures.join('\n  ')}\n`);
  });

  it('slow readers hold at most IMAP_MAX_DOWNLOADS connections: one more gets 503 + Retry-After, a listing still answers at once, and vanished clients free theirs', async () => {
    const { gateway, bigUrl } = await gatewayWith({ IMAP_MAX_CONNECTIONS: '3', IMAP_MAX_DOWNLOADS: '2' });
    const url = await bigUrl();

    const slow = await probe('3 download clients that read nothing (48 MiB attachment)', async () => {
      const first = await stalledClient(url);
      const second = await stalledClient(url);
      const third = await fullDownload(url);
      return { first, second, third };
    });
    expect(slow.first.statusCode).toBe(200);
    expect(slow.second.statusCode).toBe(200);
    expect(slow.third.status).toBe(503);
    expect(Number(slow.third.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(slow.third.body)).toMatchObject({ code: 'PROVIDER_THROTTLED' });

    const started = Date.now();
    const listing = await probe('listing of the same mailbox behind 2 stalled downloads', async () => (await gateway.graphql(LIST)) as Listing);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(listing.errors).toBeUndefined();
    expect(listing.data!.mailboxes[0]!.conversations!.edges.map((e) => e.node.subject).sort()).toEqual(['Big one', 'Small one']);

    // The clients vanish: their connections go back to the pool, and downloads are served again.
    await probe('2 vanished clients, then a full 48 MiB download', async () => {
      slow.first.destroy();
      slow.second.destroy();
      let again = await fullDownload(url);
      for (let tries = 0; again.status === 503 && tries < 50; tries++) {
        await new Promise((r) => setTimeout(r, 100));
        again = await fullDownload(url);
      }
      expect(again).toMatchObject({ status: 200, bytes: BIG_BYTES, complete: true });
      // Both slots are free: two more downloads at once are served.
      const both = await Promise.all([fullDownload(url), fullDownload(url)]);
      expect(both.map((d) => d.status)).toEqual([200, 200]);
    });
    expect((await fetch(`${gateway.url}/health`)).status).toBe(200);
  });

  it('cuts a download whose client reads nothing for DOWNLOAD_STALL_TIMEOUT_MS and frees its connection', async () => {
    const { gateway, bigUrl } = await gatewayWith({ IMAP_MAX_DOWNLOADS: '1', DOWNLOAD_STALL_TIMEOUT_MS: '1000' });
    const url = await bigUrl();
    const stalled = await stalledClient(url);
    expect(stalled.statusCode).toBe(200);
    const startedAt = Date.now();
    // While it holds the only download slot, another download is refused...
    const refused = await stalledClient(url);
    expect(refused.statusCode).toBe(503);
    refused.resume();
    // ...until the stalled reader is cut (a paused client cannot see the cut itself: its socket
    // is not read, so the freed slot is what shows it).
    const next = await probe('stalled reader cut, its slot served again (DOWNLOAD_STALL_TIMEOUT_MS=1000)', async () => {
      for (;;) {
        const attempt = await stalledClient(url);
        if (attempt.statusCode === 200) return attempt;
        attempt.resume();
        if (Date.now() - startedAt > 10_000) throw new Error('the stalled download was never cut');
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    const freedAfter = Date.now() - startedAt;
    expect(freedAfter).toBeGreaterThanOrEqual(900);
    expect(freedAfter).toBeLessThan(6_000);
    expect(await drain(next)).toEqual({ bytes: BIG_BYTES, complete: true });
    // The stalled client, once it reads again, finds a cut transfer: fewer bytes than announced.
    const cut = await drain(stalled);
    expect(cut.complete).toBe(false);
    expect(cut.bytes).toBeLessThan(BIG_BYTES);
    expect((await fetch(`${gateway.url}/health`)).status).toBe(200);
  });

  it('answers a closed-port mailbox beside the Dovecot one: the good one in full, the bad one null with an error naming it', async () => {
    const { gateway } = await gatewayWith({});
    await gateway.addMailbox({
      provider: 'IMAP',
      address: null,
      displayName: 'closed',
      settings: { host: '127.0.0.1', port: await closedPort(), user: 'x', tls: false },
      credentials: { password: 'x' },
    });
    const answer = await probe('closed-port mailbox beside a good one', async () => (await gateway.graphql(LIST)) as Listing);
    const [good, bad] = answer.data!.mailboxes;
    expect(good!.conversations!.edges).toHaveLength(2);
    expect(bad!.conversations).toBeNull();
    expect(answer.errors).toHaveLength(1);
    expect(answer.errors![0]).toMatchObject({ path: ['mailboxes', 1, 'conversations'], extensions: { code: 'PROVIDER_UNAVAILABLE', mailboxId: bad!.id, provider: 'IMAP' } });
  });

  it('answers a frozen server with PROVIDER_UNAVAILABLE within the deadlines, backs off with the breaker, and recovers when it answers again', async () => {
    const { gateway } = await gatewayWith({
      IMAP_COMMAND_TIMEOUT_MS: '1500',
      IMAP_GREETING_TIMEOUT_MS: '1500',
      IMAP_CONNECT_TIMEOUT_MS: '1500',
      IMAP_BREAKER_FAILURES: '3',
      IMAP_BREAKER_HALF_OPEN_MS: '3000',
    });
    expect(((await gateway.graphql(LIST)) as Listing).errors).toBeUndefined(); // a warm pool
    dovecot.freeze();
    try {
      // 1: a command on the pooled connection gets no answer; 2 and 3: new connections get no greeting.
      for (const [i, what] of ['command deadline', 'greeting deadline', 'greeting deadline'].entries()) {
        const started = Date.now();
        const answer = await probe(`frozen server, query ${i + 1} (${what} 1500 ms)`, async () => (await gateway.graphql(LIST)) as Listing);
        const elapsed = Date.now() - started;
        expect(answer.data!.mailboxes[0]!.conversations).toBeNull();
        expect(answer.errors![0]!.extensions).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', mailboxId: answer.data!.mailboxes[0]!.id, provider: 'IMAP' });
        expect(elapsed).toBeGreaterThanOrEqual(1_000);
        expect(elapsed).toBeLessThan(8_000);
        const health = Date.now();
        expect((await fetch(`${gateway.url}/health`)).status).toBe(200);
        expect(Date.now() - health).toBeLessThan(1_000);
      }
      // The breaker is open: answered at once, without waiting for the server.
      const started = Date.now();
      const fast = await probe('frozen server, breaker open', async () => (await gateway.graphql(LIST)) as Listing);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(fast.errors![0]!.extensions).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', provider: 'IMAP' });
      expect(fast.errors![0]!.extensions!.retryAfter).toBeGreaterThanOrEqual(1);
    } finally {
      dovecot.thaw();
    }
    // Still open right after the thaw; after the half-open delay one query tries and succeeds.
    expect(((await gateway.graphql(LIST)) as Listing).errors![0]!.extensions!.code).toBe('PROVIDER_UNAVAILABLE');
    const recovered = await probe('thawed server after the half-open delay', async () => {
      await new Promise((r) => setTimeout(r, 3_100));
      return (await gateway.graphql(LIST)) as Listing;
    });
    expect(recovered.errors).toBeUndefined();
    expect(recovered.data!.mailboxes[0]!.conversations!.edges).toHaveLength(2);
  });

  it('uses a restarted Dovecot again at once (its pooled connections were cut)', async () => {
    const { gateway } = await gatewayWith({});
    expect(((await gateway.graphql(LIST)) as Listing).errors).toBeUndefined();
    await dovecot.restart();
    const answer = await probe('first query after a Dovecot restart', async () => (await gateway.graphql(LIST)) as Listing);
    expect(answer.errors).toBeUndefined();
    expect(answer.data!.mailboxes[0]!.conversations!.edges).toHaveLength(2);
  });

  it('does not cut a FETCH that takes longer than IMAP_COMMAND_TIMEOUT_MS while the server keeps sending', async () => {
    // About 800 KB/s: one 2 MiB partial FETCH of the download takes ~2.6 s, over twice the deadline.
    const proxy = await throttlingProxy(dovecot.port, 8 * 1024);
    const gateway = await startE2eGateway({ IMAP_COMMAND_TIMEOUT_MS: '1000' });
    gateways.push(gateway);
    try {
      await gateway.addMailbox({
        provider: 'IMAP',
        address: 'bob@example.test',
        displayName: 'slow link',
        settings: { host: '127.0.0.1', port: proxy.port, user: dovecot.user, tls: false },
        credentials: { password: dovecot.password },
      });
      const listing = (await gateway.graphql(LIST)) as Listing;
      expect(listing.errors).toBeUndefined();
      const url = listing.data!.mailboxes[0]!.conversations!.edges.flatMap((e) => e.node.attachments).find((a) => a.filename === 'big.bin')!.downloadUrl!.url;
      const wanted = 2.5 * 1024 * 1024;
      const started = Date.now();
      const got = await probe('2.5 MiB through an ~800 KB/s link, command deadline 1000 ms', async () => {
        const response = await stalledClient(url);
        expect(response.statusCode).toBe(200);
        return new Promise<number>((resolve, reject) => {
          let bytes = 0;
          response.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            if (bytes >= wanted) {
              response.destroy();
              resolve(bytes);
            }
          });
          response.on('error', reject);
          response.on('end', () => resolve(bytes));
          response.resume();
        });
      });
      expect(got).toBeGreaterThanOrEqual(wanted);
      // The throttle makes it slow whatever the machine: the first FETCH alone outlasted the deadline.
      expect(Date.now() - started).toBeGreaterThan(2_000);
    } finally {
      await proxy.close();
    }
  });

  /** The IMAP provider of the Dovecot mailbox, used directly (as the loaders and the download route do). */
  function provider(options: ImapProviderOptions) {
    return createImapProviderWith(
      {
        id: 'm',
        workspaceId: 'w',
        provider: 'IMAP',
        address: null,
        displayName: null,
        settings: { host: dovecot.host, port: dovecot.port, user: dovecot.user, tls: false },
        credentials: { password: dovecot.password },
      },
      { dataDir: '/nonexistent', logger: silentLogger() },
      options,
    );
  }

  it('stops waiting on a frozen server when the call\'s signal aborts, long before the command deadline', async () => {
    const p = provider({ commandTimeoutMs: 20_000, greetingTimeoutMs: 20_000 });
    try {
      await p.listConversations({ first: 5 }); // a warm pool
      dovecot.freeze();
      try {
        const reason = new Error('request deadline');
        const controller = new AbortController();
        setTimeout(() => controller.abort(reason), 300);
        const started = Date.now();
        const outcome = await probe('frozen server, call aborted by its signal after 300 ms', () =>
          p.loadConversations(['x'], { signal: controller.signal }).then(
            () => 'resolved',
            (error: unknown) => error,
          ),
        );
        expect(outcome).toBe(reason);
        expect(Date.now() - started).toBeLessThan(2_000);
      } finally {
        dovecot.thaw();
      }
    } finally {
      await p.close();
    }
  });

  it('bounds the wait for a busy pool: the signal withdraws it, else the acquire timeout answers PROVIDER_UNAVAILABLE', async () => {
    // One connection, held by a download that nobody reads.
    const p = provider({ max: 1, acquireTimeoutMs: 1_000 });
    try {
      const listed = await p.listConversations({ first: 5 });
      const big = listed.items.find((c) => c.subject === 'Big one')!;
      const [message] = loaded(await p.loadMessages(big.messageKeys));
      const part = message!.attachments.find((a) => a.filename === 'big.bin')!;
      const download = await p.openAttachment(message!.key, part.partId);

      const controller = new AbortController();
      const reason = new Error('client went away');
      setTimeout(() => controller.abort(reason), 200);
      let started = Date.now();
      await expect(p.listConversations({ first: 5 }, { signal: controller.signal })).rejects.toBe(reason);
      expect(Date.now() - started).toBeLessThan(900);

      // The folder refresh that call started is shared and runs on until its own acquire times
      // out; let it end so the next call starts a wait of its own.
      await new Promise((r) => setTimeout(r, 1_200));
      started = Date.now();
      const timedOut = await probe('busy pool, acquire timeout 1000 ms', () => p.loadConversations([big.key]).catch((error: unknown) => error));
      expect(timedOut).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', message: expect.stringContaining('1000 ms') });
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(Date.now() - started).toBeLessThan(5_000);

      // The download ends: the connection serves metadata again.
      download.stream.destroy();
      await new Promise((r) => setTimeout(r, 200));
      expect((loaded(await p.loadConversations([big.key])))[0]?.subject).toBe('Big one');
    } finally {
      await p.close();
    }
  });
});
