/**
 * A MIME tree in the shape of IMAP BODYSTRUCTURE (RFC 3501 §7.4.2, RFC 9051 §7.5.2), the common
 * ground of every MIME source: the IMAP provider builds it from the server's BODYSTRUCTURE, the
 * local store from its own parse of the raw message. The attachment policy
 * (`./attachments.ts`) reads only this shape, so both list the same attachments for the same mail.
 */

/** One node of the tree. */
export interface MimePart {
  /**
   * IMAP part number (RFC 3501 §6.4.5 BODY[section]): "1", "2.1", ...; "" for the root of a
   * multipart message. A non-multipart message's only part is "1". The body of an enclosed
   * message/rfc822 part N is N.1 when single-part, or its children N.1, N.2, ... when multipart.
   */
  partId: string;
  /** Lower-case media type and subtype, e.g. `multipart/mixed`, `application/pdf`. Missing or unparsable: `text/plain` (RFC 2045 §5.2). */
  type: string;
  /** Content-Type parameters, names lower-cased, values decoded (RFC 2231 continuations and charsets, RFC 2047 words). */
  parameters: Record<string, string>;
  /** Content-Disposition type lower-cased as written (`attachment`, `inline`, ...), or null when absent. */
  disposition: string | null;
  /** Content-Disposition parameters, decoded like {@link parameters}. */
  dispositionParameters: Record<string, string>;
  /** Content-ID without angle brackets, or null. */
  contentId: string | null;
  /** Content-Transfer-Encoding lower-cased and trimmed (`base64`, `quoted-printable`, `x-uuencode`, `7bit`, ...), or null when absent. */
  encoding: string | null;
  /** Size of the encoded body in bytes, as BODYSTRUCTURE counts it; null for multiparts or when unknown. */
  size: number | null;
  /** Children of a multipart node, in order. */
  childNodes?: MimePart[];
  /**
   * True on a node that was not read whole because of the MIME limits (`./limits.ts`): a
   * multipart at the deepest level read, one whose later children are past the part budget, or a
   * part whose bytes run past the bytes parsed of its message. Absent otherwise.
   */
  truncated?: boolean;
}
