/**
 * A fake server run in a child process (Node with the tsx loader), steered over IPC: the child
 * sends `{ ready }` once it listens, then answers each `{ id, cmd, args }` with `{ id, result }`
 * or `{ id, error }`. Used by the fake Gmail and fake Graph child processes (benchmarks measure
 * the gateway without the fake's work in the same process).
 */
import { fork, type ChildProcess } from 'node:child_process';

/** A started child: what it reported when ready, a command caller, and a clean stop. */
export interface ChildServer<R> {
  ready: R;
  child: ChildProcess;
  /** Sends one command and waits for its answer; rejects with the child's error text, or when the child exits. */
  call<T>(cmd: string, args?: Record<string, unknown>): Promise<T>;
  /** Ends the child (IPC closed; it closes its server and exits); SIGKILL after 10 s. */
  close(): Promise<void>;
}

/**
 * Forks `script` with `env` and waits for its `ready` message.
 * @param name the server's name in error messages (e.g. `fake Gmail`)
 * @throws when the child exits or does not report ready within 30 s
 */
export async function forkChildServer<R>(name: string, script: string, env: NodeJS.ProcessEnv): Promise<ChildServer<R>> {
  const child: ChildProcess = fork(script, [], { execArgv: ['--import', 'tsx'], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let next = 1;
  const ready = await new Promise<R>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} child did not start within 30 s`)), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} child exited with ${code}`));
    });
    child.on('message', (m: { ready?: R; id?: number; result?: unknown; error?: string }) => {
      if (m.ready) {
        clearTimeout(timer);
        resolve(m.ready);
        return;
      }
      const waiter = pending.get(m.id ?? -1);
      if (!waiter) return;
      pending.delete(m.id!);
      if (m.error) waiter.reject(new Error(m.error));
      else waiter.resolve(m.result);
    });
  });
  child.on('exit', () => {
    for (const w of pending.values()) w.reject(new Error(`${name} child exited`));
    pending.clear();
  });
  return {
    ready,
    child,
    call: <T>(cmd: string, args: Record<string, unknown> = {}) =>
      new Promise<T>((resolve, reject) => {
        const id = next++;
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, cmd, args });
      }),
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.disconnect();
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
