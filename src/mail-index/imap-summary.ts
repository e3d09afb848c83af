/**
 * What the index keeps of an IMAP message summary (`src/providers/imap/folder-index.ts`): the
 * header facts, flags, RFC822.SIZE and the attachment listing of the shared policy
 * (`src/mime/attachments.ts`), with sizes from BODYSTRUCTURE: exact for identity encodings, an
 * estimate (`sizeExact: false`) for base64 / quoted-printable / uuencode, so that indexing never
 * fetches a body to size it. Nothing of the bytes.
 */
import { attachmentListing, describeAttachment } from '../mime/attachments.ts';
import type { MessageSummary } from '../providers/imap/folder-index.ts';
import { estimatePartSize } from '../providers/imap/sizes.ts';
import type { IndexedMessage } from './store.ts';

/** The index row of a fetched summary. */
export function indexedFromSummary(s: MessageSummary): IndexedMessage {
  const base = {
    uid: s.uid,
    messageId: s.messageId,
    inReplyTo: s.inReplyTo,
    references: s.references,
    subject: s.subject,
    date: s.date,
    from: s.from,
    to: s.to,
    cc: s.cc,
    flags: s.flags,
    size: s.size,
  };
  // No structure (NIL BODYSTRUCTURE, or nested past imapflow's parser): attachments unknown, said so.
  if (!s.structure) return { ...base, attachments: [], attachmentCount: 0, attachmentsTruncated: true };
  const listing = attachmentListing(s.structure);
  return {
    ...base,
    attachments: listing.parts.map((part) => {
      const { providerRef: _ref, linkUrl: _link, ...description } = describeAttachment(part);
      const size = estimatePartSize(part);
      return { ...description, encoding: part.encoding, size: size.size, sizeExact: size.exact };
    }),
    attachmentCount: listing.count,
    attachmentsTruncated: listing.truncated,
  };
}
