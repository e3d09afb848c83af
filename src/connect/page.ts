/**
 * The small HTML page the callback route answers to the browser of the account owner: what
 * happened, in words. It holds no secret and loads nothing: `Content-Security-Policy` allows no
 * resource at all, `Referrer-Policy: no-referrer` keeps the callback URL (code and state) out of
 * any later request, `Cache-Control: no-store` keeps it out of caches.
 */

/** Headers of every answer of the callback route. */
export const CALLBACK_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
});

/** Text as HTML character data or attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page: a title and paragraphs of plain text (escaped here). */
export function callbackPage(status: number, title: string, paragraphs: readonly string[]): Response {
  const body = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(title)} - attachment-gateway</title></head>
<body>
<h1>${escapeHtml(title)}</h1>
${paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n')}
</body>
</html>
`;
  return new Response(body, { status, headers: CALLBACK_HEADERS });
}
