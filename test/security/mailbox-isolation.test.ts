/**
 * One failing mailbox spoils nothing else. A real gateway on loopback (real SQLite store) serves a
 * workspace with a good local mailbox (the corpus sample.mbox) and an IMAP mailbox whose port is
 * closed. Asking for every mailbox's conversations answers the good one in full; the bad one's
 * `conversations` is null with ONE error whose extensions name it (its GraphQL ID and provider)
 * beside the stable PROVIDER_UNAVAILABLE code. Before the fix the whole answer was `data: null`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusMbox, hasCorpus } from '../support/corpus.ts';
import { startE2eGateway, type E2eGateway } from '../support/gateway-e2e.ts';
import { freePort as closedPort } from '../support/net.ts';


const QUERY = `{
  mailboxes {
    id
    provider
    conversations(first: 5) {
      edges { node { id subject attachments { filename } messages(first: 5) { edges { node { id attachments { filename } } } } } }
    }
  }
}`;

interface Answer {
  data?: { mailboxes: { id: string; provider: string; conversations: { edges: unknown[] } | null }[] } | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
}

describe.skipIf(!hasCorpus)('a mailbox whose server is unreachable beside a good one', () => {
  let gateway: E2eGateway;

  beforeAll(async () => {
    gateway = await startE2eGateway();
    await gateway.addMailbox({ provider: 'LOCAL', address: null, displayName: 'good', settings: { path: corpusMbox }, credentials: null });
    await gateway.addMailbox({
      provider: 'IMAP',
      address: 'bad@example.test',
      displayName: 'closed port',
      settings: { host: '127.0.0.1', port: await closedPort(), user: 'nobody', tls: false },
      credentials: { password: 'x' },
    });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('answers the good mailbox in full and nulls only the bad one, naming it in the error', async () => {
    const started = Date.now();
    const answer = (await gateway.graphql(QUERY)) as Answer;
    const elapsed = Date.now() - started;
    expect(answer.data).not.toBeNull();
    const [good, bad] = answer.data!.mailboxes;
    expect(good!.provider).toBe('LOCAL');
    expect(good!.conversations!.edges.length).toBe(5);
    expect(bad!.provider).toBe('IMAP');
    expect(bad!.conversations).toBeNull();
    expect(answer.errors).toHaveLength(1);
    expect(answer.errors![0]!.path).toEqual(['mailboxes', 1, 'conversations']);
    expect(answer.errors![0]!.extensions).toEqual({ code: 'PROVIDER_UNAVAILABLE', mailboxId: bad!.id, provider: 'IMAP' });
    // A refused connection is answered at once, not after a timeout.
    expect(elapsed).toBeLessThan(5_000);
  });

  it('refuses IMAP search text with CR, LF or NUL as BAD_USER_INPUT before any IMAP command', async () => {
    // The IMAP mailbox's port is closed: reaching the server would give PROVIDER_UNAVAILABLE, so
    // BAD_USER_INPUT shows the text was refused before the provider was asked.
    const listed = (await gateway.graphql('{ mailboxes { id provider } }')) as { data: { mailboxes: { id: string; provider: string }[] } };
    const imapId = listed.data.mailboxes.find((m) => m.provider === 'IMAP')!.id;
    for (const search of ['a\r\nA1 LOGOUT', 'line\nfeed', 'nul\u0000byte', '\r']) {
      const answer = (await gateway.graphql('query($id: ID!, $s: String!) { node(id: $id) { ... on Mailbox { conversations(first: 1, filter: { search: $s }) { edges { node { id } } } } } }', {
        id: imapId,
        s: search,
      })) as Answer;
      expect(answer.errors?.[0]?.extensions?.code, JSON.stringify(search)).toBe('BAD_USER_INPUT');
      expect(answer.errors?.[0]?.message).toBe('search must not contain CR, LF or NUL characters');
    }
  });

  it('still answers the good mailbox alone, and stays healthy', async () => {
    const answer = (await gateway.graphql('{ mailboxes { provider conversations(first: 1) { edges { node { id } } } } }')) as Answer;
    expect(answer.data!.mailboxes[0]!.conversations!.edges).toHaveLength(1);
    expect((await fetch(`${gateway.url}/health`)).status).toBe(200);
  });
});
