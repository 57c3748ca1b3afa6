import { InvalidArgumentError } from 'commander';

// Argument parsers for commander. They throw InvalidArgumentError, which
// commander reports as a usage error naming the option.

/** `K=V` → [K, V]. The value may contain `=` and may be empty; the key may not. */
export function parseKeyValue(text: string): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError(`expected KEY=VALUE, got "${text}"`);
  return [text.slice(0, at), text.slice(at + 1)];
}

/** Collector for repeatable `--env K=V` / `--label K=V`: later keys win. */
export function collectKeyValue(text: string, previous: Record<string, string> = {}): Record<string, string> {
  const [key, value] = parseKeyValue(text);
  return { ...previous, [key]: value };
}

/** Collector for repeatable plain values (`--env-rm K`). */
export function collectString(text: string, previous: string[] = []): string[] {
  if (text === '') throw new InvalidArgumentError('expected a non-empty name');
  return [...previous, text];
}

/** A replica count: a whole number, 0 or more. */
export function parseReplicas(text: string): number {
  if (!/^\d+$/.test(text.trim())) {
    throw new InvalidArgumentError(`replica count must be a whole number 0 or more, got "${text}"`);
  }
  const n = Number(text.trim());
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`replica count "${text}" is too large`);
  return n;
}

/** `--on-disconnect`: stop or keep; `default` (sent as null) returns to the default rule. */
export function parseOnDisconnect(text: string): 'stop' | 'keep' | null {
  const value = text.trim();
  if (value === 'stop' || value === 'keep') return value;
  if (value === 'default') return null;
  throw new InvalidArgumentError(`must be stop, keep or default, got "${text}"`);
}

/** A positive number of seconds (fractions allowed). */
export function parseSeconds(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(`expected a number of seconds greater than 0, got "${text}"`);
  }
  return n;
}

/** `--tail N`: a whole number of lines, 0 or more. */
export function parseTail(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new InvalidArgumentError(`expected a whole number of lines, got "${text}"`);
  return Number(text.trim());
}

export interface ScaleTarget {
  name: string;
  replicas: number;
}

/** `web=5` → { name: "web", replicas: 5 }. */
export function parseScaleTarget(text: string): ScaleTarget {
  const at = text.lastIndexOf('=');
  if (at <= 0) throw new InvalidArgumentError(`expected SERVICE=REPLICAS, got "${text}"`);
  return { name: text.slice(0, at), replicas: parseReplicas(text.slice(at + 1)) };
}

/** Several scale targets; a service named twice is refused. */
export function parseScaleTargets(texts: readonly string[]): ScaleTarget[] {
  const targets = texts.map(parseScaleTarget);
  const seen = new Set<string>();
  for (const { name } of targets) {
    if (seen.has(name)) throw new InvalidArgumentError(`service "${name}" is named more than once`);
    seen.add(name);
  }
  return targets;
}

/** Applies `--env K=V` additions and `--env-rm K` removals to a copy of `current`. */
export function applyChanges(
  current: Record<string, string>,
  add: Record<string, string>,
  remove: readonly string[],
): Record<string, string> {
  const next = { ...current };
  for (const key of remove) delete next[key];
  return { ...next, ...add };
}

/** Builds the query string of a logs request. */
export function logsQuery(options: { follow?: boolean; tail?: number }): string {
  const params = new URLSearchParams();
  if (options.follow) params.set('follow', 'true');
  if (options.tail !== undefined) params.set('tail', String(options.tail));
  const query = params.toString();
  return query ? `?${query}` : '';
}

const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A Go-style duration ("5s", "1m30s", "250ms") or a whole number of ms, in
 * ms; null when `text` is not one. The daemon reads them the same way.
 */
export function durationMs(text: string): number | null {
  const value = text.trim();
  if (/^\d+$/.test(value)) return Number(value);
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(value)) return null;
  let total = 0;
  for (const [, amount, , unit] of value.matchAll(/(\d+(\.\d+)?)(ms|s|m|h)/g)) total += Number(amount) * DURATION_UNIT_MS[unit!]!;
  return Math.round(total);
}

/** `--health-interval 5s`: checked here, sent as given (the daemon parses it). */
export function parseDuration(text: string): string {
  if (durationMs(text) === null) throw new InvalidArgumentError(`expected a duration such as 5s, 1m30s or 250ms, got "${text}"`);
  return text.trim();
}

/** A whole number, 0 or more (`--health-retries`, `--update-parallelism`, `--max-failures`). */
export function parseCount(text: string): number {
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(Number(text.trim()))) {
    throw new InvalidArgumentError(`expected a whole number 0 or more, got "${text}"`);
  }
  return Number(text.trim());
}

/** `--update-max-failure-ratio 0.25`: a number from 0 to 1. */
export function parseRatio(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`expected a number from 0 to 1, got "${text}"`);
  return n;
}

/** A value from a fixed list (`--update-order start-first`). */
export function oneOf<T extends string>(...values: T[]): (text: string) => T {
  return (text) => {
    const value = text.trim() as T;
    if (values.includes(value)) return value;
    throw new InvalidArgumentError(`must be ${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}, got "${text}"`);
  };
}
