/**
 * `mailbox add --provider local` over the shared corpus mbox: stored with an absolute path,
 * indexed through the provider's prepare() with progress on stderr.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createStore } from '../src/db/store.ts';
import { corpusDir, hasCorpus } from './support/corpus.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(repoRoot, 'bin/attachment-gateway.js');
const mbox = path.join(corpusDir, 'mbox/sample.mbox');

function cli(args: string[], env: Record<string, string>, cwd = repoRoot): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-cli-local-'));
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

// The corpus lives beside the checkout (CI has it); without it this test skips, and corpus.ts says so loudly.
describe.skipIf(!hasCorpus)('mailbox add --provider local', () => {
  it('indexes the corpus mbox, stores its absolute path and lists it', async () => {
    const env = { DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
    expect((await cli(['workspace', 'create', 'local'], env)).code).toBe(0);
    // A relative --path, from another working directory, must be stored resolved.
    const cwd = path.dirname(mbox);
    const add = await cli(['mailbox', 'add', '--workspace', 'local', '--provider', 'local', '--path', 'sample.mbox', '--address', 'me@example.org'], env, cwd);
    expect(add.stderr).not.toMatch(/error/i);
    expect(add.code).toBe(0);
    expect(add.stdout).toMatch(/^[0-9a-f-]{36}\n$/);
    // stderr is a pipe here: a line at most every ~2 s, and the final state at 100 %.
    expect(add.stderr).toMatch(/Indexing sample\.mbox: 100%/);

    const list = await cli(['mailbox', 'list', '--workspace', 'local', '--json'], env);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ id: add.stdout.trim(), provider: 'LOCAL', address: 'me@example.org' })]);

    const secret = fs.readFileSync(path.join(dataDir, 'secret'), 'utf8').trim();
    const store = createStore({ database: { dialect: 'sqlite', file: path.join(dataDir, 'gateway.sqlite') } }, secret);
    try {
      const ws = await store.findWorkspaceByName('local');
      const stored = await store.getMailbox(ws?.id ?? '', add.stdout.trim());
      expect(stored?.settings).toEqual({ path: fs.realpathSync(mbox) }); // cwd is the physical folder
      expect(stored?.credentials).toBeNull();
    } finally {
      await store.close();
    }
  });
});
