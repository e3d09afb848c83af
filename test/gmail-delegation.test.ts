/**
 * Google Workspace domain-wide delegation in the Gmail provider, against the fake Gmail and OAuth
 * server on loopback: a service account key stored as the mailbox's credentials gets tokens by
 * the JWT bearer grant (the assertion's claims as Google documents them), lists and downloads;
 * delegation not granted and an unknown subject answer PROVIDER_AUTH_FAILED with words for the
 * admin and mark the mailbox once; the key never shows in errors or logs.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import type { Readable } from 'node:stream';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../src/domain/logger.ts';
import { isGatewayError } from '../src/errors.ts';
import { createGmailProvider } from '../src/providers/gmail/provider.ts';
import { GMAIL_READONLY_SCOPE, parseServiceAccountKey } from '../src/providers/gmail/service-account.ts';
import { GOOGLE_DEFAULTS } from '../src/providers/gmail/settings.ts';
import type { MailboxCredentials, MailProvider } from '../src/providers/types.ts';
import { METADATA_SCOPE, startFakeGmail, type FakeGmail, type ServiceAccountKey } from './support/fake-gmail/index.ts';
import { mailWithAttachment } from './support/mail.ts';

const OWNER = 'owner@fake-gmail.test';
const OTHER = 'other@fake-gmail.test';
const pdf = crypto.randomBytes(200_000);
let fake: FakeGmail;

/** A logger that keeps every line of every level. */
function recordingLogger(): Logger & { lines: unknown[] } {
  const lines: unknown[] = [];
  const at =
    (level: string) =>
    (...args: unknown[]) =>
      void lines.push([level, ...args]);
  const logger = { lines, trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger as Logger & { lines: unknown[] };
}

function writer(): MailboxCredentials & { saved: Record<string, string>[]; marks: string[] } {
  const saved: Record<string, string>[] = [];
  const marks: string[] = [];
  return { saved, marks, save: async (c) => void saved.push(c), markNeedsReconsent: async (r) => void marks.push(r) };
}

/** The provider of `address` read with `key`; token requests are recorded with their form. */
async function delegated(key: ServiceAccountKey, address: string, credentials = writer(), logger = recordingLogger()) {
  const forms: URLSearchParams[] = [];
  const recording: typeof fetch = async (input, init) => {
    if (String(input) === fake.tokenUrl) forms.push(new URLSearchParams(String(init?.body)));
    return fetch(input, init);
  };
  const stored = JSON.stringify(await parseServiceAccountKey(JSON.stringify(key)));
  const provider: MailProvider = createGmailProvider(
    { id: address, workspaceId: 'w', provider: 'GMAIL', address, displayName: null, settings: {}, credentials: { serviceAccountKey: stored } },
    // No OAuth client: delegation does not need one.
    { dataDir: os.tmpdir(), logger, credentials, google: { ...GOOGLE_DEFAULTS, apiRoot: fake.origin, tokenUrl: fake.tokenUrl, clientId: null, clientSecret: null } },
    { fetch: recording },
  );
  return { provider, forms, credentials, logger };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

async function failureOf(p: Promise<unknown>): Promise<Error & { code: string }> {
  const error = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!isGatewayError(error)) throw new Error(`expected a GatewayError, got ${String(error)}`);
  return error as Error & { code: string };
}

/** The PEM body lines of a key: none of them may appear anywhere. */
const keyLines = (key: ServiceAccountKey) => key.private_key.split('\n').filter((l) => l.length > 40);

beforeAll(async () => {
  fake = await startFakeGmail({ addresses: [OWNER, OTHER] });
  fake.add(mailWithAttachment({ subject: 'Board pack', filename: 'pack.pdf', bytes: pdf, contentType: 'application/pdf' }));
});

afterAll(async () => {
  await fake?.close();
});

describe('Gmail by domain-wide delegation', () => {
  it('gets tokens by a JWT bearer assertion for the mailbox, lists and downloads byte-exact', async () => {
    const key = fake.oauth.createServiceAccount();
    const { provider, forms, credentials, logger } = await delegated(key, OWNER);
    const page = await provider.listConversations({ first: 10 });
    expect(page.items.map((c) => c.subject)).toEqual(['Board pack']);
    const [message] = await provider.loadMessages(page.items[0]!.messageKeys);
    if (!message || message instanceof Error) throw new Error(`message not loaded: ${String(message)}`);
    const attachment = message.attachments[0]!;
    fake.attachmentIds.expireAll();
    const content = await provider.openAttachment(message.key, attachment.partId);
    expect((await readAll(content.stream)).equals(pdf)).toBe(true);

    // One grant served every call; its assertion is the one Google documents.
    expect(forms).toHaveLength(1);
    expect(forms[0]!.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
    const assertion = forms[0]!.get('assertion')!;
    expect(decodeProtectedHeader(assertion)).toEqual({ alg: 'RS256', typ: 'JWT', kid: key.private_key_id });
    const claims = decodeJwt(assertion);
    expect(claims).toMatchObject({ iss: key.client_email, sub: OWNER, scope: GMAIL_READONLY_SCOPE, aud: fake.tokenUrl });
    expect(claims.exp! - claims.iat!).toBe(3600);
    expect(Math.abs(claims.iat! - Date.now() / 1000)).toBeLessThan(60);
    expect(credentials.marks).toEqual([]);
    expect(credentials.saved).toEqual([]);
    for (const line of keyLines(key)) expect(JSON.stringify(logger.lines)).not.toContain(line);
    await provider.close();
  });

  it('delegation not granted: PROVIDER_AUTH_FAILED saying what to grant, one mark, no new token request for a while', async () => {
    const key = fake.oauth.createServiceAccount([METADATA_SCOPE]);
    const { provider, forms, credentials, logger } = await delegated(key, OWNER);
    const apiCallsBefore = fake.apiCalls().length;
    for (let i = 0; i < 3; i++) {
      const error = await failureOf(provider.listConversations({ first: 5 }));
      expect(error.code).toBe('PROVIDER_AUTH_FAILED');
      expect(error.message).toMatch(/Domain-wide delegation of the Gmail read scope \(gmail\.readonly\) is not granted/);
      for (const line of keyLines(key)) expect(JSON.stringify({ message: error.message, cause: String(error.cause) })).not.toContain(line);
    }
    expect(forms).toHaveLength(1);
    expect(credentials.marks).toHaveLength(1);
    expect(credentials.marks[0]).toContain(`client ID ${key.client_id}`);
    expect(credentials.marks[0]).toContain(GMAIL_READONLY_SCOPE);
    expect(credentials.marks[0]).toContain('Domain-wide delegation');
    expect(credentials.marks[0]!.length).toBeLessThanOrEqual(500);
    // Nothing reached the Gmail API without a token.
    expect(fake.apiCalls().length).toBe(apiCallsBefore);
    for (const line of keyLines(key)) expect(JSON.stringify(logger.lines)).not.toContain(line);
  });

  it('an address that is no user of the domain: PROVIDER_AUTH_FAILED (invalid_grant) naming the checks, marked once', async () => {
    const key = fake.oauth.createServiceAccount();
    const { provider, credentials } = await delegated(key, 'nobody@fake-gmail.test');
    const error = await failureOf(provider.listConversations({ first: 5 }));
    expect(error.code).toBe('PROVIDER_AUTH_FAILED');
    expect(error.message).toMatch(/refused the service account's assertion/);
    expect(credentials.marks).toHaveLength(1);
    expect(credentials.marks[0]).toMatch(/nobody@fake-gmail\.test \(invalid_grant\): check that the address is a user of the Workspace domain/);
  });

  it('a key the token endpoint does not know (signed by another key) is refused the same way', async () => {
    const key = fake.oauth.createServiceAccount();
    const impostor = fake.oauth.createServiceAccount();
    const { provider, credentials } = await delegated({ ...key, private_key: impostor.private_key }, OTHER);
    expect((await failureOf(provider.loadConversations(['abc']))).code).toBe('PROVIDER_AUTH_FAILED');
    expect(credentials.marks).toHaveLength(1);
  });

  it('parseServiceAccountKey refuses what is no service account key, without quoting it', async () => {
    const key = fake.oauth.createServiceAccount();
    const refusal = (text: string) => parseServiceAccountKey(text, 'F').then(() => 'accepted', (e: unknown) => (e as Error).message);
    expect(await refusal(`${JSON.stringify(key).slice(0, 200)}`)).toMatch(/^F is not a Google service account key \(not JSON; a \.p12 key is not supported\)/);
    expect(await refusal(JSON.stringify({ type: 'authorized_user', client_id: 'x', refresh_token: 'secret-refresh' }))).toMatch(/its type is "authorized_user", not "service_account"/);
    expect(await refusal(JSON.stringify({ ...key, client_email: 'not an address' }))).toMatch(/no valid "client_email"/);
    expect(await refusal(JSON.stringify({ ...key, private_key: 'secret-material' }))).toMatch(/no "private_key" in PKCS #8 PEM/);
    const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(await refusal(JSON.stringify({ ...key, private_key: ec }))).toMatch(/its "private_key" is not an RSA key/);
    for (const text of [JSON.stringify(key).slice(0, 200), JSON.stringify({ ...key, private_key: 'secret-material' })]) {
      const message = await refusal(text);
      expect(message).not.toContain('secret-material');
      expect(message).not.toContain(key.client_email);
    }
    expect(await parseServiceAccountKey(JSON.stringify(key))).toEqual({
      type: 'service_account',
      client_email: key.client_email,
      private_key: key.private_key,
      private_key_id: key.private_key_id,
      client_id: key.client_id,
      project_id: key.project_id,
    });
  });
});
