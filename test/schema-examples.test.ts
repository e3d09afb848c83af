/** The example operations in `examples/` run against the gateway, typed by the codegen output in `test/generated/`. */
import { print } from 'graphql';
import { describe, expect, it } from 'vitest';
import { AttachmentByIndexDocument, ConversationMessagesDocument, MailboxAttachmentsDocument, type MailboxAttachmentsQuery } from './generated/graphql.ts';
import { fakeAttachment, fakeMessage, setupGateway } from './support/fake-provider.ts';

const messages = [
  fakeMessage('m1', 'c1', '2024-03-01T09:00:00Z', [
    fakeAttachment('2', 'plan.pdf', Buffer.from('plan bytes'), { contentType: 'application/pdf' }),
    fakeAttachment('3', 'inline.png', Buffer.from('png'), { disposition: 'INLINE', contentType: 'image/png' }),
  ]),
  fakeMessage('m2', 'c1', '2024-03-02T09:00:00Z', [fakeAttachment('2', 'answer.txt', Buffer.from('answer'), { contentType: 'text/plain' })], { direction: 'SENT' }),
  fakeMessage('m3', 'c2', '2024-03-03T09:00:00Z', []),
];

describe('examples/attachments.graphql', () => {
  it('MailboxAttachments lists attachments whose download URLs return their bytes', async () => {
    const t = await setupGateway(messages);
    const r = await t.gql(print(MailboxAttachmentsDocument), { first: 5 });
    expect(r.errors).toBeUndefined();
    const data = r.data as MailboxAttachmentsQuery;
    const conversations = data.mailboxes[0]!.conversations!.edges.map((e) => e.node);
    expect(conversations.map((c) => c.subject)).toEqual(['Subject of c1']);
    const attachments = conversations[0]!.attachments!;
    expect(attachments.map((a) => [a.index, a.filename])).toEqual([
      [0, 'plan.pdf'],
      [2, 'answer.txt'],
    ]);
    const bodies = await Promise.all(
      attachments.map(async (a) => (await t.gateway.fetch(new Request(a.downloadUrl!.url.replace('http://gw.test', 'http://x')))).text()),
    );
    expect(bodies).toEqual(['plan bytes', 'answer']);
  });

  it('AttachmentByIndex and ConversationMessages find the same attachment', async () => {
    const t = await setupGateway(messages);
    const list = await t.gql(print(MailboxAttachmentsDocument), { first: 5 });
    const conversationId = (list.data as MailboxAttachmentsQuery).mailboxes[0]!.conversations!.edges[0]!.node.id;
    const byIndex = await t.gql(print(AttachmentByIndexDocument), { conversationId, index: 2 });
    expect(byIndex.errors).toBeUndefined();
    expect(byIndex.data.node.attachment).toMatchObject({ filename: 'answer.txt', message: { direction: 'SENT' } });
    const msgs = await t.gql(print(ConversationMessagesDocument), { conversationId });
    expect(msgs.errors).toBeUndefined();
    expect(msgs.data.node.messages.edges[1].node.attachments).toEqual([{ index: 2, filename: 'answer.txt', contentId: null, disposition: 'ATTACHMENT' }]);
  });
});
