/**
 * The Gmail rows of `npm run bench`: the gateway's download of a Gmail attachment against a direct
 * googleapis client in the same run, and the upstream request count of a wide query.
 *
 * 1. For 1, 25 and 100 MiB attachments: MB/s of the gateway's signed URL (a real gateway process,
 *    real HTTP, its GMAIL provider) against `gmail.users.messages.attachments.get` followed by
 *    `Buffer.from(data, 'base64url')` (what users and EmailEngine do), as a ratio (target ≥ 0.95),
 *    and the gateway process's peak RSS growth above its warm idle RSS (target < 32 MiB at
 *    100 MiB): idle after one warm-up download of the 25 MiB attachment, so what is measured is
 *    what a download costs a process that has served one before. The first streaming download
 *    grows the V8 heap once (its young generation reaches its 16 MiB semi-spaces, and the socket
 *    buffers of the upstream body wait for a GC as external memory; a bare `http.get` reading
 *    the same 133 MiB body grows as much): about 35-40 MiB that the process keeps and reuses, and
 *    that `--max-semi-space-size=1` avoids (README, "Memory of downloads"). The `above cold idle`
 *    column, not a target, shows the peak above the RSS before any download, that growth included.
 *    The direct side is timed from `attachments.get` to the decoded Buffer, with a current
 *    `attachmentId` read (untimed) by `messages.get` before each round; the gateway side from the
 *    request of the signed URL to its last byte (its URL carries the attachmentId seen while
 *    listing, so it is one `attachments.get` too; the `+ messages.get` column, not a target, times
 *    the direct side with the lookup).
 * 2. Upstream requests (the fake's request log) of one query of 10 and of 50 threads with their
 *    messages and attachments (target: the same number for both).
 *
 * The fake Gmail API runs in a process of its own (`test/support/fake-gmail/process.ts`) with
 * `gzip: false`, so neither its memory nor zlib is measured. googleapis is pointed at it as the
 * field notes say (`rootUrl` an origin, `endpoints.oauth2TokenUrl`, `retry: false`). Wire format:
 * developers.google.com/gmail/api/reference/rest/v1/users.messages.attachments/get (answer
 * `{size, data}`, `data` base64url) and .../users.messages/get (`fields` partial response,
 * guides/performance).
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { google, type gmail_v1 } from 'googleapis';
import { loadConfig } from '../src/config.ts';
import { createStore } from '../src/db/store.ts';
import { spawnFakeGmail, writeEmlWithAttachment, type FakeGmailProcess } from '../test/support/fake-gmail/process.ts';
import { mailWithAttachment } from '../test/support/mail.ts';
import { freePort } from '../test/support/net.ts';
import { median, rssOf, startGatewayProcess, timedDownload } from './gateway-process.ts';

const SIZES_MIB = [1, 25, 100];
const MIB = 1024 * 1024;
const RATIO_TARGET = 0.95;
const RSS_TARGET_MIB = 32;
/** The attachment downloaded once before the warm idle RSS is read, MiB (one of {@link SIZES_MIB}). */
const WARM_UP_MIB = 25;
const sizeAddress = (mib: number) => `size${mib}@bench.test`;
const threadsAddress = (n: number) => `threads${n}@bench.test`;

/** A `${n}`-thread mailbox: each thread a message with an attachment and a SENT reply with one. */
async function fillThreads(fake: FakeGmailProcess, dir: string, n: number): Promise<void> {
  const address = threadsAddress(n);
  for (let t = 0; t < n; t++) {
    const id = `t${t}.${address}`;
    const first = mailWithAttachment({ subject: `Thread ${t}`, messageId: id, filename: `a${t}.csv`, bytes: Buffer.from(`a,b\r\n${t},${t * 2}\r\n`) });
    const reply = mailWithAttachment({ subject: `Re: Thread ${t}`, messageId: `r${t}.${address}`, filename: `b${t}.csv`, bytes: Buffer.from(`c\r\n${t}\r\n`), date: 'Tue, 01 Dec 2026 12:00:00 +0000' })
      .toString('latin1')
      .replace('MIME-Version', `In-Reply-To: <${id}>\r\nMIME-Version`);
    for (const [name, raw, sent] of [[`${n}-${t}-a.eml`, first, false], [`${n}-${t}-b.eml`, Buffer.from(reply, 'latin1'), true]] as const) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, raw);
      await fake.add({ path: file, address, sent });
    }
  }
}

/** A GraphQL call over HTTP to the gateway process. @throws Error on GraphQL errors */
async function graphql<T>(baseUrl: string, apiKey: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(`${baseUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` }, body: JSON.stringify({ query, variables }) });
  const body = (await response.json()) as { data?: T; errors?: unknown[] };
  if (body.errors?.length || !body.data) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

const URL_QUERY = `query Url($id: ID!) { node(id: $id) { ... on Mailbox { conversations(first: 5) { edges { node { attachments { filename downloadUrl { url } } } } } } } }`;

/** The signed URL of `blob.bin` in the mailbox with global id `mailboxId`, from a fresh query. */
async function signedUrl(baseUrl: string, apiKey: string, mailboxId: string): Promise<string> {
  const data = await graphql<{ node: { conversations: { edges: { node: { attachments: { filename: string; downloadUrl: { url: string } | null }[] } }[] } } }>(baseUrl, apiKey, URL_QUERY, { id: mailboxId });
  const url = data.node.conversations.edges.flatMap((e) => e.node.attachments).find((a) => a.filename === 'blob.bin')?.downloadUrl?.url;
  if (!url) throw new Error(`the gateway did not list blob.bin in ${mailboxId}`);
  return url;
}

/**
 * attachments.get + Buffer.from(data, 'base64url'): `seconds` from attachments.get to the decoded
 * Buffer, `withLookup` also counting the messages.get that read a current attachmentId first.
 */
async function directDownload(gmail: gmail_v1.Gmail, messageId: string): Promise<{ bytes: number; seconds: number; withLookup: number }> {
  const lookup = process.hrtime.bigint();
  const message = await gmail.users.messages.get({ userId: 'me', id: messageId, fields: 'payload/parts(partId,filename,body/attachmentId)' });
  const attachmentId = message.data.payload?.parts?.find((p) => p.filename === 'blob.bin')?.body?.attachmentId;
  if (!attachmentId) throw new Error(`messages.get gave no attachmentId for blob.bin of ${messageId}`);
  const started = process.hrtime.bigint();
  const answer = await gmail.users.messages.attachments.get({ userId: 'me', messageId, id: attachmentId });
  const bytes = Buffer.from(answer.data.data ?? '', 'base64url');
  const ended = process.hrtime.bigint();
  return { bytes: bytes.length, seconds: Number(ended - started) / 1e9, withLookup: Number(ended - lookup) / 1e9 };
}

const WIDE_QUERY = `query Wide($id: ID!, $first: Int!) { node(id: $id) { ... on Mailbox { conversations(first: $first) { edges { node {
  subject participants { address } attachments { index filename size downloadUrl { url } }
  messages(first: 10) { edges { node { subject direction from { address } attachments { filename size contentType } } } }
} } } } } }`;

/**
 * Runs the Gmail rows and prints them; `rounds` alternating direct and gateway downloads per size
 * after one warm-up each. Returns true when a target was missed.
 * @throws Error when a download's byte count is wrong or a process does not start
 */
export async function gmailBench(rounds: number): Promise<boolean> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-bench-gmail-'));
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir);
  let fake: FakeGmailProcess | null = null;
  let child: ChildProcess | null = null;
  let store: ReturnType<typeof createStore> | null = null;
  let failed = false;
  try {
    const addresses = [...SIZES_MIB.map(sizeAddress), threadsAddress(10), threadsAddress(50)];
    fake = await spawnFakeGmail({ gzip: false, addresses });
    console.log(`\nGmail: writing test mail (${SIZES_MIB.join(', ')} MiB attachments; 10 and 50 two-message threads) into the fake Gmail (pid ${fake.pid})...`);
    const messageIds = new Map<number, string>();
    for (const mib of SIZES_MIB) {
      const file = path.join(dir, `blob-${mib}.eml`);
      await writeEmlWithAttachment(file, { size: mib * MIB, filename: 'blob.bin', subject: `bench ${mib} MiB`, seed: randomBytes(8).toString('hex') });
      messageIds.set(mib, (await fake.add({ path: file, address: sizeAddress(mib) })).id);
      fs.rmSync(file);
    }
    await fillThreads(fake, dir, 10);
    await fillThreads(fake, dir, 50);

    const port = await freePort();
    const secret = randomBytes(32).toString('base64url');
    const env = {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: String(port),
      SIGNING_SECRET: secret,
      LOG_LEVEL: 'warn',
      GOOGLE_API_ROOT: fake.origin,
      GOOGLE_TOKEN_URL: fake.tokenUrl,
      GOOGLE_CLIENT_ID: fake.clientId,
      GOOGLE_CLIENT_SECRET: fake.clientSecret,
    };
    store = createStore(loadConfig(env), secret);
    await store.migrate();
    const workspace = await store.createWorkspace('bench-gmail');
    const { key } = await store.createApiKey(workspace.id);
    for (const address of addresses) {
      await store.addMailbox({ workspaceId: workspace.id, provider: 'GMAIL', address, displayName: address, settings: {}, credentials: { refreshToken: await fake.refreshToken(address) } });
    }

    const started = await startGatewayProcess(env);
    child = started.child;
    const baseUrl = started.baseUrl;
    const listed = await graphql<{ mailboxes: { id: string; address: string }[] }>(baseUrl, key, '{ mailboxes { id address } }');
    const mailboxIdOf = new Map(listed.mailboxes.map((m) => [m.address, m.id]));
    const idOf = (address: string) => {
      const id = mailboxIdOf.get(address);
      if (!id) throw new Error(`the gateway does not list ${address}`);
      return id;
    };

    // The direct client: googleapis as users run it, one retry policy off as in the provider.
    const auth = new google.auth.OAuth2({ clientId: fake.clientId, clientSecret: fake.clientSecret, endpoints: { oauth2TokenUrl: fake.tokenUrl } });
    const gmail = google.gmail({ version: 'v1', auth, rootUrl: fake.rootUrl, retry: false });

    // Cold idle: started, schema and database warm, one listing done; no download yet.
    await signedUrl(baseUrl, key, idOf(sizeAddress(SIZES_MIB[0]!)));
    await new Promise((r) => setTimeout(r, 500));
    const coldRss = rssOf(child.pid!);
    // Warm idle: after one download of a mid-sized attachment (see the module docs).
    await timedDownload(await signedUrl(baseUrl, key, idOf(sizeAddress(WARM_UP_MIB))), child.pid!, coldRss);
    await new Promise((r) => setTimeout(r, 500));
    const idleRss = rssOf(child.pid!);
    console.log(
      `\nGmail downloads (median of ${rounds}; MB = 10^6 bytes; peak RSS of the gateway process above its warm idle RSS of ${(idleRss / MIB).toFixed(0)} MiB, after one ${WARM_UP_MIB} MiB download; cold idle ${(coldRss / MIB).toFixed(0)} MiB)`,
    );
    console.log('size     | direct googleapis | (+ messages.get) | gateway URL | ratio | gateway RSS growth | (above cold idle)');
    for (const mib of SIZES_MIB) {
      const messageId = messageIds.get(mib)!;
      const mailboxId = idOf(sizeAddress(mib));
      // A refresh token per mailbox: the direct client reads with that mailbox's grant.
      auth.setCredentials({ refresh_token: await fake.refreshToken(sizeAddress(mib)) });
      const direct: number[] = [];
      const directWithLookup: number[] = [];
      const viaGateway: number[] = [];
      const rss: number[] = [];
      const cold: number[] = [];
      await directDownload(gmail, messageId);
      await timedDownload(await signedUrl(baseUrl, key, mailboxId), child.pid!, idleRss);
      for (let round = 0; round < rounds; round++) {
        const d = await directDownload(gmail, messageId);
        const g = await timedDownload(await signedUrl(baseUrl, key, mailboxId), child.pid!, idleRss);
        if (d.bytes !== mib * MIB || g.bytes !== mib * MIB) throw new Error(`byte counts differ: direct ${d.bytes}, gateway ${g.bytes}, expected ${mib * MIB}`);
        direct.push(d.bytes / d.seconds / 1e6);
        directWithLookup.push(d.bytes / d.withLookup / 1e6);
        viaGateway.push(g.bytes / g.seconds / 1e6);
        rss.push(g.rssGrowth / MIB);
        cold.push((g.rssGrowth + idleRss - coldRss) / MIB);
      }
      const ratio = median(viaGateway) / median(direct);
      const rssMax = Math.max(...rss);
      const ok = ratio >= RATIO_TARGET && (mib < 100 || rssMax < RSS_TARGET_MIB);
      failed ||= !ok;
      console.log(
        `${String(mib).padStart(3)} MiB  | ${median(direct).toFixed(0).padStart(11)} MB/s  | ${median(directWithLookup).toFixed(0).padStart(9)} MB/s   | ${median(viaGateway).toFixed(0).padStart(6)} MB/s | ${ratio.toFixed(2).padStart(5)} | ${rssMax.toFixed(1).padStart(12)} MiB | ${Math.max(...cold).toFixed(1).padStart(12)} MiB ${ok ? '' : ' <-- target missed'}`,
      );
    }

    // What one signed-URL download costs upstream (the 1 MiB row is bound by these round trips).
    const url = await signedUrl(baseUrl, key, idOf(sizeAddress(SIZES_MIB[0]!)));
    const beforeDownload = (await fake.requests()).length;
    await timedDownload(url, child.pid!, idleRss);
    const downloadRequests = (await fake.requests()).slice(beforeDownload);
    console.log(`\nGmail upstream requests of one gateway download: ${downloadRequests.length} (${downloadRequests.map((r) => `${r.method} ${r.path.replace(/\/[\w-]{20,}/g, '/…')}`).join(', ')})`);

    console.log('\nGmail upstream requests for one query of N threads with messages and attachments (first query of its mailbox, so with its token request)');
    const counts: Record<number, number> = {};
    for (const n of [10, 50]) {
      const before = (await fake.requests()).length;
      const data = await graphql<{ node: { conversations: { edges: unknown[] } } }>(baseUrl, key, WIDE_QUERY, { id: idOf(threadsAddress(n)), first: n });
      const requests = (await fake.requests()).slice(before);
      counts[n] = requests.length;
      console.log(`first: ${n} → ${data.node.conversations.edges.length} threads, ${requests.length} upstream requests (${requests.map((r) => `${r.method} ${r.path}`).join(', ')})`);
      if (data.node.conversations.edges.length !== n) {
        console.log(`  expected ${n} threads  <-- target missed`);
        failed = true;
      }
    }
    const sameCost = counts[10] === counts[50];
    failed ||= !sameCost;
    console.log(sameCost ? 'upstream request count independent of N: yes' : 'upstream request count grows with N  <-- target missed');
  } finally {
    child?.kill('SIGTERM');
    await store?.close();
    await fake?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return failed;
}
