/**
 * The shared threading module (`src/threading/`): linking by msg-ids with the duplicate
 * Message-ID rule, the optional RFC 5256 base-subject merge, and ConversationInfo assembly.
 */
import { describe, expect, it } from 'vitest';
import type { Address, ConversationInfo } from '../src/domain/mail.ts';
import { assembleConversation, baseSubject, type AssemblableMessage, type LinkableMessage, compareConversations, groupBy, joinMessages, linkByIds, participantsOf, threadMessages, UnionFind } from '../src/threading/index.ts';

/** A message both halves of the threading module read: linking (ids) and assembly (the rest). */
type Msg = Required<LinkableMessage> & AssemblableMessage & { date: number | null };

const addr = (address: string | null, name: string | null = null): Address => ({ name, address });

function msg(key: string, fields: Partial<Omit<Msg, 'key'>> = {}): Msg {
  return { key, messageId: `<${key}@x>`, inReplyTo: null, references: [], subject: key, from: null, to: [], cc: [], date: null, hasAttachments: false, ...fields };
}

/** Threads as lists of keys. */
const keysOf = (groups: Msg[][]): string[][] => groups.map((g) => g.map((m) => m.key));

describe('threadMessages (links by Message-ID / In-Reply-To / References)', () => {
  it('joins a reply chain and keeps input order within and between threads', () => {
    const messages = [
      msg('a'),
      msg('other'),
      msg('b', { inReplyTo: '<a@x>', references: ['<a@x>'] }),
      msg('c', { inReplyTo: '<b@x>', references: ['<a@x>', '<b@x>'] }),
    ];
    expect(keysOf(threadMessages(messages))).toEqual([['a', 'b', 'c'], ['other']]);
  });

  it('links through References alone and through In-Reply-To alone', () => {
    expect(keysOf(threadMessages([msg('a'), msg('b', { references: ['<a@x>'] })]))).toEqual([['a', 'b']]);
    expect(keysOf(threadMessages([msg('a'), msg('b', { inReplyTo: '<a@x>' })]))).toEqual([['a', 'b']]);
    // A reply listed before its parent still joins it.
    expect(keysOf(threadMessages([msg('b', { references: ['<a@x>'] }), msg('a')]))).toEqual([['b', 'a']]);
  });

  it('joins replies to a missing parent', () => {
    const messages = [msg('b', { references: ['<gone@x>'] }), msg('lonely'), msg('c', { inReplyTo: '<gone@x>' })];
    expect(keysOf(threadMessages(messages))).toEqual([['b', 'c'], ['lonely']]);
  });

  it('compares msg-ids trimmed and case-insensitively', () => {
    expect(keysOf(threadMessages([msg('a', { messageId: ' <A@X> ' }), msg('b', { inReplyTo: '<a@x>' })]))).toEqual([['a', 'b']]);
  });

  it('gives a duplicate Message-ID to the first message only', () => {
    const messages = [
      msg('first', { messageId: '<dup@x>' }),
      msg('second', { messageId: '<dup@x>' }),
      msg('reply', { inReplyTo: '<dup@x>' }),
      // A duplicate that replies into a thread still joins that thread.
      msg('third', { messageId: '<dup@x>', references: ['<other@x>'] }),
      msg('other', { messageId: '<other@x>' }),
    ];
    expect(keysOf(threadMessages(messages))).toEqual([['first', 'reply'], ['second'], ['third', 'other']]);
  });

  it('never links by a missing or blank id', () => {
    const messages = [msg('a', { messageId: null }), msg('b', { messageId: null }), msg('c', { messageId: '  ' }), msg('d', { messageId: '  ' })];
    expect(keysOf(threadMessages(messages))).toEqual([['a'], ['b'], ['c'], ['d']]);
  });

  it('merges by RFC 5256 base subject only when asked', () => {
    const messages = [
      msg('a', { subject: 'Report', date: 2 }),
      msg('b', { subject: 'Re: [team] RE: Report', date: 1 }),
      msg('c', { subject: 'Fwd: Report (fwd)', date: 3 }),
      msg('d', { subject: 'Re: ', date: 4 }),
      msg('e', { subject: null, date: 5 }),
      msg('f', { subject: 'Other', date: 6 }),
    ];
    expect(keysOf(threadMessages(messages))).toEqual([['a'], ['b'], ['c'], ['d'], ['e'], ['f']]);
    // Empty base subjects ("Re: ", none) never merge.
    expect(keysOf(threadMessages(messages, { mergeSubjects: true }))).toEqual([['a', 'b', 'c'], ['d'], ['e'], ['f']]);
  });

  it('merges threads by the subject of their oldest message', () => {
    const messages = [
      msg('root', { subject: 'Plan', date: 1 }),
      msg('reply', { subject: 'Budget', inReplyTo: '<root@x>', date: 2 }),
      msg('budget', { subject: 'Budget', date: 3 }),
      msg('plan2', { subject: 'Re: Plan', date: 4 }),
    ];
    expect(keysOf(threadMessages(messages, { mergeSubjects: true }))).toEqual([['root', 'reply', 'plan2'], ['budget']]);
  });
});

describe('baseSubject (RFC 5256 §2.1)', () => {
  it.each([
    ['Re: hello', 'hello'],
    ['RE: Re: Fwd: hello', 'hello'],
    ['Re[2]: hello', 'hello'],
    ['[list] Re: hello', 'hello'],
    ['[Fwd: hello]', 'hello'],
    ['hello (fwd) (fwd)', 'hello'],
    ['  hello   world  ', 'hello world'],
    ['[only a blob]', '[only a blob]'],
    ['Re:', ''],
    [null, ''],
  ])('%j → %j', (input, expected) => {
    expect(baseSubject(input)).toBe(expected);
  });
});

describe('joinMessages + linkByIds (server groups plus header links)', () => {
  it('joins server groups and links across them by msg-id', () => {
    const inbox = [msg('i1'), msg('i2'), msg('i3')];
    const sent = [msg('s1', { inReplyTo: '<i3@x>' }), msg('s2')];
    const uf = new UnionFind();
    joinMessages(uf, ['i1', 'i2']); // e.g. a THREAD group joined by subject
    joinMessages(uf, []);
    linkByIds(uf, [...inbox, ...sent]);
    expect(keysOf(groupBy(uf, [...inbox, ...sent]))).toEqual([['i1', 'i2'], ['i3', 's1'], ['s2']]);
  });

  it('UnionFind: sets, unknown nodes and idempotent unions', () => {
    const uf = new UnionFind();
    expect(uf.has('x')).toBe(false);
    expect(uf.find('x')).toBe('x');
    expect(uf.has('x')).toBe(true);
    uf.union('a', 'b');
    uf.union('c', 'd');
    uf.union('b', 'd');
    uf.union('d', 'a');
    expect(new Set(['a', 'b', 'c', 'd'].map((n) => uf.find(n))).size).toBe(1);
    expect(uf.find('x')).not.toBe(uf.find('a'));
  });
});

describe('assembleConversation', () => {
  const ann = addr('ann@example.org', 'Ann');
  const bob = addr('bob@example.org', 'Bob');
  const cy = addr('cy@example.org');

  it('orders messages oldest first (undated first, ties in input order) and takes the oldest subject and key', () => {
    const info = assembleConversation([
      msg('late', { date: 30, subject: 'Re: Hi' }),
      msg('tie2', { date: 10, subject: 'Re: Hi' }),
      msg('undated', { date: null, subject: 'Hi?' }),
      msg('tie1', { date: 10, subject: 'Hi' }),
    ]);
    expect(info.messageKeys).toEqual(['undated', 'tie2', 'tie1', 'late']);
    expect(info.key).toBe('undated');
    expect(info.subject).toBe('Hi?');
    expect(info.lastMessageAt).toEqual(new Date(30));
  });

  it('accepts Date values, a given key, and reports attachments and a missing date', () => {
    const info = assembleConversation(
      [
        { ...msg('b'), date: new Date('2024-01-02T00:00:00Z'), hasAttachments: true },
        { ...msg('a'), date: new Date('2024-01-01T00:00:00Z') },
      ],
      { key: 'b' },
    );
    expect(info).toMatchObject({ key: 'b', messageKeys: ['a', 'b'], hasAttachments: true, lastMessageAt: new Date('2024-01-02T00:00:00Z') });
    const undated = assembleConversation([msg('x')]);
    expect(undated).toEqual({ key: 'x', subject: 'x', participants: [], lastMessageAt: null, messageKeys: ['x'], hasAttachments: false });
    expect(() => assembleConversation([])).toThrow();
  });

  it('lists participants in order of first appearance (From, To, Cc; oldest message first), deduplicated by address', () => {
    const info = assembleConversation([
      msg('reply', { date: 2, from: addr('BOB@example.org', 'Robert'), to: [ann, addr(null, 'Group')], cc: [cy] }),
      msg('first', { date: 1, from: ann, to: [bob], cc: [addr('ANN@EXAMPLE.ORG')] }),
      msg('third', { date: 3, from: addr(null, 'group'), to: [addr(null, null)] }),
    ]);
    expect(info.participants).toEqual([ann, bob, addr(null, 'Group'), cy]);
    expect(participantsOf([{ from: null, to: [cy, cy], cc: [] }])).toEqual([cy]);
  });
});

describe('compareConversations', () => {
  const conv = (key: string, at: number | null): ConversationInfo => ({ key, subject: null, participants: [], lastMessageAt: at == null ? null : new Date(at), messageKeys: [key], hasAttachments: false });

  it('sorts newest first, undated last, ties by key', () => {
    const list = [conv('b', 5), conv('z', null), conv('a', 5), conv('c', 9), conv('y', null)];
    expect(list.sort(compareConversations).map((c) => c.key)).toEqual(['c', 'a', 'b', 'y', 'z']);
  });
});
