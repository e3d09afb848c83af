/**
 * One message whose read keeps failing inside a Gmail batch fails only its own field: the other
 * keys of the same batch answer in full, and the error names the mailbox beside its
 * PROVIDER_UNAVAILABLE code (real gateway on loopback, fake Gmail, real SQLite store).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeNodeId } from '../src/ids.ts';
import { startFakeGmail, type FakeGmail } from './support/fake-gmail/index.ts';
import { startE2eGateway, type E2eGateway } from './support/gateway-e2e.ts';
import { mailWithAttachment } from './support/mail.ts';

const OWNER = 'partial@fake-gmail.test';
let fake: FakeGmail;
let gateway: E2eGateway;
let mailboxId: string;
const ids: string[] = [];

beforeAll(async () => {
  fake = await startFakeGmail({ addresses: [OWNER] });
  for (const n of [1, 2, 3]) ids.push(fake.add(mailWithAttachment({ subject: `Mail ${n}`, messageId: `m${n}.${OWNER}`, filename: `f${n}.bin`, bytes: Buffer.alloc(100, n) }), OWNER).id);
  gateway = await startE2eGateway({ GOOGLE_API_ROOT: fake.origin, GOOGLE_TOKEN_URL: fake.tokenUrl, GOOGLE_CLIENT_ID: fake.client.clientId, GOOGLE_CLIENT_SECRET: fake.client.clientSecret });
  mailboxId = await gateway.addMailbox({ provider: 'GMAIL', address: OWNER, displayName: null, settings: {}, credentials: { refreshToken: fake.refreshToken(OWNER) } });
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await fake?.close();
});

describe('a Gmail batch with one item that keeps failing', () => {
  it('nulls only that message, with an error naming the mailbox; the other messages of the batch answer', async () => {
    const rule = fake.faults.add({ path: `/gmail/v1/users/me/messages/${ids[1]}`, inBatch: true }, { error: 'backendError' }, 10);
    const node = (id: string) => encodeNodeId('Message', [mailboxId, id]);
    const answer = (await gateway.graphql('query($a: ID!, $b: ID!, $c: ID!) { a: node(id: $a) { ... on Message { subject } } b: node(id: $b) { ... on Message { subject } } c: node(id: $c) { ... on Message { subject } } mailboxes { id } }', {
      a: node(ids[0]!),
      b: node(ids[1]!),
      c: node(ids[2]!),
    })) as { data: { a: { subject: string } | null; b: { subject: string } | null; c: { subject: string } | null; mailboxes: { id: string }[] }; errors?: { path?: string[]; extensions?: Record<string, unknown> }[] };
    fake.faults.clear();
    expect(rule.hits).toBeGreaterThan(1); // retried, then given up
    expect(answer.data.a).toEqual({ subject: 'Mail 1' });
    expect(answer.data.b).toBeNull();
    expect(answer.data.c).toEqual({ subject: 'Mail 3' });
    expect(answer.errors).toHaveLength(1);
    expect(answer.errors![0]!.path).toEqual(['b']);
    expect(answer.errors![0]!.extensions).toEqual({ code: 'PROVIDER_UNAVAILABLE', mailboxId: answer.data.mailboxes[0]!.id, provider: 'GMAIL' });
    // All three keys went upstream in one batch (then the failing item alone on each retry).
    const batches = fake.requests.filter((r) => r.path === '/batch/gmail/v1');
    expect(batches[0]!.inner!.map((r) => r.path)).toEqual(ids.map((id) => `/gmail/v1/users/me/messages/${id}`));
    expect(batches.slice(1).every((b) => b.inner!.length === 1)).toBe(true);
  });
});
