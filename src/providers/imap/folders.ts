/**
 * Which folders the gateway reads: INBOX and the Sent folder. Sent is the folder LIST marks
 * `\Sent` (RFC 6154 SPECIAL-USE); servers without SPECIAL-USE are searched by the names clients
 * commonly give it (Courier and Cyrus put it under `INBOX.`).
 */
import type { ImapFlow } from 'imapflow';

/** The folders of a mailbox the provider indexes. */
export interface MailFolders {
  inbox: string;
  /** Path of the Sent folder, or null when the mailbox has none. */
  sent: string | null;
}

const SENT_NAMES = ['sent', 'sent items', 'sent messages', 'sent mail', 'sent-mail', 'inbox.sent', 'inbox/sent', 'inbox.sent items', 'inbox.sent messages', '[gmail]/sent mail', 'gesendet', 'envoyés', 'elementos enviados', 'posta inviata'];

/** Finds INBOX and Sent with one LIST command. */
export async function discoverFolders(client: ImapFlow): Promise<MailFolders> {
  const list = await client.list();
  const bySpecialUse = list.find((f) => [...(f.flags ?? [])].some((flag) => String(flag).toLowerCase() === '\\sent'));
  let sent = bySpecialUse?.path ?? null;
  if (!sent) {
    // Ranked by the list above, so `Sent` wins over `INBOX.Sent Items` when both exist.
    let best = Infinity;
    for (const folder of list) {
      const rank = SENT_NAMES.indexOf(folder.path.toLowerCase());
      if (rank >= 0 && rank < best) {
        best = rank;
        sent = folder.path;
      }
    }
  }
  const inbox = list.find((f) => f.path.toUpperCase() === 'INBOX')?.path ?? 'INBOX';
  return { inbox, sent };
}
