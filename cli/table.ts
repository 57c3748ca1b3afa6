/**
 * Formats rows as columns aligned for people: a header line, then one line
 * per row, columns separated by at least three spaces, no trailing spaces.
 * Cells are converted with String(); null and undefined become "-",
 * an empty string stays blank.
 * Returns the lines joined by "\n" with a final newline.
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = [headers.map(String), ...rows.map((row) => headers.map((_, i) => cellText(row[i])))];
  const widths = headers.map((_, i) => Math.max(...cells.map((line) => displayWidth(line[i]!))));
  const lines = cells.map((line) =>
    line
      .map((cell, i) => (i === line.length - 1 ? cell : cell + ' '.repeat(widths[i]! - displayWidth(cell) + 3)))
      .join('')
      .trimEnd(),
  );
  return lines.join('\n') + '\n';
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return '-';
  return String(value).replace(/\s*\n\s*/g, ' ');
}

/** Length in code points, so multi-byte characters do not skew columns. */
function displayWidth(text: string): number {
  return [...text].length;
}
