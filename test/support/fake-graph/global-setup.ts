/**
 * vitest global setup: one test CA per run for the fake Microsoft Graph (see `./tls.ts`).
 *
 * It runs in the main vitest process before any fork worker starts, so the variables set here are
 * in the environment the workers are forked with, and Node in each worker reads
 * `NODE_EXTRA_CA_CERTS` at its start (the test `fake-graph-tls.test.ts` checks that it did). An
 * already set `NODE_EXTRA_CA_CERTS` (a user's corporate CA) is kept: both files are joined into one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CA_DIR_ENV, createTestCa } from './tls.ts';

export default async function setup(): Promise<() => void> {
  const ca = await createTestCa();
  const previous = process.env.NODE_EXTRA_CA_CERTS;
  let trusted = path.join(ca.dir, 'ca.pem');
  if (previous && fs.existsSync(previous)) {
    trusted = path.join(ca.dir, 'trusted.pem');
    fs.writeFileSync(trusted, `${fs.readFileSync(previous, 'utf8').trimEnd()}\n${ca.cert}`);
  }
  process.env.NODE_EXTRA_CA_CERTS = trusted;
  process.env[CA_DIR_ENV] = ca.dir;
  return () => {
    fs.rmSync(ca.dir, { recursive: true, force: true });
    if (previous === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
    else process.env.NODE_EXTRA_CA_CERTS = previous;
  };
}
