/**
 * `npm run bench:probes`: the attacks and faults of issue 14, each against a real gateway process
 * (real HTTP on loopback, a private Dovecot, local mail stores), with its answer, its time and the
 * gateway's RSS before and after. The security suite under `test/security/` asserts the same
 * behaviour with generous time bounds; this script reports the figures of this machine.
 *
 * Every probe ends by asking `/health` (the process must still answer) and prints one row:
 * probe | answer | seconds | RSS before → peak → after (MiB). Exits 1 when a probe's answer is not the
 * expected one or the gateway stops answering.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.ts';
import { createStore } from '../src/db/store.ts';
import { dovecotAvailable, dovecotMailbox, DOVECOT_MISSING, startDovecot, type DovecotInstance } from '../test/support/dovecot.ts';
import { mailWithAttachment, manyPartsMessage, mboxOf } from '../test/support/mail.ts';
import { freePort } from '../test/support/net.ts';
import { rssOf, startGatewayProcess } from './gateway-process.ts';

const MIB = 1024 * 1024;

/** CPU seconds (user + system) the process has used so far, from /proc/PID/stat. */
function cpuSecondsOf(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}


/** A port on loopback where nothing listens (a dead mailbox). */
const closedPort = freePort;

// ---------------------------------------------------------------------------------------------
// Hostile mail
// ---------------------------------------------------------------------------------------------

/** `From: a:` followed by `spaces` spaces: the address parser's worst case in the issue. */
function hostileFromMail(spaces: number): Buffer {
  const lines = [`From: a:${' '.repeat(spaces)}`, 'To: Owner <owner@probe.test>', 'Subject: hostile from', '<hostile-from@probe.test>'.replace(/^/, 'Message-ID: '), 'Date: Tue, 01 Dec 2026 11:00:00 +0000', 'MIME-Version: 1.0'];
  lines.push('Content-Type: multipart/mixed; boundary="h"', '', '--h', 'Content-Type: text/plain', '', 'body', '--h', 'Content-Type: text/csv; name="h.csv"', '', 'a,b', '--h--', '');
  return Buffer.from(lines.join('\r\n'));
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------------------------

interface Answer {
  status: number;
  body: string;
  headers: Headers;
}

async function post(baseUrl: string, body: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Answer> {
  const response = await fetch(`${baseUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, ...(signal ? { signal } : {}) });
  return { status: response.status, body: await response.text(), headers: response.headers };
}

function codesOf(answer: Answer): string {
  try {
    const parsed = JSON.parse(answer.body) as { errors?: { extensions?: { code?: string } }[] };
    const codes = [...new Set((parsed.errors ?? []).map((e) => e.extensions?.code ?? '?'))];
    return codes.length ? codes.join(',') : 'no errors';
  } catch {
    return 'not JSON';
  }
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

interface Row {
  probe: string;
  answer: string;
  seconds: number;
  rssBefore: number;
  /** Highest RSS sampled (every 20 ms) while the probe ran. */
  rssPeak: number;
  rssAfter: number;
  ok: boolean;
}

async function main(): Promise<void> {
  if (!dovecotAvailable()) {
    console.error(DOVECOT_MISSING);
    process.exit(2);
  }
  const dovecot: DovecotInstance = await startDovecot();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-probes-'));
  const port = await freePort();
  const secret = randomBytes(32).toString('base64url');
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: String(port), SIGNING_SECRET: secret, LOG_LEVEL: 'fatal', GRAPHIQL: 'true', NODE_ENV: 'production' };
  const store = createStore(loadConfig(env), secret);
  let child: ChildProcess | null = null;
  const rows: Row[] = [];
  try {
    await dovecot.appendMany([
      { folder: 'INBOX', raw: mailWithAttachment({ subject: 'big slow', filename: 'slow.bin', bytes: randomBytes(48 * MIB) }) },
      { folder: 'INBOX', raw: hostileFromMail(131_072) },
      { folder: 'INBOX', raw: Buffer.from(manyPartsMessage(10_000, '10000 parts')) },
    ]);
    const storeDir = path.join(dataDir, 'stores');
    fs.mkdirSync(storeDir, { mode: 0o700 });
    fs.writeFileSync(path.join(storeDir, 'hostile.mbox'), mboxOf([manyPartsMessage(10_000, '10000 parts'), hostileFromMail(131_072).toString('latin1')]), 'latin1');

    await store.migrate();
    const workspace = await store.createWorkspace('probes');
    const { key } = await store.createApiKey(workspace.id);
    const auth = { authorization: `Bearer ${key}` };
    const imap = await store.addMailbox({ workspaceId: workspace.id, ...dovecotMailbox(dovecot, { address: 'owner@probe.test', displayName: 'dovecot' }) });
    const local = await store.addMailbox({ workspaceId: workspace.id, provider: 'LOCAL', address: 'owner@probe.test', displayName: 'hostile mbox', settings: { path: path.join(storeDir, 'hostile.mbox') }, credentials: null });

    const started = await startGatewayProcess(env);
    child = started.child;
    const baseUrl = started.baseUrl;
    const pid = child.pid!;
    const idOf = async (mailboxId: string): Promise<string> => {
      const answer = JSON.parse((await post(baseUrl, JSON.stringify({ query: '{ mailboxes { id displayName } }' }), auth)).body) as { data: { mailboxes: { id: string; displayName: string }[] } };
      const name = mailboxId === imap.id ? 'dovecot' : mailboxId === local.id ? 'hostile mbox' : 'dead';
      return answer.data.mailboxes.find((m) => m.displayName === name)!.id;
    };
    const imapId = await idOf(imap.id);
    const localId = await idOf(local.id);
    // Warm: index the local store, open an IMAP connection.
    await post(baseUrl, JSON.stringify({ query: `{ a: node(id: "${localId}") { id } b: node(id: "${imapId}") { id } }` }), auth);

    const healthy = async (): Promise<boolean> => {
      try {
        const response = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(5_000) });
        return response.ok;
      } catch {
        return false;
      }
    };
    const probe = async (name: string, run: () => Promise<{ answer: string; ok: boolean }>): Promise<void> => {
      await new Promise((r) => setTimeout(r, 300));
      const rssBefore = rssOf(pid);
      let rssPeak = rssBefore;
      const sampler = setInterval(() => {
        try {
          rssPeak = Math.max(rssPeak, rssOf(pid));
        } catch {
          // the process is gone: /health below says so
        }
      }, 20);
      const started = performance.now();
      let result: { answer: string; ok: boolean };
      try {
        result = await run();
      } catch (error) {
        result = { answer: `threw ${(error as Error).message}`, ok: false };
      } finally {
        clearInterval(sampler);
      }
      const seconds = (performance.now() - started) / 1000;
      const alive = await healthy();
      await new Promise((r) => setTimeout(r, 300));
      const rssAfter = alive ? rssOf(pid) : 0;
      rows.push({ probe: name, answer: alive ? result.answer : `${result.answer}; /health did not answer`, seconds, rssBefore, rssPeak, rssAfter, ok: result.ok && alive });
      console.log(`${name}: ${rows.at(-1)!.answer} in ${seconds.toFixed(3)} s`);
    };

    const expectCode = (answer: Answer, status: number, code: string) => ({ answer: `${answer.status} ${codesOf(answer)}`, ok: answer.status === status && codesOf(answer).includes(code) });

    // 1. A 25-level query through Message.conversation <-> Conversation.messages.
    let deep = 'id';
    for (let level = 0; level < 12; level++) deep = `messages(first: 100) { edges { node { conversation { ${deep} } } } }`;
    const deepQuery = `{ mailboxes { conversations(first: 100) { edges { node { ${deep} } } } } }`;
    await probe('25-level query (key)', async () => {
      const answer = await post(baseUrl, JSON.stringify({ query: deepQuery }), auth);
      return { answer: `${answer.status} ${codesOf(answer)}`, ok: answer.status === 400 };
    });

    // 2. 1,000 aliases of a list field.
    const aliases = Array.from({ length: 1000 }, (_, i) => `a${i}: mailboxes { id }`).join(' ');
    await probe('1,000 aliases (key)', async () => {
      const answer = await post(baseUrl, JSON.stringify({ query: `{ ${aliases} }` }), auth);
      return { answer: `${answer.status} ${codesOf(answer)}`, ok: answer.status === 400 };
    });

    // 3. { __typename x50000 } without a key.
    const wide = `{ ${'__typename '.repeat(50_000)}}`;
    await probe(`${(wide.length / 1000).toFixed(0)} KB document, no key`, async () => expectCode(await post(baseUrl, JSON.stringify({ query: wide })), 401, 'UNAUTHENTICATED'));

    // 4. The README's first query over a mailbox holding a 10,000-part mail (local store and IMAP).
    const readme = (id: string) =>
      `{ node(id: "${id}") { ... on Mailbox { conversations(first: 10, filter: { hasAttachments: true }) { edges { node { subject attachmentsTruncated attachments(includeInline: false) { index filename contentType size downloadUrl(expiresIn: 300) { url expiresAt } } } } } } } }`;
    for (const [name, id] of [
      ['local', localId],
      ['IMAP', imapId],
    ] as const) {
      await probe(`README query, 10,000-part mail (${name})`, async () => {
        const answer = await post(baseUrl, JSON.stringify({ query: readme(id) }), auth);
        const parsed = JSON.parse(answer.body) as { data?: { node: { conversations: { edges: { node: { attachmentsTruncated: boolean; attachments: unknown[] } }[] } } } };
        const biggest = (parsed.data?.node?.conversations.edges ?? []).map((e) => e.node).sort((a, b) => b.attachments.length - a.attachments.length)[0];
        const listed = biggest?.attachments.length ?? 0;
        // Dovecot describes at most 10,000 parts of a message (the text part and the multipart
        // count too); the gateway then lists what it was given and says the list is cut.
        const complete = listed >= 10_000 || (listed >= 9_990 && biggest?.attachmentsTruncated === true);
        return { answer: `${answer.status}, ${listed} attachments${biggest?.attachmentsTruncated ? ' (reported truncated)' : ''}, ${codesOf(answer)}`, ok: answer.status === 200 && complete };
      });
    }

    // 5. 200 such queries at once (the crash): each is answered, served or refused with a code.
    await probe('200 × README query at once (local)', async () => {
      const answers = await Promise.all(Array.from({ length: 200 }, () => post(baseUrl, JSON.stringify({ query: readme(localId) }), auth)));
      const tally = new Map<string, number>();
      for (const a of answers) tally.set(`${a.status} ${codesOf(a)}`, (tally.get(`${a.status} ${codesOf(a)}`) ?? 0) + 1);
      const expected = answers.every((a) => (a.status === 200 && codesOf(a) === 'no errors') || (a.status === 503 && codesOf(a) === 'SERVER_BUSY') || (a.status === 504 && codesOf(a) === 'DEADLINE_EXCEEDED'));
      return { answer: [...tally].map(([k, n]) => `${n} × ${k}`).join(', '), ok: expected };
    });

    // 6. The hostile From header (131,072 spaces), listed with its sender.
    await probe('From: a: + 131,072 spaces (local, IMAP)', async () => {
      const query = (id: string) => `{ node(id: "${id}") { ... on Mailbox { conversations(first: 10) { edges { node { messages(first: 5) { edges { node { from { name address } } } } } } } } } }`;
      const answers = await Promise.all([post(baseUrl, JSON.stringify({ query: query(localId) }), auth), post(baseUrl, JSON.stringify({ query: query(imapId) }), auth)]);
      return { answer: answers.map((a) => `${a.status} ${codesOf(a)}`).join(' / '), ok: answers.every((a) => a.status === 200 && codesOf(a) === 'no errors') };
    });

    // 7. Slow download clients: they read nothing; a listing of the same mailbox must not wait.
    const slowUrl = await (async () => {
      const answer = JSON.parse((await post(baseUrl, JSON.stringify({ query: `{ node(id: "${imapId}") { ... on Mailbox { conversations(first: 10, filter: { search: "big slow" }) { edges { node { attachments { filename downloadUrl { url } } } } } } } }` }), auth)).body) as {
        data: { node: { conversations: { edges: { node: { attachments: { filename: string; downloadUrl: { url: string } }[] } }[] } } };
      };
      return answer.data.node.conversations.edges.flatMap((e) => e.node.attachments).find((a) => a.filename === 'slow.bin')!.downloadUrl.url;
    })();
    const stalled: http.ClientRequest[] = [];
    await probe('listing behind 4 downloads that read nothing (IMAP)', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        await new Promise<void>((resolve) => {
          const request = http.get(slowUrl, (response) => {
            statuses.push(response.statusCode ?? 0);
            response.pause();
            resolve();
          });
          request.on('error', () => resolve());
          stalled.push(request);
        });
      }
      const listed = performance.now();
      const answer = await post(baseUrl, JSON.stringify({ query: `{ node(id: "${imapId}") { ... on Mailbox { conversations(first: 5) { edges { node { subject } } } } } }` }), auth);
      const listingSeconds = (performance.now() - listed) / 1000;
      return { answer: `downloads ${statuses.join(',')}; listing ${answer.status} ${codesOf(answer)} after ${listingSeconds.toFixed(2)} s`, ok: answer.status === 200 && codesOf(answer) === 'no errors' && listingSeconds < 5 };
    });
    for (const request of stalled) request.destroy();

    // 8. A frozen server (SIGSTOP on every Dovecot process): a typed error within the deadline.
    await probe('frozen Dovecot (SIGSTOP)', async () => {
      dovecot.freeze();
      try {
        const answer = await post(baseUrl, JSON.stringify({ query: `{ node(id: "${imapId}") { ... on Mailbox { conversations(first: 5, filter: { search: "frozen" }) { edges { node { subject } } } } } }` }), auth);
        return { answer: `${answer.status} ${codesOf(answer)}`, ok: /PROVIDER_UNAVAILABLE|DEADLINE_EXCEEDED/.test(codesOf(answer)) };
      } finally {
        dovecot.thaw();
      }
    });

    // 9. A dead mailbox (closed port) beside the good ones.
    await store.addMailbox({
      workspaceId: workspace.id,
      provider: 'IMAP',
      address: 'dead@probe.test',
      displayName: 'dead',
      settings: { host: '127.0.0.1', port: await closedPort(), user: 'nobody', tls: false },
      credentials: { password: 'x' },
    });
    await probe('dead mailbox beside good ones', async () => {
      const answer = await post(baseUrl, JSON.stringify({ query: '{ mailboxes { displayName conversations(first: 3) { edges { node { subject } } } } }' }), auth);
      const parsed = JSON.parse(answer.body) as { data?: { mailboxes: { displayName: string; conversations: unknown }[] | null }; errors?: { extensions?: Record<string, unknown> }[] };
      const answered = (parsed.data?.mailboxes ?? []).filter((m) => m.conversations !== null).map((m) => m.displayName);
      const named = parsed.errors?.some((e) => typeof e.extensions?.mailboxId === 'string') ?? false;
      return { answer: `${answer.status}; answered: ${answered.join(', ') || 'none'}; error names the mailbox: ${named}`, ok: answered.length === 2 && named };
    });

    // 10. An aborted heavy request: the client leaves after 1 s; the gateway must stop working.
    await probe('client leaves after 1 s: CPU s used in the next 3 s', async () => {
      const controller = new AbortController();
      const query = `{ mailboxes { conversations(first: 50) { edges { node { attachments { index filename downloadUrl { url } } messages(first: 50) { edges { node { from { address } attachments { filename } } } } } } } } }`;
      const pending = post(baseUrl, JSON.stringify({ query }), auth, controller.signal).catch(() => null);
      await new Promise((r) => setTimeout(r, 1000));
      controller.abort();
      await pending;
      const cpu = cpuSecondsOf(pid);
      await new Promise((r) => setTimeout(r, 3000));
      const used = cpuSecondsOf(pid) - cpu;
      return { answer: `${used.toFixed(2)} CPU s after the abort`, ok: used < 1 };
    });

    // 11. CORS from a foreign origin.
    await probe('CORS from a foreign origin', async () => {
      const preflight = await fetch(`${baseUrl}/graphql`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
      const get = await fetch(`${baseUrl}/graphql`, { headers: { origin: 'https://evil.example', accept: 'text/html' } });
      const allowed = [preflight.headers.get('access-control-allow-origin'), get.headers.get('access-control-allow-origin')].filter(Boolean);
      return { answer: `preflight ${preflight.status}, allow-origin: ${allowed.join(' ') || 'none'}`, ok: allowed.length === 0 };
    });

    // 12. 150 concurrent GraphiQL loads, compressed.
    await probe('150 GraphiQL loads at once', async () => {
      const sizes = await Promise.all(
        Array.from({ length: 150 }, async () => {
          const response = await fetch(`${baseUrl}/graphql`, { headers: { accept: 'text/html', 'accept-encoding': 'gzip, br' } });
          const bytes = (await response.arrayBuffer()).byteLength;
          return { status: response.status, encoding: response.headers.get('content-encoding'), bytes };
        }),
      );
      const first = sizes[0]!;
      return { answer: `${first.status}, ${first.encoding ?? 'identity'}, ${(first.bytes / 1024).toFixed(0)} KiB decoded each`, ok: sizes.every((s) => s.status === 200) };
    });
  } finally {
    child?.kill('SIGTERM');
    await store.close();
    await dovecot.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }

  console.log('\n| probe | answer | time (s) | RSS before → peak → after (MiB) |');
  console.log('| --- | --- | --- | --- |');
  for (const row of rows) {
    console.log(`| ${row.probe} | ${row.answer}${row.ok ? '' : ' **unexpected**'} | ${row.seconds.toFixed(3)} | ${(row.rssBefore / MIB).toFixed(0)} → ${(row.rssPeak / MIB).toFixed(0)} → ${(row.rssAfter / MIB).toFixed(0)} |`);
  }
  if (rows.some((r) => !r.ok)) process.exitCode = 1;
}

await main();
