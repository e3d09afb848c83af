/**
 * The Microsoft Graph rows of `npm run bench` (alone: `npm run bench:graph`, `./graph-only.ts`):
 * the gateway's download of a Graph attachment against a direct graph-client `$value` read in the
 * same run, and the upstream requests of a wide query.
 *
 * 1. For 1, 25 and 100 MiB file attachments: MB/s of the gateway's signed URL (a gateway process,
 *    `attachment-gateway serve`, real HTTP, its MICROSOFT_GRAPH provider with a delegated refresh
 *    token) against `client.api('/me/messages/{id}/attachments/{id}/$value').responseType(RAW)`
 *    read to its end with graph-client (an access token from the fake, untimed), as a ratio
 *    (target ≥ 0.95), and the gateway process's peak RSS growth above its warm idle RSS (target
 *    < 32 MiB at 100 MiB): idle after one warm-up download of the 25 MiB attachment, as the Gmail
 *    rows measure (`./gmail.ts` says why: the first streaming download of a process grows its heap
 *    once); the `above cold idle` column, not a target, shows the peak above the RSS before any
 *    download. Both sides read the same attachment from the same fake process, one warm-up each,
 *    then `rounds` rounds whose order alternates (direct first, then gateway first), medians
 *    compared. The direct side is timed from its request to the last byte, the gateway side from
 *    the request of the signed URL to its last byte; the URL carries the listed download hint, so
 *    the gateway's download is one `$value` request too (the row below the table counts it).
 *    The last column is the CPU time each side costs all the processes on its path (the fake, the
 *    gateway, this client; /proc, 10 ms ticks, so meaningless at 1 MiB) per GB, the gateway
 *    process's own in brackets: a download through the gateway decrypts TLS once more and crosses
 *    loopback once more, so where the CPU is shared (2 cores, other work) the MB/s ratio cannot
 *    pass about direct/gateway CPU, whatever the relay does.
 * 2. Upstream requests (the fake's log) of one query of 10 and of 50 conversations with their
 *    messages and attachments: one list read and one `$batch` per 20 conversations (plus, on the
 *    first query of a mailbox, its token and its folders).
 *
 * The fake Graph runs in a process of its own over HTTPS with a CA made for the run: the entry
 * script calls `relaunchWithTestCa` first (Node reads `NODE_EXTRA_CA_CERTS` only at start).
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, ResponseType } from '@microsoft/microsoft-graph-client';
import { loadConfig } from '../src/config.ts';
import { createStore } from '../src/db/store.ts';
import { decodeNodeId } from '../src/ids.ts';
import { spawnFakeGraph, type FakeGraphProcess } from '../test/support/fake-graph/process.ts';
import { writeEmlWithAttachment } from '../test/support/fake-gmail/process.ts';
import { mailWithAttachment } from '../test/support/mail.ts';
import { freePort } from '../test/support/net.ts';
import { cpuOf, median, rssOf, startGatewayProcess, timedDownload } from './gateway-process.ts';

/** Attachment sizes, MiB (BENCH_GRAPH_SIZES, e.g. `100`, narrows a profiling run); the warm-up size is always made. */
const SIZES_MIB = (process.env.BENCH_GRAPH_SIZES ?? '1,25,100').split(',').map(Number);
const MIB = 1024 * 1024;
const RATIO_TARGET = 0.95;
const RSS_TARGET_MIB = 32;
/** The attachment downloaded once before the warm idle RSS is read, MiB (made even when not in {@link SIZES_MIB}). */
const WARM_UP_MIB = 25;
const MADE_MIB = [...new Set([...SIZES_MIB, WARM_UP_MIB])];
const sizeAddress = (mib: number) => `size${mib}@bench.test`;
const threadsAddress = (n: number) => `threads${n}@bench.test`;

async function graphql<T>(baseUrl: string, key: string, query: string): Promise<T> {
  const response = await fetch(`${baseUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ query }) });
  const body = (await response.json()) as { data?: T; errors?: unknown[] };
  if (body.errors?.length || !body.data) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** `n` two-message conversations (a received message and a sent reply, one attachment each). */
async function fillConversations(fake: FakeGraphProcess, dir: string, n: number): Promise<void> {
  const address = threadsAddress(n);
  for (let t = 0; t < n; t++) {
    const id = `t${t}.${address}`;
    const minute = String(t).padStart(2, '0');
    const first = mailWithAttachment({ subject: `Thread ${t}`, messageId: id, filename: `a${t}.csv`, bytes: Buffer.from(`a,b\r\n${t}\r\n`), date: `Tue, 01 Dec 2026 10:${minute}:00 +0000` });
    const reply = mailWithAttachment({ subject: `Re: Thread ${t}`, messageId: `r${id}`, filename: `b${t}.csv`, bytes: Buffer.from(`c\r\n${t}\r\n`), date: `Wed, 02 Dec 2026 10:${minute}:00 +0000` })
      .toString('latin1')
      .replace('MIME-Version', `In-Reply-To: <${id}>\r\nReferences: <${id}>\r\nMIME-Version`);
    for (const [name, raw, folder] of [[`${n}-${t}-a.eml`, first, 'inbox'], [`${n}-${t}-b.eml`, Buffer.from(reply, 'latin1'), 'sentitems']] as const) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, raw);
      await fake.add({ path: file, address, folder });
      fs.rmSync(file);
    }
  }
}

/**
 * Runs the Graph rows and prints them; `rounds` alternating direct and gateway downloads per size
 * after one warm-up each. Call `relaunchWithTestCa()` first. Returns true when a target was missed.
 * @throws Error when a download's byte count is wrong or a process does not start
 */
export async function graphBench(rounds: number): Promise<boolean> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-bench-graph-'));
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir);
  let fake: FakeGraphProcess | null = null;
  let child: ChildProcess | null = null;
  let store: ReturnType<typeof createStore> | null = null;
  let missed = false;
  try {
    const addresses = [...MADE_MIB.map(sizeAddress), threadsAddress(10), threadsAddress(50)];
    fake = await spawnFakeGraph({ addresses });
    console.log(`\nGraph: writing test mail (${MADE_MIB.join(', ')} MiB attachments; 10 and 50 two-message conversations) into the fake Graph (pid ${fake.pid})...`);
    for (const mib of MADE_MIB) {
      const file = path.join(dir, `blob-${mib}.eml`);
      await writeEmlWithAttachment(file, { size: mib * MIB, filename: 'blob.bin', subject: `bench ${mib} MiB`, seed: randomBytes(8).toString('hex') });
      await fake.add({ path: file, address: sizeAddress(mib) });
      fs.rmSync(file);
    }
    await fillConversations(fake, dir, 10);
    await fillConversations(fake, dir, 50);

    const secret = randomBytes(32).toString('base64url');
    const env = {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: String(await freePort()),
      SIGNING_SECRET: secret,
      LOG_LEVEL: 'warn',
      MS_GRAPH_ROOT: fake.origin,
      MS_LOGIN_ROOT: fake.origin,
      MS_TENANT_ID: fake.tenantId,
      MS_CLIENT_ID: fake.clientId,
      MS_CLIENT_SECRET: fake.clientSecret,
    };
    store = createStore(loadConfig(env), secret);
    await store.migrate();
    const workspace = await store.createWorkspace('bench-graph');
    const { key } = await store.createApiKey(workspace.id);
    for (const address of addresses) {
      await store.addMailbox({ workspaceId: workspace.id, provider: 'MICROSOFT_GRAPH', address, displayName: address, settings: { mode: 'delegated' }, credentials: { refreshToken: await fake.refreshToken(address) } });
    }
    const started = await startGatewayProcess(env);
    child = started.child;
    const { baseUrl } = started;
    const pid = child.pid!;
    const listed = await graphql<{ mailboxes: { id: string; address: string }[] }>(baseUrl, key, '{ mailboxes { id address } }');
    const idOf = new Map(listed.mailboxes.map((m) => [m.address, m.id]));

    /** The signed URL (valid an hour) and the Graph ids of a size's attachment. */
    const attachmentOf = async (mib: number) => {
      const data = await graphql<{ node: { conversations: { edges: { node: { messages: { edges: { node: { attachments: { id: string; downloadUrl: { url: string } }[] } }[] } } }[] } } }>(
        baseUrl,
        key,
        `{ node(id: "${idOf.get(sizeAddress(mib))}") { ... on Mailbox { conversations(first: 1) { edges { node { messages(first: 1) { edges { node { attachments { id downloadUrl(expiresIn: 3600) { url } } } } } } } } } } }`,
      );
      const attachment = data.node.conversations.edges[0]!.node.messages.edges[0]!.node.attachments[0]!;
      const [, messageId, attachmentId] = decodeNodeId('Attachment', attachment.id);
      return { url: attachment.downloadUrl.url, messageId: messageId!, attachmentId: attachmentId! };
    };

    // The direct client: graph-client as users run it, reading `$value` whole.
    const directRead = async (mib: number, target: { messageId: string; attachmentId: string }, token: string) => {
      const client = Client.init({ baseUrl: `${fake!.origin}/`, customHosts: new Set([new URL(fake!.origin).hostname]), authProvider: (done) => done(null, token) });
      const started = process.hrtime.bigint();
      const response = (await client
        .api(`/me/messages/${encodeURIComponent(target.messageId)}/attachments/${encodeURIComponent(target.attachmentId)}/$value`)
        .header('Prefer', 'IdType="ImmutableId"')
        .responseType(ResponseType.RAW)
        .get()) as Response;
      if (response.status !== 200 || !response.body) throw new Error(`direct $value answered ${response.status}`);
      let bytes = 0;
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.byteLength;
      if (bytes !== mib * MIB) throw new Error(`direct read ${bytes} bytes, expected ${mib * MIB}`);
      return bytes / 1e6 / (Number(process.hrtime.bigint() - started) / 1e9);
    };

    const targets = new Map<number, Awaited<ReturnType<typeof attachmentOf>>>();
    for (const mib of MADE_MIB) targets.set(mib, await attachmentOf(mib));
    // Cold idle: started, schema and database warm, listings done; no download yet.
    await new Promise((r) => setTimeout(r, 500));
    const coldRss = rssOf(pid);
    // Warm idle: after one download of a mid-sized attachment (see the module docs).
    await timedDownload(targets.get(WARM_UP_MIB)!.url, pid, coldRss);
    await new Promise((r) => setTimeout(r, 500));
    const idleRss = rssOf(pid);
    console.log(
      `\nGraph downloads (median of ${rounds} after one warm-up, order alternating; MB = 10^6 bytes; peak RSS of the gateway process above its warm idle RSS of ${(idleRss / MIB).toFixed(0)} MiB, after one ${WARM_UP_MIB} MiB download; cold idle ${(coldRss / MIB).toFixed(0)} MiB)`,
    );
    console.log('size     | direct graph-client $value | gateway URL | ratio | gateway RSS growth | (above cold idle) | CPU s per GB, all processes: direct, gateway (its process)');
    for (const mib of SIZES_MIB) {
      const target = targets.get(mib)!;
      const token = await fake.accessToken('delegated', sizeAddress(mib));
      const direct: number[] = [];
      const gateway: number[] = [];
      const rss: number[] = [];
      const cold: number[] = [];
      // CPU seconds each side costs all processes on its path (fake, gateway, this client).
      const cpu = { direct: 0, gateway: 0, gatewayProcess: 0 };
      const cpuNow = () => cpuOf(fake!.pid) + cpuOf(pid) + process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6;
      const viaGateway = async () => {
        const before = cpuNow();
        const own = cpuOf(pid);
        const g = await timedDownload(target.url, pid, idleRss);
        cpu.gatewayProcess += cpuOf(pid) - own;
        cpu.gateway += cpuNow() - before;
        if (g.bytes !== mib * MIB) throw new Error(`gateway served ${g.bytes} bytes, expected ${mib * MIB}`);
        return g;
      };
      const viaDirect = async () => {
        const before = cpuNow();
        const speed = await directRead(mib, target, token);
        cpu.direct += cpuNow() - before;
        return speed;
      };
      await viaDirect();
      await viaGateway();
      Object.assign(cpu, { direct: 0, gateway: 0, gatewayProcess: 0 });
      for (let round = 0; round < rounds; round++) {
        // Alternate which side goes first, so drift and a warm cache favour neither.
        let g: Awaited<ReturnType<typeof viaGateway>>;
        if (round % 2 === 0) {
          direct.push(await viaDirect());
          g = await viaGateway();
        } else {
          g = await viaGateway();
          direct.push(await viaDirect());
        }
        gateway.push(g.bytes / 1e6 / g.seconds);
        rss.push(g.rssGrowth / MIB);
        cold.push((g.rssGrowth + idleRss - coldRss) / MIB);
      }
      const ratio = median(gateway) / median(direct);
      const perGb = (seconds: number) => ((seconds / rounds) * (1e9 / (mib * MIB))).toFixed(2);
      const growth = Math.max(...rss);
      const notes = [ratio < RATIO_TARGET ? `ratio < ${RATIO_TARGET}` : '', mib === 100 && growth >= RSS_TARGET_MIB ? `RSS ≥ ${RSS_TARGET_MIB} MiB` : ''].filter(Boolean);
      if (notes.length > 0) missed = true;
      console.log(
        `${String(mib).padStart(3)} MiB  | ${median(direct).toFixed(1).padStart(10)} MB/s            | ${median(gateway).toFixed(1).padStart(7)} MB/s | ${ratio.toFixed(2)}  | ${growth.toFixed(1).padStart(8)} MiB       | ${Math.max(...cold).toFixed(1).padStart(6)} MiB       | ${perGb(cpu.direct)}, ${perGb(cpu.gateway)} (${perGb(cpu.gatewayProcess)})${notes.length ? `  <-- target missed: ${notes.join(', ')}` : ''}`,
      );
    }

    // What one signed-URL download costs upstream: its `$value` alone (the URL's hint names the rest).
    const small = targets.get(SIZES_MIB[0]!)!;
    const beforeDownload = (await fake.requests()).length;
    await timedDownload(small.url, pid, idleRss);
    const downloadRequests = (await fake.requests()).slice(beforeDownload);
    console.log(`\nGraph upstream requests of one gateway download: ${downloadRequests.length} (${downloadRequests.map((r) => `${r.method} ${r.path.replace(/\/[\w%=-]{20,}/g, '/…')}`).join(', ')})`);
    if (downloadRequests.length !== 1) missed = true;

    console.log('\nGraph upstream requests for one query of N conversations with messages and attachments (first query of its mailbox: with its token and folders)');
    const counts: number[] = [];
    for (const n of [10, 50]) {
      const before = (await fake.requests()).length;
      const data = await graphql<{ node: { conversations: { edges: unknown[] } } }>(
        baseUrl,
        key,
        `{ node(id: "${idOf.get(threadsAddress(n))}") { ... on Mailbox { conversations(first: ${n}) { edges { node { id attachments { id } messages(first: 10) { edges { node { id direction attachments { id filename size downloadUrl { url } } } } } } } } } } }`,
      );
      const requests = (await fake.requests()).slice(before);
      counts.push(requests.length);
      console.log(`first: ${n} → ${data.node.conversations.edges.length} conversations, ${requests.length} upstream requests (${requests.map((r) => (r.kind === 'batch' ? `$batch(${r.inner?.length ?? 0})` : r.kind)).join(', ')})`);
      if (data.node.conversations.edges.length !== n) missed = true;
    }
    console.log(`upstream requests: 10 conversations ${counts[0]}, 50 conversations ${counts[1]} (one list read and one $batch per 20 conversations; none per message)`);
    if (missed) console.log('\nGraph: some targets were missed (see the rows above).');
  } finally {
    child?.kill('SIGTERM');
    await store?.close();
    await fake?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return missed;
}
