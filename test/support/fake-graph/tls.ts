/**
 * The test certificate authority of the fake Microsoft Graph and identity platform, and the server
 * certificates it signs.
 *
 * msal-node and @microsoft/microsoft-graph-client use Node's TLS with its default trust store, and
 * the production code has no test hook, so the test processes must trust the CA from their start:
 * Node reads `NODE_EXTRA_CA_CERTS` once, when the process starts. The vitest global setup
 * (`./global-setup.ts`) therefore makes one CA per run in a temporary folder before the fork workers
 * start, and sets `NODE_EXTRA_CA_CERTS` (the certificate) and `FAKE_GRAPH_CA_DIR` (certificate and
 * key) in the environment the workers inherit. A fake started in a worker signs its server
 * certificate with that CA ({@link loadTestCa}). Child processes a test spawns must be given
 * `NODE_EXTRA_CA_CERTS` in their environment ({@link testCaEnv}).
 *
 * Keys are ECDSA P-256 (a certificate takes a few milliseconds; RSA 2048 takes hundreds).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';

/** A CA as PEM texts. */
export interface TestCa {
  cert: string;
  key: string;
  /** Folder holding `ca.pem` and `ca-key.pem`. */
  dir: string;
}

/** A server certificate and key as PEM texts, and the CA that signed it. */
export interface ServerCert {
  cert: string;
  key: string;
  ca: string;
}

const CERT_FILE = 'ca.pem';
const KEY_FILE = 'ca-key.pem';

/** Environment variable naming the folder of the run's CA (set by the global setup). */
export const CA_DIR_ENV = 'FAKE_GRAPH_CA_DIR';

/**
 * Makes a new CA (valid 2 days) and writes it to a fresh temporary folder.
 * @returns the CA; its `dir` is removed by the caller when the run ends
 */
export async function createTestCa(): Promise<TestCa> {
  const now = Date.now();
  const made = await generate([{ name: 'commonName', value: 'attachment-gateway test CA (fake Microsoft Graph)' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - 3_600_000),
    notAfterDate: new Date(now + 2 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fake-graph-ca-'));
  fs.writeFileSync(path.join(dir, CERT_FILE), made.cert);
  fs.writeFileSync(path.join(dir, KEY_FILE), made.private, { mode: 0o600 });
  return { cert: made.cert, key: made.private, dir };
}

/**
 * The run's CA from `FAKE_GRAPH_CA_DIR`.
 * @throws when the variable is unset or the folder lacks the files (run under vitest, whose
 *   global setup makes the CA, or call {@link createTestCa} and start the process with its
 *   certificate in `NODE_EXTRA_CA_CERTS`)
 */
export function loadTestCa(): TestCa {
  const dir = process.env[CA_DIR_ENV];
  if (!dir) {
    throw new Error(
      `fake Graph: ${CA_DIR_ENV} is not set. Tests get it from the vitest global setup (test/support/fake-graph/global-setup.ts); ` +
        'other processes must create a CA first and start with NODE_EXTRA_CA_CERTS pointing at its certificate.',
    );
  }
  return { cert: fs.readFileSync(path.join(dir, CERT_FILE), 'utf8'), key: fs.readFileSync(path.join(dir, KEY_FILE), 'utf8'), dir };
}

/**
 * A server certificate for `127.0.0.1` (SAN IP) and `localhost` (SAN DNS), valid 1 day, signed by `ca`.
 */
export async function serverCertificate(ca: TestCa): Promise<ServerCert> {
  const now = Date.now();
  const made = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - 3_600_000),
    notAfterDate: new Date(now + 86_400_000),
    ca: { key: ca.key, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 7, ip: '127.0.0.1' },
          { type: 2, value: 'localhost' },
        ],
      },
    ],
  });
  return { cert: made.cert, key: made.private, ca: ca.cert };
}

/** The environment a child process needs to trust the run's CA (empty when there is none). */
export function testCaEnv(): Record<string, string> {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  const dir = process.env[CA_DIR_ENV];
  return { ...(file ? { NODE_EXTRA_CA_CERTS: file } : {}), ...(dir ? { [CA_DIR_ENV]: dir } : {}) };
}
