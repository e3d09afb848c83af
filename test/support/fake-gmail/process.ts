/**
 * The fake Gmail server in a child process, for measurements where the fake's own memory must
 * not count (the download benchmark's RSS of the gateway), and a writer of big .eml files.
 * The child speaks the same wire as {@link import('./index.ts').startFakeGmail}; the parent steers
 * it over IPC (add a message from a file, issue a refresh token, script a fault, read the log).
 */
import { forkChildServer } from '../child-rpc.ts';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FakeGmailOptions } from './index.ts';
import type { FaultAction, FaultMatch, LoggedRequest } from './faults.ts';

/** A fake in a child process. */
export interface FakeGmailProcess {
  origin: string;
  rootUrl: string;
  tokenUrl: string;
  authUrl: string;
  batchUrl: string;
  clientId: string;
  clientSecret: string;
  pid: number;
  /** Adds the .eml at `path` to a mailbox (default the first). */
  add(args: { path: string; sent?: boolean; labelIds?: string[]; internalDate?: number; address?: string }): Promise<{ id: string; threadId: string }>;
  refreshToken(address?: string, scopes?: string[]): Promise<string>;
  /** Scripts a fault (`match.path` as a string glob: RegExps do not cross the process boundary). */
  fault(match: FaultMatch & { path?: string }, action: FaultAction, times?: number): Promise<void>;
  requests(): Promise<LoggedRequest[]>;
  /** The child's resident set size in bytes. */
  rss(): Promise<number>;
  expireAttachmentIds(): Promise<void>;
  /** Ends the child (IPC closed; it closes its server and exits). */
  close(): Promise<void>;
}

/**
 * Starts the fake in a child process (Node with the tsx loader) and waits for it to listen.
 * @throws when the child exits or does not report ready within 30 s
 */
export async function spawnFakeGmail(options: Omit<FakeGmailOptions, 'oauth'> = {}): Promise<FakeGmailProcess> {
  const { ready, child, call, close } = await forkChildServer<{ origin: string; tokenUrl: string; authUrl: string; clientId: string; clientSecret: string }>('fake Gmail', fileURLToPath(new URL('./serve.ts', import.meta.url)), {
    ...process.env,
    FAKE_GMAIL_OPTIONS: JSON.stringify(options),
  });
  return {
    ...ready,
    rootUrl: `${ready.origin}/`,
    batchUrl: `${ready.origin}/batch/gmail/v1`,
    pid: child.pid!,
    add: (args) => call('add', args),
    refreshToken: (address, scopes) => call('refreshToken', { address, scopes }),
    fault: (match, action, times = 1) => call('fault', { match, action, times: Number.isFinite(times) ? times : null }),
    requests: () => call('requests'),
    rss: () => call('rss'),
    expireAttachmentIds: () => call('expireAttachmentIds'),
    close,
  };
}

/**
 * Writes a .eml with one base64 attachment of `size` deterministic pseudo-random bytes, streamed
 * (memory stays flat at any size). Returns the attachment's sha256 (hex).
 */
export async function writeEmlWithAttachment(file: string, args: { size: number; filename?: string; contentType?: string; subject?: string; seed?: string }): Promise<{ sha256: string }> {
  const out = fs.createWriteStream(file);
  const hash = crypto.createHash('sha256');
  const write = (s: string) => (out.write(s) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
  const name = args.filename ?? 'payload.bin';
  await write(
    [
      'From: sender@example.test',
      'To: owner@fake-gmail.test',
      `Subject: ${args.subject ?? `Attachment of ${args.size} bytes`}`,
      `Message-ID: <${crypto.randomUUID()}@example.test>`,
      'Date: Tue, 01 Dec 2026 10:00:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="=_big"',
      '',
      '--=_big',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'The file is attached.',
      '--=_big',
      `Content-Type: ${args.contentType ?? 'application/octet-stream'}; name="${name}"`,
      `Content-Disposition: attachment; filename="${name}"`,
      'Content-Transfer-Encoding: base64',
      '',
      '',
    ].join('\r\n'),
  );
  // AES-128-CTR keystream as the byte source: deterministic for a seed, incompressible, fast.
  const key = crypto.createHash('sha256').update(args.seed ?? 'fake-gmail').digest().subarray(0, 16);
  const keystream = crypto.createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const BLOCK = 57 * 1024; // a multiple of 57 bytes: whole 76-character base64 lines per block
  for (let done = 0; done < args.size; done += BLOCK) {
    const block = keystream.update(Buffer.alloc(Math.min(BLOCK, args.size - done)));
    hash.update(block);
    const b64 = block.toString('base64');
    const lines: string[] = [];
    for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
    await write(`${lines.join('\r\n')}\r\n`);
  }
  await write('--=_big--\r\n');
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  return { sha256: hash.digest('hex') };
}
