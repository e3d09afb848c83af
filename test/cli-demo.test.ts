/**
 * `serve --demo`: the demo workspace, key and local mailbox made on first start and reused later,
 * and the real server answering GraphQL with the demo key until SIGTERM.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createStore } from '../src/db/store.ts';
import { bootstrapDemo, DEMO_KEY_FILE } from '../src/demo/bootstrap.ts';
import { DEMO_ADDRESS } from '../src/demo/mailbox.ts';
import { silentLogger } from './support/logger.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(repoRoot, 'bin/attachment-gateway.js');

const SECRET = 'demo-test-secret-0123456789-0123456789';
const tmpDirs: string[] = [];
afterAll(() => tmpDirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const quiet = silentLogger();

describe('bootstrapDemo', () => {
  it('creates the demo workspace, a 0600 key file and one local mailbox, then reuses them', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-demo-'));
    tmpDirs.push(dataDir);
    const store = createStore({ database: { dialect: 'sqlite', file: path.join(dataDir, 'gateway.sqlite') } }, SECRET);
    await store.migrate();
    try {
      const first = await bootstrapDemo(store, dataDir, quiet);
      expect(first.apiKey).toMatch(/^agw_/);
      const keyFile = path.join(dataDir, DEMO_KEY_FILE);
      expect(fs.readFileSync(keyFile, 'utf8').trim()).toBe(first.apiKey);
      expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
      const ws = (await store.authenticate(first.apiKey))?.workspace;
      expect(ws?.name).toBe('demo');
      const mailboxes = await store.listMailboxes(ws?.id);
      expect(mailboxes).toEqual([expect.objectContaining({ provider: 'LOCAL', address: DEMO_ADDRESS })]);
      const config = await store.getMailbox(ws?.id ?? '', mailboxes[0]?.id ?? '');
      const mboxPath = String(config?.settings.path);
      expect(path.isAbsolute(mboxPath)).toBe(true);
      expect(fs.statSync(mboxPath).size).toBeGreaterThan(0);

      // Later start: same key, no second mailbox.
      expect(await bootstrapDemo(store, dataDir, quiet)).toEqual(first);
      expect(await store.listMailboxes(ws?.id)).toHaveLength(1);

      // Key file lost: a new key for the same workspace, written again.
      fs.rmSync(keyFile);
      const again = await bootstrapDemo(store, dataDir, quiet);
      expect(again.apiKey).not.toBe(first.apiKey);
      expect((await store.authenticate(again.apiKey))?.workspace.id).toBe(ws?.id);
      expect(fs.readFileSync(keyFile, 'utf8').trim()).toBe(again.apiKey);
    } finally {
      await store.close();
    }
  });
});

describe('serve --demo', () => {
  it('serves GraphQL with the demo key, keeps the key across restarts, and exits 0 on SIGTERM', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-serve-'));
    tmpDirs.push(dataDir);

    const start = () =>
      new Promise<{ url: string; stop: () => Promise<number | null>; stderr: () => string }>((resolve, reject) => {
        const child = spawn(process.execPath, [BIN, 'serve', '--demo', '--port', '0'], {
          cwd: repoRoot,
          env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, LOG_LEVEL: 'info' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let err = '';
        let out = '';
        const timer = setTimeout(() => reject(new Error(`server did not start:\n${err}`)), 30_000);
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => {
          err += d.toString();
          const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
          if (match?.[1]) {
            clearTimeout(timer);
            resolve({
              url: match[1],
              stderr: () => err,
              stop: () =>
                new Promise((done) => {
                  child.once('exit', (code) => {
                    expect(out).toBe(''); // logs go to stderr only
                    done(code);
                  });
                  child.kill('SIGTERM');
                }),
            });
          }
        });
        child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${err}`)));
      });

    const first = await start();
    const apiKey = fs.readFileSync(path.join(dataDir, 'demo-api-key'), 'utf8').trim();
    expect(first.stderr()).toContain(apiKey);
    const query = (key: string) =>
      fetch(`${first.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
    const ok = await query(apiKey);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ data: { __typename: 'Query' } });
    expect(await first.stop()).toBe(0);

    const second = await start();
    expect(fs.readFileSync(path.join(dataDir, 'demo-api-key'), 'utf8').trim()).toBe(apiKey);
    expect(second.stderr()).toContain(apiKey);
    expect(await second.stop()).toBe(0);
  });
});
