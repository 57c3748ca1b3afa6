import { execFile, spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'lab-net.sh');

/** The lab's subnet when BICYCLE_LAB_SUBNET does not name one (bench/swarm-cluster.sh uses 10.77.0). */
export const DEFAULT_SUBNET = '10.78.0';

/**
 * Runs scripts/lab-net.sh, the one implementation of the lab's network
 * (namespaces, bridge, leg, partition rules, killing what runs in a host);
 * rejects with what it printed when it fails. Never blocks the event loop:
 * a kill waits for the host's processes to be reaped while the caller's
 * timers run.
 */
export function labNet(...args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(SCRIPT, args, (error, stdout, stderr) => {
      if (error) reject(new Error(`lab-net.sh ${args.join(' ')} failed: ${(stderr || stdout || error.message).trim()}`));
      else resolve();
    });
  });
}

/**
 * BICYCLE_LAB_SUBNET if set; else a subnet 10.78.X (X from 1 to 99, at
 * random) that no route of the machine's namespace covers yet, so that a
 * lab of the tests or the benchmarks runs beside others (and beside the
 * default lab on 10.78.0). Two labs asking at the same instant may still
 * pick the same one: the second's up() then fails, naming the subnet.
 */
export function freeSubnet(): string {
  if (process.env.BICYCLE_LAB_SUBNET) return process.env.BICYCLE_LAB_SUBNET;
  const routes = spawnSync('ip', ['-4', '-o', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  if (routes.status !== 0) throw new Error(`cannot list the routes: ${routes.stderr || routes.error?.message}`);
  const used = new Set([...routes.stdout.matchAll(/\b10\.78\.(\d+)\./g)].map((m) => Number(m[1])));
  const free = Array.from({ length: 99 }, (_, i) => i + 1).filter((x) => !used.has(x));
  if (free.length === 0) throw new Error('every subnet from 10.78.1 to 10.78.99 is in use; set BICYCLE_LAB_SUBNET');
  return `10.78.${free[Math.floor(Math.random() * free.length)]}`;
}
