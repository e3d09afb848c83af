/**
 * Brings one IMAP folder of the mail index current at low cost (issue 17):
 * - one STATUS (UIDVALIDITY, UIDNEXT, MESSAGES, HIGHESTMODSEQ with CONDSTORE, RFC 7162) answers
 *   "nothing changed" without selecting the folder;
 * - a new UIDVALIDITY empties the folder in the index (`resetFolder`): keys minted before answer
 *   NOT_FOUND, as the in-memory index did;
 * - until the first sync completes (state `initial`, or `failed`), `UID SEARCH ALL` against the
 *   indexed UIDs gives what is missing, fetched newest first in chunks of `chunkSize`, each chunk
 *   committed on its own: an interrupted first sync resumes with what is still missing;
 * - once `current`, only `UIDNEXT:*` is fetched; expunges are found when the indexed count then
 *   exceeds MESSAGES, by a `UID SEARCH ALL` difference; flag changes by `FETCH (FLAGS)
 *   (CHANGEDSINCE modseq)` when HIGHESTMODSEQ moved (without CONDSTORE flags are read at fetch only);
 * - one sync per folder across processes and instances: the folder's lease (`takeLease`),
 *   renewed after each chunk; a caller that cannot take it gets `busy` at once.
 *
 * Commands run on the connection given (a pooled metadata connection), each bounded by the pool's
 * command deadline. The sync is shared work, so no request's signal cuts it.
 */
import type { ImapFlow } from 'imapflow';
import type { Logger } from '../domain/logger.ts';
import type { MessageDirection } from '../domain/mail.ts';
import { fetchSummaries } from '../providers/imap/folder-index.ts';
import { atom, execRaw, searchNumbers, sequence, uidSet } from '../providers/imap/raw.ts';
import { measureParts, type PartSize } from '../providers/imap/sizes.ts';
import { selectAttachmentParts } from '../mime/attachments.ts';
import { indexedFromSummary } from './imap-summary.ts';
import type { MailIndexStore } from './store.ts';

/** Options of {@link syncFolder}. */
export interface SyncFolderOptions {
  index: MailIndexStore;
  mailboxId: string;
  /** Folder path on the server. */
  folder: string;
  direction: MessageDirection;
  /** This process's lease owner id (random, one per process). */
  owner: string;
  logger: Logger;
  /** Messages fetched and committed per step (one write transaction each: on SQLite other queries of the process wait for it); default 200. */
  chunkSize?: number;
  /** Lease lifetime, renewed after each chunk, in milliseconds; default 120 000. */
  leaseTtlMs?: number;
  /**
   * Measure attachment sizes while syncing (`measureParts`: BINARY.SIZE for large encoded parts,
   * small ones decoded once), so listings give exact sizes from the index; default true. False:
   * BODYSTRUCTURE estimates (`sizeExact: false`) and no body is fetched.
   */
  measureSizes?: boolean;
  /** Called after each committed chunk with the UIDs stored (tests interrupt a sync here). */
  onChunk?: (uids: number[]) => void | Promise<void>;
}

/** What one {@link syncFolder} call did. */
export interface SyncOutcome {
  /** `unchanged`: STATUS matched the index; `busy`: another owner holds the lease; `missing`: no such folder. */
  status: 'synced' | 'unchanged' | 'busy' | 'missing';
  /** Messages fetched and added. */
  fetched: number;
  expunged: number;
  /** Messages whose flags were re-read (CHANGEDSINCE). */
  flagsRead: number;
  /** True when the folder's UIDVALIDITY changed and its index was emptied first. */
  reset: boolean;
}

/** Default messages per chunk. */
export const SYNC_CHUNK = 200;
/** Default lease lifetime, ms. */
export const SYNC_LEASE_TTL_MS = 120_000;

/**
 * Syncs one folder into the index (see the module docs).
 * @throws whatever the IMAP commands or the database throw (the folder is then marked `failed`
 *   with the message, and the lease is released)
 */
export async function syncFolder(client: ImapFlow, options: SyncFolderOptions): Promise<SyncOutcome> {
  const { index, mailboxId, folder, owner } = options;
  const ttl = options.leaseTtlMs ?? SYNC_LEASE_TTL_MS;
  await index.ensureFolder(mailboxId, folder, options.direction);
  if (!(await index.takeLease(mailboxId, folder, owner, ttl))) return { status: 'busy', fetched: 0, expunged: 0, flagsRead: 0, reset: false };
  try {
    const outcome = await syncHoldingLease(client, options, ttl);
    // Leave nothing selected: Dovecot ends a session whose selected folder another session deletes.
    if (client.mailbox) await client.mailboxClose();
    return outcome;
  } catch (error) {
    await index.updateFolder(mailboxId, folder, { syncState: 'failed', error: error instanceof Error ? error.message : String(error), checkedAt: new Date() }).catch(() => undefined);
    throw error;
  } finally {
    await index.releaseLease(mailboxId, folder, owner).catch((error: unknown) => options.logger.warn({ err: error, folder }, 'Could not release the mail index sync lease'));
  }
}

async function syncHoldingLease(client: ImapFlow, options: SyncFolderOptions, ttl: number): Promise<SyncOutcome> {
  const { index, mailboxId, folder, direction, owner, logger } = options;
  const chunkSize = options.chunkSize ?? SYNC_CHUNK;
  const outcome: SyncOutcome = { status: 'synced', fetched: 0, expunged: 0, flagsRead: 0, reset: false };
  const condstore = client.capabilities.has('CONDSTORE');
  // Dovecot answers STATUS of the folder a session has selected from that session's view, which
  // misses a delete + recreate by another session (a new UIDVALIDITY): unselect first.
  if (client.mailbox) await client.mailboxClose();
  const status = await client.status(folder, { messages: true, uidNext: true, uidValidity: true, ...(condstore ? { highestModseq: true } : {}) }).catch((error: unknown) => {
    // imapflow answers a STATUS of a folder that LIST does not know with code NotFound.
    if ((error as { code?: string }).code === 'NotFound' || (error as { serverResponseCode?: string }).serverResponseCode === 'NONEXISTENT') return null;
    throw error;
  });
  if (!status || status.uidValidity == null || status.uidNext == null) {
    // A deleted folder: what the index held of it is gone upstream too.
    const known = await index.folder(mailboxId, folder);
    if (known && known.uidValidity !== 0) await index.resetFolder(mailboxId, folder, 0);
    return { ...outcome, status: 'missing', reset: !!known && known.uidValidity !== 0 };
  }
  const uidValidity = Number(status.uidValidity);
  const uidNext = status.uidNext;
  const messages = status.messages ?? 0;
  const highestModseq = status.highestModseq ?? null;
  let state = (await index.folder(mailboxId, folder))!;
  if (state.uidValidity !== uidValidity) {
    if (state.uidValidity !== 0) logger.info({ folder, from: state.uidValidity, to: uidValidity }, 'UIDVALIDITY changed: re-syncing the folder');
    await index.resetFolder(mailboxId, folder, uidValidity);
    outcome.reset = state.uidValidity !== 0;
    state = (await index.folder(mailboxId, folder))!;
  }
  const now = new Date();
  if (state.syncState === 'current' && state.uidNext === uidNext && state.messages === messages && state.highestModseq === highestModseq) {
    await index.updateFolder(mailboxId, folder, { checkedAt: now });
    return { ...outcome, status: 'unchanged' };
  }
  await client.mailboxOpen(folder, { readOnly: true });

  const store = async (uids: number[]): Promise<void> => {
    for (let i = 0; i < uids.length; i += chunkSize) {
      const chunk = uids.slice(i, i + chunkSize);
      const wanted = new Set(chunk);
      const summaries = (await fetchSummaries(client, folder, uidValidity, direction, uidSet(chunk), logger)).filter((s) => wanted.has(s.uid));
      const sizes =
        options.measureSizes === false
          ? new Map<number, Map<string, PartSize>>()
          : await measureParts(
              client,
              summaries.flatMap((s) => (s.structure ? [{ uid: s.uid, structure: s.structure, parts: selectAttachmentParts(s.structure) }] : [])).filter((r) => r.parts.length > 0),
              logger,
            );
      outcome.fetched += await index.putMessages(mailboxId, folder, uidValidity, direction, summaries.map((s) => indexedFromSummary(s, sizes.get(s.uid))));
      const lowest = Math.min(...chunk);
      if (state.syncState !== 'current') await index.updateFolder(mailboxId, folder, { resumeBelowUid: lowest });
      if (!(await index.takeLease(mailboxId, folder, owner, ttl))) throw new Error(`Lost the sync lease of ${folder}`);
      await options.onChunk?.(chunk);
    }
  };

  if (state.syncState !== 'current') {
    // First sync (or one that failed): everything the server has and the index lacks, newest
    // first. MESSAGES now, so that `syncedMessages / messages` is the progress meanwhile.
    await index.updateFolder(mailboxId, folder, { messages });
    const server = await searchAll(client);
    const indexed = new Set(await index.uids(mailboxId, folder));
    const gone = [...indexed].filter((uid) => !server.has(uid));
    outcome.expunged += await index.removeMessages(mailboxId, folder, gone);
    await store([...server].filter((uid) => !indexed.has(uid)).sort((a, b) => b - a));
  } else {
    if (uidNext > state.uidNext) {
      const fresh: number[] = [];
      // `n:*` also matches the highest UID when it is below n (RFC 3501 §6.4.8), hence the filter.
      await execRaw(client, 'UID SEARCH', [atom('UID'), sequence(`${state.uidNext}:*`)], 'SEARCH', (untagged) => {
        for (const uid of searchNumbers(untagged)) if (uid >= state.uidNext) fresh.push(uid);
      });
      await store(fresh.sort((a, b) => a - b));
    }
    const after = await index.folder(mailboxId, folder);
    if ((after?.syncedMessages ?? 0) !== messages) {
      // Expunged (or a race with an append): keep exactly what the server has.
      const server = await searchAll(client);
      const indexed = await index.uids(mailboxId, folder);
      const have = new Set(indexed);
      outcome.expunged += await index.removeMessages(mailboxId, folder, indexed.filter((uid) => !server.has(uid)));
      await store([...server].filter((uid) => !have.has(uid)).sort((a, b) => a - b));
    }
    if (condstore && state.highestModseq !== null && highestModseq !== null && highestModseq > state.highestModseq) {
      const changes: { uid: number; flags: string[] }[] = [];
      for await (const message of client.fetch('1:*', { uid: true, flags: true }, { uid: true, changedSince: state.highestModseq })) {
        changes.push({ uid: message.uid, flags: [...(message.flags ?? [])] });
      }
      await index.setFlags(mailboxId, folder, changes);
      outcome.flagsRead = changes.length;
    }
  }
  await index.updateFolder(mailboxId, folder, { uidNext, messages, highestModseq, syncState: 'current', resumeBelowUid: null, error: null, checkedAt: now, syncedAt: now });
  return outcome;
}

/** Every UID of the selected folder (`UID SEARCH ALL`). */
async function searchAll(client: ImapFlow): Promise<Set<number>> {
  const all = new Set<number>();
  await execRaw(client, 'UID SEARCH', [atom('ALL')], 'SEARCH', (untagged) => {
    for (const n of searchNumbers(untagged)) all.add(n);
  });
  return all;
}
