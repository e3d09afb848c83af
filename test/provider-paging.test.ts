/**
 * The one pagination helper of providers (`src/providers/paging.ts`): keyset list cursors over a
 * list held whole, the cursors issued before it (local `lc1`, IMAP `imap1:`), forged cursors, a
 * hostile scan, and the native page token pass-through of server-paged providers (Gmail).
 */
import { describe, expect, it } from 'vitest';
import type { ConversationInfo } from '../src/domain/mail.ts';
import { decodeListCursor, encodeListCursor, nativePage, nativePageToken, pageOfList } from '../src/providers/paging.ts';
import { compareConversations } from '../src/threading/index.ts';

function conv(key: string, at: number | null): ConversationInfo {
  return { key, subject: key, participants: [], lastMessageAt: at === null ? null : new Date(at), messageKeys: [key], hasAttachments: false };
}

/** 60 conversations with ties on the time and undated ones, in listing order. */
function list(): ConversationInfo[] {
  const out: ConversationInfo[] = [];
  for (let i = 0; i < 60; i++) out.push(conv(`k${String(i).padStart(2, '0')}`, i % 7 === 0 ? null : 1_700_000_000_000 + Math.floor(i / 3) * 1000));
  return out.sort(compareConversations);
}

async function all(items: ConversationInfo[], first: number, matches?: (c: ConversationInfo) => boolean): Promise<{ keys: string[]; pages: number }> {
  const keys: string[] = [];
  let after: string | null = null;
  let pages = 0;
  for (;;) {
    const page = await pageOfList(items, { first, after }, matches ? { matches } : {});
    pages++;
    keys.push(...page.items.map((c) => c.key));
    if (!page.hasNextPage) {
      expect(page.endCursor).toBeNull();
      return { keys, pages };
    }
    expect(page.items).toHaveLength(first);
    after = page.endCursor;
  }
}

describe('pageOfList', () => {
  it.each([1, 7, 20, 59, 60, 100])('pages of %i cover every conversation once, in listing order (ties by key, undated last)', async (first) => {
    const items = list();
    const { keys, pages } = await all(items, first);
    expect(keys).toEqual(items.map((c) => c.key));
    expect(pages).toBe(Math.max(1, Math.ceil(60 / first)));
    expect(items.at(-1)?.lastMessageAt).toBeNull();
  });

  it('applies the filter before counting the page', async () => {
    const items = list();
    const even = (c: ConversationInfo) => Number(c.key.slice(1)) % 2 === 0;
    expect((await all(items, 4, even)).keys).toEqual(items.filter(even).map((c) => c.key));
  });

  it('resumes after the last item shown even when newer conversations arrive between pages (keyset, not offset)', async () => {
    const items = list();
    const first = await pageOfList(items, { first: 10 });
    const grown = [conv('new1', 1_800_000_000_000), conv('new2', 1_800_000_000_001), ...items].sort(compareConversations);
    const second = await pageOfList(grown, { first: 10, after: first.endCursor });
    expect(second.items.map((c) => c.key)).toEqual(items.slice(10, 20).map((c) => c.key));
  });

  it('reads the cursors issued before the helper: the local store lc1 and IMAP imap1: formats', async () => {
    const items = list();
    const fifth = items[4]!;
    const local = Buffer.from(JSON.stringify(['lc1', fifth.lastMessageAt?.getTime() ?? null, fifth.key]), 'utf8').toString('base64url');
    expect(local).toBe(encodeListCursor(fifth));
    expect((await pageOfList(items, { first: 3, after: local })).items).toEqual(items.slice(5, 8));
    const imap = Buffer.from(`imap1:${JSON.stringify([fifth.lastMessageAt!.getTime(), fifth.key])}`, 'utf8').toString('base64url');
    expect(decodeListCursor(imap)).toEqual({ at: fifth.lastMessageAt!.getTime(), key: fifth.key });
    expect((await pageOfList(items, { first: 3, after: imap })).items).toEqual(items.slice(5, 8));
    // IMAP wrote 0 for an undated conversation.
    const undated = Buffer.from(`imap1:${JSON.stringify([0, 'k07'])}`, 'utf8').toString('base64url');
    expect(decodeListCursor(undated)).toEqual({ at: null, key: 'k07' });
  });

  it('refuses forged cursors and a bad first with BAD_USER_INPUT', async () => {
    const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
    const forged = [
      '',
      'not base64!',
      b64('[]'),
      b64('["lc1",1]'),
      b64('["lc2",1,"k"]'),
      b64('["lc1","1","k"]'),
      b64('["lc1",1,""]'),
      b64('["lc1",1,5]'),
      b64('imap1:[1]'),
      b64('imap1:"x"'),
      b64('imap1:[null,"k"]'),
      b64('{"lc1":1}'),
      'A'.repeat(5000),
    ];
    for (const after of forged) await expect(pageOfList(list(), { first: 5, after }), after.slice(0, 40)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    for (const first of [0, 101, 1.5, Number.NaN]) await expect(pageOfList(list(), { first })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
  });

  it('scans 300,000 conversations that all fail the filter in linear time, and stops on abort', async () => {
    const big = Array.from({ length: 300_000 }, (_, i) => conv(`c${i}`, 1_700_000_000_000 - i));
    const started = performance.now();
    const page = await pageOfList(big, { first: 10 }, { matches: () => false });
    expect(page).toEqual({ items: [], hasNextPage: false, endCursor: null });
    expect(performance.now() - started).toBeLessThan(10_000);
    const controller = new AbortController();
    const reason = new Error('client went away');
    controller.abort(reason);
    await expect(pageOfList(big, { first: 10 }, { matches: () => false, signal: controller.signal })).rejects.toBe(reason);
  });
});

describe('native page tokens (server-paged providers: Gmail pageToken / nextPageToken)', () => {
  it('passes the token through unchanged both ways', () => {
    expect(nativePageToken(null)).toBeUndefined();
    expect(nativePageToken(undefined)).toBeUndefined();
    expect(nativePageToken('09876543210123456789')).toBe('09876543210123456789');
    expect(nativePage(['a'], '09876543210123456789')).toEqual({ items: ['a'], endCursor: '09876543210123456789', hasNextPage: true });
    expect(nativePage(['a'], undefined)).toEqual({ items: ['a'], endCursor: null, hasNextPage: false });
    expect(nativePage([], '')).toEqual({ items: [], endCursor: null, hasNextPage: false });
  });

  it('refuses a token that no upstream issues (empty, spaces, control characters, non-ASCII, too long)', () => {
    for (const bad of ['', 'a b', 'a\r\nHost: x', 'tok\u0000', 'jeton-é', 'x'.repeat(4097)]) {
      expect(() => nativePageToken(bad)).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
    }
  });
});
