/**
 * The conversation listing of Graph mailboxes (`src/providers/microsoft-graph/listing.ts`) over an
 * in-memory mailbox: conversations whose messages interleave across list reads are each shown once,
 * newest activity first, on whichever page holds their newest message; ties at one instant are
 * never cut; the attachment filter counts inline attachments; work per page is bounded.
 */
import { describe, expect, it } from 'vitest';
import type { ConversationInfo } from '../src/domain/mail.ts';
import { LISTING_LIMITS, listConversationPage, type ListedMessage, type ListingDeps } from '../src/providers/microsoft-graph/listing.ts';
import type { GraphConversation } from '../src/providers/microsoft-graph/mapping.ts';
import type { ConversationFilter } from '../src/providers/types.ts';
import { compareConversations } from '../src/threading/index.ts';

interface Mail {
  conversationId: string;
  receivedAt: number;
  /** 'none', 'file' or 'inline' (Graph's hasAttachments would be false for inline only). */
  attachment: 'none' | 'file' | 'inline';
}

/** A mailbox in memory with counters of list reads and conversation loads. */
function mailbox(mails: Mail[], readSize = 7) {
  const counts = { reads: 0, loads: 0 };
  const conversation = (id: string): GraphConversation | null => {
    const own = mails.filter((m) => m.conversationId === id);
    if (own.length === 0) return null;
    const newest = Math.max(...own.map((m) => m.receivedAt));
    const info: ConversationInfo = {
      key: id,
      subject: id,
      participants: [],
      lastMessageAt: new Date(newest),
      messageKeys: own.map((_, i) => `${id}/${i}`),
      hasAttachments: own.some((m) => m.attachment !== 'none'),
    };
    return { conversation: info, messages: [], newestReceived: newest };
  };
  const deps: ListingDeps = {
    scan({ upTo, since }) {
      const listed: ListedMessage[] = mails
        .filter((m) => (upTo === null || m.receivedAt <= upTo) && (since === null || m.receivedAt >= since))
        .sort((a, b) => b.receivedAt - a.receivedAt)
        .map((m) => ({ conversationId: m.conversationId, receivedAt: m.receivedAt }));
      let at = 0;
      return {
        get ended() {
          return at >= listed.length;
        },
        async next() {
          counts.reads++;
          const page = listed.slice(at, at + readSize);
          at += readSize;
          return page;
        },
      };
    },
    async load(keys) {
      counts.loads += keys.length;
      return keys.map(conversation);
    },
  };
  const expected = (filter?: ConversationFilter) =>
    [...new Set(mails.map((m) => m.conversationId))]
      .map((id) => conversation(id)!.conversation)
      .filter((c) => (filter?.hasAttachments == null || c.hasAttachments === filter.hasAttachments) && (!filter?.since || c.lastMessageAt! >= filter.since))
      .sort(compareConversations)
      .map((c) => c.key);
  return { deps, counts, expected };
}

/** Pages through everything; returns the keys shown and the page sizes. */
async function pageThrough(deps: ListingDeps, first: number, filter?: ConversationFilter) {
  const keys: string[] = [];
  const sizes: number[] = [];
  let after: string | null = null;
  for (let pages = 0; pages < 1000; pages++) {
    const { page }: Awaited<ReturnType<typeof listConversationPage>> = await listConversationPage(deps, { first, after, ...(filter ? { filter } : {}) });
    keys.push(...page.items.map((c) => c.key));
    sizes.push(page.items.length);
    if (!page.hasNextPage) return { keys, sizes };
    expect(page.endCursor).not.toBeNull();
    after = page.endCursor;
  }
  throw new Error('no end');
}

/** 30 conversations of 1-4 messages each, spread so their messages interleave, some at the same instant. */
function interleaved(): Mail[] {
  const mails: Mail[] = [];
  for (let c = 0; c < 30; c++) {
    for (let k = 0; k <= c % 4; k++) {
      mails.push({ conversationId: `c${String(c).padStart(2, '0')}`, receivedAt: Date.UTC(2026, 0, 1) + ((c * 7 + k * 37) % 90) * 60_000, attachment: c % 5 === 0 ? 'inline' : c % 3 === 0 ? 'file' : 'none' });
    }
  }
  return mails;
}

describe('Graph conversation listing', () => {
  it('shows every conversation once, newest activity first, across pages of any size', async () => {
    const box = mailbox(interleaved());
    for (const first of [1, 4, 10, 100]) {
      const { keys } = await pageThrough(box.deps, first);
      expect(keys, `first ${first}`).toEqual(box.expected());
    }
  });

  it('a first page without filter reads exactly `first` conversations', async () => {
    const box = mailbox(interleaved());
    const { page } = await listConversationPage(box.deps, { first: 10 });
    expect(page.items.map((c) => c.key)).toEqual(box.expected().slice(0, 10));
    expect(box.counts.loads).toBe(10);
    expect(page.hasNextPage).toBe(true);
  });

  it('never cuts conversations whose newest messages share one instant', async () => {
    const at = Date.UTC(2026, 5, 1);
    const mails: Mail[] = Array.from({ length: 9 }, (_, i) => ({ conversationId: `t${8 - i}`, receivedAt: at, attachment: 'none' as const }));
    mails.push({ conversationId: 'older', receivedAt: at - 1000, attachment: 'none' });
    const box = mailbox(mails, 2);
    for (const first of [1, 2, 3, 5]) expect((await pageThrough(box.deps, first)).keys, `first ${first}`).toEqual(box.expected());
  });

  it('hasAttachments counts inline attachments (which Graph hasAttachments ignores); since filters by newest message', async () => {
    const mails = interleaved();
    const box = mailbox(mails);
    const withAttachments = await pageThrough(box.deps, 3, { hasAttachments: true });
    expect(withAttachments.keys).toEqual(box.expected({ hasAttachments: true }));
    expect(withAttachments.keys).toContain('c05');
    expect(mails.filter((m) => m.conversationId === 'c05').every((m) => m.attachment === 'inline')).toBe(true);
    expect((await pageThrough(box.deps, 4, { hasAttachments: false })).keys).toEqual(box.expected({ hasAttachments: false }));
    const since = new Date(Date.UTC(2026, 0, 1) + 45 * 60_000);
    expect((await pageThrough(box.deps, 5, { since })).keys).toEqual(box.expected({ since }));
  });

  it('bounds the work of a page when the filter matches little, and still reaches the end', async () => {
    const mails: Mail[] = Array.from({ length: 400 }, (_, i) => ({ conversationId: `n${String(i).padStart(3, '0')}`, receivedAt: Date.UTC(2026, 0, 1) + i * 1000, attachment: i === 3 ? 'file' : 'none' }));
    const box = mailbox(mails, 50);
    const first = 5;
    const { page } = await listConversationPage(box.deps, { first, filter: { hasAttachments: true } });
    expect(page.items).toEqual([]);
    expect(page.hasNextPage).toBe(true);
    expect(box.counts.loads).toBeLessThanOrEqual(first * LISTING_LIMITS.maxCandidatesFactor);
    expect(box.counts.reads).toBeLessThanOrEqual(LISTING_LIMITS.maxListReads);
    const all = await pageThrough(box.deps, first, { hasAttachments: true });
    expect(all.keys).toEqual(['n003']);
  });

  it('refuses a foreign cursor and a page size out of range', async () => {
    const box = mailbox(interleaved());
    await expect(listConversationPage(box.deps, { first: 0 })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    await expect(listConversationPage(box.deps, { first: 5, after: 'https://evil.example/v1.0/me/messages' })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
  });
});
