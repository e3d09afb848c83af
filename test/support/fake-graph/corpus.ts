/**
 * The shared mail corpus (`../shared/corpus`, see `test/support/corpus.ts`) as a Graph mailbox:
 * every manifest message added to one mailbox of a fake, a minute apart (oldest first in
 * manifest order). When the corpus is absent, `test/support/corpus.ts` has already warned loudly
 * and this adds nothing: guard the tests with `describe.skipIf(!hasCorpus)`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { corpusDir, hasCorpus, loadManifest } from '../corpus.ts';
import type { FakeGraphMailbox, StoredMessage } from './mailbox.ts';

/** One corpus message as stored in the fake, with its manifest file (`eml/<name>.eml`). */
export interface CorpusMessage {
  file: string;
  message: StoredMessage;
}

/**
 * Adds every corpus message to `mailbox` (its inbox), received from 2025-01-01 00:00 UTC on, one
 * minute apart.
 * @returns the messages in manifest order; empty when the corpus is absent
 */
export function addCorpus(mailbox: FakeGraphMailbox): CorpusMessage[] {
  if (!hasCorpus) return [];
  return loadManifest().map((entry, i) => ({
    file: entry.file,
    message: mailbox.add({ raw: fs.readFileSync(path.join(corpusDir, entry.file)), received: new Date(Date.UTC(2025, 0, 1) + i * 60_000) }),
  }));
}
