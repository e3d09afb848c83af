/**
 * `npm run bench:graphiql [-- LOADS]`: starts `serve --demo` in a child process on a fresh DATA_DIR,
 * loads GraphiQL LOADS times at once (default 150) as a browser would (Accept: text/html,
 * Accept-Encoding: gzip, deflate, br), then once more with the ETag it got, and reports the bytes
 * on the wire per load, the time, and the server's RSS (peak and after) read from /proc.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';

const loads = Number(process.argv[2] ?? 150);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-bench-graphiql-'));

function rssMiB(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rss: Math.round(kib('VmRSS') / 1024), peak: Math.round(kib('VmHWM') / 1024) };
}

/** One GET of the GraphiQL page; resolves with the status, the bytes received on the wire and the ETag. */
function load(url: string, headers: Record<string, string> = {}): Promise<{ status: number; wire: number; etag: string | null; encoding: string | null }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/graphql`, { headers: { accept: 'text/html', 'accept-encoding': 'gzip, deflate, br', ...headers } }, (res) => {
      let wire = 0;
      res.on('data', (chunk: Buffer) => (wire += chunk.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, wire, etag: (res.headers.etag as string | undefined) ?? null, encoding: (res.headers['content-encoding'] as string | undefined) ?? null }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const child = spawn(process.execPath, [path.join(root, 'bin/attachment-gateway.js'), 'serve', '--demo', '--port', '0'], {
  env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'info', PUBLIC_URL: '', PORT: '' },
  stdio: ['ignore', 'ignore', 'pipe'],
});
try {
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    // The gateway logs (pino, JSON lines) on stderr.
    child.stderr.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/[^"\s]+)/.exec(out);
      if (match) {
        resolve(match[1]!);
        child.stderr.resume();
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  const idle = rssMiB(child.pid!);
  const started = Date.now();
  const results = await Promise.all(Array.from({ length: loads }, () => load(url)));
  const ms = Date.now() - started;
  const after = rssMiB(child.pid!);
  const first = results[0]!;
  const again = first.etag ? await load(url, { 'if-none-match': first.etag }) : null;
  console.log(
    JSON.stringify(
      {
        loads,
        statuses: [...new Set(results.map((r) => r.status))],
        encoding: first.encoding,
        wireBytesPerLoad: first.wire,
        ms,
        idleRssMiB: idle.rss,
        peakRssMiB: after.peak,
        rssAfterMiB: after.rss,
        revalidation: again ? { status: again.status, wireBytes: again.wire } : 'no ETag',
      },
      null,
      2,
    ),
  );
} finally {
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  fs.rmSync(dataDir, { recursive: true, force: true });
}
