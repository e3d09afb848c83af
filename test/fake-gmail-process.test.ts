/**
 * The fake Gmail server in a child process (test/support/fake-gmail/process.ts): a generated
 * 25 MiB attachment added from a file comes back byte-exact through the real googleapis client,
 * the log and faults are steered over IPC, and the child goes away on close. Prints the
 * throughput of `attachments.get` + `Buffer.from(data, 'base64url')` (the buffered way users do
 * it), the baseline the gateway's streaming download is compared against.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { google } from 'googleapis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnFakeGmail, writeEmlWithAttachment, type FakeGmailProcess } from './support/fake-gmail/process.ts';

const SIZE = 25 * 1024 * 1024;
let fake: FakeGmailProcess;
let dir: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fake-gmail-'));
  // Uncompressed answers: the throughput printed is then the client's, not zlib's (see below).
  fake = await spawnFakeGmail({ gzip: false });
});

afterAll(async () => {
  await fake?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('fake Gmail in a child process', () => {
  it('serves a 25 MiB attachment byte-exact to googleapis; faults and the log work over IPC; close ends the child', async () => {
    const file = path.join(dir, 'big.eml');
    const { sha256 } = await writeEmlWithAttachment(file, { size: SIZE, filename: 'big.bin' });
    const { id } = await fake.add({ path: file });
    const auth = new google.auth.OAuth2({ clientId: fake.clientId, clientSecret: fake.clientSecret, endpoints: { oauth2TokenUrl: fake.tokenUrl } });
    auth.setCredentials({ refresh_token: await fake.refreshToken() });
    const gmail = google.gmail({ version: 'v1', auth, rootUrl: fake.rootUrl, retry: false });
    const msg = await gmail.users.messages.get({ userId: 'me', id, fields: 'payload/parts(partId,filename,body)' });
    const part = msg.data.payload!.parts!.find((p) => p.filename === 'big.bin')!;
    expect(part.partId).toBe('1');
    expect(part.body!.size).toBe(SIZE);

    const started = performance.now();
    const got = await gmail.users.messages.attachments.get({ userId: 'me', messageId: id, id: part.body!.attachmentId! });
    const bytes = Buffer.from(got.data.data!, 'base64url');
    const seconds = (performance.now() - started) / 1000;
    expect(bytes.length).toBe(SIZE);
    expect(crypto.createHash('sha256').update(bytes).digest('hex')).toBe(sha256);
    console.info(`fake Gmail (child): attachments.get + Buffer.from(base64url) of 25 MiB: ${(SIZE / 1e6 / seconds).toFixed(0)} MB/s; child RSS ${((await fake.rss()) / 2 ** 20).toFixed(0)} MiB`);

    // The same through a gzip-answering fake (Google's behaviour for googleapis' requests): zlib
    // level 1 compresses base64 text at about 50 MB/s here, so the fake is then the bottleneck.
    const gz = await spawnFakeGmail();
    try {
      const { id: gzId } = await gz.add({ path: file });
      const gzAuth = new google.auth.OAuth2({ clientId: gz.clientId, clientSecret: gz.clientSecret, endpoints: { oauth2TokenUrl: gz.tokenUrl } });
      gzAuth.setCredentials({ refresh_token: await gz.refreshToken() });
      const gzGmail = google.gmail({ version: 'v1', auth: gzAuth, rootUrl: gz.rootUrl, retry: false });
      const gzPart = (await gzGmail.users.messages.get({ userId: 'me', id: gzId })).data.payload!.parts![1]!;
      const t = performance.now();
      const gzGot = await gzGmail.users.messages.attachments.get({ userId: 'me', messageId: gzId, id: gzPart.body!.attachmentId! });
      const gzBytes = Buffer.from(gzGot.data.data!, 'base64url');
      const gzSeconds = (performance.now() - t) / 1000;
      expect(crypto.createHash('sha256').update(gzBytes).digest('hex')).toBe(sha256);
      expect((await gz.requests()).filter((r) => r.path.includes('/attachments/')).map((r) => r.gzip)).toEqual([true]);
      console.info(`fake Gmail (child, gzip level 1): the same 25 MiB: ${(SIZE / 1e6 / gzSeconds).toFixed(0)} MB/s`);
    } finally {
      await gz.close();
    }

    await fake.fault({ path: '/gmail/v1/users/me/messages/*/attachments/*' }, { error: 'rateLimitExceeded', retryAfter: 2 });
    const throttled = await gmail.users.messages.attachments.get({ userId: 'me', messageId: id, id: part.body!.attachmentId! }).catch((e: { response: { status: number } }) => e.response);
    expect(throttled.status).toBe(429);
    await fake.expireAttachmentIds();
    const expired = await gmail.users.messages.attachments.get({ userId: 'me', messageId: id, id: part.body!.attachmentId! }).catch((e: { response: { status: number } }) => e.response);
    expect(expired.status).toBe(400);
    const log = await fake.requests();
    expect(log.filter((r) => r.path.includes('/attachments/')).map((r) => r.status)).toEqual([200, 429, 400]);

    const pid = fake.pid;
    await fake.close();
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
