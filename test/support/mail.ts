/**
 * Builders of test mail as raw RFC 5322 bytes: an ordinary message with one base64 attachment,
 * hostile MIME structures for the robustness tests (a message with many parts, one nested very
 * deep), and an mboxrd file holding several messages.
 */

/** Options of {@link mailWithAttachment}. */
export interface MailWithAttachment {
  subject: string;
  /** The attachment's filename (Content-Type `name` and Content-Disposition `filename`). */
  filename: string;
  bytes: Buffer;
  /** Default `application/octet-stream`. */
  contentType?: string;
  /** Default `<subject without non-word characters>@example.test`, angle brackets added. */
  messageId?: string;
  /** Default `Alice <alice@example.test>`. */
  from?: string;
  /** Default `Bob <bob@example.test>`. */
  to?: string;
  /** The Date header; default `Tue, 01 Dec 2026 10:00:00 +0000`. */
  date?: string;
}

/**
 * A multipart/mixed message: a short text part, then one attachment in base64 with 76-character
 * lines (RFC 2045 §6.8), CRLF line ends.
 */
export function mailWithAttachment(options: MailWithAttachment): Buffer {
  const base64 = options.bytes.toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from(
    [
      `From: ${options.from ?? 'Alice <alice@example.test>'}`,
      `To: ${options.to ?? 'Bob <bob@example.test>'}`,
      `Subject: ${options.subject}`,
      `Message-ID: <${options.messageId ?? `${options.subject.replace(/\W/g, '')}@example.test`}>`,
      `Date: ${options.date ?? 'Tue, 01 Dec 2026 10:00:00 +0000'}`,
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b"',
      '',
      '--b',
      'Content-Type: text/plain',
      '',
      'See the attachment.',
      '--b',
      `Content-Type: ${options.contentType ?? 'application/octet-stream'}; name="${options.filename}"`,
      `Content-Disposition: attachment; filename="${options.filename}"`,
      'Content-Transfer-Encoding: base64',
      '',
      base64,
      '--b--',
      '',
    ].join('\r\n'),
  );
}

/** A message whose multipart/mixed body holds a text part and `parts` one-byte attachments named `p<i>.bin`. */
export function manyPartsMessage(parts: number, subject: string): string {
  const boundary = 'b0undary';
  const lines = [
    'From: Sender <sender@example.org>',
    'To: Owner <owner@example.org>',
    `Subject: ${subject}`,
    'Date: Mon, 01 Jun 2026 10:00:00 +0000',
    `Message-ID: <${subject.replace(/\W/g, '-')}@example.org>`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain',
    '',
    'body',
  ];
  for (let i = 0; i < parts; i++) {
    lines.push(`--${boundary}`, `Content-Type: application/octet-stream; name="p${i}.bin"`, '', String(i % 10));
  }
  lines.push(`--${boundary}--`, '');
  return lines.join('\r\n');
}

/** A message whose multiparts nest `depth` levels deep, with a one-byte attachment at the bottom of each level. */
export function deepMessage(depth: number, subject: string): string {
  const head = [
    'From: Sender <sender@example.org>',
    'To: Owner <owner@example.org>',
    `Subject: ${subject}`,
    'Date: Mon, 01 Jun 2026 11:00:00 +0000',
    `Message-ID: <${subject.replace(/\W/g, '-')}@example.org>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="d0"',
    '',
  ];
  const open: string[] = [];
  const close: string[] = [];
  for (let level = 0; level < depth; level++) {
    open.push(`--d${level}`, `Content-Type: application/octet-stream; name="level${level}.bin"`, '', 'x', `--d${level}`);
    if (level + 1 < depth) open.push(`Content-Type: multipart/mixed; boundary="d${level + 1}"`, '');
    else open.push('Content-Type: application/octet-stream; name="bottom.bin"', '', 'y');
    close.unshift(`--d${level}--`);
  }
  return [...head, ...open, ...close, ''].join('\r\n');
}

/** An mboxrd file (RFC 4155) of the given messages. */
export function mboxOf(messages: string[]): string {
  return messages.map((m) => `From sender@example.org Mon Jun  1 10:00:00 2026\n${m.replace(/^(>*From )/gm, '>$1')}\n`).join('');
}
