/**
 * Incremental threading of the mail index against the shared threading module: random reply
 * graphs (duplicate, missing and blank Message-IDs, missing parents, undated mail, two folders)
 * inserted in random order and batches, with random expunges, must give the partition that
 * `linkByIds` per folder (UID order) gives on the whole set, and each conversation the id, subject,
 * count and newest date that `assembleConversation` gives its messages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assembleConversation, groupBy, linkByIds, mergeBySubject, UnionFind } from '../src/threading/index.ts';
import { decodeMessageKey, encodeMessageKey } from '../src/providers/imap/keys.ts';
import type { IndexedMessage } from '../src/mail-index/store.ts';
import { indexedMessage, openTestIndex, type TestIndex } from './support/mail-index.ts';

/** mulberry32: a small seeded PRNG, so a failing case can be replayed by its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Generated extends IndexedMessage {
  folder: string;
}

const FOLDERS = ['INBOX', 'Sent'] as const;
const UIDV = { INBOX: 11, Sent: 12 } as const;
const keyOf = (m: Generated) => encodeMessageKey({ folder: m.folder, uidValidity: UIDV[m.folder as 'INBOX' | 'Sent'], uid: m.uid });

function generate(random: () => number, count: number): Generated[] {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const idPool = Array.from({ length: Math.max(3, Math.floor(count * 0.8)) }, (_, i) => `<id${i}@Example.org>`);
  const uids = { INBOX: 0, Sent: 0 };
  const out: Generated[] = [];
  for (let i = 0; i < count; i++) {
    const folder = random() < 0.75 ? 'INBOX' : 'Sent';
    uids[folder] += 1 + Math.floor(random() * 3);
    const r = random();
    // Duplicates happen (pool smaller than the set); case differs to exercise normalisation.
    const messageId = r < 0.08 ? null : r < 0.12 ? '  ' : pick(idPool).replace('Example', random() < 0.5 ? 'example' : 'EXAMPLE');
    const refs = Array.from({ length: Math.floor(random() * 3) }, () => pick(idPool));
    const dateRoll = random();
    const date = dateRoll < 0.1 ? null : new Date(Date.UTC(2024, 0, 1) + Math.floor(random() * 20) * 3_600_000);
    const hasFile = random() < 0.3;
    out.push({
      ...indexedMessage(uids[folder], {
        messageId,
        inReplyTo: random() < 0.4 ? pick(idPool) : null,
        references: refs,
        // A small pool of subjects, some equal once reply prefixes and blobs are stripped, some empty.
        subject: random() < 0.5 ? `s${i}` : pick(['Lunch', 'Re: Lunch', '[team] Re: lunch', 'Lunch (fwd)', 'Plans', 'Fwd: Plans', '', 'Re:', null]),
        date,
        attachments: [],
        attachmentCount: hasFile ? 1 : 0,
      }),
      folder,
    });
  }
  return out;
}

/** The reference: each folder linked in UID order into one union-find, then threads merged by base subject. */
function referenceGroups(messages: readonly Generated[]): (Generated & { key: string })[][] {
  const uf = new UnionFind();
  const keyed = messages.map((m) => ({ ...m, key: keyOf(m) }));
  for (const folder of FOLDERS) linkByIds(uf, keyed.filter((m) => m.folder === folder).sort((a, b) => a.uid - b.uid));
  const sorted = [...keyed].sort((a, b) => (a.folder !== b.folder ? (a.folder < b.folder ? -1 : 1) : a.uid - b.uid));
  mergeBySubject(uf, sorted);
  return groupBy(uf, sorted);
}

function shuffle<T>(random: () => number, list: T[]): T[] {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return list;
}

describe('incremental threading equals threading the whole set', () => {
  let t: TestIndex;
  beforeAll(async () => {
    t = await openTestIndex();
  });
  afterAll(async () => {
    await t?.close();
  });

  async function check(mb: string, present: readonly Generated[]): Promise<void> {
    const expected = referenceGroups(present);
    const stored = await t.index.loadMessages(
      mb,
      present.map((m) => ({ folder: m.folder, uidValidity: UIDV[m.folder as 'INBOX' | 'Sent'], uid: m.uid })),
    );
    const convOf = new Map(present.map((m, i) => [keyOf(m), stored[i]!.conversationKey]));
    // Same partition: every reference group maps to one conversation, distinct groups to distinct ones.
    const seen = new Set<string>();
    for (const group of expected) {
      const ids = new Set(group.map((m) => convOf.get(m.key)));
      expect(ids.size).toBe(1);
      const id = [...ids][0]!;
      expect(seen.has(id)).toBe(false);
      seen.add(id);
      const assembled = assembleConversation(group.map((m) => ({ ...m, hasAttachments: m.attachmentCount > 0 })));
      expect(id).toBe(assembled.key);
    }
    const page = await t.index.listConversations(mb, { first: 1000 });
    expect(page.items).toHaveLength(expected.length);
    const [loaded] = await Promise.all([t.index.loadConversations(mb, page.items.map((c) => c.id))]);
    for (const [i, row] of page.items.entries()) {
      const info = loaded[i]!;
      expect(row.messageCount).toBe(info.messageKeys.length);
      expect(row.subject).toBe(info.subject);
      expect(row.lastMessageAt?.getTime() ?? null).toBe(info.lastMessageAt?.getTime() ?? null);
      expect(row.hasAttachments).toBe(info.hasAttachments);
    }
  }

  it('random reply graphs, random insertion order and batches, random expunges (seeded)', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const random = prng(seed);
      const messages = generate(random, 6 + Math.floor(random() * 30));
      const mb = await t.addMailbox();
      for (const folder of FOLDERS) await t.index.ensureFolder(mb, folder, folder === 'INBOX' ? 'RECEIVED' : 'SENT');
      const order = shuffle(random, [...messages]);
      const present: Generated[] = [];
      try {
        while (order.length > 0) {
          const batch = order.splice(0, 1 + Math.floor(random() * 5));
          for (const folder of FOLDERS) {
            const mine = batch.filter((m) => m.folder === folder);
            await t.index.putMessages(mb, folder, UIDV[folder], folder === 'INBOX' ? 'RECEIVED' : 'SENT', mine);
          }
          present.push(...batch);
          if (random() < 0.25 && present.length > 1) {
            const gone = present.splice(Math.floor(random() * present.length), 1)[0]!;
            await t.index.removeMessages(mb, gone.folder, [gone.uid]);
          }
        }
        await check(mb, present);
      } catch (error) {
        throw new Error(`seed ${seed}: ${(error as Error).message}`, { cause: error });
      }
    }
  });

  it('a message linking two conversations merges them; the older conversation keeps its id', async () => {
    const mb = await t.addMailbox();
    await t.index.ensureFolder(mb, 'INBOX', 'RECEIVED');
    const a = { ...indexedMessage(1, { messageId: '<a@x>', date: new Date('2024-01-01T00:00:00Z') }), folder: 'INBOX' };
    const b = { ...indexedMessage(2, { messageId: '<b@x>', date: new Date('2024-01-02T00:00:00Z') }), folder: 'INBOX' };
    const c = { ...indexedMessage(3, { messageId: '<c@x>', references: ['<b@x>', '<a@x>'], date: new Date('2024-01-03T00:00:00Z') }), folder: 'INBOX' };
    await t.index.putMessages(mb, 'INBOX', 11, 'RECEIVED', [b]);
    await t.index.putMessages(mb, 'INBOX', 11, 'RECEIVED', [a]);
    expect((await t.index.listConversations(mb, { first: 10 })).items.map((x) => x.id)).toEqual([keyOf(b), keyOf(a)]);
    await t.index.putMessages(mb, 'INBOX', 11, 'RECEIVED', [c]);
    const page = await t.index.listConversations(mb, { first: 10 });
    expect(page.items.map((x) => [x.id, x.messageCount, x.lastMessageAt?.toISOString()])).toEqual([[keyOf(a), 3, '2024-01-03T00:00:00.000Z']]);
    await check(mb, [a, b, c]);
  });

  it('groups duplicate Message-IDs, missing parents, base subjects and Sent replies as the IMAP provider test expects', async () => {
    const mb = await t.addMailbox();
    for (const folder of FOLDERS) await t.index.ensureFolder(mb, folder, folder === 'INBOX' ? 'RECEIVED' : 'SENT');
    const at = (n: number) => new Date(Date.UTC(2024, 0, n));
    const inbox = [
      indexedMessage(1, { messageId: '<dup@x>', subject: 'Alpha', date: at(1) }),
      indexedMessage(2, { messageId: '<dup@x>', subject: 'Beta', date: at(2) }),
      indexedMessage(3, { messageId: '<g@x>', subject: 'Gamma', date: at(3), inReplyTo: '<dup@x>' }),
      indexedMessage(4, { messageId: '<d@x>', subject: 'Re: Delta', date: at(4), references: ['<missing@x>'] }),
      indexedMessage(5, { messageId: '<e@x>', subject: 'Delta', date: at(5) }),
      indexedMessage(6, { messageId: '<f@x>', subject: 'Epsilon', date: at(6), references: ['<missing@x>'] }),
      indexedMessage(7, { messageId: '<h@x>', subject: '[list] Re: Eta', date: at(7) }),
      indexedMessage(8, { messageId: '<i@x>', subject: 'Eta (fwd)', date: at(8) }),
    ];
    const sent = [indexedMessage(1, { messageId: '<dup@x>', subject: 'Alpha', date: at(1) }), indexedMessage(2, { messageId: '<l@x>', subject: 'Lambda', date: at(10), inReplyTo: '<e@x>' })];
    // Newest first, as a first sync stores them.
    for (const m of [...inbox].reverse()) await t.index.putMessages(mb, 'INBOX', 11, 'RECEIVED', [m]);
    for (const m of [...sent].reverse()) await t.index.putMessages(mb, 'Sent', 12, 'SENT', [m]);
    const page = await t.index.listConversations(mb, { first: 10 });
    const conversations = await t.index.loadConversations(mb, page.items.map((c) => c.id));
    const messages = await t.index.loadMessages(mb, conversations.flatMap((c) => c!.messageKeys.map((k) => decodeMessageKey(k)!)));
    const subjectOf = new Map(messages.map((m) => [m!.key, m!.subject]));
    const bySubject = conversations.map((c) => c!.messageKeys.map((k) => subjectOf.get(k)).sort()).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    expect(bySubject).toEqual([['Alpha', 'Alpha', 'Gamma'], ['Beta'], ['Delta', 'Epsilon', 'Lambda', 'Re: Delta'], ['Eta (fwd)', '[list] Re: Eta']]);
  });
});
