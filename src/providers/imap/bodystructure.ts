/**
 * Maps an IMAP BODYSTRUCTURE (RFC 3501 §7.4.2, RFC 9051 §7.5.2) as imapflow's parser hands it over
 * (see `./raw.ts`) to the gateway's {@link MimePart} tree. Parameter values are decoded by the
 * shared decoder (`src/mime/filename.ts`: RFC 2231 continuations and charsets, RFC 2047 words,
 * raw 8-bit bytes). The index then replaces the header-derived fields of the parts that decide
 * the listing with those read from the parts' raw headers (`./part-headers.ts`), because servers
 * differ in these values (Dovecot cuts unquoted names with spaces); the shape, part numbers,
 * types and sizes stay the ones mapped here.
 */
import type { MimePart } from '../../mime/structure.ts';
import { parseStructuredHeader } from '../../mime/filename.ts';
import { normalizeTransferEncoding } from '../../mime/decode.ts';
import { MIME_LIMITS, partBudget, type MimeLimits, type PartBudget } from '../../mime/limits.ts';
import { stripAngles } from '../../mime/text.ts';
import type { RawValue } from './raw.ts';
import { tokenText } from './raw.ts';

/**
 * Decodes a BODYSTRUCTURE parameter list (`("name" "value" ...)`, NIL) into lower-cased names
 * and decoded values. The pairs are written back as a header value and parsed by the shared
 * header parser: one decoder for every provider, and it joins RFC 2231 sections that a server
 * left split (`filename*0*`, `filename*1*`) as well as the ones it merged (`filename*`).
 */
export function decodeParameterList(list: RawValue | undefined): Record<string, string> {
  if (!Array.isArray(list) || list.length < 2) return {};
  const pieces: string[] = [];
  for (let i = 0; i + 1 < list.length; i += 2) {
    const name = tokenText(list[i])?.trim();
    const value = tokenText(list[i + 1]) ?? '';
    if (!name || !/^[A-Za-z0-9!#$&+.^_`{|}~*-]+$/.test(name)) continue;
    // Extended (RFC 2231 `*`) values are percent-encoded tokens; others are quoted back so that
    // spaces, `;` and quotes inside them survive the round trip.
    const extended = name.endsWith('*') && /^[^\s;"]*$/.test(value);
    pieces.push(`${name}=${extended ? value : `"${value.replace(/(["\\])/g, '\\$1')}"`}`);
  }
  if (pieces.length === 0) return {};
  return parseStructuredHeader(`x; ${pieces.join('; ')}`).params;
}

function lower(value: RawValue | undefined): string {
  return (tokenText(value) ?? '').trim().toLowerCase();
}

function numberOrNull(value: RawValue | undefined): number | null {
  const text = tokenText(value);
  if (text == null || !/^\d+$/.test(text)) return null;
  return Number(text);
}

function contentIdOf(value: RawValue | undefined): string | null {
  return stripAngles(tokenText(value));
}

function applyDisposition(part: MimePart, value: RawValue | undefined): void {
  if (!Array.isArray(value) || value.length === 0) return;
  const type = lower(value[0]);
  if (type) part.disposition = type;
  part.dispositionParameters = decodeParameterList(value[1]);
}

/**
 * The MIME part count at which servers stop parsing a message themselves: Dovecot 2.3's message
 * parser describes at most 10,000 parts, root included, and keeps the rest of the message as the
 * body of the last one, silently (measured with 2.3.19: a mail of a text part and 10,000
 * attachments shows 9,998, the last holding the raw remainder). A BODYSTRUCTURE that reaches this
 * count is therefore reported as truncated: it may be the whole message, but nothing tells.
 */
export const SERVER_PART_LIMIT = 10_000;

/** The limits of one message's mapping. */
interface Walk {
  budget: PartBudget;
  maxDepth: number;
}

/**
 * Maps one BODYSTRUCTURE node. `partId` is the IMAP part number of the node ("" for a multipart
 * root); a non-multipart message root is "1". `depth` is the node's nesting (root 0); children
 * are mapped while `walk` allows (see `src/mime/limits.ts`), the rest marks the node truncated.
 */
function mapNode(node: RawValue[], partId: string, depth: number, walk: Walk): MimePart {
  if (Array.isArray(node[0])) {
    let i = 0;
    while (Array.isArray(node[i])) i++;
    const childCount = i;
    const children: MimePart[] = [];
    let cut = false;
    for (let c = 0; c < childCount; c++) {
      if (depth >= walk.maxDepth || walk.budget.remaining <= 0) {
        cut = true;
        break;
      }
      walk.budget.remaining--;
      const childId = partId === '' ? `${c + 1}` : `${partId}.${c + 1}`;
      children.push(mapNode(node[c] as RawValue[], childId, depth + 1, walk));
    }
    const subtype = lower(node[i++]) || 'mixed';
    const part: MimePart = {
      partId,
      type: `multipart/${subtype}`,
      parameters: decodeParameterList(node[i++]),
      disposition: null,
      dispositionParameters: {},
      contentId: null,
      encoding: null,
      size: null,
      ...(children.length > 0 ? { childNodes: children } : {}),
      ...(cut ? { truncated: true } : {}),
    };
    applyDisposition(part, node[i]);
    return part;
  }
  const id = partId === '' ? '1' : partId;
  const media = lower(node[0]);
  const subtype = lower(node[1]);
  // A server that could not parse Content-Type reports text/plain (RFC 2045 §5.2) itself; guard
  // against an empty one anyway.
  const type = media && subtype ? `${media}/${subtype}` : 'text/plain';
  const part: MimePart = {
    partId: id,
    type,
    parameters: decodeParameterList(node[2]),
    disposition: null,
    dispositionParameters: {},
    contentId: contentIdOf(node[3]),
    encoding: normalizeTransferEncoding(tokenText(node[5])),
    size: numberOrNull(node[6]),
  };
  let i = 7;
  if (type === 'message/rfc822' || type === 'message/global') {
    // envelope, body, lines of the enclosed message
    const inner = node[8];
    if (Array.isArray(inner) && inner.length > 0) {
      // Past the limits the enclosed message's structure is left out. The part itself is whole
      // (its bytes are the enclosed message), so it is not marked: the listing never looks inside.
      if (depth < walk.maxDepth && walk.budget.remaining > 0) {
        walk.budget.remaining--;
        const innerIsMultipart = Array.isArray(inner[0]);
        // RFC 3501 §6.4.5: the body of enclosed message N is N.1 when single-part, and the parts
        // of an enclosed multipart are N.1, N.2, ...
        part.childNodes = [mapNode(inner, innerIsMultipart ? id : `${id}.1`, depth + 1, walk)];
      }
    }
    i = 10;
  } else if (media === 'text') {
    i = 8; // line count
  }
  // extension data: md5, disposition, language, location
  applyDisposition(part, node[i + 1]);
  return part;
}

/**
 * Maps a BODYSTRUCTURE value to a {@link MimePart} tree, within the MIME limits
 * (`src/mime/limits.ts`: at most `maxParts` nodes below the root in document order, nesting down
 * to `maxDepth`); a node whose children were not all mapped is marked `truncated`. Linear in the
 * size of the value; the recursion is bounded by `maxDepth`.
 * @returns null when the value is not a BODYSTRUCTURE list (a server answering NIL, or imapflow
 *   replacing a BODYSTRUCTURE nested deeper than its parser allows by NIL)
 */
export function mapBodyStructure(value: RawValue | undefined, limits: Readonly<MimeLimits> = MIME_LIMITS): MimePart | null {
  if (!Array.isArray(value) || value.length === 0) return null;
  const walk: Walk = { budget: partBudget(limits), maxDepth: limits.maxDepth };
  const root = mapNode(value, '', 0, walk);
  // The root plus every node mapped below it.
  const nodes = 1 + limits.maxParts - walk.budget.remaining;
  if (nodes >= SERVER_PART_LIMIT) root.truncated = true;
  return root;
}
