/** Plain-text tables for the CLI's list commands: a header row, columns padded, the last one free. */

/** Renders rows (the first is the header) with two spaces between padded columns; `-` stands for an empty cell. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const cells = rows.map((r) => r.map((c) => (c === '' ? '-' : c)));
  const columns = Math.max(0, ...cells.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n') + '\n';
}

/** A time as ISO 8601 to the second (UTC), or `-` for null. */
export function formatTime(date: Date | null): string {
  return date === null ? '-' : date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
