/**
 * Reads a state-machine snapshot (`{"<table>":[row, ...], ...}`, as
 * SqliteStateMachine.snapshotData writes it, or JSON.stringify of such an
 * object) one row at a time: each row's JSON text is cut out of the whole
 * and parsed alone, so restoring 1,000,000 rows holds one row object at a
 * time instead of the whole parsed graph (several times the text's size).
 * Whitespace between tokens is allowed; anything else that is not that
 * shape is refused with the offset where it went wrong.
 */
export function forEachSnapshotRow(data: string, each: (table: string, row: Record<string, unknown>) => void): void {
  let at = 0;
  const skipSpace = () => {
    while (at < data.length && isSpace(data.charCodeAt(at))) at++;
  };
  const expect = (char: string) => {
    skipSpace();
    if (data[at] !== char) throw new SnapshotFormatError(`expected '${char}' at offset ${at}, found ${describe(data, at)}`);
    at++;
  };
  const peek = () => {
    skipSpace();
    return data[at];
  };
  expect('{');
  if (peek() === '}') return;
  for (;;) {
    skipSpace();
    const keyStart = at;
    at = endOfString(data, at);
    const table = JSON.parse(data.slice(keyStart, at)) as string;
    expect(':');
    expect('[');
    if (peek() !== ']') {
      for (;;) {
        skipSpace();
        const rowStart = at;
        at = endOfObject(data, at);
        each(table, JSON.parse(data.slice(rowStart, at)) as Record<string, unknown>);
        if (peek() === ',') {
          at++;
          continue;
        }
        break;
      }
    }
    expect(']');
    if (peek() === ',') {
      at++;
      continue;
    }
    expect('}');
    skipSpace();
    if (at !== data.length) throw new SnapshotFormatError(`unexpected ${describe(data, at)} after the end of the snapshot`);
    return;
  }
}

export class SnapshotFormatError extends Error {
  constructor(detail: string) {
    super(`the snapshot is not a map of tables to row lists: ${detail}`);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = 0x7b;
const CLOSE = 0x7d;

/** The offset just past the JSON string that starts at `at`. */
function endOfString(data: string, at: number): number {
  if (data.charCodeAt(at) !== QUOTE) throw new SnapshotFormatError(`expected a table name at offset ${at}, found ${describe(data, at)}`);
  for (let i = at + 1; i < data.length; i++) {
    const c = data.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i + 1;
  }
  throw new SnapshotFormatError(`a string that starts at offset ${at} never ends`);
}

/** The offset just past the JSON object that starts at `at` (braces inside strings do not count). */
function endOfObject(data: string, at: number): number {
  if (data.charCodeAt(at) !== OPEN) throw new SnapshotFormatError(`expected a row at offset ${at}, found ${describe(data, at)}`);
  let depth = 0;
  for (let i = at; i < data.length; i++) {
    const c = data.charCodeAt(i);
    if (c === QUOTE) i = endOfString(data, i) - 1;
    else if (c === OPEN) depth++;
    else if (c === CLOSE && --depth === 0) return i + 1;
  }
  throw new SnapshotFormatError(`a row that starts at offset ${at} never ends`);
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function describe(data: string, at: number): string {
  return at >= data.length ? 'the end' : JSON.stringify(data.slice(at, at + 12));
}
