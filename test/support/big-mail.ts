/**
 * Builders of hostile MIME structures for the robustness tests: a message with many parts and one
 * nested very deep, as raw RFC 5322 bytes, and an mboxrd file holding several of them.
 */

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
