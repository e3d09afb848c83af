/**
 * What the index keeps of an IMAP message summary (`src/providers/imap/folder-index.ts`): the
 * header facts, flags, RFC822.SIZE and the attachment listing of the shared policy
 * (`src/mime/attachments.ts`), with the sizes the sync measured (`measureParts`: exact for identity
 * encodings, BINARY.SIZE or a one-time decode for the others) or, where none was measured, the
 * BODYSTRUCTURE estimate (`sizeExact: false`). Nothing of the bytes is kept.
 */
import { attachmentListing, describeAttachment } from '../mime/attachments.ts';
import type { MessageSummary } from '../providers/imap/folder-index.ts';
import { estimatePartSize, type PartSize } from '../providers/imap/sizes.ts';
import type { IndexedMessage } from './store.ts';

/**
 * The index row of a fetched summary.
 * @param measured sizes measured for its parts (partId → size, `src/providers/imap/sizes.ts`);
 *   parts not in it get the BODYSTRUCTURE estimate
 */
export function indexedFromSummary(s: MessageSummary, measured?: ReadonlyMap<string, PartSize>): IndexedMessage {
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
      const size = measured?.get(part.partId) ?? estimatePartSize(part);
      return { ...description, encoding: part.encoding, size: size.size, sizeExact: size.exact };
    }),
    attachmentCount: listing.count,
    attachmentsTruncated: listing.truncated,
  };
}
