/**
 * Object refs and their backing shapes, declared apart from their implementations so the type
 * files can point at each other without import cycles.
 */
import type { AttachmentInfo, ConversationInfo, MessageInfo } from '../domain/mail.ts';
import type { ProviderKind } from '../providers/types.ts';
import { builder } from './builder.ts';

/** A mailbox as the schema sees it (no settings, no credentials). */
export interface MailboxShape {
  id: string;
  provider: ProviderKind;
  address: string | null;
  displayName: string | null;
  /** Set when a provider found the grant revoked (see `Store.markNeedsReconsent`). */
  needsReconsentAt?: Date | null;
  reconsentReason?: string | null;
}

/** A conversation of a mailbox. */
export interface ConversationShape {
  mailboxId: string;
  info: ConversationInfo;
}

/** A message of a mailbox. */
export interface MessageShape {
  mailboxId: string;
  info: MessageInfo;
}

/** An attachment: its message (for the index and the parent link) and the provider's facts. */
export interface AttachmentShape {
  mailboxId: string;
  message: MessageInfo;
  info: AttachmentInfo;
}

/** A signed download URL. */
export interface SignedUrlShape {
  url: string;
  expiresAt: Date;
}

export const MailboxRef = builder.objectRef<MailboxShape>('Mailbox');
export const ConversationRef = builder.objectRef<ConversationShape>('Conversation');
export const MessageRef = builder.objectRef<MessageShape>('Message');
export const AttachmentRef = builder.objectRef<AttachmentShape>('Attachment');
