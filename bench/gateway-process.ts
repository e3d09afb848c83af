/**
 * The gateway under test as its own process, as users run it (`attachment-gateway serve`), so the
 * RSS a benchmark reads is the gateway's alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** Resident set size of process `pid`, bytes (VmRSS of /proc/PID/status). */
export function rssOf(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return kb ? Number(kb[1]) * 1024 : 0;
}

/** CPU time (user + system) process `pid` has used, seconds (/proc/PID/stat, in clock ticks of 10 ms). */
export function cpuOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) close with ')'; utime and stime are the 12th and 13th after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Starts `serve` with `env` (its PORT must be set) and waits until `/health` answers.
 * @throws Error when the gateway does not answer within 15 s
 */
export async function startGatewayProcess(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; baseUrl: string }> {
  // BENCH_GATEWAY_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) reaches the gateway process only.
  const nodeArgs = (env.BENCH_GATEWAY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, path.join(repoRoot, 'bin/attachment-gateway.js'), 'serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const baseUrl = `http://127.0.0.1:${env.PORT}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${baseUrl}/health`)).ok) return { child, baseUrl };
    } catch {
      if (i > 150) {
        child.kill();
        throw new Error('the gateway did not start');
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The middle value of `values` (the upper one of an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * Follows a signed download URL over real HTTP and counts its bytes, sampling the RSS of the
 * gateway process `pid` every 10 ms. `rssGrowth` is the peak RSS during the download minus
 * `idleRss` (bytes), so memory kept from earlier downloads counts against the later ones;
 * `ownGrowth` the same peak minus the RSS when this download began (what this download added).
 * @throws Error when the URL does not answer 200 with a body
 */
export async function timedDownload(url: string, pid: number, idleRss: number): Promise<{ bytes: number; seconds: number; rssGrowth: number; ownGrowth: number }> {
  const startRss = rssOf(pid);
  let peak = startRss;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 10);
  try {
    const started = process.hrtime.bigint();
    const response = await fetch(url);
    if (response.status !== 200 || !response.body) throw new Error(`download answered ${response.status}`);
    let bytes = 0;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.byteLength;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    peak = Math.max(peak, rssOf(pid));
    return { bytes, seconds, rssGrowth: peak - idleRss, ownGrowth: peak - startRss };
  } finally {
    clearInterval(sampler);
  }
}
