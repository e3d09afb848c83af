/**
 * Where the index of a LOCAL mailbox is kept: `<DATA_DIR>/local-index/<mailbox id>.json`, in a
 * folder of mode 0700 with files of mode 0600 (the index holds subjects, addresses and filenames).
 */
import fsp from 'node:fs/promises';
import path from 'node:path';

/** Folder under DATA_DIR holding the local indexes. */
export const LOCAL_INDEX_DIR = 'local-index';

/** The index file of mailbox `mailboxId` (characters outside `[A-Za-z0-9._-]` become `_`). */
export function localIndexFile(dataDir: string, mailboxId: string): string {
  return path.join(dataDir, LOCAL_INDEX_DIR, `${mailboxId.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
}

/**
 * Deletes the index of a mailbox and the temporary files a crashed write may have left beside it.
 * @returns the paths deleted (none when the mailbox was never indexed)
 */
export async function removeLocalIndex(dataDir: string, mailboxId: string): Promise<string[]> {
  const file = localIndexFile(dataDir, mailboxId);
  const dir = path.dirname(file);
  const base = path.basename(file);
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const doomed = names.filter((n) => n === base || (n.startsWith(`${base}.`) && n.endsWith('.tmp'))).map((n) => path.join(dir, n));
  for (const f of doomed) await fsp.rm(f, { force: true });
  return doomed;
}
