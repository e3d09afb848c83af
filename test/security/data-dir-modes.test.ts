/**
 * Everything the gateway writes under DATA_DIR is readable by its owner only: files 0600 in
 * folders 0700 (the SQLite database and its -wal/-shm, the generated secret, the demo key and
 * mailbox, local-store indexes). The process umask is 0 during these tests, so each mode must
 * come from the code that creates the file, not from a kind umask.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../../src/db/store.ts';
import { bootstrapDemo } from '../../src/demo/bootstrap.ts';
import { cliInProcess as cli } from '../support/cli.ts';
import { silentLogger } from '../support/logger.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-modes-'));
const dataDir = path.join(tmp, 'nested', 'data');
const env = { DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
let savedUmask = 0;

beforeAll(() => {
  savedUmask = process.umask(0);
});
afterAll(() => {
  process.umask(savedUmask);
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The permission bits of a path, as octal text (`0600`), so a failure shows the mode. */
function mode(file: string): string {
  return `0${(fs.statSync(file).mode & 0o777).toString(8)}`;
}

describe('DATA_DIR modes', () => {
  it('a first command creates DATA_DIR (and the folders above it) 0700, the secret and the database 0600', async () => {
    expect((await cli(['workspace', 'create', 'modes'], env)).code).toBe(0);
    expect(mode(path.join(tmp, 'nested'))).toBe('0700');
    expect(mode(dataDir)).toBe('0700');
    expect(mode(path.join(dataDir, 'secret'))).toBe('0600');
    expect(mode(path.join(dataDir, 'gateway.sqlite'))).toBe('0600');
  });

  it('the -wal and -shm files of an open database are 0600', async () => {
    const secret = fs.readFileSync(path.join(dataDir, 'secret'), 'utf8').trim();
    const store = createStore({ database: { dialect: 'sqlite', file: path.join(dataDir, 'gateway.sqlite') } }, secret);
    try {
      await store.migrate();
      await store.createWorkspace('wal');
      for (const suffix of ['-wal', '-shm']) expect(mode(path.join(dataDir, `gateway.sqlite${suffix}`)), suffix).toBe('0600');
    } finally {
      await store.close();
    }
  });

  it('the demo key, the demo folder and mbox, and the local index (removed with its mailbox) are owner-only', async () => {
    const secret = fs.readFileSync(path.join(dataDir, 'secret'), 'utf8').trim();
    const store = createStore({ database: { dialect: 'sqlite', file: path.join(dataDir, 'gateway.sqlite') } }, secret);
    try {
      await store.migrate();
      await bootstrapDemo(store, dataDir, silentLogger());
    } finally {
      await store.close();
    }
    expect(mode(path.join(dataDir, 'demo-api-key'))).toBe('0600');
    expect(mode(path.join(dataDir, 'demo'))).toBe('0700');
    const [mbox] = fs.readdirSync(path.join(dataDir, 'demo'));
    const mboxPath = path.join(dataDir, 'demo', mbox ?? '');
    expect(mode(mboxPath)).toBe('0600');

    const added = await cli(['mailbox', 'add', '--workspace', 'modes', '--provider', 'local', '--path', mboxPath], env);
    expect(added.code, added.stderr).toBe(0);
    const id = added.stdout.trim();
    const indexDir = path.join(dataDir, 'local-index');
    expect(mode(indexDir)).toBe('0700');
    expect(fs.readdirSync(indexDir)).toEqual([`${id}.json`]);
    expect(mode(path.join(indexDir, `${id}.json`))).toBe('0600');

    const removed = await cli(['mailbox', 'remove', '--workspace', 'modes', id], env);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stderr).toBe(`Removed mailbox ${id} (LOCAL ${mboxPath}) and 1 index file(s)\n`);
    expect(fs.readdirSync(indexDir)).toEqual([]);
    // Everything else is still 0600 / 0700.
    for (const entry of fs.readdirSync(dataDir, { recursive: true }) as string[]) {
      const full = path.join(dataDir, entry);
      expect(mode(full), entry).toBe(fs.statSync(full).isDirectory() ? '0700' : '0600');
    }
  });
});
