/**
 * Microsoft Graph mailboxes end to end as operators store them: the gateway's own registry (the
 * MICROSOFT_GRAPH factory with the msal token sources of `src/providers/microsoft-graph/auth.ts`),
 * configured by MS_* variables against the fake identity platform and Graph over HTTPS. A delegated
 * mailbox (a refresh token) and an application one (the app's client credentials, `/users/{address}`)
 * list their conversations and serve a download byte-exact; a revoked grant nulls only its own
 * mailbox's field and marks it as needing re-consent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeGraph, type FakeGraph } from './support/fake-graph/index.ts';
import { collectMessages, download, signedUrlOf, startE2eGateway, type E2eGateway } from './support/gateway-e2e.ts';
import { mailWithAttachment } from './support/mail.ts';

const DELEGATED = 'adele@fake-graph.test';
const APPLICATION = 'megan@fake-graph.test';
const REVOKED = 'lee@fake-graph.test';
const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256));

let fake: FakeGraph;
let gateway: E2eGateway;
const ids = new Map<string, string>();

beforeAll(async () => {
  fake = await startFakeGraph({ addresses: [DELEGATED, APPLICATION, REVOKED] });
  for (const address of [DELEGATED, APPLICATION, REVOKED]) fake.add({ raw: mailWithAttachment({ subject: `For ${address}`, filename: 'data.bin', bytes }) }, address);
  gateway = await startE2eGateway({
    MS_GRAPH_ROOT: fake.graphRoot,
    MS_LOGIN_ROOT: fake.loginRoot,
    MS_TENANT_ID: fake.tenantId,
    MS_CLIENT_ID: fake.app.clientId,
    MS_CLIENT_SECRET: fake.app.clientSecret,
  });
  await gateway.addMailbox({ provider: 'MICROSOFT_GRAPH', address: DELEGATED, displayName: null, settings: { mode: 'delegated' }, credentials: { refreshToken: fake.refreshToken(DELEGATED) } });
  await gateway.addMailbox({ provider: 'MICROSOFT_GRAPH', address: APPLICATION, displayName: null, settings: { mode: 'application' }, credentials: null });
  const revoked = fake.refreshToken(REVOKED);
  fake.identity.revokeRefreshToken(revoked);
  await gateway.addMailbox({ provider: 'MICROSOFT_GRAPH', address: REVOKED, displayName: null, settings: { mode: 'delegated' }, credentials: { refreshToken: revoked } });
  const listed = await gateway.graphql<{ mailboxes: { id: string; address: string }[] }>('{ mailboxes { id address } }');
  for (const m of listed.data!.mailboxes) ids.set(m.address, m.id);
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await fake?.close();
});

describe('Graph mailboxes through the built-in registry', () => {
  it('a delegated and an application mailbox list their mail and serve it byte-exact', async () => {
    for (const address of [DELEGATED, APPLICATION]) {
      const [message, ...rest] = await collectMessages(gateway, ids.get(address)!);
      expect(rest, address).toEqual([]);
      expect(message!.subject).toBe(`For ${address}`);
      const [attachment] = message!.attachments;
      expect(attachment).toMatchObject({ filename: 'data.bin', kind: 'FILE', sizeExact: false });
      const got = await download(signedUrlOf(attachment!), true);
      expect(got.status).toBe(200);
      expect(got.contentLength).toBe(String(bytes.length));
      expect(got.body!.equals(bytes)).toBe(true);
    }
    const paths = fake.requests.filter((r) => r.kind === 'value').map((r) => r.path);
    expect(paths.some((p) => p.startsWith('/v1.0/me/'))).toBe(true);
    expect(paths.some((p) => p.startsWith(`/v1.0/users/${encodeURIComponent(APPLICATION)}/`))).toBe(true);
  });

  it('a revoked grant nulls only that mailbox, answers PROVIDER_AUTH_FAILED and marks it as needing re-consent', async () => {
    const answer = await gateway.graphql<{ mailboxes: { address: string; conversations: { edges: unknown[] } | null }[] }>('{ mailboxes { address conversations(first: 5) { edges { node { subject } } } } }');
    const byAddress = new Map(answer.data!.mailboxes.map((m, i) => [m.address, { ...m, i }]));
    expect(byAddress.get(REVOKED)!.conversations).toBeNull();
    expect(byAddress.get(DELEGATED)!.conversations!.edges).toHaveLength(1);
    expect(byAddress.get(APPLICATION)!.conversations!.edges).toHaveLength(1);
    expect(answer.errors).toHaveLength(1);
    expect(answer.errors![0]!.extensions).toMatchObject({ code: 'PROVIDER_AUTH_FAILED', provider: 'MICROSOFT_GRAPH', mailboxId: ids.get(REVOKED) });
    const again = await gateway.graphql<{ mailboxes: { address: string; needsReconsent: boolean }[] }>('{ mailboxes { address needsReconsent } }');
    expect(again.data!.mailboxes.filter((m) => m.needsReconsent).map((m) => m.address)).toEqual([REVOKED]);
  });
});
