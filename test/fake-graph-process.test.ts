/**
 * The fake Graph in a child process (test/support/fake-graph/process.ts): a 4 MiB attachment
 * added from a file comes back byte-exact over HTTPS with its Content-Length, faults and the log
 * are steered over IPC, close ends the child; and a plain script outside vitest gets a trusted
 * test CA through relaunchWithTestCa().
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeEmlWithAttachment } from './support/fake-gmail/process.ts';
import { spawnFakeGraph, type FakeGraphProcess } from './support/fake-graph/process.ts';
import { repoRoot } from './support/corpus.ts';

const SIZE = 4 * 1024 * 1024;
let fake: FakeGraphProcess;
let dir: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fake-graph-'));
  fake = await spawnFakeGraph({ addresses: ['bench@fake-graph.test'] });
});
afterAll(async () => {
  await fake?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('fake Graph in a child process', () => {
  it('serves a big attachment byte-exact; faults and the log work over IPC; close ends the child', async () => {
    const file = path.join(dir, 'big.eml');
    const { sha256 } = await writeEmlWithAttachment(file, { size: SIZE, filename: 'big.bin', seed: 'fake-graph' });
    const { restId } = await fake.add({ path: file });
    const token = await fake.accessToken('delegated');
    const auth = { authorization: `Bearer ${token}` };
    const list = (await (await fetch(`${fake.serviceRoot}/me/messages/${restId}/attachments?$select=id,name,size`, { headers: auth })).json()) as { value: { id: string; name: string; size: number }[] };
    expect(list.value.map((a) => a.name)).toEqual(['big.bin']);
    expect(list.value[0]!.size).toBeGreaterThan(SIZE);
    const url = `${fake.serviceRoot}/me/messages/${restId}/attachments/${list.value[0]!.id}/$value`;
    const res = await fetch(url, { headers: auth });
    expect(res.headers.get('content-length')).toBe(String(SIZE));
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(crypto.createHash('sha256').update(bytes).digest('hex')).toBe(sha256);

    await fake.fault({ path: '/v1.0/me/messages/*/attachments/*/$value' }, { cutAfterBytes: 65_536 }, 1);
    const cut = await fetch(url, { headers: auth });
    await expect(cut.arrayBuffer()).rejects.toThrow();
    const log = await fake.requests();
    expect(log.filter((r) => r.kind === 'value').map((r) => r.status)).toEqual([200, 0]);

    const pid = fake.pid;
    await fake.close();
    expect(() => process.kill(pid, 0)).toThrow();
  });

  it('lets a script outside vitest trust its own test CA through relaunchWithTestCa()', async () => {
    // .mts: an ES module outside the package (top-level await).
    const script = path.join(dir, 'script.mts');
    fs.writeFileSync(
      script,
      [
        `import https from 'node:https';`,
        `import { relaunchWithTestCa } from ${JSON.stringify(path.join(repoRoot, 'test/support/fake-graph/process.ts'))};`,
        `import { loadTestCa, serverCertificate } from ${JSON.stringify(path.join(repoRoot, 'test/support/fake-graph/tls.ts'))};`,
        'await relaunchWithTestCa();',
        // The relaunched script: a server signed by its new CA, reached with Node's default trust.
        'const cert = await serverCertificate(loadTestCa());',
        "const server = https.createServer(cert, (_req, res) => res.end('trusted'));",
        "await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));",
        'const res = await fetch(`https://127.0.0.1:${server.address().port}/`);',
        'console.log(`${res.status} ${await res.text()}`);',
        'server.close();',
      ].join('\n'),
    );
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--import', 'tsx', script], { cwd: repoRoot, env, timeout: 30_000 }, (e, stdout, stderr) => (e ? reject(new Error(`${String(e)}\n${stderr}`)) : resolve(stdout))),
    );
    expect(out.trim()).toBe('200 trusted');
  });
});
