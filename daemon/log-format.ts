/** A daemon log record as it travels between threads and sits (one JSON line each) in the log file. */
export interface LogRecord {
  timestamp: string;
  level: string;
  message: string;
  thread?: string;
  [key: string]: unknown;
}

const CONTEXT_ORDER = ['node', 'service', 'task', 'container'];

/** One human line: `2026-11-22T10:00:00.000Z info  [deployment] started container service=web task=ab12`. */
export function formatLogLine(record: LogRecord): string {
  const { timestamp, level, message, thread, ...rest } = record;
  const keys = Object.keys(rest).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const context = keys
    .filter((k) => rest[k] !== undefined)
    .map((k) => `${k}=${stringify(rest[k])}`)
    .join(' ');
  return `${timestamp} ${level.padEnd(5)} [${thread ?? 'main'}] ${message}${context ? ' ' + context : ''}`;
}

function rank(key: string): number {
  const i = CONTEXT_ORDER.indexOf(key);
  return i === -1 ? CONTEXT_ORDER.length : i;
}

function stringify(value: unknown): string {
  if (typeof value === 'string') return /\s/.test(value) ? JSON.stringify(value) : value;
  return JSON.stringify(value);
}
