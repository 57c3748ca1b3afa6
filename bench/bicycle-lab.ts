/**
 * A Bicycle lab of three hosts for a benchmark (scripts/lab/, docs/lab.md),
 * taken down by the benchmark's cleanup whatever way it ends, and its REST
 * API on host 1.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSubnet, Lab } from '../scripts/lab/lab';
import { onCleanup } from './common';

/**
 * Brings a lab up on a free subnet, its files under a new temporary
 * directory named `prefix`…; its removal is registered first. Default: 3
 * hosts, all members, on the lab's configuration; `config` replaces every
 * host's bicycled configuration; `members` leaves the hosts after it bare
 * until joined.
 */
export async function startBicycleLab(prefix: string, options: { hosts?: number; members?: number; config?: Record<string, unknown> } = {}): Promise<Lab> {
  const lab = new Lab(mkdtempSync(join(tmpdir(), prefix)), options.hosts ?? 3, { subnet: freeSubnet() });
  let down: Promise<void> | undefined;
  onCleanup(() => (down ??= lab.down()));
  if (options.config) {
    for (const host of lab.hosts) {
      mkdirSync(host.dir, { recursive: true });
      writeFileSync(join(host.dir, 'bicycle-config.json'), JSON.stringify(options.config));
    }
  }
  await lab.up(options.members);
  return lab;
}

/** One request to host 1's REST API; the body parsed as JSON when it is JSON. Rejects only when no answer comes within timeoutMs. */
export async function labApi(lab: Lab, method: string, path: string, body?: unknown, timeoutMs = 90_000): Promise<{ status: number; body: any }> {
  const res = await fetch(`${lab.host(1).url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed };
}
