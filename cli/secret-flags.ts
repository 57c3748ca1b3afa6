import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import type { ServiceSecret } from './types';

/** A secret as `--secret` and `--secret-add` give it: the source, and the target and mode when given (the daemon defaults them). */
export type SecretFlag = Pick<ServiceSecret, 'source'> & Partial<Pick<ServiceSecret, 'target' | 'mode'>>;

const USAGE = 'must be NAME or src=NAME[,target=/path/in/container][,mode=0400]';

/** `db-pass`, or `src=db-pass,target=/run/secrets/db,mode=0400` (Docker's `source=` is taken too). */
export function parseSecretFlag(text: string): SecretFlag {
  if (!text.includes('=')) {
    if (text.length === 0 || text.includes(',')) throw new InvalidArgumentError(USAGE);
    return { source: text };
  }
  const out: Partial<SecretFlag> = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    if (value === '') throw new InvalidArgumentError(`${key}: has no value; ${USAGE}`);
    if (key === 'src' || key === 'source') out.source = value;
    else if (key === 'target' || key === 'dst') out.target = value;
    else if (key === 'mode') out.mode = value;
    else throw new InvalidArgumentError(`unknown key "${key}"; ${USAGE}`);
  }
  if (!out.source) throw new InvalidArgumentError(`src= is required; ${USAGE}`);
  return out as SecretFlag;
}

export function collectSecret(text: string, previous: SecretFlag[] = []): SecretFlag[] {
  return [...previous, parseSecretFlag(text)];
}

/**
 * The secrets after `service update --secret-rm/--secret-add`: the current
 * ones without those whose source is removed, then the added ones (one
 * replacing any current one of its source or target).
 */
export function applySecretChanges(current: readonly ServiceSecret[], add: readonly SecretFlag[], rm: readonly string[]): SecretFlag[] {
  const targetOf = (s: SecretFlag) => s.target ?? `/run/secrets/${s.source}`;
  const kept: SecretFlag[] = current
    .filter((s) => !rm.includes(s.source))
    .filter((s) => !add.some((a) => a.source === s.source || targetOf(a) === s.target))
    .map(({ source, target, mode }) => ({ source, target, mode }));
  return [...kept, ...add];
}

/** Whether two lists mount the same (source, target, mode), in any order. */
export function sameSecrets(a: readonly SecretFlag[], b: readonly SecretFlag[]): boolean {
  const key = (s: SecretFlag) => `${s.source}\0${s.target ?? `/run/secrets/${s.source}`}\0${s.mode ?? '0444'}`;
  const x = a.map(key).sort();
  const y = b.map(key).sort();
  return x.length === y.length && x.every((k, i) => k === y[i]);
}

/** A secret's value: the file's bytes, or standard input's with `-`. */
export function readSecretValue(file: string, stdin: () => Buffer = () => readFileSync(0)): Buffer {
  if (file === '-') return stdin();
  try {
    return readFileSync(file);
  } catch (error) {
    throw new InvalidArgumentError(`cannot read ${file}: ${(error as Error).message}`);
  }
}
