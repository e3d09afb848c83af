/**
 * Access to the shared corpus of real mails (`../shared/corpus`, never copied into the repo) and
 * THE table that says which view of each message the gateway follows.
 *
 * The manifest records every message's attachments as Python's `email` and mailparser see them.
 * Where both agree, that list is what every provider must show. Where they differ,
 * {@link FOLLOWED_VIEW} picks one view per file with a one-line reason (or an explicit expectation
 * where neither is right). The policy itself is documented in `src/mime/attachments.ts`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AttachmentDisposition } from '../../src/domain/mail.ts';

/** Repository root (the folder holding package.json). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Where the corpus is expected: `../shared/corpus` relative to the repository root. */
export const corpusDir = path.resolve(repoRoot, '../shared/corpus');

/** True when the corpus is present; tests use it with `describe.skipIf(!hasCorpus)`. */
export const hasCorpus = fs.existsSync(path.join(corpusDir, 'manifest.json'));

if (!hasCorpus) {
  console.warn(`\n*** CORPUS ABSENT: ${corpusDir}/manifest.json not found; corpus conformance tests are SKIPPED ***\n`);
}

/** One attachment as a parser view of the manifest lists it. */
export interface ManifestAttachment {
  partId: string;
  filename: string | null;
  contentType: string | null;
  size: number;
  sha256: string;
  contentId: string | null;
  disposition: string | null;
  nestedMessage: boolean;
  /** mailparser only: inside multipart/related with a Content-ID. */
  related?: boolean;
}

/** One message of the manifest. */
export interface ManifestEntry {
  file: string;
  bytes: number;
  sha256: string;
  subject: string | null;
  messageId: string | null;
  inReplyTo: string | null;
  references: string[];
  python: ManifestAttachment[];
  mailparser: ManifestAttachment[];
  attachments?: ManifestAttachment[];
  disagreement?: string;
}

/** What the gateway must list for one attachment. */
export interface ExpectedAttachment {
  partId: string;
  filename: string | null;
  contentType: string;
  size: number;
  sha256: string;
  contentId: string | null;
  disposition: AttachmentDisposition;
}

let manifestCache: ManifestEntry[] | null = null;

/** The manifest's messages. @throws when the corpus is absent (guard with {@link hasCorpus}) */
export function loadManifest(): ManifestEntry[] {
  manifestCache ??= (JSON.parse(fs.readFileSync(path.join(corpusDir, 'manifest.json'), 'utf8')) as { messages: ManifestEntry[] }).messages;
  return manifestCache;
}

/** The manifest entry of an `.eml` file name (`ruby-mail-pdf.eml` or `eml/ruby-mail-pdf.eml`). */
export function manifestEntry(file: string): ManifestEntry {
  const name = `eml/${path.basename(file)}`;
  const entry = loadManifest().find((e) => e.file === name);
  if (!entry) throw new Error(`no manifest entry for ${file}`);
  return entry;
}

type View = 'python' | 'mailparser';
type Choice = { view: View; reason: string; adjust?: (list: ExpectedAttachment[], entry: ManifestEntry) => ExpectedAttachment[] };

const SECOND_TEXT = 'python: a second text part is not the body; the gateway serves no bodies, so it is listed';

/**
 * Per file where the two views differ: the view the gateway follows, and why. Every
 * disagreeing file must be here (a test fails on a new one).
 */
export const FOLLOWED_VIEW: Record<string, Choice> = {
  'cpython-duplicate-name-no-disposition.eml': { view: 'python', reason: SECOND_TEXT },
  'cpython-mixed-transfer-encodings.eml': { view: 'python', reason: SECOND_TEXT },
  'dovecot-odd-cte-values.eml': { view: 'python', reason: SECOND_TEXT },
  'flanker-iphone.eml': { view: 'python', reason: SECOND_TEXT },
  'flanker-office365-bounce.eml': { view: 'python', reason: 'python: message/delivery-status is a message/* leaf and listed (the DSN is downloadable)' },
  'mailparser-delivery-status.eml': { view: 'python', reason: 'python: message/delivery-status is a message/* leaf and listed' },
  'flanker-spam-broken-ctype.eml': { view: 'python', reason: 'python: an unparsable Content-Type is text/plain (RFC 2045 §5.2)' },
  'flanker-yahoo-russian-filename.eml': { view: 'python', reason: 'python: a UTF-8 name cut mid-character stays UTF-8 with one U+FFFD' },
  'hunnysoft-eudora-binhex.eml': { view: 'mailparser', reason: 'mailparser: a raw Latin-1 byte in a quoted filename is Latin-1 (Frösche), not U+FFFD' },
  'hunnysoft-eudora-related.eml': { view: 'python', reason: 'python: the attachments agree; only the subject differs' },
  'hunnysoft-eudora-uuencode-latin1.eml': {
    view: 'python',
    reason: 'python for the bytes (x-uuencode decoded), mailparser for the raw Latin-1 filename',
    adjust: (list) => list.map((a) => (a.partId === '2' ? { ...a, filename: 'HasenundFrösche.txt' } : a)),
  },
  'hunnysoft-netscape-x-uuencode.eml': { view: 'python', reason: 'python: x-uuencode is decoded (sizes equal the original PNGs)' },
  'mailparser-nodemailer.eml': { view: 'mailparser', reason: 'mailparser: a non-plain, non-html leaf of multipart/alternative (text/watch-html) is listed' },
  'postal-mime-calendar-event.eml': { view: 'mailparser', reason: 'mailparser: the text/calendar invite inside multipart/alternative is listed' },
  'mime4j-evil-filenames.eml': { view: 'mailparser', reason: 'mailparser: encoded words inside a quoted filename are decoded (practice beats RFC 2047 §5)' },
  'mime4j-frag-rfc822.eml': { view: 'python', reason: 'python: an inline message/rfc822 is one ITEM attachment, its insides are not listed' },
  'mimekit-jwz-tiff-yen-path.eml': { view: 'python', reason: 'python: an inline message/rfc822 is one ITEM attachment' },
  'postal-mime-mimetorture.eml': { view: 'python', reason: 'python: each inline message/rfc822 is one ITEM attachment' },
  'mime4j-multipart-digest.eml': { view: 'python', reason: 'python: a digest part without Content-Type is message/rfc822 (RFC 2046 §5.1.5)' },
  'mime4j-twopart-path-filename.eml': { view: 'mailparser', reason: 'mailparser: `base64 ` with a trailing space is trimmed and decoded' },
  'mimekit-mhtml.eml': { view: 'mailparser', reason: 'mailparser: the related root is the part whose type equals type=text/html (RFC 2387)' },
  'php-mime-korean-ks-c-5601.eml': {
    view: 'mailparser',
    reason: 'explicit: broken base64, every whole 4-char group decoded, the lone last char dropped (174 B); Python returned the undecoded text',
  },
  'ruby-mail-rfc2231-bad-charset.eml': { view: 'python', reason: 'python: the byte iso-2022-jp cannot hold shows as U+FFFD instead of vanishing' },
  'ruby-mail-unquoted-encoded-word-name.eml': { view: 'mailparser', reason: 'mailparser: an unquoted encoded-word name is decoded (what the sender meant)' },
  'ruby-mail-unquoted-name-with-spaces.eml': { view: 'mailparser', reason: 'mailparser: an unquoted name runs to the `;` (what the sender meant)' },
};

function toDisposition(a: ManifestAttachment, related: boolean): AttachmentDisposition {
  if (a.disposition === 'inline') return 'INLINE';
  if (a.disposition != null) return 'ATTACHMENT';
  return a.contentId && related ? 'INLINE' : 'ATTACHMENT';
}

/**
 * The attachment list the gateway must show for a manifest entry: the agreed list where both
 * views agree, else the view {@link FOLLOWED_VIEW} names. Disposition is our enum: as written, and
 * when absent INLINE for a part with a Content-ID inside multipart/related (mailparser's `related`).
 * @throws when a disagreeing file has no entry in the table
 */
export function expectedAttachments(entry: ManifestEntry): ExpectedAttachment[] {
  const name = path.basename(entry.file);
  let source: ManifestAttachment[];
  const choice = FOLLOWED_VIEW[name];
  if (entry.attachments && !entry.disagreement) source = entry.attachments;
  else if (choice) source = entry[choice.view];
  else throw new Error(`${name}: the views disagree and FOLLOWED_VIEW has no choice for it`);
  const relatedParts = new Set(entry.mailparser.filter((a) => a.related).map((a) => a.partId));
  let list: ExpectedAttachment[] = source.map((a) => ({
    partId: a.partId,
    filename: a.filename,
    contentType: a.contentType ?? 'text/plain',
    size: a.size,
    sha256: a.sha256,
    contentId: a.contentId,
    disposition: toDisposition(a, relatedParts.has(a.partId)),
  }));
  if (choice?.adjust) list = choice.adjust(list, entry);
  return list;
}

/** The corpus mbox (mboxrd), holding a copy of each .eml message. */
export const corpusMbox = path.join(corpusDir, 'mbox/sample.mbox');

let mboxIndex: { file: string; offset: number }[] | null = null;

/** The .eml names of the messages in {@link corpusMbox}, in order (from `sample.mbox.json`). */
export function corpusMboxFiles(): string[] {
  return mboxMessages().map((e) => e.file);
}

/**
 * The .eml name of the corpus mbox message with the local provider key `key`. Such a key is
 * `mbox:<offset of the message's first byte>:<hash>`, which lies just after the message's own
 * `From ` line, so the message is the last one whose `From ` line (offset in `sample.mbox.json`)
 * starts before it.
 */
export function corpusMboxFileOfKey(key: string): string {
  const offset = Number(key.split(':')[1]);
  const entry = mboxMessages()
    .filter((e) => e.offset < offset)
    .at(-1);
  if (!entry) throw new Error(`no corpus mbox message before offset ${offset}`);
  return entry.file;
}

function mboxMessages(): { file: string; offset: number }[] {
  return (mboxIndex ??= (JSON.parse(fs.readFileSync(`${corpusMbox}.json`, 'utf8')) as { messages: { file: string; offset: number }[] }).messages);
}
