/**
 * Two ways to run the operator CLI in tests. {@link cliProcess} runs the real bin in a child
 * process (exit code, flushing, stdin): use it where the process itself is what is tested, one at
 * a time. {@link cliInProcess} runs the same commander program (`run` of src/cli/program.ts) in
 * this process with a private environment and captured stdout/stderr: the same code paths and
 * exit codes for a fraction of a second each, so a suite of refusals does not start a process per
 * case (on a 2-core machine shared by other test files, 22 processes at once once took over 30 s).
 */
import { execFile } from 'node:child_process';
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
 * and captures what it writes on stdout and stderr. Calls must not overlap (they swap globals);
 * tests of one file run one after the other, so awaiting each call is enough.
 */
export async function cliInProcess(args: string[], env: Record<string, string>): Promise<CliResult> {
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
  process.stdout.write = capture((t) => (stdout += t));
  process.stderr.write = capture((t) => (stderr += t));
  try {
    const code = await run(['node', 'attachment-gateway', ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = savedOut;
    process.stderr.write = savedErr;
    process.env = savedEnv;
  }
}
