/**
 * THE attachment policy of the gateway: which MIME parts of a message are its attachments, and how
 * each is described. Every provider that sees MIME (IMAP via BODYSTRUCTURE, the local store via its
 * own parse) calls these functions on a {@link MimePart} tree, so the same mail lists the same
 * attachments everywhere.
 *
 * Base: the view of Python's `email` package as the corpus manifest records it
 * (`shared/corpus/tools/py_view.py`, `MIMEPart.iter_attachments()` applied to every multipart node):
 *
 * - Every multipart node is visited in document order; a leaf child is an attachment when the
 *   node does not take it as body. In multipart/mixed (and every other multipart except
 *   related/alternative: digest, signed, report, ...) the first text/plain and the first text/html
 *   that do not say `Content-Disposition: attachment` are body; every other leaf is listed, so a
 *   second text/plain part (an iPhone signature, a Mailman footer, a `name=`-only text file) is an
 *   attachment. We keep Python's rule here on purpose: the gateway serves no message bodies, so a
 *   part that is not the body would otherwise be unreachable.
 * - message/* parts are leaves and listed (message/rfc822, message/global, message/delivery-status,
 *   message/partial); the attachments inside an enclosed message are not listed separately (the
 *   user downloads the message). This holds also for message/rfc822 with
 *   `Content-Disposition: inline`, which mailparser opens instead.
 * - A single-part message is one attachment when its type is not text/plain or text/html, or it
 *   says `Content-Disposition: attachment`.
 * - A part of multipart/digest without Content-Type is message/rfc822 (RFC 2046 §5.1.5); the tree
 *   builder sets that type.
 *
 * Deliberate choices where we differ from Python:
 *
 * - multipart/related root (RFC 2387 §3.2): the part whose Content-ID matches the `start`
 *   parameter, else the first part whose type equals the `type` parameter, else the first part.
 *   Python ignores `type` and takes the first part; mailparser matches what MHTML senders mean
 *   (corpus: mimekit-mhtml, an image first and the HTML root second). Every non-root part is listed.
 * - Inside multipart/alternative, leaves other than text/plain and text/html are listed
 *   (text/calendar invitations, text/watch-html): a user wants the invite. Python lists none.
 * - A Content-Transfer-Encoding with stray whitespace or quotes is trimmed and decoded
 *   (mailparser's view; Python leaves `base64 ` undecoded). That happens in `./decode.ts`.
 *
 * Description ({@link describeAttachment}): filename from the Content-Disposition `filename`, else
 * the Content-Type `name` (both decoded, see `./filename.ts`); disposition ATTACHMENT or INLINE as
 * written (RFC 2183; an unknown type counts as ATTACHMENT, as RFC 2183 §2.8 advises); when absent,
 * INLINE for a part with a Content-ID inside multipart/related (an embedded `cid:` image), else
 * ATTACHMENT. kind ITEM for message/rfc822 and message/global, else FILE.
 */
import type { AttachmentInfo } from '../domain/mail.ts';
import type { MimePart } from './structure.ts';
import { decodeParameterValue } from './filename.ts';
import { MIME_LIMITS, type MimeLimits } from './limits.ts';
import { stripAngles } from './text.ts';

/** The description of a part as an attachment, without its size (the provider knows that). */
export type AttachmentDescription = Omit<AttachmentInfo, 'size' | 'sizeExact'>;

const BODY_TEXT = new Set(['text/plain', 'text/html']);
const NESTED_MESSAGE = new Set(['message/rfc822', 'message/global']);

/** Parent multipart of each part handed out by {@link selectAttachmentParts}, for the disposition rule. */
const parents = new WeakMap<MimePart, MimePart>();

function isMultipart(part: MimePart): boolean {
  return part.type.startsWith('multipart/') && Array.isArray(part.childNodes) && part.childNodes.length > 0;
}

/** The root part of a multipart/related node (RFC 2387 §3.2), by the rule in the module docs. */
export function relatedRoot(node: MimePart): MimePart | undefined {
  const children = node.childNodes ?? [];
  const start = stripAngles(node.parameters.start);
  if (start) {
    const byId = children.find((c) => stripAngles(c.contentId) === start);
    if (byId) return byId;
  }
  const type = node.parameters.type?.trim().toLowerCase();
  if (type) {
    const byType = children.find((c) => c.type === type);
    if (byType) return byType;
  }
  return children[0];
}

/** The leaf children of `node` that are attachments (Python's iter_attachments, with our choices). */
function attachmentChildren(node: MimePart): Set<MimePart> {
  const children = node.childNodes ?? [];
  const result = new Set<MimePart>();
  if (node.type === 'multipart/alternative') {
    for (const c of children) if (!isMultipart(c) && !BODY_TEXT.has(c.type)) result.add(c);
    return result;
  }
  if (node.type === 'multipart/related') {
    const root = relatedRoot(node);
    for (const c of children) if (c !== root) result.add(c);
    return result;
  }
  // Only the first text/plain and the first text/html (not marked attachment) are the body.
  const seen = new Set<string>();
  for (const c of children) {
    if (BODY_TEXT.has(c.type) && c.disposition !== 'attachment' && !seen.has(c.type)) {
      seen.add(c.type);
      continue;
    }
    result.add(c);
  }
  return result;
}

/** The attachments of a message as far as its MIME structure was read (see {@link attachmentListing}). */
export interface AttachmentListing {
  /** The attachment parts in document order, at most {@link MimeLimits.maxAttachments}. */
  parts: MimePart[];
  /** How many attachments the read structure holds (`parts` and those past the listing limit). */
  count: number;
  /**
   * True when the list is not the whole story: more attachments than the listing limit, or a
   * multipart the policy walks whose children were not all read (the part or depth limit,
   * `MimePart.truncated`), so `count` is then a lower bound.
   */
  truncated: boolean;
}

/**
 * The parts of a BODYSTRUCTURE-shaped tree that are attachments, in document order (see the
 * module docs for the policy), with their count and whether the MIME limits cut the list.
 * Multipart nodes are never returned; message/* parts are leaves (what an enclosed message
 * holds, and any cut inside it, does not change the listing). The walk is iterative and linear.
 */
export function attachmentListing(root: MimePart, limits: Readonly<MimeLimits> = MIME_LIMITS): AttachmentListing {
  if (!isMultipart(root)) {
    const attachment = !BODY_TEXT.has(root.type) || root.disposition === 'attachment';
    // A part not read whole (its bytes run past what was parsed) is counted, not listed.
    const listed = attachment && !root.truncated;
    return { parts: listed ? [root] : [], count: attachment ? 1 : 0, truncated: root.truncated === true };
  }
  const parts: MimePart[] = [];
  let count = 0;
  let truncated = false;
  // Depth-first in document order, without recursion: an explicit stack of (node, next child).
  const stack: { node: MimePart; candidates: Set<MimePart>; next: number }[] = [{ node: root, candidates: attachmentChildren(root), next: 0 }];
  if (root.truncated) truncated = true;
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const children = top.node.childNodes ?? [];
    if (top.next >= children.length) {
      stack.pop();
      continue;
    }
    const child = children[top.next++]!;
    if (isMultipart(child)) {
      if (child.truncated) truncated = true;
      stack.push({ node: child, candidates: attachmentChildren(child), next: 0 });
    } else if (child.type.startsWith('multipart/')) {
      // A multipart without read children holds no leaf we can name. When the limits cut it,
      // the listing says so; a multipart that had no parts to begin with is just empty.
      if (child.truncated) truncated = true;
    } else if (top.candidates.has(child)) {
      count++;
      if (child.truncated) truncated = true;
      else if (parts.length < limits.maxAttachments) {
        parents.set(child, top.node);
        parts.push(child);
      } else truncated = true;
    }
  }
  return { parts, count, truncated };
}

/**
 * The attachment parts of a tree, in document order, at most {@link MimeLimits.maxAttachments}
 * (see {@link attachmentListing} for the count and the truncation flag).
 */
export function selectAttachmentParts(root: MimePart): MimePart[] {
  return attachmentListing(root).parts;
}

/**
 * Describes one attachment part (see the module docs).
 * @param parent the multipart node holding `part`; defaults to the one recorded by
 *   {@link selectAttachmentParts}, so it may be omitted for parts that function returned.
 */
export function describeAttachment(part: MimePart, parent?: MimePart | null): AttachmentDescription {
  const holder = parent === undefined ? parents.get(part) : parent;
  const rawName = part.dispositionParameters.filename ?? part.parameters.name ?? null;
  const filename = rawName == null || rawName === '' ? null : decodeParameterValue(rawName);
  const contentId = stripAngles(part.contentId);
  let disposition: AttachmentInfo['disposition'];
  if (part.disposition === 'inline') disposition = 'INLINE';
  else if (part.disposition != null && part.disposition !== '') disposition = 'ATTACHMENT';
  else disposition = contentId && holder?.type === 'multipart/related' ? 'INLINE' : 'ATTACHMENT';
  return {
    partId: part.partId,
    filename,
    contentType: part.type,
    contentId,
    disposition,
    kind: NESTED_MESSAGE.has(part.type) ? 'ITEM' : 'FILE',
    downloadable: true,
  };
}

/** {@link attachmentListing} with each part described ({@link describeAttachment}). */
export function listAttachments(root: MimePart): { attachments: { part: MimePart; description: AttachmentDescription }[]; count: number; truncated: boolean } {
  const listing = attachmentListing(root);
  return { attachments: listing.parts.map((part) => ({ part, description: describeAttachment(part) })), count: listing.count, truncated: listing.truncated };
}

/** Every node of a tree by IMAP part number (the first one wins should two share a number), built in one pass. */
export function indexParts(root: MimePart): Map<string, MimePart> {
  const byId = new Map<string, MimePart>();
  const stack: MimePart[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (!byId.has(node.partId)) byId.set(node.partId, node);
    const children = node.childNodes ?? [];
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  return byId;
}

/** Finds the node with IMAP part number `partId` (a multipart root is ""), or null. */
export function findPart(root: MimePart, partId: string): MimePart | null {
  if (root.partId === partId) return root;
  for (const child of root.childNodes ?? []) {
    if (partId === child.partId || partId.startsWith(`${child.partId}.`) || child.partId === '') {
      const found = findPart(child, partId);
      if (found) return found;
    }
  }
  return null;
}
