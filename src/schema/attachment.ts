/** Attachment: one attached file, inline part or item of a message, and its signed download URL. */
import { NotDownloadableError } from '../errors.ts';
import { parseKeyParts } from '../ids.ts';
import { DEFAULT_EXPIRES_IN, MAX_EXPIRES_IN } from '../signing.ts';
import { builder } from './builder.ts';
import { AttachmentDispositionEnum, AttachmentKindEnum } from './enums.ts';
import type { AttachmentInfo } from '../domain/mail.ts';
import { AttachmentRef, MessageRef, type AttachmentShape, type SignedUrlShape } from './refs.ts';

/**
 * The link of a REFERENCE attachment as the schema shows it: the provider's `linkUrl` when it is an
 * absolute http(s) URL (WHATWG URL parsing), else null; always null for FILE and ITEM, so a
 * provider's stray value (or a `javascript:` link from a hostile message) never reaches clients.
 */
export function attachmentLinkUrl(info: AttachmentInfo): string | null {
  if (info.kind !== 'REFERENCE' || typeof info.linkUrl !== 'string' || info.linkUrl.length > 8192) return null;
  try {
    const url = new URL(info.linkUrl);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

const SignedUrlRef = builder.objectRef<SignedUrlShape>('SignedUrl').implement({
  description:
    'A short-lived URL that streams the bytes of one attachment; anyone holding it may download until it expires or the API key that asked for it is revoked. Its token is encrypted: it reveals no mailbox, folder or message.',
  fields: (t) => ({
    url: t.field({ type: 'URL', description: 'GET (or HEAD) this URL; no API key is needed.', resolve: (s) => s.url }),
    expiresAt: t.field({
      type: 'DateTime',
      description: 'When the URL stops working (HTTP 410 afterwards; 403 sooner when the API key is revoked).',
      resolve: (s) => s.expiresAt,
    }),
  }),
});

builder.node(AttachmentRef, {
  description: 'An attachment of a message: a MIME part with a filename or Content-Disposition, an attached message, or a link.',
  id: { resolve: (a) => JSON.stringify([a.mailboxId, a.message.key, a.info.partId]) },
  loadOne: async (id, ctx): Promise<AttachmentShape | null> => {
    const [mailboxId, messageKey, partId] = parseKeyParts('Attachment', id) as [string, string, string];
    if (!(await ctx.loaders.mailbox(mailboxId))) return null;
    const message = await ctx.loaders.message(mailboxId, messageKey);
    const info = message?.attachments.find((a) => a.partId === partId);
    return message && info ? { mailboxId, message, info } : null;
  },
  fields: (t) => ({
    index: t.field({
      type: 'NonNegativeInt',
      description:
        'Zero-based position in `Conversation.attachments` (inline parts included): `conversation.attachment(index:)` gives this attachment back.',
      resolve: (a, _args, ctx) => ctx.loaders.attachmentIndex(a.mailboxId, a.message, a.info.partId),
    }),
    filename: t.string({ nullable: true, description: 'Decoded filename (RFC 2231 / RFC 2047 undone); null when the part names none.', resolve: (a) => a.info.filename }),
    contentType: t.string({ description: 'Lower-case media type, e.g. `application/pdf`.', resolve: (a) => a.info.contentType }),
    size: t.field({
      type: 'NonNegativeInt',
      nullable: true,
      description:
        'Decoded size in bytes. When `sizeExact` is false it is an estimate (e.g. derived from the base64 length the server reports, or a provider figure that counts metadata); null when unknown.',
      resolve: (a) => a.info.size,
    }),
    sizeExact: t.boolean({ description: 'True when `size` is the exact decoded byte count (the download then sends Content-Length).', resolve: (a) => a.info.sizeExact }),
    contentId: t.string({ nullable: true, description: 'Content-ID without angle brackets (RFC 2392), used by `cid:` links in HTML bodies.', resolve: (a) => a.info.contentId }),
    disposition: t.field({ type: AttachmentDispositionEnum, description: 'Content-Disposition type (RFC 2183).', resolve: (a) => a.info.disposition }),
    kind: t.field({ type: AttachmentKindEnum, description: 'File, attached message, or link.', resolve: (a) => a.info.kind }),
    downloadable: t.boolean({ description: 'False when the bytes cannot be served (a reference attachment); `downloadUrl` is then null with a NOT_DOWNLOADABLE error, so ask for it only where this is true.', resolve: (a) => a.info.downloadable }),
    linkUrl: t.field({
      type: 'URL',
      nullable: true,
      description:
        'For a link (`kind: REFERENCE`): the URL of the file kept elsewhere (e.g. a OneDrive or SharePoint link of a Graph reference attachment); open it with that service\'s own access. Null for files and attached messages (IMAP and local mailboxes never have one), and for a link whose URL is not absolute http(s).',
      resolve: (a) => attachmentLinkUrl(a.info),
    }),
    message: t.field({ type: MessageRef, description: 'The message holding the attachment.', resolve: (a) => ({ mailboxId: a.mailboxId, info: a.message }) }),
    downloadUrl: t.field({
      type: SignedUrlRef,
      // Nullable so that a failure nulls this field only, not the whole list of attachments it
      // sits in (a client with an `errors` policy of "all" keeps the rest of the list).
      nullable: true,
      description: `A signed URL streaming the decoded bytes, valid \`expiresIn\` seconds (1..${MAX_EXPIRES_IN}). Null with an error for a link (\`downloadable: false\`, code NOT_DOWNLOADABLE) or a bad \`expiresIn\` (BAD_USER_INPUT).`,
      args: { expiresIn: t.arg.int({ required: false, defaultValue: DEFAULT_EXPIRES_IN, description: `Seconds the URL stays valid, 1..${MAX_EXPIRES_IN}.` }) },
      resolve: async (a, args, ctx) => {
        if (!a.info.downloadable) throw new NotDownloadableError();
        const { token, expiresAt } = await ctx.signer.sign(
          { keyId: ctx.apiKeyId, mailboxId: a.mailboxId, messageKey: a.message.key, partId: a.info.partId, ...(a.info.downloadHint === undefined ? {} : { hint: a.info.downloadHint }) },
          args.expiresIn ?? DEFAULT_EXPIRES_IN,
        );
        return { url: `${ctx.publicUrl}/attachments/${token}`, expiresAt };
      },
    }),
  }),
});
