/**
 * The Microsoft Graph rows of the bench (`npm run bench:graph`): the gateway's download of a Graph
 * attachment against a direct graph-client `$value` read in the same run, and the upstream
 * requests of a wide query.
 *
 * 1. For 1, 25 and 100 MiB file attachments: MB/s of the gateway's signed URL (a gateway process
 *    of its own, `./graph-gateway.ts`, real HTTP, its MICROSOFT_GRAPH provider) against
 *    `client.api('/me/messages/{id}/attachments/{id}/$value').responseType(RAW).get()` read to its
 *    end with graph-client, as a ratio (target ≥ 0.95), and the gateway process's peak RSS growth
 *    above its idle RSS (target < 32 MiB at 100 MiB). The gateway side is timed from the request
 *    of the signed URL to its last byte: it pays for its one attachment metadata read when its
 *    cache is cold (the `$value` read itself is the same request as the direct side's).
 * 2. Upstream requests (the fake's log) of one query of 10 and of 50 conversations with their
 *    messages and attachments: one list read and one `$batch` per 20 conversations.
 *
 * The fake Graph runs in this process over HTTPS with a CA made for the run; Node reads
 * `NODE_EXTRA_CA_CERTS` only at start, so the script first starts itself again with it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Client, ResponseType } from '@microsoft/microsoft-graph-client';
import { decodeNodeId } from '../src/ids.ts';
import { CA_DIR_ENV, createTestCa } from '../test/support/fake-graph/tls.ts';
import { startFakeGraph, type FakeGraph } from '../test/support/fake-graph/index.ts';
import { mailWithAttachment } from '../test/support/mail.ts';
import { freePort } from '../test/support/net.ts';
import { median, rssOf, timedDownload } from './gateway-process.ts';

const SIZES_MIB = [1, 25, 100];
const MIB = 1024 * 1024;
const RATIO_TARGET = 0.95;
const RSS_TARGET_MIB = 32;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const here = path.dirname(fileURLToPath(import.meta.url));
const sizeAddress = (mib: number) => `size${mib}@bench.test`;
const threadsAddress = (n: number) => `threads${n}@bench.test`;

if (!process.env.NODE_EXTRA_CA_CERTS || !process.env[CA_DIR_ENV]) {
  // Start again trusting a CA made for this run.
  const ca = await createTestCa();
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: path.join(ca.dir, 'ca.pem'), [CA_DIR_ENV]: ca.dir },
  });
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
  fs.rmSync(ca.dir, { recursive: true, force: true });
  process.exit(code);
}

/** The gateway process, started with static tokens for `addresses`; resolves once it listens. */
async function startGateway(fake: FakeGraph, tokens: Record<string, string>, dataDir: string): Promise<{ child: ChildProcess; url: string; apiKey: string; mailboxIds: Record<string, string> }> {
  const env = {
    ...process.env,
    PORT: String(await freePort()),
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    MS_GRAPH_ROOT: fake.graphRoot,
    MS_LOGIN_ROOT: fake.loginRoot,
    MS_TENANT_ID: fake.tenantId,
    MS_CLIENT_ID: fake.app.clientId,
    MS_CLIENT_SECRET: fake.app.clientSecret,
    BENCH_GRAPH_TOKENS: JSON.stringify(tokens),
  };
  const child = spawn(process.execPath, [...process.execArgv, path.join(here, 'graph-gateway.ts')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the gateway exited (${code})`)));
  });
  return { child, ...(JSON.parse(line) as { url: string; apiKey: string; mailboxIds: Record<string, string> }) };
}

async function graphql<T>(gateway: { url: string; apiKey: string }, query: string): Promise<T> {
  const response = await fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${gateway.apiKey}` }, body: JSON.stringify({ query }) });
  const body = (await response.json()) as { data?: T; errors?: unknown[] };
  if (body.errors?.length || !body.data) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

const fake = await startFakeGraph({ addresses: [...SIZES_MIB.map(sizeAddress), threadsAddress(10), threadsAddress(50)] });
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-graph-'));
let gateway: Awaited<ReturnType<typeof startGateway>> | undefined;
try {
  console.log(`\nGraph: writing test mail (${SIZES_MIB.join(', ')} MiB attachments; 10 and 50 two-message conversations) into the fake Graph...`);
  const stored = new Map<number, { messageId: string; attachmentId: string }>();
  for (const mib of SIZES_MIB) {
    fake.add({ raw: mailWithAttachment({ subject: `Blob ${mib}`, filename: 'blob.bin', bytes: Buffer.alloc(mib * MIB, mib) }) }, sizeAddress(mib));
  }
  for (const n of [10, 50]) {
    for (let t = 0; t < n; t++) {
      const id = `t${t}.${threadsAddress(n)}`;
      fake.add({ raw: mailWithAttachment({ subject: `Thread ${t}`, messageId: id, filename: `a${t}.csv`, bytes: Buffer.from(`a,b\r\n${t}\r\n`), date: `Tue, 01 Dec 2026 10:${String(t).padStart(2, '0')}:00 +0000` }) }, threadsAddress(n));
      const reply = mailWithAttachment({ subject: `Re: Thread ${t}`, messageId: `r${id}`, filename: `b${t}.csv`, bytes: Buffer.from(`c\r\n${t}\r\n`), date: `Wed, 02 Dec 2026 10:${String(t).padStart(2, '0')}:00 +0000` })
        .toString('latin1')
        .replace('MIME-Version', `In-Reply-To: <${id}>\r\nReferences: <${id}>\r\nMIME-Version`);
      fake.add({ raw: Buffer.from(reply, 'latin1'), folder: 'sentitems' }, threadsAddress(n));
    }
  }
  const tokens: Record<string, string> = {};
  for (const address of [...SIZES_MIB.map(sizeAddress), threadsAddress(10), threadsAddress(50)]) {
    tokens[address] = await fake.identity.issueAccessToken({ kind: 'delegated', userId: fake.mailbox(address).user.id, clientId: fake.app.clientId, scopes: ['https://graph.microsoft.com/Mail.Read'] });
  }
  gateway = await startGateway(fake, tokens, dataDir);
  const pid = gateway.child.pid!;

  // The signed URL and the Graph ids of each size's attachment.
  const urls = new Map<number, string>();
  for (const mib of SIZES_MIB) {
    const data = await graphql<{ node: { conversations: { edges: { node: { messages: { edges: { node: { id: string; attachments: { id: string; downloadUrl: { url: string } }[] } }[] } } }[] } } }>(
      gateway,
      `{ node(id: "${gateway.mailboxIds[sizeAddress(mib)]}") { ... on Mailbox { conversations(first: 1) { edges { node { messages(first: 1) { edges { node { id attachments { id downloadUrl(expiresIn: 3600) { url } } } } } } } } } } }`,
    );
    const attachment = data.node.conversations.edges[0]!.node.messages.edges[0]!.node.attachments[0]!;
    urls.set(mib, attachment.downloadUrl.url);
    const [, messageId, attachmentId] = decodeNodeId('Attachment', attachment.id);
    stored.set(mib, { messageId: messageId!, attachmentId: attachmentId! });
  }

  const direct = new Map<string, Client>();
  const clientOf = (address: string) => {
    let client = direct.get(address);
    if (!client) direct.set(address, (client = Client.init({ baseUrl: `${fake.graphRoot}/`, customHosts: new Set([new URL(fake.graphRoot).hostname]), authProvider: (done) => done(null, tokens[address]!) })));
    return client;
  };
  /** graph-client's `$value` read to its end. */
  const directRead = async (mib: number) => {
    const { messageId, attachmentId } = stored.get(mib)!;
    const started = process.hrtime.bigint();
    const response = (await clientOf(sizeAddress(mib))
      .api(`/me/messages/${encodeURIComponent(messageId)}/attachments/${encodeURIComponent(attachmentId)}/$value`)
      .header('Prefer', 'IdType="ImmutableId"')
      .responseType(ResponseType.RAW)
      .get()) as Response;
    if (response.status !== 200 || !response.body) throw new Error(`direct $value answered ${response.status}`);
    let bytes = 0;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.byteLength;
    return { bytes, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
  };

  // Warm-up (TLS sessions, JIT) on both sides, then the idle RSS of the gateway.
  await directRead(1);
  await timedDownload(urls.get(1)!, pid, rssOf(pid));
  await new Promise((r) => setTimeout(r, 500));
  const idleRss = rssOf(pid);
  console.log(`\nGraph downloads (median of ${ROUNDS}; MB = 10^6 bytes; peak RSS of the gateway process above its idle RSS of ${(idleRss / MIB).toFixed(0)} MiB)`);
  console.log('size     | direct graph-client $value | gateway URL | ratio | gateway RSS growth | (over its own start)');
  let missed = false;
  for (const mib of SIZES_MIB) {
    const d: number[] = [];
    const g: number[] = [];
    const rss: number[] = [];
    const own: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const a = await directRead(mib);
      const b = await timedDownload(urls.get(mib)!, pid, idleRss);
      if (a.bytes !== mib * MIB || b.bytes !== mib * MIB) throw new Error(`byte counts differ: direct ${a.bytes}, gateway ${b.bytes}, expected ${mib * MIB}`);
      d.push(a.bytes / 1e6 / a.seconds);
      g.push(b.bytes / 1e6 / b.seconds);
      rss.push(b.rssGrowth / MIB);
      own.push(b.ownGrowth / MIB);
    }
    const ratio = median(g) / median(d);
    const growth = Math.max(...rss);
    const notes = [ratio < RATIO_TARGET ? `ratio < ${RATIO_TARGET}` : '', mib === 100 && growth >= RSS_TARGET_MIB ? `RSS ≥ ${RSS_TARGET_MIB} MiB` : ''].filter(Boolean);
    if (notes.length > 0) missed = true;
    console.log(
      `${String(mib).padStart(3)} MiB  | ${median(d).toFixed(1).padStart(10)} MB/s            | ${median(g).toFixed(1).padStart(7)} MB/s | ${ratio.toFixed(2)}  | ${growth.toFixed(1).padStart(8)} MiB       | ${Math.max(...own).toFixed(1).padStart(6)} MiB${notes.length ? `  <-- target missed: ${notes.join(', ')}` : ''}`,
    );
  }

  console.log('\nGraph upstream requests for one query of N conversations with messages and attachments (first query of its mailbox, so with its folder $batch)');
  const counts: number[] = [];
  for (const n of [10, 50]) {
    const before = fake.requests.length;
    const data = await graphql<{ node: { conversations: { edges: unknown[] } } }>(
      gateway,
      `{ node(id: "${gateway.mailboxIds[threadsAddress(n)]}") { ... on Mailbox { conversations(first: ${n}) { edges { node { id attachments { id } messages(first: 10) { edges { node { id direction attachments { id filename size downloadUrl { url } } } } } } } } } } }`,
    );
    const requests = fake.requests.slice(before);
    counts.push(requests.length);
    const shown = requests.map((r) => (r.kind === 'batch' ? `$batch(${r.inner?.length ?? 0})` : r.kind));
    console.log(`first: ${n} → ${data.node.conversations.edges.length} conversations, ${requests.length} upstream requests (${shown.join(', ')})`);
    if (data.node.conversations.edges.length !== n) missed = true;
  }
  console.log(`upstream requests: 10 conversations ${counts[0]}, 50 conversations ${counts[1]} (one list read, one $batch per 20 conversations, none per message)`);
  if (missed) console.log('\nGraph: some targets were missed (see the rows above).');
} finally {
  gateway?.child.kill('SIGTERM');
  await fake.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}
