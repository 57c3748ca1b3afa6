import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** A saved way to reach a cluster (docs/cli.md, "Contexts"): where, with which token, trusting which CA. */
export interface SavedContext {
  host: string;
  token?: string;
  /** A CA certificate file (PEM) to trust for this cluster's HTTPS. */
  ca?: string;
}

export interface ContextFile {
  current: string | null;
  contexts: Record<string, SavedContext>;
}

export const CONTEXT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** $XDG_CONFIG_HOME/bicycle, else ~/.config/bicycle. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : join(env.HOME || homedir(), '.config');
  return join(base, 'bicycle');
}

export function contextFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), 'contexts.json');
}

/**
 * The saved contexts; an empty set when the file does not exist. A file
 * that others may read (it holds tokens) is read with a warning on stderr
 * naming the fix, as `kubectl` does; a file that is not valid JSON is an
 * error naming it.
 */
export function readContexts(env: NodeJS.ProcessEnv = process.env, warn: (line: string) => void = (l) => process.stderr.write(l)): ContextFile {
  const file = contextFilePath(env);
  if (!existsSync(file)) return { current: null, contexts: {} };
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) warn(`bicycle: warning: ${file} holds API tokens and others can read it (mode ${mode.toString(8).padStart(4, '0')}); run chmod 600 ${file}\n`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read the contexts file ${file}: ${(error as Error).message}`);
  }
  const o = parsed as Partial<ContextFile>;
  if (typeof o !== 'object' || o === null || typeof o.contexts !== 'object' || o.contexts === null) throw new Error(`the contexts file ${file} is not a bicycle contexts file ({ "current", "contexts" })`);
  return { current: typeof o.current === 'string' ? o.current : null, contexts: o.contexts };
}

/** Writes the contexts with mode 0600 (directory 0700), through a temporary file so a crash never leaves half a file. */
export function writeContexts(contexts: ContextFile, env: NodeJS.ProcessEnv = process.env): void {
  const dir = configDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = contextFilePath(env);
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(contexts, null, 2) + '\n', { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
}
