/** Enums shared by several types, values equal to the provider contract's string unions. */
import { builder } from './builder.ts';

export const ProviderKindEnum = builder.enumType('ProviderKind', {
  description: 'The service behind a mailbox.',
  values: {
    GMAIL: { description: 'Gmail API.' },
    MICROSOFT_GRAPH: { description: 'Microsoft Graph (Outlook, Exchange Online).' },
    IMAP: { description: 'An IMAP4rev1 / IMAP4rev2 server (RFC 3501, RFC 9051).' },
    LOCAL: { description: 'A local mail store (mbox or Maildir) read from disk.' },
  } as const,
});

export const MessageDirectionEnum = builder.enumType('MessageDirection', {
  description: 'Whether the mailbox owner received or sent the message.',
  values: {
    RECEIVED: { description: 'Received by the mailbox owner.' },
    SENT: { description: 'Sent by the mailbox owner (Sent folder, SENT label).' },
  } as const,
});

export const AttachmentDispositionEnum = builder.enumType('AttachmentDisposition', {
  description: 'How the part is meant to be shown (Content-Disposition, RFC 2183).',
  values: {
    ATTACHMENT: { description: 'Shown as a separate file.' },
    INLINE: { description: 'Shown within the message body, e.g. an image referenced by Content-ID.' },
  } as const,
});

export const AttachmentKindEnum = builder.enumType('AttachmentKind', {
  description: 'What an attachment holds.',
  values: {
    FILE: { description: 'Bytes of a file.' },
    ITEM: { description: 'An attached message (message/rfc822, an Outlook item).' },
    REFERENCE: { description: 'A link to a file stored elsewhere; not downloadable as bytes.' },
  } as const,
});
