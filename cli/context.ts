import { Command, InvalidArgumentError, Option } from 'commander';
import { ApiClient } from './api-client';
import { DEFAULT_HOST, normaliseHost } from './host';
import { readContexts } from './context-store';
import { parseCount, parseSeconds } from './parse';
import { realWaitDeps, type WaitDeps } from './wait';
import { fetchTrusting } from './ca-fetch';

/** Where and as whom a command talks to the daemon, resolved from the flags, the environment and the contexts. */
export interface Target {
  host: string;
  token?: string;
  ca?: string;
  /** The context used, if any. */
  context?: string;
}

/**
 * Resolves the daemon and the token for a command (docs/cli.md, "Contexts"):
 * `--host`/`--token` flags first, then the context named by `--context`,
 * then BICYCLE_HOST/BICYCLE_TOKEN, then the current context, then the
 * loopback default without a token. A context named that does not exist is
 * an error naming the ones that do.
 */
export function resolveTarget(cmd: Command, env: NodeJS.ProcessEnv = process.env): Target {
  let root = cmd;
  while (root.parent) root = root.parent;
  const opts = root.opts<{ host?: string; token?: string; context?: string }>();
  const source = (name: string) => root.getOptionValueSource(name);
  const fromFlag = (name: 'host' | 'token') => (source(name) === 'cli' ? opts[name] : undefined);
  const fromEnv = (name: 'host' | 'token') => (source(name) === 'env' ? opts[name] : undefined);
  const saved = readContexts(env);
  const named = opts.context;
  if (named !== undefined && !saved.contexts[named]) {
    const known = Object.keys(saved.contexts);
    throw new Error(`no context named ${named}${known.length > 0 ? ` (there are: ${known.join(', ')})` : ''}: add it with \`bicycle context add ${named} --host …\``);
  }
  const explicit = named !== undefined ? saved.contexts[named] : undefined;
  const currentName = saved.current !== null && saved.contexts[saved.current] ? saved.current : undefined;
  const current = currentName !== undefined ? saved.contexts[currentName] : undefined;
  const host = fromFlag('host') ?? explicit?.host ?? fromEnv('host') ?? current?.host ?? DEFAULT_HOST;
  const token = fromFlag('token') ?? explicit?.token ?? fromEnv('token') ?? current?.token;
  const used = explicit ? named : current && (fromFlag('host') ?? fromEnv('host')) === undefined ? currentName : undefined;
  const target: Target = { host: normaliseHost(host) };
  if (token) target.token = token;
  const caOption = root.opts<{ ca?: string }>().ca;
  const ca = (source('ca') === 'cli' ? caOption : undefined) ?? explicit?.ca ?? (source('ca') === 'env' ? caOption : undefined) ?? current?.ca;
  if (ca) target.ca = ca;
  if (used) target.context = used;
  return target;
}

/** The client for the daemon (and token) resolveTarget names. */
export function clientFor(cmd: Command): ApiClient {
  const target = resolveTarget(cmd);
  return new ApiClient(target.host, { ...(target.token ? { token: target.token } : {}), ...(target.ca ? { fetch: fetchTrusting(target.ca) } : {}) });
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export interface WaitOptions {
  detach?: boolean;
  timeout: number;
}

export const DEFAULT_TIMEOUT_SECONDS = 120;

/** Adds -d/--detach and --timeout to a command that waits for convergence. */
export function withWaitOptions(cmd: Command): Command {
  return cmd
    .option('-d, --detach', 'return once the request is accepted, without waiting')
    .addOption(
      new Option('--timeout <seconds>', 'how long to wait for convergence')
        .argParser(parseSeconds)
        .default(DEFAULT_TIMEOUT_SECONDS),
    );
}

export const DEFAULT_MAX_FAILURES = 3;

/**
 * Adds --max-failures to `service add` and `update`: stop waiting once every
 * replica has failed more than N times. The daemon keeps the newest few dead
 * tasks of a slot (5), so N counts up to 4.
 */
export function withMaxFailures(cmd: Command): Command {
  return cmd.addOption(
    new Option('--max-failures <n>', 'stop waiting (exit 1) once every replica has failed more than N times, printing why (0-4)')
      .argParser(parseMaxFailures)
      .default(DEFAULT_MAX_FAILURES),
  );
}

function parseMaxFailures(text: string): number {
  const n = parseCount(text);
  if (n > 4) throw new InvalidArgumentError(`at most 4: the daemon keeps a replica's newest 5 failures, got "${text}"`);
  return n;
}

/** Where waiting commands get time and report progress; tests may swap it. */
export const waitDeps: WaitDeps = realWaitDeps;

/**
 * Thrown by a command that already printed its errors and only needs the
 * process to exit with `exitCode`.
 */
export class ExitCodeError extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = 'ExitCodeError';
  }
}

/** Prints `bicycle: <message>` to stderr. */
export function printError(err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`bicycle: ${message}\n`);
}
