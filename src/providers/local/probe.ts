/**
 * A cheap look at a local mail store before it is added: does it hold at least one message? An
 * mbox (RFC 4155) starts with a `From ` envelope line; a Maildir has a file in a `cur/` or `new/`
 * folder; a folder of messages has a non-empty `.eml` file somewhere below it. The walk stops at
 * the first message found, so a large store costs little.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { badInput } from '../../errors.ts';
import { detectSourceKind, type LocalSourceKind } from './indexer.ts';

/** Bytes read from the start of a file to find the first `From ` line. */
const MBOX_HEAD_BYTES = 64 * 1024;

/**
 * The kind of the store at `source` when it holds a message.
 * @throws GatewayError BAD_USER_INPUT naming the path and why it holds no message
 */
export async function assertHoldsMessages(source: string): Promise<LocalSourceKind> {
  const kind = await detectSourceKind(source).catch(() => null);
  if (kind === null) throw badInput(`--path ${source} is not a readable file or directory`);
  if (kind === 'mbox') {
    if (!(await mboxHasMessage(source))) {
      throw badInput(`--path ${source} is not an mbox: it does not start with a "From " line (a single .eml file? give its folder)`);
    }
  } else if (!(await directoryHasMessage(source, kind))) {
    throw badInput(kind === 'maildir' ? `--path ${source} is a Maildir with no message in cur/ or new/` : `--path ${source} holds no .eml message (and is not a Maildir)`);
  }
  return kind;
}

async function mboxHasMessage(file: string): Promise<boolean> {
  const handle = await fsp.open(file, 'r');
  try {
    const buffer = Buffer.alloc(MBOX_HEAD_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    // The reader skips blank lines before the first envelope line.
    const head = buffer.subarray(0, bytesRead).toString('latin1').replace(/^[\r\n]+/, '');
    return head.startsWith('From ');
  } finally {
    await handle.close();
  }
}

async function directoryHasMessage(source: string, kind: 'maildir' | 'emldir'): Promise<boolean> {
  if (kind === 'maildir') {
    const folders = [source];
    for (const entry of await fsp.readdir(source, { withFileTypes: true })) {
      if (entry.isDirectory() && entry.name.startsWith('.') && entry.name !== '.' && entry.name !== '..') folders.push(path.join(source, entry.name));
    }
    for (const folder of folders) {
      for (const sub of ['cur', 'new']) {
        for (const name of await fsp.readdir(path.join(folder, sub)).catch(() => [] as string[])) {
          if (!name.startsWith('.') && (await nonEmptyFile(path.join(folder, sub, name)))) return true;
        }
      }
    }
    return false;
  }
  const walk = async (dir: string): Promise<boolean> => {
    for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (await walk(full)) return true;
      } else if (entry.name.toLowerCase().endsWith('.eml') && (await nonEmptyFile(full))) {
        return true;
      }
    }
    return false;
  };
  return walk(source);
}

async function nonEmptyFile(file: string): Promise<boolean> {
  const stat = await fsp.stat(file).catch(() => null);
  return !!stat && stat.isFile() && stat.size > 0;
}
