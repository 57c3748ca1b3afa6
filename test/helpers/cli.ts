import { spawn } from 'node:child_process';
import { cliPath } from './daemon';
import { tokenFor } from '../../scripts/lab/lab-auth';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `bicycle ARGS...` against `host` (BICYCLE_HOST, and BICYCLE_TOKEN for a lab host) and collects its exit code and output. */
export function runCli(host: string, ...args: string[]): Promise<CliResult> {
  // A lab host needs the lab's token (scripts/lab/lab-auth.ts); a daemon on loopback needs none.
  return runCliWithEnv({ BICYCLE_HOST: host, ...(tokenFor(host) ? { BICYCLE_TOKEN: tokenFor(host)! } : {}) }, ...args);
}

/** Runs `bicycle ARGS...` with these variables over the test's own (a variable set to '' is removed). */
export function runCliWithEnv(env: Record<string, string>, ...args: string[]): Promise<CliResult> {
  const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === '') delete merged[k];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath(), ...args], {
      env: merged,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
