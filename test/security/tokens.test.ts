/**
 * What a download URL reveals and how long it works.
 *
 * Probes: a URL signed for an attachment in a real IMAP folder (private Dovecot) names no
 * workspace, mailbox, folder, UIDVALIDITY or UID, in the token or in any base64url-decoded part of
 * it, and stays short; every segment of the compact JWE edited → 401 TOKEN_INVALID; a revoked or
 * deleted API key, or a deleted workspace → 403 TOKEN_FORBIDDEN over real HTTP on loopback; the
 * key status is cached (one store query per key and TTL, not per download) and revocation takes
 * effect once the TTL has passed. The server keeps serving genuine URLs after every probe.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptJWT, jwtDecrypt } from 'jose';
import { createKeyStatus } from '../../src/http/key-status.ts';
import { encodeNodeId } from '../../src/ids.ts';
import { startServer } from '../../src/server.ts';
import { createDownloadSigner, deriveDownloadKey, encryptCompact, MAX_TOKEN_LENGTH } from '../../src/signing.ts';
import { DOVECOT_MISSING, dovecotAvailable, startDovecot, type DovecotInstance } from '../support/dovecot.ts';
import { fakeAttachment, fakeMessage, setupGateway } from '../support/fake-provider.ts';
import { startE2eGateway, type E2eGateway } from '../support/gateway-e2e.ts';
import { mailWithAttachment } from '../support/mail.ts';

if (!dovecotAvailable()) console.warn(`\n*** ${DOVECOT_MISSING} ***\n`);

const PDF = Buffer.from('%PDF-1.4\n% a quarterly invoice\n'.repeat(200));

/** The segments of a compact token and each decoded from base64url as text. */
function decodedParts(token: string): string[] {
  return token.split('.').flatMap((segment) => [segment, Buffer.from(segment, 'base64url').toString('latin1'), Buffer.from(segment, 'base64url').toString('utf8')]);
}

describe.skipIf(!dovecotAvailable())('a URL for an attachment in a real IMAP folder', () => {
  // The provider reads INBOX and the Sent folder: a Sent folder with a telling name stands for any folder.
  const FOLDER = 'Clients-Acme-Confidential';
  let dovecot: DovecotInstance;
  let gateway: E2eGateway;
  let uid: number;
  let uidValidity: number;

  beforeAll(async () => {
    dovecot = await startDovecot({ sentFolder: FOLDER });
    const raw = (n: number) =>
      mailWithAttachment({
        subject: `Invoice ${n}`,
        messageId: `invoice-${n}@acme.example`,
        from: 'Carol <carol@acme.example>',
        to: 'owner@example.test',
        date: 'Mon, 02 Dec 2024 10:00:00 +0000',
        filename: 'acme-invoice-2024.pdf',
        contentType: 'application/pdf',
        bytes: PDF,
      });
    // Several messages, so the UID is not 1 (a digit that any text contains).
    const uids = await dovecot.appendMany([1, 2, 3, 4, 5, 6, 7].map((n) => ({ folder: FOLDER, raw: raw(n) })));
    uid = uids.at(-1)!;
    const client = await dovecot.client();
    try {
      const status = await client.status(FOLDER, { uidValidity: true });
      uidValidity = Number(status && status.uidValidity);
    } finally {
      await client.logout();
    }
    gateway = await startE2eGateway();
    await gateway.addDovecotMailbox(dovecot);
  });
  afterAll(async () => {
    await gateway?.close();
    await dovecot?.close();
  });

  it('names no workspace, mailbox, folder, UIDVALIDITY or UID, stays under 300 characters, and downloads', async () => {
    const r = await gateway.graphql<{ mailboxes: { id: string; conversations: { edges: { node: { subject: string; attachments: { filename: string; downloadUrl: { url: string } }[] } }[] } }[] }>(
      '{ mailboxes { id conversations(first: 10) { edges { node { subject attachments { filename downloadUrl { url } } } } } } }',
    );
    expect(r.errors).toBeUndefined();
    const mailbox = r.data!.mailboxes[0]!;
    const node = mailbox.conversations.edges.map((e) => e.node).find((n) => n.subject === 'Invoice 7')!;
    const url = node.attachments[0]!.downloadUrl.url;
    const token = url.slice(url.lastIndexOf('/') + 1);
    console.info(`download URL for an IMAP attachment: ${url.length} characters (token ${token.length}; folder ${JSON.stringify(FOLDER)}, UID ${uid})`);
    expect(token.length).toBeLessThan(300);
    const [header, encryptedKey] = token.split('.');
    expect(JSON.parse(Buffer.from(header!, 'base64url').toString())).toEqual({ alg: 'dir', enc: 'A256GCM' });
    expect(encryptedKey).toBe('');

    const stores = await gateway.store.listMailboxes(gateway.workspaceId);
    const mailboxId = stores[0]!.id;
    const secrets = [
      gateway.workspaceId,
      gateway.workspaceId.replaceAll('-', ''),
      Buffer.from(gateway.workspaceId.replaceAll('-', ''), 'hex').toString('base64url'),
      'e2e', // the workspace name
      mailboxId,
      mailboxId.replaceAll('-', ''),
      Buffer.from(mailboxId.replaceAll('-', ''), 'hex').toString('base64url'),
      FOLDER,
      'Acme',
      'Clients',
      String(uidValidity),
      `,${uid}]`,
      `"uid"`,
      'acme-invoice-2024',
      'owner@example.test',
    ];
    for (const part of decodedParts(token)) {
      for (const secret of secrets) expect(part.toLowerCase(), `token part reveals ${secret}`).not.toContain(secret.toLowerCase());
    }
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(PDF)).toBe(true);
  });
});

describe('tampered and foreign tokens', () => {
  const fixture = () => [fakeMessage('m1', 'c1', '2024-01-01T10:00:00Z', [fakeAttachment('2', 'report.pdf', PDF, { contentType: 'application/pdf' })])];

  async function signedUrl(t: Awaited<ReturnType<typeof setupGateway>>, key = t.keyA): Promise<string> {
    const r = await t.gql('query($id: ID!) { node(id: $id) { ... on Attachment { downloadUrl { url } } } }', { id: encodeNodeId('Attachment', [t.mailboxA.id, 'm1', '2']) }, key);
    expect(r.errors).toBeUndefined();
    return r.data.node.downloadUrl.url as string;
  }

  it('answers 401 TOKEN_INVALID when any one segment of the JWE is edited, and still serves the genuine token', async () => {
    const t = await setupGateway(fixture());
    const url = await signedUrl(t);
    const token = url.slice(url.lastIndexOf('/') + 1);
    const segments = token.split('.');
    expect(segments).toHaveLength(5);
    const flipFirstByte = (s: string) => {
      const bytes = Buffer.from(s, 'base64url');
      bytes[0]! ^= 0x01;
      return bytes.toString('base64url');
    };
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const probes: [string, string][] = [
      ['header bit flipped', [flipFirstByte(segments[0]!), ...segments.slice(1)].join('.')],
      ['header says A128GCM', [b64({ alg: 'dir', enc: 'A128GCM' }), ...segments.slice(1)].join('.')],
      ['header adds a field', [b64({ alg: 'dir', enc: 'A256GCM', kid: 'x' }), ...segments.slice(1)].join('.')],
      ['encrypted key not empty', [segments[0], 'AAAA', ...segments.slice(2)].join('.')],
      ['IV bit flipped', [...segments.slice(0, 2), flipFirstByte(segments[2]!), ...segments.slice(3)].join('.')],
      ['ciphertext bit flipped', [...segments.slice(0, 3), flipFirstByte(segments[3]!), segments[4]].join('.')],
      ['ciphertext cut short', [...segments.slice(0, 3), segments[3]!.slice(0, -4), segments[4]].join('.')],
      ['tag bit flipped', [...segments.slice(0, 4), flipFirstByte(segments[4]!)].join('.')],
      ['tag missing', [...segments.slice(0, 4), ''].join('.')],
      ['a sixth segment', `${token}.AAAA`],
      ['4097 characters', 'A'.repeat(4097)],
      ['another secret', (await createDownloadSigner('another-secret-another-secret-0000').sign({ keyId: t.keyIdA, mailboxId: t.mailboxA.id, messageKey: 'm1', partId: '2' })).token],
    ];
    for (const [label, probe] of probes) {
      const response = await t.gateway.fetch(new Request(`http://gw.test/attachments/${probe}`));
      expect(response.status, label).toBe(401);
      expect(((await response.json()) as { code: string }).code, label).toBe('TOKEN_INVALID');
    }
    expect(t.provider.calls.openAttachment).toBe(0);
    const genuine = await t.gateway.fetch(new Request(url));
    expect(genuine.status).toBe(200);
    expect(Buffer.from(await genuine.arrayBuffer()).equals(PDF)).toBe(true);
  });

  it('answers 403 TOKEN_FORBIDDEN over HTTP once the minting key is revoked or deleted; other keys’ URLs keep working', async () => {
    const t = await setupGateway(fixture());
    const second = await t.store.createApiKey(t.wsA.id);
    const server = await startServer({ config: t.config, store: t.store, logger: t.logger, secret: t.secret, providers: () => t.provider });
    try {
      const onServer = (url: string) => url.replace('http://gw.test', server.url);
      const byRevoked = onServer(await signedUrl(t));
      const byDeleted = onServer(await signedUrl(t, second.key));
      t.sql('UPDATE api_keys SET revoked_at = ? WHERE id = ?', new Date().toISOString(), t.keyIdA);
      const third = await t.store.createApiKey(t.wsA.id);
      const byKept = onServer(await signedUrl(t, third.key));
      t.sql('DELETE FROM api_keys WHERE id = ?', second.id);

      for (const url of [byRevoked, byDeleted]) {
        const response = await fetch(url);
        expect(response.status).toBe(403);
        expect(await response.json()).toMatchObject({ error: 'forbidden', code: 'TOKEN_FORBIDDEN' });
        const head = await fetch(url, { method: 'HEAD' });
        expect(head.status).toBe(403);
      }
      const kept = await fetch(byKept);
      expect(kept.status).toBe(200);
      expect(Buffer.from(await kept.arrayBuffer()).equals(PDF)).toBe(true);
      expect(t.provider.calls.openAttachment).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('answers 403 TOKEN_FORBIDDEN for a URL signed before its workspace was deleted (row deleted in the database)', async () => {
    const t = await setupGateway(fixture());
    const url = await signedUrl(t);
    t.sql('DELETE FROM workspaces WHERE id = ?', t.wsA.id);
    const response = await t.gateway.fetch(new Request(url));
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: 'TOKEN_FORBIDDEN' });
    expect(t.provider.calls.openAttachment).toBe(0);
    // The other workspace is untouched.
    const health = await t.gateway.fetch(new Request('http://gw.test/health'));
    expect(health.status).toBe(200);
    expect((await t.gql('{ mailboxes { displayName } }', {}, t.keyB)).data.mailboxes).toEqual([{ displayName: 'Theirs' }]);
  });

  it('stops a URL that was already used within the key-status TTL after the key is revoked (TTL 1 s here, 30 s by default)', async () => {
    const t = await setupGateway(fixture(), { keyStatusTtlMs: 1000 });
    const url = await signedUrl(t);
    expect((await t.gateway.fetch(new Request(url))).status).toBe(200);
    t.sql('UPDATE api_keys SET revoked_at = ? WHERE id = ?', new Date().toISOString(), t.keyIdA);
    const started = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - started < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const response = await t.gateway.fetch(new Request(url));
      await response.arrayBuffer();
      status = response.status;
    }
    expect(status).toBe(403);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });
});

describe('key-status cache', () => {
  it('asks the store once per key and TTL however many downloads there are, and again after the TTL', async () => {
    let clock = 0;
    const asked: string[] = [];
    const keys = createKeyStatus(
      {
        activeApiKeyWorkspace: async (keyId) => {
          asked.push(keyId);
          return keyId === 'revoked' ? null : 'ws';
        },
      },
      { ttlMs: 30_000, now: () => clock },
    );
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => keys.workspaceOf(i % 2 ? 'k1' : 'revoked')));
    expect(answers.filter((a) => a === 'ws')).toHaveLength(100);
    expect(answers.filter((a) => a === null)).toHaveLength(100);
    expect(asked.sort()).toEqual(['k1', 'revoked']);
    clock = 29_999;
    await keys.workspaceOf('k1');
    expect(asked).toHaveLength(2);
    clock = 30_000;
    await keys.workspaceOf('k1');
    expect(asked).toHaveLength(3);
  });

  it('does not remember a failed lookup', async () => {
    let fail = true;
    const keys = createKeyStatus({
      activeApiKeyWorkspace: async () => {
        if (fail) throw new Error('database down');
        return 'ws';
      },
    });
    await expect(keys.workspaceOf('k')).rejects.toThrow('database down');
    fail = false;
    expect(await keys.workspaceOf('k')).toBe('ws');
  });
});

describe('the JWE format', () => {
  const secret = 'interop-secret-'.repeat(3);
  const claims = { keyId: '0b6f4c36-7f6e-4b0e-9a51-4d7f1f2d3c4b', mailboxId: '1c7a5d47-8a7f-4c1f-8b62-5e8a2a3e4d5c', messageKey: '["INBOX",1234567,42]', partId: '2.1' };

  it('mints RFC 7516 compact tokens that jose opens, and opens tokens that jose mints', async () => {
    const signer = createDownloadSigner(secret);
    const { token, expiresAt } = await signer.sign(claims, 120, new Date('2026-01-01T00:00:00Z'));
    const key = deriveDownloadKey(secret);
    const opened = await jwtDecrypt(token, key, { currentDate: new Date('2026-01-01T00:01:00Z') });
    expect(opened.protectedHeader).toEqual({ alg: 'dir', enc: 'A256GCM' });
    expect(opened.payload).toMatchObject({ aud: 'dl', exp: expiresAt.getTime() / 1000, a: [claims.messageKey, claims.partId] });
    // Each token has its own 96-bit IV: the same claims never give the same token.
    expect((await signer.sign(claims, 120, new Date('2026-01-01T00:00:00Z'))).token).not.toBe(token);

    const byJose = await new EncryptJWT(opened.payload).setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).encrypt(key);
    expect(await signer.verify(byJose, new Date('2026-01-01T00:01:00Z'))).toEqual({ ...claims, exp: expiresAt.getTime() / 1000 });
  });
});

describe('the provider download hint in a token', () => {
  const secret = 'hint-secret-'.repeat(4);
  const claims = { keyId: '0b6f4c36-7f6e-4b0e-9a51-4d7f1f2d3c4b', mailboxId: '1c7a5d47-8a7f-4c1f-8b62-5e8a2a3e4d5c', messageKey: '18c0ffee00000001', partId: '1' };
  const now = new Date('2026-01-01T00:00:00Z');

  it('carries a hint encrypted and gives it back; tokens without one still verify without it', async () => {
    const signer = createDownloadSigner(secret);
    const hint = ['ANGjdJ-attachment-id', 1048576, 'application/pdf', 'Q3 report.pdf'];
    const { token } = await signer.sign({ ...claims, hint }, 120, now);
    expect(decodedParts(token).some((p) => p.includes('ANGjdJ') || p.includes('Q3 report'))).toBe(false);
    expect(await signer.verify(token, now)).toEqual({ ...claims, hint, exp: now.getTime() / 1000 + 120 });
    const plain = await signer.verify((await signer.sign(claims, 120, now)).token, now);
    expect(plain).toEqual({ ...claims, exp: now.getTime() / 1000 + 120 });
    expect(plain).not.toHaveProperty('hint');
  });

  it('leaves out a hint that would make the token longer than MAX_TOKEN_LENGTH, and refuses a fourth element', async () => {
    const signer = createDownloadSigner(secret);
    const { token } = await signer.sign({ ...claims, hint: ['x'.repeat(MAX_TOKEN_LENGTH)] }, 120, now);
    expect(token.length).toBeLessThanOrEqual(MAX_TOKEN_LENGTH);
    expect(await signer.verify(token, now)).not.toHaveProperty('hint');
    const key = deriveDownloadKey(secret);
    const four = encryptCompact({ k: 'C29MNn9uSw6aUU1_Hy08Sw', m: 'HHpdR4p_TB-LYl6KKj5NXA', a: [claims.messageKey, claims.partId, 'h', 'extra'], aud: 'dl', exp: now.getTime() / 1000 + 60 }, key);
    await expect(signer.verify(four, now)).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
  });
});
