/**
 * The local store's index: one streaming pass over the mail store (mbox file, Maildir, or folder
 * of `.eml` files) that records for every message where its bytes are, its header facts, its
 * attachments (by the shared policy, `src/mime/attachments.ts`) with exact decoded sizes, and the
 * byte range of each attachment's encoded body. Downloads then read only that range.
 *
 * The index is cached as JSON under `<dataDir>/local-index/<mailbox id>.json` and reused while the
 * source is unchanged: an mbox by size and mtime (one that only grew is indexed from where the
 * last pass stopped), a directory file by file (path, size, mtime). Only one message is in memory
 * at a time.
 */
import crypto from 'node:crypto';
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { AttachmentInfo, MessageHeaders } from '../../domain/mail.ts';
import type { Logger, Progress } from '../../domain/logger.ts';
import { listAttachments } from '../../mime/attachments.ts';
import { decodeTransferEncodingSync } from '../../mime/decode.ts';
import { readHeaderFacts } from '../../mime/headers.ts';
import { parseMessage } from '../../mime/parse.ts';
import type { ParsedPart } from '../../mime/parse.ts';
import { readMbox, unquoteMboxrd } from './mbox.ts';

/** Version of the cache layout; a cache of another version is rebuilt. */
const INDEX_VERSION = 2;

/** What the local store is. */
export type LocalSourceKind = 'mbox' | 'maildir' | 'emldir';

/** The byte range of one part's encoded body, relative to the message's first byte. */
export interface PartRange {
  start: number;
  end: number;
  encoding: string | null;
}

/** One indexed message: its header facts, with the date as epoch milliseconds (JSON-friendly). */
export interface IndexedMessage extends Omit<MessageHeaders, 'date'> {
  date: number | null;
  key: string;
  /** Absolute path of the file holding the message. */
  file: string;
  /** Byte offset of the message within `file` (0 except in an mbox). */
  offset: number;
  /** Stored length in bytes. */
  length: number;
  /** True when the bytes carry mboxrd `>From ` quoting to undo. */
  mboxrd: boolean;
  /** Maildir folder ('' for the inbox, `Sent` for `.Sent`), or null outside a Maildir. */
  folder: string | null;
  /** The attachments as listed, at most the MIME listing limit (`src/mime/limits.ts`). */
  attachments: AttachmentInfo[];
  /** How many attachments the message holds as far as it was read (see `MessageInfo.attachmentCount`). */
  attachmentCount: number;
  /** True when the MIME limits cut the list (see `MessageInfo.attachmentsTruncated`). */
  attachmentsTruncated: boolean;
  parts: Record<string, PartRange>;
  /** size:mtimeMs of the file for directory stores, to reuse the entry while unchanged. */
  stamp?: string;
}

/** The cache file's content. */
export interface LocalIndex {
  version: number;
  source: string;
  kind: LocalSourceKind;
  /** mbox only: size and mtime indexed, and where the next message would start. */
  mbox?: { size: number; mtimeMs: number; indexedBytes: number };
  messages: IndexedMessage[];
}

/** Detects what `source` is. @throws Error when it is none of the three kinds */
export async function detectSourceKind(source: string): Promise<LocalSourceKind> {
  const stat = await fsp.stat(source);
  if (stat.isFile()) return 'mbox';
  if (!stat.isDirectory()) throw new Error(`${source} is neither a file nor a directory`);
  const isMaildir = async (dir: string) =>
    (await fsp.stat(path.join(dir, 'cur')).then((s) => s.isDirectory()).catch(() => false)) ||
    (await fsp.stat(path.join(dir, 'new')).then((s) => s.isDirectory()).catch(() => false));
  return (await isMaildir(source)) ? 'maildir' : 'emldir';
}

/** Indexes one message's bytes (as stored) into an {@link IndexedMessage} (without its key/location). */
export function indexMessageBytes(stored: Buffer, mboxrd: boolean): Omit<IndexedMessage, 'key' | 'file' | 'offset' | 'length' | 'mboxrd' | 'folder'> {
  const { headers, root } = parseMessage(stored);
  const facts = readHeaderFacts(headers);
  const attachments: AttachmentInfo[] = [];
  const parts: Record<string, PartRange> = {};
  const listing = listAttachments(root);
  for (const { part, description } of listing.attachments) {
    const p = part as ParsedPart;
    let body = stored.subarray(p.bodyStart, p.bodyEnd);
    if (mboxrd) body = unquoteMboxrd(body);
    // Exact decoded size while the bytes are at hand: the download then sends Content-Length.
    const size = decodeTransferEncodingSync(body, p.encoding).length;
    attachments.push({ ...description, size, sizeExact: true });
    parts[p.partId] = { start: p.bodyStart, end: p.bodyEnd, encoding: p.encoding };
  }
  return {
    ...facts,
    date: facts.date ? facts.date.getTime() : null,
    attachments,
    attachmentCount: listing.count,
    attachmentsTruncated: listing.truncated,
    parts,
  };
}

function shortHash(data: Buffer): string {
  return crypto.createHash('sha256').update(data).digest('base64url').slice(0, 12);
}

/** Options of {@link buildIndex}. */
export interface BuildIndexOptions {
  source: string;
  cacheFile: string;
  logger: Logger;
  onProgress?: (progress: Progress) => void;
}

async function readCache(cacheFile: string, source: string): Promise<LocalIndex | null> {
  try {
    const index = JSON.parse(await fsp.readFile(cacheFile, 'utf8')) as LocalIndex;
    return index.version === INDEX_VERSION && index.source === source ? index : null;
  } catch {
    return null;
  }
}

async function writeCache(cacheFile: string, index: LocalIndex): Promise<void> {
  // The index holds subjects, addresses and filenames: owner only (0700 folder, 0600 file).
  await fsp.mkdir(path.dirname(cacheFile), { recursive: true, mode: 0o700 });
  const tmp = `${cacheFile}.${process.pid}.${Date.now()}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify(index), { mode: 0o600 });
  await fsp.rename(tmp, cacheFile);
}

/** Cheap check whether the cached index still describes the source (no reading of mail). */
export async function isIndexFresh(index: LocalIndex): Promise<boolean> {
  if (index.kind === 'mbox') {
    const stat = await fsp.stat(index.source).catch(() => null);
    return !!stat && !!index.mbox && stat.size === index.mbox.size && stat.mtimeMs === index.mbox.mtimeMs;
  }
  const files = await listMessageFiles(index.source, index.kind).catch(() => null);
  if (!files || files.length !== index.messages.length) return false;
  const known = new Map(index.messages.map((m) => [m.file, m.stamp]));
  return files.every((f) => known.get(f.file) === f.stamp);
}

/**
 * Loads the cached index when still valid, else (re)builds it, reusing what it can.
 * @throws Error when the source cannot be read (the provider maps it to a GatewayError)
 */
export async function buildIndex(options: BuildIndexOptions): Promise<LocalIndex> {
  const { source, cacheFile, logger, onProgress } = options;
  const kind = await detectSourceKind(source);
  const cached = await readCache(cacheFile, source);
  const index = kind === 'mbox' ? await indexMbox(source, cached, logger, onProgress) : await indexDirectory(source, kind, cached, onProgress);
  await writeCache(cacheFile, index);
  return index;
}

async function indexMbox(source: string, cached: LocalIndex | null, logger: Logger, onProgress?: (p: Progress) => void): Promise<LocalIndex> {
  const stat = await fsp.stat(source);
  if (cached?.kind === 'mbox' && cached.mbox && cached.mbox.size === stat.size && cached.mbox.mtimeMs === stat.mtimeMs) {
    onProgress?.({ done: stat.size, total: stat.size, unit: 'bytes' });
    return cached;
  }
  let messages: IndexedMessage[] = [];
  let start = 0;
  // An mbox that only grew: keep the old entries and read on from where the last pass stopped,
  // when the bytes there still start a message.
  if (cached?.kind === 'mbox' && cached.mbox && stat.size > cached.mbox.size && (await startsWithFromLine(source, cached.mbox.indexedBytes))) {
    messages = cached.messages;
    start = cached.mbox.indexedBytes;
    logger.info({ from: start, size: stat.size }, 'mbox grew; indexing the new messages only');
  }
  let indexedBytes = start;
  for await (const m of readMbox(source, start, (done) => onProgress?.({ done, total: stat.size, unit: 'bytes' }))) {
    const facts = indexMessageBytes(m.data, true);
    messages.push({ key: `mbox:${m.offset}:${shortHash(m.data)}`, file: source, offset: m.offset, length: m.length, mboxrd: true, folder: null, ...facts });
    indexedBytes = m.offset + m.length;
  }
  // The next message will start at the end of the file as it is now (after the separator line).
  indexedBytes = stat.size;
  onProgress?.({ done: stat.size, total: stat.size, unit: 'bytes' });
  return { version: INDEX_VERSION, source, kind: 'mbox', mbox: { size: stat.size, mtimeMs: stat.mtimeMs, indexedBytes }, messages };
}

async function startsWithFromLine(file: string, offset: number): Promise<boolean> {
  const handle = await fsp.open(file, 'r');
  try {
    const buf = Buffer.alloc(5);
    const { bytesRead } = await handle.read(buf, 0, 5, offset);
    return bytesRead === 5 && buf.toString('latin1') === 'From ';
  } finally {
    await handle.close();
  }
}

/** A message file of a directory store. */
export interface MessageFile {
  file: string;
  folder: string | null;
  key: string;
  stamp: string;
  size: number;
}

/**
 * The message files of a Maildir (cur/ and new/ of the root and of `.Folder` subfolders,
 * Maildir++) or of a folder of `.eml` files (recursively), sorted by key for a stable order.
 */
export async function listMessageFiles(source: string, kind: 'maildir' | 'emldir' | LocalSourceKind): Promise<MessageFile[]> {
  const out: MessageFile[] = [];
  const add = async (file: string, folder: string | null, key: string) => {
    const st = await fsp.stat(file).catch(() => null);
    if (st?.isFile()) out.push({ file, folder, key, stamp: `${st.size}:${st.mtimeMs}`, size: st.size });
  };
  if (kind === 'maildir') {
    const folders: { dir: string; name: string }[] = [{ dir: source, name: '' }];
    for (const entry of await fsp.readdir(source, { withFileTypes: true })) {
      if (entry.isDirectory() && entry.name.startsWith('.') && entry.name !== '.' && entry.name !== '..') {
        folders.push({ dir: path.join(source, entry.name), name: entry.name.slice(1) });
      }
    }
    for (const { dir, name } of folders) {
      for (const sub of ['cur', 'new']) {
        const names = await fsp.readdir(path.join(dir, sub)).catch(() => [] as string[]);
        for (const n of names) {
          if (n.startsWith('.')) continue;
          // The unique name stays while flags (":2,S") change and new/ moves to cur/.
          await add(path.join(dir, sub, n), name, `maildir:${name}/${n.split(':')[0]}`);
        }
      }
    }
  } else {
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (entry.name.toLowerCase().endsWith('.eml')) await add(full, null, `eml:${path.relative(source, full).split(path.sep).join('/')}`);
      }
    };
    await walk(source);
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

async function indexDirectory(source: string, kind: 'maildir' | 'emldir', cached: LocalIndex | null, onProgress?: (p: Progress) => void): Promise<LocalIndex> {
  const files = await listMessageFiles(source, kind);
  const total = files.reduce((n, f) => n + f.size, 0);
  const reuse = new Map((cached?.kind === kind ? cached.messages : []).map((m) => [`${m.file}\0${m.stamp}`, m]));
  const messages: IndexedMessage[] = [];
  let done = 0;
  for (const f of files) {
    const old = reuse.get(`${f.file}\0${f.stamp}`);
    if (old) messages.push(old);
    else {
      const data = await fsp.readFile(f.file);
      messages.push({ key: f.key, file: f.file, offset: 0, length: data.length, mboxrd: false, folder: f.folder, stamp: f.stamp, ...indexMessageBytes(data, false) });
    }
    done += f.size;
    onProgress?.({ done, total, unit: 'bytes' });
  }
  return { version: INDEX_VERSION, source, kind, messages };
}

/**
 * A read stream over `[start, end)` of an already open file (an empty range gives an empty
 * stream). The stream owns `handle`: it closes it when it ends, fails or is destroyed.
 */
export function openRange(handle: FileHandle, start: number, end: number): Readable {
  if (end > start) return handle.createReadStream({ start, end: end - 1, highWaterMark: 1 << 20 });
  const empty = Readable.from([]);
  empty.once('close', () => void handle.close().catch(() => undefined));
  return empty;
}
