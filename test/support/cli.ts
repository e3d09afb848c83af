/**
 * Two ways to run the operator CLI in tests. {@link cliProcess} runs the real bin in a child
 * process (exit code, flushing, stdin): use it where the process itself is what is tested, one at
 * a time. {@link cliInProcess} runs the same commander program (`run` of src/cli/program.ts) in
 * this process with a private environment and captured stdout/stderr: the same code paths and
 * exit codes for a fraction of a second each, so a suite of refusals does not start a process per
 * case (on a 2-core machine shared by other test files, 22 processes at once once took over 30 s).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/cli/program.ts';
import { testCaEnv } from './fake-graph/tls.ts';

/** Root of the repository. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(repoRoot, 'bin/attachment-gateway.js');

/** What one CLI run gave. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `attachment-gateway ...args` as a child process with only `env` (plus PATH, HOME and the
 * test CA's NODE_EXTRA_CA_CERTS).
 * @param input written to its standard input (else stdin is closed at once)
 */
export function cliProcess(args: string[], env: Record<string, string>, input?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      // testCaEnv: the child trusts the fake Microsoft Graph's test CA, as the test process does.
      { cwd: repoRoot, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...testCaEnv(), ...env }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
    child.stdin?.end(input);
  });
}

type Write = typeof process.stdout.write;

/**
 * Runs the CLI program in this process with `env` as the whole environment (plus PATH and HOME)
 * and captures what it writes on stdout and stderr; `onOutput` sees both after every write (for
 * commands that wait for the test to act on what they printed). Calls must not overlap (they swap globals);
 * tests of one file run one after the other, so awaiting each call is enough.
 */
export async function cliInProcess(args: string[], env: Record<string, string>, onOutput?: (output: { stdout: string; stderr: string }) => void): Promise<CliResult> {
  const savedEnv = process.env;
  const savedOut = process.stdout.write;
  const savedErr = process.stderr.write;
  let stdout = '';
  let stderr = '';
  const capture = (append: (text: string) => void): Write =>
    ((chunk: unknown, ...rest: unknown[]) => {
      append(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    }) as Write;
  process.env = { PATH: savedEnv.PATH ?? '', HOME: savedEnv.HOME ?? '', ...env };
  process.stdout.write = capture((t) => ((stdout += t), onOutput?.({ stdout, stderr })));
  process.stderr.write = capture((t) => ((stderr += t), onOutput?.({ stdout, stderr })));
  try {
    const code = await run(['node', 'attachment-gateway', ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = savedOut;
    process.stderr.write = savedErr;
    process.env = savedEnv;
  }
}

/** A CLI child process that a test talks to while it runs. */
export interface RunningCli {
  child: ChildProcess;
  /** Resolves with the first match of `pattern` in the output of `stream` so far or to come; rejects when the process ends first. */
  waitFor(stream: 'stdout' | 'stderr', pattern: RegExp): Promise<RegExpMatchArray>;
  /** The whole run, once the process has ended. */
  done: Promise<CliResult>;
}

/**
 * Starts `attachment-gateway ...args` as a child process with only `env` (plus PATH and HOME), for
 * commands that wait (e.g. `mailbox connect`): the test reads what it printed so far and may
 * signal it. Killed after 60 s as a hang guard.
 */
export function cliSpawn(args: string[], env: Record<string, string>): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: repoRoot, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  const waiters: { stream: 'stdout' | 'stderr'; pattern: RegExp; resolve: (m: RegExpMatchArray) => void; reject: (e: Error) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const match = output[w.stream].match(w.pattern);
      if (match) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(match);
      }
    }
  };
  child.stdout!.setEncoding('utf8').on('data', (text: string) => ((output.stdout += text), check()));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => ((output.stderr += text), check()));
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  let closed = false;
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => {
      closed = true;
      clearTimeout(guard);
      for (const w of waiters.splice(0)) w.reject(new Error(`the CLI ended (code ${code}, signal ${signal}) before printing ${w.pattern}; stderr: ${output.stderr}`));
      resolve({ code: code ?? -1, stdout: output.stdout, stderr: output.stderr });
    });
  });
  return {
    child,
    done,
    waitFor: (stream, pattern) =>
      new Promise((resolve, reject) => {
        waiters.push({ stream, pattern, resolve, reject });
        check();
        if (closed) for (const w of waiters.splice(0)) w.reject(new Error(`the CLI has ended before printing ${w.pattern}`));
      }),
  };
}
