/**
 * The attachment policy on BODYSTRUCTURE-shaped trees, filename decoding, and the parser against
 * every corpus message (listing and decoded bytes equal `expectedAttachments()`).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeAttachment, selectAttachmentParts } from '../src/mime/attachments.ts';
import { decodeTransferEncodingSync } from '../src/mime/decode.ts';
import { decodeParameterValue, parseStructuredHeader } from '../src/mime/filename.ts';
import { parseMessage } from '../src/mime/parse.ts';
import type { ParsedPart } from '../src/mime/parse.ts';
import type { MimePart } from '../src/mime/structure.ts';
import { corpusDir, expectedAttachments, FOLLOWED_VIEW, hasCorpus, loadManifest } from './support/corpus.ts';

function leaf(partId: string, type: string, extra: Partial<MimePart> = {}): MimePart {
  return { partId, type, parameters: {}, disposition: null, dispositionParameters: {}, contentId: null, encoding: 'base64', size: 10, ...extra };
}
function multi(partId: string, type: string, childNodes: MimePart[], parameters: Record<string, string> = {}): MimePart {
  return { partId, type, parameters, disposition: null, dispositionParameters: {}, contentId: null, encoding: null, size: null, childNodes };
}

describe('attachment policy', () => {
  it('keeps the first text/plain and text/html of mixed as body, lists the rest (a second text part too)', () => {
    const root = multi('', 'multipart/mixed', [
      leaf('1', 'text/plain'),
      leaf('2', 'application/pdf', { dispositionParameters: { filename: 'a.pdf' }, disposition: 'attachment' }),
      leaf('3', 'text/plain'),
      leaf('4', 'text/plain', { disposition: 'attachment' }),
    ]);
    expect(selectAttachmentParts(root).map((p) => p.partId)).toEqual(['2', '3', '4']);
  });

  it('lists text/calendar but not the text bodies inside multipart/alternative', () => {
    const root = multi('', 'multipart/mixed', [multi('1', 'multipart/alternative', [leaf('1.1', 'text/plain'), leaf('1.2', 'text/html'), leaf('1.3', 'text/calendar')])]);
    expect(selectAttachmentParts(root).map((p) => p.partId)).toEqual(['1.3']);
  });

  it('picks the multipart/related root by start, then by type=, then first; cid parts without disposition are INLINE', () => {
    const kids = () => [leaf('1', 'image/png', { contentId: 'img' }), leaf('2', 'text/html', { contentId: 'root' })];
    const byType = multi('', 'multipart/related', kids(), { type: 'text/html' });
    const [img] = selectAttachmentParts(byType);
    expect(img!.partId).toBe('1');
    expect(describeAttachment(img!).disposition).toBe('INLINE');
    expect(selectAttachmentParts(multi('', 'multipart/related', kids(), { start: '<img>' })).map((p) => p.partId)).toEqual(['2']);
    expect(selectAttachmentParts(multi('', 'multipart/related', kids())).map((p) => p.partId)).toEqual(['2']);
  });

  it('describes a message/rfc822 as an ITEM and a part without disposition outside related as ATTACHMENT', () => {
    const root = multi('', 'multipart/mixed', [leaf('1', 'text/plain'), leaf('2', 'message/rfc822', { contentId: 'x' }), leaf('3', 'image/gif', { parameters: { name: '=?utf-8?B?w6QuZ2lm?=' } })]);
    const described = selectAttachmentParts(root).map((p) => describeAttachment(p));
    expect(described).toEqual([
      { partId: '2', filename: null, contentType: 'message/rfc822', contentId: 'x', disposition: 'ATTACHMENT', kind: 'ITEM', downloadable: true },
      { partId: '3', filename: 'ä.gif', contentType: 'image/gif', contentId: null, disposition: 'ATTACHMENT', kind: 'FILE', downloadable: true },
    ]);
  });

  it('lists a single-part message unless it is a text body', () => {
    expect(selectAttachmentParts(leaf('1', 'text/plain'))).toEqual([]);
    expect(selectAttachmentParts(leaf('1', 'text/plain', { disposition: 'attachment' })).map((p) => p.partId)).toEqual(['1']);
    expect(selectAttachmentParts(leaf('1', 'application/pdf')).map((p) => p.partId)).toEqual(['1']);
  });
});

describe('parameter decoding', () => {
  it('decodes RFC 2231 continuations and charsets, with U+FFFD for a byte the charset cannot hold', () => {
    expect(parseStructuredHeader("attachment; filename*0*=utf-8''%E2%9C%94; filename*1=\" x.gif\"").params.filename).toBe('✔ x.gif');
    expect(parseStructuredHeader("application/octet-stream; name*=iso-2022-jp'ja'Dij%8aat.mp3").params.name).toBe('Dij\uFFFDat.mp3');
  });

  it('decodes raw 8-bit bytes: UTF-8, a cut UTF-8 name, Latin-1; and is idempotent', () => {
    const utf8 = Buffer.from('отчёт.csv', 'utf8').toString('latin1');
    expect(decodeParameterValue(utf8)).toBe('отчёт.csv');
    const cut = Buffer.from('чт', 'utf8').subarray(0, 3).toString('latin1');
    expect(decodeParameterValue(cut)).toBe('ч\uFFFD');
    expect(decodeParameterValue('Fr\xf6sche.txt')).toBe('Frösche.txt');
    for (const v of ['отчёт.csv', 'Frösche.txt', 'ч\uFFFD', 'Übersicht März.pdf']) expect(decodeParameterValue(decodeParameterValue(v))).toBe(v);
  });

  it('keeps an unquoted name with spaces whole and reads a type-less Content-Type', () => {
    expect(parseStructuredHeader('attachment; filename=This is a test.txt').params.filename).toBe('This is a test.txt');
    expect(parseStructuredHeader('; name="facejj.jpg"')).toEqual({ value: '', params: { name: 'facejj.jpg' } });
  });
});

describe.skipIf(!hasCorpus)('parser + policy over every corpus message', () => {
  it('every disagreeing file has a stated choice', () => {
    for (const entry of loadManifest()) if (entry.disagreement) expect(FOLLOWED_VIEW[path.basename(entry.file)], entry.file).toBeDefined();
  });

  it('lists exactly the expected attachments with the expected decoded bytes', () => {
    for (const entry of loadManifest()) {
      const raw = fs.readFileSync(path.join(corpusDir, entry.file));
      const { root } = parseMessage(raw);
      const got = selectAttachmentParts(root).map((part) => {
        const p = part as ParsedPart;
        const d = describeAttachment(part);
        const bytes = decodeTransferEncodingSync(raw.subarray(p.bodyStart, p.bodyEnd), p.encoding);
        return { partId: d.partId, filename: d.filename, contentType: d.contentType, size: bytes.length, sha256: crypto.createHash('sha256').update(bytes).digest('hex'), contentId: d.contentId, disposition: d.disposition };
      });
      expect(got, entry.file).toEqual(expectedAttachments(entry));
    }
  });
});
