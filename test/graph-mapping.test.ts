/**
 * Graph resources → domain types (`src/providers/microsoft-graph/mapping.ts`) and Graph failures →
 * gateway codes (`errors.ts`), on JSON shaped as the API reference's examples (message, the three
 * attachment types listed with `$expand=attachments($select=...)`, `$batch` error items).
 */
import { describe, expect, it } from 'vitest';
import { isRetryableUpstreamError } from '../src/upstream/retry.ts';
import { mapGraphAnswer, mapGraphError, GRAPH_DEFAULT_RETRY_AFTER_SECONDS } from '../src/providers/microsoft-graph/errors.ts';
import { attachmentInfoOf, attachmentsOf, conversationOf, messageInfoOf, type GraphFolders, type GraphMessage } from '../src/providers/microsoft-graph/mapping.ts';

const folders: GraphFolders = { sentItems: 'AAMkSENT', hidden: new Set(['AAMkTRASH']) };

/** A message as "List messages" shows it, with attachments expanded without their bytes. */
function message(overrides: Partial<GraphMessage> = {}): GraphMessage {
  return {
    id: 'AAMkAGI2THVSAAA=',
    conversationId: 'AAQkAGI2TGuLAAA=',
    subject: 'Quarterly report',
    from: { emailAddress: { name: 'Adele Vance', address: 'adelev@contoso.com' } },
    toRecipients: [{ emailAddress: { name: 'Megan Bowen', address: 'meganb@contoso.com' } }],
    ccRecipients: [{ emailAddress: { name: 'alexw@contoso.com', address: 'alexw@contoso.com' } }],
    receivedDateTime: '2026-10-19T10:37:00Z',
    sentDateTime: '2026-10-19T10:36:58Z',
    internetMessageId: '<BY2PR15MB0215@BY2PR15MB0215.namprd15.prod.outlook.com>',
    parentFolderId: 'AAMkINBOX',
    attachments: [
      { '@odata.type': '#microsoft.graph.fileAttachment', id: 'AAMkATT1=', name: 'report.pdf', contentType: 'application/pdf', size: 42_310, isInline: false, contentId: null },
      { '@odata.type': '#microsoft.graph.fileAttachment', id: 'AAMkATT2=', name: 'logo.png', contentType: 'image/png', size: 2_051, isInline: true, contentId: '<image001.png@01D2>' },
      { '@odata.type': '#microsoft.graph.itemAttachment', id: 'AAMkATT3=', name: 'Holiday plans', contentType: null, size: 12_000, isInline: false },
      { '@odata.type': '#microsoft.graph.referenceAttachment', id: 'AAMkATT4=', name: 'Budget.xlsx', contentType: null, size: 390, isInline: false },
    ],
    ...overrides,
  };
}

describe('Graph message mapping', () => {
  it('maps headers, addresses and the received / sent direction by Sent Items', () => {
    const received = messageInfoOf(message(), folders)!;
    expect(received).toMatchObject({
      key: 'AAMkAGI2THVSAAA=',
      conversationKey: 'AAQkAGI2TGuLAAA=',
      subject: 'Quarterly report',
      from: { name: 'Adele Vance', address: 'adelev@contoso.com' },
      to: [{ name: 'Megan Bowen', address: 'meganb@contoso.com' }],
      // Exchange repeats the address as the name when there is none.
      cc: [{ name: null, address: 'alexw@contoso.com' }],
      messageId: '<BY2PR15MB0215@BY2PR15MB0215.namprd15.prod.outlook.com>',
      direction: 'RECEIVED',
      attachmentCount: 4,
      attachmentsTruncated: false,
    });
    expect(received.date!.toISOString()).toBe('2026-10-19T10:36:58.000Z');
    expect(messageInfoOf(message({ parentFolderId: 'AAMkSENT' }), folders)!.direction).toBe('SENT');
    expect(messageInfoOf(message({ parentFolderId: 'AAMkSENT' }), { sentItems: null, hidden: new Set() })!.direction).toBe('RECEIVED');
    expect(messageInfoOf(message({ conversationId: null }), folders)).toBeNull();
  });

  it('maps file, item and reference attachments through the shared MIME policy, sizes not exact', () => {
    const [file, inline, item, reference] = messageInfoOf(message(), folders)!.attachments;
    expect(file).toEqual({
      partId: 'AAMkATT1=',
      filename: 'report.pdf',
      contentType: 'application/pdf',
      contentId: null,
      disposition: 'ATTACHMENT',
      kind: 'FILE',
      downloadable: true,
      size: 42_310,
      sizeExact: false,
      providerRef: { messageId: 'AAMkAGI2THVSAAA=', attachmentId: 'AAMkATT1=' },
    });
    expect(inline).toMatchObject({ filename: 'logo.png', contentType: 'image/png', contentId: 'image001.png@01D2', disposition: 'INLINE', kind: 'FILE' });
    expect(item).toMatchObject({ filename: 'Holiday plans.eml', contentType: 'message/rfc822', kind: 'ITEM', downloadable: true, sizeExact: false });
    expect(reference).toMatchObject({ filename: 'Budget.xlsx', contentType: 'application/octet-stream', kind: 'REFERENCE', downloadable: false, linkUrl: null });
  });

  it('exposes a reference attachment link only when Graph gives an http(s) sourceUrl', () => {
    const base = { '@odata.type': '#microsoft.graph.referenceAttachment', id: 'R1', name: 'Plan.docx', size: 10 };
    expect(attachmentInfoOf('M', { ...base, sourceUrl: 'https://contoso.sharepoint.com/Shared%20Documents/Plan.docx' })!.linkUrl).toBe('https://contoso.sharepoint.com/Shared%20Documents/Plan.docx');
    expect(attachmentInfoOf('M', { ...base, sourceUrl: 'javascript:alert(1)' })!.linkUrl).toBeNull();
    expect(attachmentInfoOf('M', { ...base, sourceUrl: 'not a url' })!.linkUrl).toBeNull();
  });

  it('names as the other providers do: RFC 2047 words decoded, parameters of the media type dropped, unnamed items message.eml, unknown types skipped', () => {
    const file = (name: string | null, contentType: string | null) => attachmentInfoOf('M', { '@odata.type': '#microsoft.graph.fileAttachment', id: 'F', name, contentType, size: 1 })!;
    expect(file('=?UTF-8?B?w6lsw6h2ZS5wZGY=?=', 'application/PDF; name="x.pdf"')).toMatchObject({ filename: 'élève.pdf', contentType: 'application/pdf' });
    expect(file('Résumé 2026.docx', null)).toMatchObject({ filename: 'Résumé 2026.docx', contentType: 'application/octet-stream' });
    expect(file('a\r\nContent-Type: text/html', 'text/plain')).toMatchObject({ filename: 'a Content-Type: text/html', contentType: 'text/plain' });
    expect(file('', 'text/plain').filename).toBeNull();
    expect(attachmentInfoOf('M', { '@odata.type': '#microsoft.graph.itemAttachment', id: 'I', name: '', size: 1 })!.filename).toBe('message.eml');
    expect(attachmentInfoOf('M', { '@odata.type': '#microsoft.graph.itemAttachment', id: 'I', name: 'fwd.EML', size: 1 })!.filename).toBe('fwd.EML');
    expect(attachmentInfoOf('M', { '@odata.type': '#microsoft.graph.somethingNew', id: 'X', name: 'x', size: 1 })).toBeNull();
    expect(attachmentInfoOf('M', { '@odata.type': '#microsoft.graph.fileAttachment', name: 'no id', size: 1 })).toBeNull();
  });

  it('lists at most the listing limit and says the list is cut', () => {
    const many = Array.from({ length: 5 }, (_, i) => ({ '@odata.type': '#microsoft.graph.fileAttachment', id: `A${i}`, name: `${i}.bin`, size: 1 }));
    const listed = attachmentsOf('M', many, { maxParts: 100, maxDepth: 8, maxAttachments: 3, maxParsedBytes: 1 });
    expect(listed.attachments.map((a) => a.filename)).toEqual(['0.bin', '1.bin', '2.bin']);
    expect(listed).toMatchObject({ count: 5, truncated: true });
  });

  it('assembles a conversation by conversationId, positioned at its newest received message, hidden folders left out', () => {
    const first = message({ id: 'M1', receivedDateTime: '2026-10-19T10:00:00Z', sentDateTime: '2026-10-19T09:59:00Z', attachments: [] });
    const reply = message({ id: 'M2', parentFolderId: 'AAMkSENT', subject: 'RE: Quarterly report', receivedDateTime: '2026-10-20T08:00:00Z', sentDateTime: '2026-10-20T07:59:00Z', attachments: [{ '@odata.type': '#microsoft.graph.fileAttachment', id: 'C', name: 'c.png', contentType: 'image/png', size: 5, isInline: true, contentId: 'c' }] });
    const trashed = message({ id: 'M3', parentFolderId: 'AAMkTRASH', receivedDateTime: '2026-10-21T08:00:00Z' });
    const read = conversationOf('AAQkAGI2TGuLAAA=', [reply, trashed, first], folders)!;
    expect(read.conversation).toMatchObject({ key: 'AAQkAGI2TGuLAAA=', subject: 'Quarterly report', messageKeys: ['M1', 'M2'], hasAttachments: true });
    expect(read.conversation.lastMessageAt!.toISOString()).toBe('2026-10-20T08:00:00.000Z');
    expect(read.newestReceived).toBe(Date.parse('2026-10-20T08:00:00Z'));
    expect(read.messages.map((m) => m.direction)).toEqual(['SENT', 'RECEIVED']);
    expect(conversationOf('X', [trashed], folders)).toBeNull();
  });
});

describe('Graph error mapping', () => {
  const body = (code: string) => ({ error: { code, message: 'Sensitive text from Graph: adelev@contoso.com' } });

  it('maps statuses and error codes to the gateway codes, never Graph text', () => {
    const cases: [number, unknown, string][] = [
      [401, body('InvalidAuthenticationToken'), 'PROVIDER_AUTH_FAILED'],
      [403, body('ErrorAccessDenied'), 'PROVIDER_AUTH_FAILED'],
      [404, body('ErrorItemNotFound'), 'NOT_FOUND'],
      [400, body('ErrorInvalidIdMalformed'), 'NOT_FOUND'],
      [400, body('InefficientFilter'), 'PROVIDER_UNAVAILABLE'],
      [500, body('UnknownError'), 'PROVIDER_UNAVAILABLE'],
      [502, '<html>bad gateway</html>', 'PROVIDER_UNAVAILABLE'],
      [503, null, 'PROVIDER_UNAVAILABLE'],
    ];
    for (const [status, b, code] of cases) {
      const error = mapGraphAnswer({ status, body: b });
      expect(error.code, `${status}`).toBe(code);
      expect(error.message).not.toMatch(/Sensitive|contoso/);
    }
    expect(mapGraphAnswer({ status: 405, body: body('ErrorInvalidRequest') }, { attachmentValue: true }).code).toBe('NOT_DOWNLOADABLE');
    expect(mapGraphAnswer({ status: 405, body: null }).code).toBe('PROVIDER_UNAVAILABLE');
  });

  it('429, and 503/504 with Retry-After, are PROVIDER_THROTTLED with the server retryAfter and retried; without it a default hint', () => {
    const throttled = mapGraphAnswer({ status: 429, body: body('ApplicationThrottled'), headers: { 'Retry-After': '7' } });
    expect(throttled).toMatchObject({ code: 'PROVIDER_THROTTLED', retryAfter: 7, retryAfterSource: 'upstream' });
    expect(isRetryableUpstreamError(throttled)).toBe(true);
    expect(mapGraphAnswer({ status: 503, headers: new Headers({ 'retry-after': '3' }) })).toMatchObject({ code: 'PROVIDER_THROTTLED', retryAfter: 3 });
    expect(mapGraphAnswer({ status: 504, headers: { 'retry-after': '2' } })).toMatchObject({ code: 'PROVIDER_THROTTLED', retryAfter: 2 });
    expect(mapGraphAnswer({ status: 429 })).toMatchObject({ code: 'PROVIDER_THROTTLED', retryAfter: GRAPH_DEFAULT_RETRY_AFTER_SECONDS, retryAfterSource: 'default' });
    expect(isRetryableUpstreamError(mapGraphAnswer({ status: 404 }))).toBe(false);
    expect(isRetryableUpstreamError(mapGraphAnswer({ status: 400 }))).toBe(false);
  });

  it('network failures are retryable PROVIDER_UNAVAILABLE; gateway errors pass through', () => {
    const error = mapGraphError(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } }));
    expect(error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(isRetryableUpstreamError(error)).toBe(true);
    const notFound = mapGraphAnswer({ status: 404 });
    expect(mapGraphError(notFound)).toBe(notFound);
  });
});
