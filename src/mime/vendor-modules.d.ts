/**
 * Types of the untyped MIME helper packages the MIME core uses (only the calls we make).
 */
declare module 'libmime' {
  interface Libmime {
    /** Decodes RFC 2047 encoded words in a string. */
    decodeWords(text: string): string;
    /** Splits a structured header value into its value and parameters (RFC 2231 aware). */
    parseHeaderValue(text: string): { value: string; params: Record<string, string> };
  }
  const libmime: Libmime;
  export default libmime;
}
