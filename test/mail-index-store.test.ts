import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMessageKey } from '../src/providers/imap/keys.ts';
import type { IndexedAttachment } from '../src/mail-index/store.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';
import { indexedMessage, openTestIndex, type TestIndex } from './support/mail-index.ts';

// Null (after a loud warning) without PostgreSQL: its cases are then skipped.
const pgDb: TestDatabase | null = await createTestDatabase();
afterAll(async () => {
  await pgDb?.drop();
});

const key = (uid: number, folder = 'INBOX', uidValidity = 7) => encodeMessageKey({ folder, uidValidity, uid });
const pdf: IndexedAttachment = { partId: '2', filename: 'report é.pdf', contentType: 'application/pdf', encoding: 'base64', size: 1234, sizeExact: true, contentId: null, disposition: 'ATTACHMENT', kind: 'FILE', downloadable: true };

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe.skipIf(dialect === 'postgres' && !pgDb)(`mail index store on ${dialect}`, () => {
    let t: TestIndex;
    beforeAll(async () => {
      t = await openTestIndex(dialect === 'postgres' ? { dialect: 'postgres', url: pgDb!.url } : undefined);
    });
    afterAll(async () => {
      await t?.close();
    });

    it('round trip: messages, attachments, flags; nothing of the bytes; a missing UID or a stale UIDVALIDITY reads null', async () => {
      const mb = await t.addMailbox();
      await t.index.ensureFolder(mb, 'INBOX', 'RECEIVED');
      const added = await t.index.putMessages(mb, 'INBOX', 7, 'RECEIVED', [
        indexedMessage(1, { attachments: [pdf], attachmentCount: 1, flags: ['\\Seen'], cc: [{ name: 'Ça va', address: 'c@example.org' }], references: ['<a@x>', '<b@x>'] }),
        indexedMessage(2, { date: null, subject: null, from: null, messageId: null, size: null }),
      ]);
      expect(added).toBe(2);
      expect(await t.index.putMessages(mb, 'INBOX', 7, 'RECEIVED', [indexedMessage(1)])).toBe(0);
      const [one, two, none, stale] = await t.index.loadMessages(mb, [
        { folder: 'INBOX', uidValidity: 7, uid: 1 },
        { folder: 'INBOX', uidValidity: 7, uid: 2 },
        { folder: 'INBOX', uidValidity: 7, uid: 3 },
        { folder: 'INBOX', uidValidity: 8, uid: 1 },
      ]);
      expect(one).toMatchObject({
        key: key(1),
        conversationKey: key(1),
        uid: 1,
        subject: 'Message 1',
        from: { name: 'Alice', address: 'alice@example.org' },
        cc: [{ name: 'Ça va', address: 'c@example.org' }],
        references: ['<a@x>', '<b@x>'],
        flags: ['\\Seen'],
        size: 1001,
        direction: 'RECEIVED',
        attachments: [pdf],
        attachmentCount: 1,
        attachmentsTruncated: false,
      });
      expect(one?.date?.toISOString()).toBe(new Date(Date.UTC(2024, 0, 1) + 60_000).toISOString());
      expect(two).toMatchObject({ key: key(2), date: null, subject: null, from: null, messageId: null, size: null, attachments: [] });
      expect(none).toBeNull();
      expect(stale).toBeNull();

      await t.index.setFlags(mb, 'INBOX', [{ uid: 1, flags: ['\\Seen', '\\Flagged'] }]);
      await t.index.setAttachmentSize(mb, 'INBOX', 1, '2', 999, false);
      const [again] = await t.index.loadMessages(mb, [{ folder: 'INBOX', uidValidity: 7, uid: 1 }]);
      expect(again?.flags).toEqual(['\\Seen', '\\Flagged']);
      expect(again?.attachments[0]).toMatchObject({ size: 999, sizeExact: false });
      expect((await t.index.folder(mb, 'INBOX'))?.syncedMessages).toBe(2);
    });

    it('keyset pages: newest activity first, undated last, ties by id, no skip or repeat; hasAttachments and since filters', async () => {
      const mb = await t.addMailbox();
      await t.index.ensureFolder(mb, 'INBOX', 'RECEIVED');
      const same = new Date('2024-05-01T00:00:00Z');
      const messages = [];
      for (let uid = 1; uid <= 23; uid++) {
        const date = uid <= 6 ? same : uid <= 8 ? null : new Date(Date.UTC(2024, 0, uid));
        messages.push(indexedMessage(uid, { date, ...(uid % 3 === 0 ? { attachments: [pdf], attachmentCount: 1 } : {}) }));
      }
      await t.index.putMessages(mb, 'INBOX', 7, 'RECEIVED', messages);
      const seen: string[] = [];
      let after = null;
      for (;;) {
        const page = await t.index.listConversations(mb, { first: 5, after });
        seen.push(...page.items.map((c) => c.id));
        if (!page.hasNextPage) break;
        after = page.items.at(-1)!.position;
      }
      const sameIds = [1, 2, 3, 4, 5, 6].map((u) => key(u)).sort();
      const dated = Array.from({ length: 15 }, (_, i) => key(23 - i));
      const undated = [key(7), key(8)].sort();
      expect(seen).toEqual([...sameIds, ...dated, ...undated]);

      const withFiles = await t.index.listConversations(mb, { first: 100, hasAttachments: true });
      expect(withFiles.items.map((c) => c.id).sort()).toEqual([3, 6, 9, 12, 15, 18, 21].map((u) => key(u)).sort());
      expect(withFiles.items.every((c) => c.hasAttachments)).toBe(true);
      const without = await t.index.listConversations(mb, { first: 100, hasAttachments: false });
      expect(without.items).toHaveLength(16);
      const since = await t.index.listConversations(mb, { first: 100, since: new Date(Date.UTC(2024, 0, 20)) });
      expect(since.items.map((c) => c.id)).toEqual([...sameIds, key(23), key(22), key(21), key(20)]);
    });

    it('ties of the listing order compare ids as compareConversations does (byte-wise, whatever the server locale)', async () => {
      const mb = await t.addMailbox();
      const when = new Date('2024-03-01T00:00:00Z');
      for (const folder of ['alpha', 'Zeta', 'beta']) {
        await t.index.ensureFolder(mb, folder, 'RECEIVED');
        await t.index.putMessages(mb, folder, 7, 'RECEIVED', [indexedMessage(1, { date: when, messageId: `<${folder}@x>`, subject: `About ${folder}` })]);
      }
      const ids = (await t.index.listConversations(mb, { first: 10 })).items.map((c) => c.id);
      expect(ids).toEqual([key(1, 'Zeta'), key(1, 'alpha'), key(1, 'beta')]);
      const second = await t.index.listConversations(mb, { first: 2, after: (await t.index.listConversations(mb, { first: 1 })).items[0]!.position });
      expect(second.items.map((c) => c.id)).toEqual([key(1, 'alpha'), key(1, 'beta')]);
    });

    it('conversations across INBOX and Sent: a reply kept in Sent joins; loadConversations assembles oldest first', async () => {
      const mb = await t.addMailbox();
      await t.index.ensureFolder(mb, 'INBOX', 'RECEIVED');
      await t.index.ensureFolder(mb, 'Sent', 'SENT');
      await t.index.putMessages(mb, 'INBOX', 7, 'RECEIVED', [indexedMessage(1, { messageId: '<q@x>', subject: 'Question' })]);
      await t.index.putMessages(mb, 'Sent', 9, 'SENT', [
        indexedMessage(5, { messageId: '<a@x>', inReplyTo: '<Q@x>', subject: 'Re: Question', from: { name: null, address: 'me@x' }, attachments: [pdf], attachmentCount: 1 }),
      ]);
      const page = await t.index.listConversations(mb, { first: 10 });
      expect(page.items).toEqual([
        { id: key(1), subject: 'Question', lastMessageAt: new Date(Date.UTC(2024, 0, 1) + 5 * 60_000), messageCount: 2, hasAttachments: true, position: expect.any(Object) },
      ]);
      const [conversation, missing] = await t.index.loadConversations(mb, [key(1), key(99)]);
      expect(conversation).toMatchObject({ key: key(1), subject: 'Question', messageKeys: [key(1), key(5, 'Sent', 9)], hasAttachments: true });
      expect(conversation?.participants.map((p) => p.address)).toEqual(['alice@example.org', 'bob@example.org', 'me@x']);
      expect(missing).toBeNull();
    });

    it('expunge splits a conversation whose link is gone; ids stay the oldest member key', async () => {
      const mb = await t.addMailbox();
      await t.index.ensureFolder(mb, 'INBOX', 'RECEIVED');
      // 2 links 1 and 3 (3 names only 2); expunging 2 leaves 1 and 3 apart.
      await t.index.putMessages(mb, 'INBOX', 7, 'RECEIVED', [
        indexedMessage(1, { messageId: '<1@x>' }),
        indexedMessage(2, { messageId: '<2@x>', references: ['<1@x>'] }),
        indexedMessage(3, { messageId: '<3@x>', inReplyTo: '<2@x>' }),
      ]);
      expect((await t.index.listConversations(mb, { first: 10 })).items.map((c) => [c.id, c.messageCount])).toEqual([[key(1), 3]]);
      expect(await t.index.removeMessages(mb, 'INBOX', [2, 42])).toBe(1);
      expect((await t.index.listConversations(mb, { first: 10 })).items.map((c) => [c.id, c.messageCount])).toEqual([
        [key(3), 1],
        [key(1), 1],
      ]);
      // A new message naming <2@x> still joins 3 (the missing parent's id is known through 3).
      await t.index.putMessages(mb, 'INBOX', 7, 'RECEIVED', [indexedMessage(4, { references: ['<2@x>'] })]);
      expect((await t.index.loadMessages(mb, [{ folder: 'INBOX', uidValidity: 7, uid: 4 }]))[0]?.conversationKey).toBe(key(3));
      expect(await t.index.uids(mb, 'INBOX')).toEqual([1, 3, 4]);
      expect((await t.index.folder(mb, 'INBOX'))?.syncedMessages).toBe(3);
    });

    it('UIDVALIDITY reset: the folder is emptied, its conversations re-threaded, old keys read null', async () => {
      const mb = await t.addMailbox();
      await t.index.ensureFolder(mb, 'INBOX', 'RECEIVED');
      await t.index.ensureFolder(mb, 'Sent', 'SENT');
      await t.index.putMessages(mb, 'INBOX', 7, 'RECEIVED', [indexedMessage(1, { messageId: '<q@x>', attachments: [pdf], attachmentCount: 1 }), indexedMessage(2)]);
      await t.index.putMessages(mb, 'Sent', 9, 'SENT', [indexedMessage(3, { messageId: '<r@x>', inReplyTo: '<q@x>' })]);
      await t.index.updateFolder(mb, 'INBOX', { uidNext: 3, messages: 2, syncState: 'current', highestModseq: 2n ** 62n + 1n });
      expect((await t.index.folder(mb, 'INBOX'))?.highestModseq).toBe(2n ** 62n + 1n);

      await t.index.resetFolder(mb, 'INBOX', 8);
      expect(await t.index.folder(mb, 'INBOX')).toMatchObject({ uidValidity: 8, uidNext: 1, messages: 0, highestModseq: null, syncState: 'initial', syncedMessages: 0 });
      expect(await t.index.loadMessages(mb, [{ folder: 'INBOX', uidValidity: 7, uid: 1 }])).toEqual([null]);
      const page = await t.index.listConversations(mb, { first: 10 });
      expect(page.items.map((c) => [c.id, c.messageCount, c.hasAttachments])).toEqual([[key(3, 'Sent', 9), 1, false]]);
      const raw = await t.connection.db.selectFrom('mail_attachments').select('uid').where('mailbox_id', '=', mb).execute();
      expect(raw).toEqual([]);
    });

    it('lease: one holder at a time across two store instances; renewed by its holder; taken over once expired; released', async () => {
      const mb = await t.addMailbox();
      await t.index.ensureFolder(mb, 'INBOX', 'RECEIVED');
      const other = await t.another();
      try {
        expect(await t.index.takeLease(mb, 'INBOX', 'proc-a', 60_000)).toBe(true);
        expect(await other.index.takeLease(mb, 'INBOX', 'proc-b', 60_000)).toBe(false);
        expect(await t.index.takeLease(mb, 'INBOX', 'proc-a', 60_000)).toBe(true);
        // Both racing for a free lease: exactly one wins.
        await t.index.releaseLease(mb, 'INBOX', 'proc-a');
        const race = await Promise.all([t.index.takeLease(mb, 'INBOX', 'proc-a', 60_000), other.index.takeLease(mb, 'INBOX', 'proc-b', 60_000)]);
        expect(race.filter(Boolean)).toHaveLength(1);
        const holder = race[0] ? 'proc-a' : 'proc-b';
        const loser = race[0] ? other.index : t.index;
        const loserName = race[0] ? 'proc-b' : 'proc-a';
        expect((await t.index.folder(mb, 'INBOX'))?.leaseOwner).toBe(holder);
        // An expired lease is free for the other.
        await t.connection.db.updateTable('mail_folders').set({ lease_expires_at: new Date(Date.now() - 1000).toISOString() }).where('mailbox_id', '=', mb).execute();
        expect(await loser.takeLease(mb, 'INBOX', loserName, 60_000)).toBe(true);
        await loser.releaseLease(mb, 'INBOX', holder);
        expect((await t.index.folder(mb, 'INBOX'))?.leaseOwner).toBe(loserName);
        await loser.releaseLease(mb, 'INBOX', loserName);
        expect((await t.index.folder(mb, 'INBOX'))?.leaseOwner).toBeNull();
      } finally {
        await other.close();
      }
    });

    it('removing the mailbox removes its index', async () => {
      const mb = await t.addMailbox();
      await t.index.ensureFolder(mb, 'INBOX', 'RECEIVED');
      await t.index.putMessages(mb, 'INBOX', 7, 'RECEIVED', [indexedMessage(1, { attachments: [pdf], attachmentCount: 1 })]);
      await t.connection.db.deleteFrom('mailboxes').where('id', '=', mb).execute();
      for (const table of ['mail_folders', 'mail_messages', 'mail_attachments', 'mail_conversations', 'mail_threads', 'mail_thread_ids'] as const) {
        expect(await t.connection.db.selectFrom(table).select('mailbox_id').where('mailbox_id', '=', mb).execute()).toEqual([]);
      }
    });
  });
}
