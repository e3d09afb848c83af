/**
 * Safe download names. A filename comes from a mail someone else wrote: it may hold CR/LF (header
 * injection), NUL, quotes, path parts (`../../.bashrc`, `C:\\x`), bidi overrides that flip the
 * shown extension (`invoice\u202Efdp.exe`), or Windows-reserved characters. What reaches the
 * Content-Disposition header is a plain last path segment; the header itself is built by the
 * `content-disposition` package (RFC 6266 with an RFC 5987 `filename*` for non-ASCII names).
 */
import contentDisposition from 'content-disposition';

const MAX_NAME_LENGTH = 200;

/** `s` without leading and trailing dots and whitespace, in one scan (`/[\s.]+$/` is n² on a long run of them that does not end the name). */
function trimDotsAndSpaces(s: string): string {
  const drop = (c: string): boolean => c === '.' || /\s/.test(c);
  let start = 0;
  let end = s.length;
  while (start < end && drop(s[start]!)) start++;
  while (end > start && drop(s[end - 1]!)) end--;
  return s.slice(start, end);
}

/** Neutralises a decoded filename: no control or bidi characters, no path, no reserved characters; "attachment" when nothing is left. */
export function safeFilename(name: string | null): string {
  let s = (name ?? '').normalize('NFC');
  // C0, DEL, C1 controls (CR, LF, NUL, ...) and the Unicode bidi embedding/override/isolate marks.
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  s = s.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '');
  s = s.split(/[/\\]/).pop() ?? '';
  s = s.replace(/[<>:"|?*]/g, '_');
  // Leading dots make hidden files or `..`; trailing dots and spaces are dropped by Windows.
  s = trimDotsAndSpaces(s);
  if (s.length > MAX_NAME_LENGTH) {
    const dot = s.lastIndexOf('.');
    const ext = dot > 0 && s.length - dot <= 16 ? s.slice(dot) : '';
    s = [...s].slice(0, MAX_NAME_LENGTH - ext.length).join('') + ext;
  }
  return s === '' ? 'attachment' : s;
}

/** An ASCII stand-in for clients that ignore `filename*`: accents dropped, other non-ASCII as `_`. */
export function asciiFallback(name: string): string {
  const ascii = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^\x20-\x7e]/g, '_')
    .replace(/[\\"%]/g, '_');
  return ascii.replace(/^[\s._]+$/, '') === '' ? 'attachment' : ascii;
}

/** The Content-Disposition value for downloading `name` (`attachment; filename="..."; filename*=UTF-8''...`). */
export function attachmentDisposition(name: string | null): string {
  const safe = safeFilename(name);
  return contentDisposition(safe, { type: 'attachment', fallback: asciiFallback(safe) });
}

/** A media type fit for a header (`type/subtype`, RFC 6838 characters), else `application/octet-stream`. Parameters are dropped. */
export function safeContentType(contentType: string | null | undefined): string {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/.test(type) ? type : 'application/octet-stream';
}
