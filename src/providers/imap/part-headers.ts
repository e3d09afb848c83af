/**
 * The MIME headers of the parts that decide a message's attachment listing, read from the raw
 * header bytes (`BODY.PEEK[part.MIME]`, RFC 3501 §6.4.5) with the parser the local store uses
 * (`src/mime/parse.ts` {@link parseMimeHeader}), instead of trusting the server's BODYSTRUCTURE
 * values: servers differ there (Dovecot 2.3.19 cuts an unquoted `filename=This is a test.txt` at
 * the first space, servers unescape parameters and pass raw 8-bit bytes their own ways). The tree
 * shape, part numbers, media types and sizes still come from BODYSTRUCTURE.
 *
 * Cost: one UID FETCH asks the union of the wanted sections for a group of messages (a section a
 * message lacks answers empty and is ignored); groups are bounded by {@link MAX_SECTIONS} sections
 * and {@link MAX_ITEMS} answered items per command, so a folder of similar messages costs one
 * command whatever its size, and a huge or very mixed one a few.
 */
import type { ImapFlow } from 'imapflow';
import { parseMimeHeader } from '../../mime/parse.ts';
import type { MimePart } from '../../mime/structure.ts';
import type { Logger } from '../../domain/logger.ts';
import { atom, execRaw, fetchItems, sequence, tokenBuffer, tokenText, uidSet } from './raw.ts';

/** Most sections one command asks (keeps the command line far below servers' limits, 8 KiB+). */
export const MAX_SECTIONS = 400;
/** Most (message, section) items one command asks. */
export const MAX_ITEMS = 4000;
/**
 * Most bytes of one part header asked (a partial FETCH, `<0.N>`): a hostile sender could give a
 * part megabytes of header, and each of up to {@link MAX_ITEMS} items per command would bring it.
 * Real part headers are well under 2 KiB; a header cut here is read up to the cut.
 */
export const MAX_PART_HEADER_BYTES = 16 * 1024;

/** Header fields of the top-level header that {@link applyPartHeader} reads (for the root part). */
export const ROOT_MIME_FIELDS = ['CONTENT-TYPE', 'CONTENT-DISPOSITION', 'CONTENT-ID', 'CONTENT-TRANSFER-ENCODING'];

function isMultipart(part: MimePart): boolean {
  return part.type.startsWith('multipart/');
}

/**
 * Part numbers whose header the attachment policy (`src/mime/attachments.ts`) reads: every
 * non-multipart child of a multipart node reached from the root through multiparts (message/*
 * parts included, not what is inside them), and every nested multipart/related node (its
 * `start` / `type` parameters pick the root). The root's own header comes with the top-level
 * header fields, not from here.
 */
export function headerSections(root: MimePart): string[] {
  const out: string[] = [];
  const visit = (node: MimePart): void => {
    for (const child of node.childNodes ?? []) {
      if (isMultipart(child)) {
        if (child.type === 'multipart/related' && child.partId !== '') out.push(child.partId);
        visit(child);
      } else if (child.partId !== '') out.push(child.partId);
    }
  };
  if (isMultipart(root)) visit(root);
  return out;
}

/**
 * Replaces the header-derived fields of `part` (Content-Type parameters, Content-Disposition,
 * Content-ID, Content-Transfer-Encoding) with those read from its raw header. The media type
 * stays BODYSTRUCTURE's (it also knows defaults such as message/rfc822 inside multipart/digest).
 * An empty answer (a server that does not know the section) leaves the part unchanged.
 */
export function applyPartHeader(part: MimePart, raw: Buffer): void {
  if (raw.length === 0) return;
  const fields = parseMimeHeader(raw, part.type);
  part.parameters = fields.parameters;
  part.disposition = fields.disposition;
  part.dispositionParameters = fields.dispositionParameters;
  part.contentId = fields.contentId;
  part.encoding = fields.encoding;
}

/** One message and the sections (part numbers) whose `.MIME` header is wanted. */
export interface HeaderRequest {
  uid: number;
  sections: string[];
}

interface Group {
  uids: number[];
  sections: Set<string>;
}

/** Splits requests into commands within {@link MAX_SECTIONS} and {@link MAX_ITEMS}. */
export function groupHeaderRequests(requests: HeaderRequest[], maxSections = MAX_SECTIONS, maxItems = MAX_ITEMS): Group[] {
  // A message with more sections than a command may ask is split into several units.
  const units: HeaderRequest[] = [];
  for (const r of requests) {
    for (let i = 0; i < r.sections.length; i += maxSections) units.push({ uid: r.uid, sections: r.sections.slice(i, i + maxSections) });
  }
  // Similar lists next to each other, so that a group's union stays small.
  const signature = (u: HeaderRequest): string => u.sections.join(' ');
  units.sort((a, b) => (signature(a) < signature(b) ? -1 : signature(a) > signature(b) ? 1 : a.uid - b.uid));
  const groups: Group[] = [];
  let current: Group | null = null;
  for (const unit of units) {
    if (current && !current.uids.includes(unit.uid)) {
      const union = new Set([...current.sections, ...unit.sections]);
      if (union.size <= maxSections && union.size * (current.uids.length + 1) <= maxItems) {
        current.sections = union;
        current.uids.push(unit.uid);
        continue;
      }
    }
    current = { uids: [unit.uid], sections: new Set(unit.sections) };
    groups.push(current);
  }
  return groups;
}

/**
 * Fetches the `.MIME` headers of the requested sections in the folder selected on `client`.
 * A refused command is logged and its messages keep their BODYSTRUCTURE values.
 * @returns uid → section → raw header bytes
 */
export async function fetchPartHeaders(client: ImapFlow, requests: HeaderRequest[], logger: Logger): Promise<Map<number, Map<string, Buffer>>> {
  const result = new Map<number, Map<string, Buffer>>();
  for (const group of groupHeaderRequests(requests.filter((r) => r.sections.length > 0))) {
    const items = [atom('UID'), ...[...group.sections].map((id) => atom('BODY.PEEK', [atom(`${id}.MIME`)], [0, MAX_PART_HEADER_BYTES]))];
    try {
      await execRaw(client, 'UID FETCH', [sequence(uidSet(group.uids)), items], 'FETCH', (untagged) => {
        const answer = fetchItems(untagged);
        const uid = Number(tokenText(answer.get('UID')));
        if (!Number.isInteger(uid)) return;
        let headers = result.get(uid);
        if (!headers) result.set(uid, (headers = new Map()));
        for (const [name, value] of answer) {
          // The answer names the partial by its origin: BODY[2.MIME]<0> (RFC 3501 §7.4.2).
          const m = /^BODY\[([\d.]+)\.MIME\](?:<0>)?$/.exec(name);
          const bytes = m ? tokenBuffer(value) : null;
          if (m && bytes) headers.set(m[1]!, bytes);
        }
      });
    } catch (error) {
      logger.warn({ err: error, uids: group.uids.length }, 'Could not fetch part headers; using BODYSTRUCTURE values');
      if (!client.usable) throw error;
    }
  }
  return result;
}
