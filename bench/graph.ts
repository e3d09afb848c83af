/**
 * The Microsoft Graph rows of the bench (`npm run bench:graph`): the gateway's download of a Graph
 * attachment against a direct graph-client `$value` read in the same run, and the upstream
 * requests of a wide query.
 *
 * 1. For 1, 25 and 100 MiB file attachments: MB/s of the gateway's signed URL (a gateway process,
 *    `attachment-gateway serve`, real HTTP, its MICROSOFT_GRAPH provider with a delegated refresh
 *    token) against `client.api('/me/messages/{id}/attachments/{id}/$value').responseType(RAW)`
 *    read to its end with graph-client (an access token from the fake, untimed), as a ratio
 *    (target ≥ 0.95), and the gateway process's peak RSS growth above its idle RSS (target
 *    < 32 MiB at 100 MiB; `over its own start` is what one download adds once the process has done
 *    one before). The gateway side is timed from the request of the signed URL to its last byte.
 * 2. Upstream requests (the fake's log) of one query of 10 and of 50 conversations with their
 *    messages and attachments: one list read and one `$batch` per 20 conversations (plus, on the
 *    first query of a mailbox, its token and its folders).
 *
 * The fake Graph runs in a process of its own over HTTPS with a CA made for the run
 * (`relaunchWithTestCa`: Node reads `NODE_EXTRA_CA_CERTS` only at start).
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
import { relaunchWithTestCa, spawnFakeGraph, type FakeGraphProcess } from '../test/support/fake-graph/process.ts';
import { writeEmlWithAttachment } from '../test/support/fake-gmail/process.ts';
import { mailWithAttachment } from '../test/support/mail.ts';
import { freePort } from '../test/support/net.ts';
import { median, rssOf, startGatewayProcess, timedDownload } from './gateway-process.ts';

const SIZES_MIB = [1, 25, 100];
const MIB = 1024 * 1024;
const RATIO_TARGET = 0.95;
const RSS_TARGET_MIB = 32;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const sizeAddress = (mib: number) => `size${mib}@bench.test`;
const threadsAddress = (n: number) => `threads${n}@bench.test`;

await relaunchWithTestCa();

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

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-bench-graph-'));
const dataDir = path.join(dir, 'data');
fs.mkdirSync(dataDir);
let fake: FakeGraphProcess | null = null;
let child: ChildProcess | null = null;
let store: ReturnType<typeof createStore> | null = null;
let missed = false;
try {
  const addresses = [...SIZES_MIB.map(sizeAddress), threadsAddress(10), threadsAddress(50)];
  fake = await spawnFakeGraph({ addresses });
  console.log(`\nGraph: writing test mail (${SIZES_MIB.join(', ')} MiB attachments; 10 and 50 two-message conversations) into the fake Graph (pid ${fake.pid})...`);
  for (const mib of SIZES_MIB) {
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
  for (const mib of SIZES_MIB) targets.set(mib, await attachmentOf(mib));
  await new Promise((r) => setTimeout(r, 500));
  const idleRss = rssOf(pid);
  console.log(`\nGraph downloads (median of ${ROUNDS} after one warm-up; MB = 10^6 bytes; peak RSS of the gateway process above its idle RSS of ${(idleRss / MIB).toFixed(0)} MiB)`);
  console.log('size     | direct graph-client $value | gateway URL | ratio | gateway RSS growth | (over its own start)');
  for (const mib of SIZES_MIB) {
    const target = targets.get(mib)!;
    const token = await fake.accessToken('delegated', sizeAddress(mib));
    await directRead(mib, target, token);
    await timedDownload(target.url, pid, idleRss);
    const direct: number[] = [];
    const gateway: number[] = [];
    const rss: number[] = [];
    const own: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      direct.push(await directRead(mib, target, token));
      const g = await timedDownload(target.url, pid, idleRss);
      if (g.bytes !== mib * MIB) throw new Error(`gateway served ${g.bytes} bytes, expected ${mib * MIB}`);
      gateway.push(g.bytes / 1e6 / g.seconds);
      rss.push(g.rssGrowth / MIB);
      own.push(g.ownGrowth / MIB);
    }
    const ratio = median(gateway) / median(direct);
    const growth = Math.max(...rss);
    const notes = [ratio < RATIO_TARGET ? `ratio < ${RATIO_TARGET}` : '', mib === 100 && growth >= RSS_TARGET_MIB ? `RSS ≥ ${RSS_TARGET_MIB} MiB` : ''].filter(Boolean);
    if (notes.length > 0) missed = true;
    console.log(
      `${String(mib).padStart(3)} MiB  | ${median(direct).toFixed(1).padStart(10)} MB/s            | ${median(gateway).toFixed(1).padStart(7)} MB/s | ${ratio.toFixed(2)}  | ${growth.toFixed(1).padStart(8)} MiB       | ${Math.max(...own).toFixed(1).padStart(6)} MiB${notes.length ? `  <-- target missed: ${notes.join(', ')}` : ''}`,
    );
  }

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
