/**
 * Plain HTTP (--insecure) against mutual TLS, side by side in one run, on
 * two 3-host labs in turn (docs/benchmarks.md, "TLS"): proposals per second
 * through the cluster (node label writes sent to a follower, so each is
 * forwarded to the leader and replicated to both others) and the
 * `POST /services` rate (services of 0 replicas, so no container is
 * started), both with 16 requests in flight for a fixed time.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSubnet, Lab } from '../scripts/lab/lab';
import { loadAverage, onCleanup, rate, table } from './common';

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 8000);
const IN_FLIGHT = 16;

async function measure(tls: boolean): Promise<{ proposals: number; creates: number; failed: number }> {
  const lab = new Lab(mkdtempSync(join(tmpdir(), `bicycle-bench-tls-${tls ? 'on' : 'off'}-`)), 3, { subnet: freeSubnet(), tls });
  let down: Promise<void> | undefined;
  const stop = () => (down ??= lab.down());
  onCleanup(stop);
  try {
    await lab.up();
    const follower = lab.host(2).url;
    const json = (method: string, body: unknown): RequestInit => ({ method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const proposals = await rate((i) => fetch(`${follower}/nodes/host-3`, json('PATCH', { labelAdd: { bench: String(i) } })), DURATION_MS, IN_FLIGHT);
    const creates = await rate((i) => fetch(`${lab.host(1).url}/services`, json('POST', { name: `b${tls ? 't' : 'p'}${i}`, image: 'bicycle/busybox:test', replicas: 0 })), DURATION_MS, IN_FLIGHT);
    return { proposals: proposals.perSecond, creates: creates.perSecond, failed: proposals.failed + creates.failed };
  } finally {
    await stop();
  }
}

async function main(): Promise<void> {
  const plain = await measure(false);
  const mtls = await measure(true);
  const loss = (a: number, b: number) => `${(((a - b) / a) * 100).toFixed(1)} %`;
  process.stdout.write(`TLS benchmark: 3 lab hosts, ${IN_FLIGHT} in flight, ${DURATION_MS / 1000} s each, load ${loadAverage()}\n`);
  process.stdout.write(table([
    ['', 'plain HTTP (--insecure)', 'mutual TLS', 'loss'],
    ['proposals/s (PATCH /nodes via a follower)', plain.proposals.toFixed(0), mtls.proposals.toFixed(0), loss(plain.proposals, mtls.proposals)],
    ['POST /services per s (0 replicas)', plain.creates.toFixed(0), mtls.creates.toFixed(0), loss(plain.creates, mtls.creates)],
    ['failed requests', String(plain.failed), String(mtls.failed), ''],
  ]) + '\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/tls: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
