/**
 * Decoded sizes of attachment parts, for many messages of one selected folder at once.
 *
 * - identity encodings (7bit, 8bit, binary, none, unknown tokens): the BODYSTRUCTURE size is the
 *   byte count served, exact.
 * - small parts (≤ {@link CLIENT_DECODE_MAX_BYTES} encoded) of any other encoding: fetched and
 *   decoded here with the shared decoder, so the listed size is exactly what a download serves
 *   (Dovecot 2.3.19 answers BINARY.SIZE of several real corpus mails — broken or odd base64 —
 *   with "Internal error" and drops the connection; and its decoder may differ from ours on broken
 *   input). One FETCH per distinct part list, within a byte budget.
 * - larger base64 / quoted-printable parts with BINARY (RFC 3516): `BINARY.SIZE[part]`. One UID FETCH
 *   asks the union of wanted parts for a group of messages (a part number a message lacks answers
 *   0 and is ignored). Dovecot refuses the whole command with `[UNKNOWN-CTE]` when any asked part
 *   has an encoding it cannot decode (x-uuencode), so messages are grouped so that no group asks
 *   such a part of any member: in practice one or two commands per folder.
 * - large parts without BINARY, large x-uuencode parts, or after a refused BINARY.SIZE: an
 *   estimate from the encoded size with `exact: false`.
 */
import type { ImapFlow } from 'imapflow';
import type { MimePart } from '../../mime/structure.ts';
import { decodeTransferEncodingSync, transferEncodingFamily } from '../../mime/decode.ts';
import type { Logger } from '../../domain/logger.ts';
import { atom, execRaw, fetchItems, sequence, tokenBuffer, tokenText, uidSet } from './raw.ts';

/** A measured size, in bytes. */
export interface PartSize {
  size: number | null;
  exact: boolean;
}

/** Largest encoded part decoded here to learn its exact size, in bytes. */
export const CLIENT_DECODE_MAX_BYTES = 4 * 1024 * 1024;
/** Most encoded bytes one client-side measuring FETCH may bring. */
const CLIENT_DECODE_BATCH_BYTES = 64 * 1024 * 1024;

/** One message and the attachment parts to size. */
export interface SizeRequest {
  uid: number;
  structure: MimePart;
  parts: MimePart[];
}

const BINARY_SAFE = new Set([null, '7bit', '8bit', 'binary', 'base64', 'quoted-printable']);

function leaves(node: MimePart, out: MimePart[] = []): MimePart[] {
  if (node.type.startsWith('multipart/') || (node.childNodes && node.childNodes.length && !node.type.startsWith('message/'))) {
    out.push(node);
    for (const child of node.childNodes ?? []) leaves(child, out);
  } else {
    out.push(node);
    for (const child of node.childNodes ?? []) leaves(child, out);
  }
  return out;
}

/** Part numbers that must not be asked with BINARY for this message. */
function binaryUnsafe(structure: MimePart): Set<string> {
  const unsafe = new Set<string>();
  for (const node of leaves(structure)) {
    if (node.type.startsWith('multipart/') || !BINARY_SAFE.has(node.encoding)) unsafe.add(node.partId);
  }
  return unsafe;
}

/** The decoded size of a part guessed from its encoded size (never exact unless the encoding is identity). */
export function estimatePartSize(part: MimePart): PartSize {
  if (transferEncodingFamily(part.encoding) === 'identity') return { size: part.size, exact: part.size != null };
  return estimate(part);
}

function estimate(part: MimePart): PartSize {
  const size = part.size;
  if (size == null) return { size: null, exact: false };
  switch (transferEncodingFamily(part.encoding)) {
    case 'base64':
      // 3 bytes per 4 characters, lines of 76 + CRLF
      return { size: Math.floor((size * 76) / 78 / 4) * 3, exact: false };
    case 'uuencode':
      // 45 bytes per 62-character line (length char + 60 + LF/CRLF)
      return { size: Math.floor((size * 45) / 62), exact: false };
    default:
      return { size, exact: false };
  }
}

/**
 * Sizes the parts of `requests` in the folder selected on `client`.
 * @returns uid → partId → size
 */
export async function measureParts(client: ImapFlow, requests: SizeRequest[], logger: Logger): Promise<Map<number, Map<string, PartSize>>> {
  const result = new Map<number, Map<string, PartSize>>();
  const set = (uid: number, partId: string, size: PartSize): void => {
    let m = result.get(uid);
    if (!m) result.set(uid, (m = new Map()));
    m.set(partId, size);
  };
  const canBinary = client.capabilities.has('BINARY');
  const binaryWanted: { uid: number; parts: MimePart[]; unsafe: Set<string> }[] = [];
  const clientSide: { uid: number; parts: MimePart[] }[] = [];
  for (const request of requests) {
    const viaBinary: MimePart[] = [];
    const viaClient: MimePart[] = [];
    for (const part of request.parts) {
      const family = transferEncodingFamily(part.encoding);
      if (family === 'identity') set(request.uid, part.partId, { size: part.size, exact: part.size != null });
      else if (canBinary && family !== 'uuencode' && BINARY_SAFE.has(part.encoding) && (part.size ?? 0) > CLIENT_DECODE_MAX_BYTES) viaBinary.push(part);
      else viaClient.push(part);
    }
    if (viaBinary.length) binaryWanted.push({ uid: request.uid, parts: viaBinary, unsafe: binaryUnsafe(request.structure) });
    if (viaClient.length) clientSide.push({ uid: request.uid, parts: viaClient });
  }

  // Group for BINARY.SIZE so that no member is asked a part it cannot BINARY-decode.
  const groups: { uids: number[]; parts: Set<string>; unsafe: Set<string>; members: typeof binaryWanted }[] = [];
  for (const entry of binaryWanted) {
    const ids = entry.parts.map((p) => p.partId);
    const group = groups.find((g) => ids.every((id) => !g.unsafe.has(id)) && [...g.parts].every((id) => !entry.unsafe.has(id)));
    if (group) {
      group.uids.push(entry.uid);
      for (const id of ids) group.parts.add(id);
      for (const id of entry.unsafe) group.unsafe.add(id);
      group.members.push(entry);
    } else {
      groups.push({ uids: [entry.uid], parts: new Set(ids), unsafe: new Set(entry.unsafe), members: [entry] });
    }
  }
  for (const group of groups) {
    const answers = new Map<number, Map<string, number>>();
    try {
      await execRaw(client, 'UID FETCH', [sequence(uidSet(group.uids)), [atom('UID'), ...[...group.parts].map((id) => atom('BINARY.SIZE', [atom(id)]))]], 'FETCH', (untagged) => {
        const items = fetchItems(untagged);
        const uid = Number(tokenText(items.get('UID')));
        const sizes = new Map<string, number>();
        for (const [name, value] of items) {
          const m = /^BINARY\.SIZE\[([\d.]+)\]$/.exec(name);
          const n = Number(tokenText(value));
          if (m && Number.isInteger(n) && n >= 0) sizes.set(m[1]!, n);
        }
        answers.set(uid, sizes);
      });
    } catch (error) {
      // e.g. [UNKNOWN-CTE] for an encoding we did not foresee: measure these client-side.
      logger.warn({ err: error, uids: group.uids.length }, 'BINARY.SIZE refused; decoding parts client-side to size them');
      for (const member of group.members) clientSide.push({ uid: member.uid, parts: member.parts });
      continue;
    }
    for (const member of group.members) {
      const sizes = answers.get(member.uid);
      for (const part of member.parts) {
        const size = sizes?.get(part.partId);
        set(member.uid, part.partId, size != null ? { size, exact: true } : estimate(part));
      }
    }
  }

  // Client-side: one FETCH per distinct part list, within a byte budget.
  const byParts = new Map<string, { uids: number[]; parts: MimePart[] }>();
  let budget = CLIENT_DECODE_BATCH_BYTES;
  for (const entry of clientSide) {
    const small: MimePart[] = [];
    for (const part of entry.parts) {
      if (part.size != null && part.size <= CLIENT_DECODE_MAX_BYTES && part.size <= budget) {
        budget -= part.size;
        small.push(part);
      } else set(entry.uid, part.partId, estimate(part));
    }
    if (!small.length) continue;
    const signature = small.map((p) => p.partId).join(',');
    const bucket = byParts.get(signature) ?? { uids: [], parts: small };
    bucket.uids.push(entry.uid);
    byParts.set(signature, bucket);
    // Each member keeps its own MIME parts for the encodings; remember them per uid.
    for (const part of small) set(entry.uid, part.partId, { ...estimate(part), pending: part } as PartSize);
  }
  for (const bucket of byParts.values()) {
    try {
      await execRaw(client, 'UID FETCH', [sequence(uidSet(bucket.uids)), [atom('UID'), ...bucket.parts.map((p) => atom('BODY.PEEK', [atom(p.partId)]))]], 'FETCH', (untagged) => {
        const items = fetchItems(untagged);
        const uid = Number(tokenText(items.get('UID')));
        const mine = result.get(uid);
        if (!mine) return;
        for (const [name, value] of items) {
          const m = /^BODY\[([\d.]+)\]$/.exec(name);
          if (!m) continue;
          const entry = mine.get(m[1]!) as (PartSize & { pending?: MimePart }) | undefined;
          const body = tokenBuffer(value);
          if (!entry?.pending || !body) continue;
          mine.set(m[1]!, { size: decodeTransferEncodingSync(body, entry.pending.encoding).length, exact: true });
        }
      });
    } catch (error) {
      logger.warn({ err: error }, 'Could not fetch parts to size them; sizes are estimates');
    }
  }
  for (const sizes of result.values()) {
    for (const [id, size] of sizes) {
      if ('pending' in size) sizes.set(id, { size: size.size, exact: false });
    }
  }
  return result;
}
