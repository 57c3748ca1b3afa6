import { Command, InvalidArgumentError, Option } from 'commander';
import { ApiClient } from './api-client';
import { normaliseHost } from './host';
import { parseCount, parseSeconds } from './parse';
import { realWaitDeps, type WaitDeps } from './wait';

/** The client for the daemon named by the global --host / BICYCLE_HOST. */
export function clientFor(cmd: Command): ApiClient {
  const { host } = cmd.optsWithGlobals<{ host?: string }>();
  return new ApiClient(normaliseHost(host));
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
