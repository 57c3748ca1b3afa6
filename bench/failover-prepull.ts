/**
 * The move of a lost host's replicas when their image is not on the
 * survivors, with and without pre-pull (part of bench:failover).
 *
 * A lab of 3 hosts whose engines trust a registry on the machine's leg
 * (Debian's docker-registry). The image is the test image with a layer of
 * BENCH_PREPULL_MB (default 64) MiB of random bytes, built on host-1 and
 * pushed, so that a pull costs what pulling an application's image costs
 * on a fast network. host-1 is labelled `bench=front` and the service
 * (2 replicas, binpack, constraint node.labels.bench!=front) runs both
 * replicas on host-2 or host-3; that host is killed (bicycled, containers
 * and engine at once) and the time to both replicas running on the other
 * one is measured on its own engine (polled every 50 ms), and whether that
 * engine pulled after the kill (its event log). Before each run the image is
 * removed from every engine; with pre-pull the run starts once the State of
 * host-2 and host-3 (the eligible nodes) shows the image pulled.
 *
 * Baseline, the direct path on the survivor's own engine, in the same run:
 * create + start of a container with the image present, and pull + create +
 * start with it absent.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import { freeSubnet, Lab } from '../scripts/lab/lab';
import { pullsBetween, pushImage, removeImage, startRegistry, type TestRegistry } from '../scripts/lab/registry';
import { waitFor } from '../scripts/lab/wait-for';
import { freePort } from './bicycled';
import { median, onCleanup, sleep, TEST_IMAGE } from './common';

const RUNS = Number(process.env.BENCH_PREPULL_RUNS ?? 3);
const PAYLOAD_MB = Number(process.env.BENCH_PREPULL_MB ?? 64);
const REPLICAS = 2;
const COMMAND = ['sleep', '3600'];

export type PrepullMode = 'pre-pulled' | 'not pre-pulled' | 'direct, image present' | 'direct, pull first';

export interface PrepullSample {
  mode: PrepullMode;
  run: number;
  /** Kill → both replicas running on the survivor (Bicycle); the engine calls alone (direct). */
  ms: number;
  /** Whether the survivor's engine pulled the image after the kill (Bicycle rows). */
  pulled?: boolean;
}

export interface PrepullSummary {
  payloadMiB: number;
  runs: number;
  rows: Array<{ mode: PrepullMode; runs: number; medianMs: number; worstMs: number; pulls: number }>;
  samples: PrepullSample[];
}

async function json(url: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(70_000) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function running(docker: Docker, service: string): Promise<number> {
  return (await docker.listContainers({ filters: { label: [`io.bicycle.service=${service}`], status: ['running'] } }).catch(() => [])).length;
}

/** Builds the test image plus a random payload layer on `docker`'s engine, as `tag`. */
async function buildPayloadImage(docker: Docker, tag: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bicycle-payload-'));
  writeFileSync(join(dir, 'Dockerfile'), `FROM ${TEST_IMAGE}\nRUN dd if=/dev/urandom of=/payload bs=1048576 count=${PAYLOAD_MB} 2>/dev/null\n`);
  const stream = (await docker.buildImage({ context: dir, src: ['Dockerfile'] }, { t: tag, rm: true, forcerm: true })) as NodeJS.ReadableStream;
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err, out: Array<{ error?: string }>) => {
    const failed = err ?? out.find((o) => o.error)?.error;
    return failed ? reject(new Error(`build ${tag}: ${failed}`)) : resolve();
  })).finally(() => rmSync(dir, { recursive: true, force: true }));
}

async function directPath(docker: Docker, image: string, run: number, pull: boolean): Promise<number> {
  await removeImage(docker, image);
  if (!pull) await pullImage(docker, image);
  const t0 = performance.now();
  if (pull) await pullImage(docker, image);
  const container = await docker.createContainer({ Image: image, Cmd: COMMAND, name: `bench-direct-${pull ? 'pull' : 'present'}-${run}` });
  await container.start();
  const ms = performance.now() - t0;
  await container.remove({ force: true });
  await removeImage(docker, image);
  return ms;
}

async function pullImage(docker: Docker, image: string): Promise<void> {
  const stream = (await docker.pull(image)) as NodeJS.ReadableStream;
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve())));
}

async function ownPrepullDone(lab: Lab, i: number, service: string): Promise<boolean> {
  const nodes = (await json(`${lab.host(i).url}/state`)).body.nodes as Array<{ name: string; prepull: Array<{ service: string; state: string }> | null }>;
  return (nodes.find((n) => n.name === lab.host(i).name)?.prepull ?? []).some((p) => p.service === service && p.state === 'done');
}

async function bicycleRun(lab: Lab, image: string, mode: 'pre-pulled' | 'not pre-pulled', run: number): Promise<PrepullSample> {
  const api = lab.host(1).url;
  const name = `moved-${mode === 'pre-pulled' ? 'hot' : 'cold'}-${run}`;
  for (const host of lab.hosts) await removeImage(host.docker, image);
  const created = await json(`${api}/services?wait=true&timeout=60`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name, image, replicas: REPLICAS, command: COMMAND, prepull: mode === 'pre-pulled',
      placement: { strategy: 'binpack', constraints: ['node.labels.bench!=front'] },
    }),
  });
  if (created.status !== 201) throw new Error(`POST /services answered ${created.status}: ${JSON.stringify(created.body)}`);
  if (mode === 'pre-pulled') {
    // Eligible nodes pull it: host-2 and host-3 (host-1 fails the constraint).
    await waitFor(`${name}'s image pulled on host-2 and host-3`, async () => (await Promise.all([2, 3].map((i) => ownPrepullDone(lab, i, name)))).every(Boolean), 120_000, 250);
  }
  const home = (await running(lab.host(2).docker, name)) === REPLICAS ? 2 : 3;
  if ((await running(lab.host(home).docker, name)) !== REPLICAS) throw new Error(`${name} does not run both replicas on one host`);
  const survivor = home === 2 ? 3 : 2;
  const since = Math.floor(Date.now() / 1000);
  const t0 = performance.now();
  const killed = lab.kill(home);
  await waitFor(`${name} running on host-${survivor}`, async () => (await running(lab.host(survivor).docker, name)) === REPLICAS, 120_000, 50);
  const ms = performance.now() - t0;
  await killed;
  const pulls = await pullsBetween(lab.host(survivor).docker, since, Math.floor(Date.now() / 1000) + 1);
  const pulled = pulls.some((ref) => ref.startsWith(image.slice(0, image.lastIndexOf(':'))));
  // Back to three hosts, without the service.
  const removed = await json(`${api}/services/${name}`, { method: 'DELETE' });
  if (removed.status >= 300) throw new Error(`DELETE /services/${name} answered ${removed.status}`);
  await lab.restart(home);
  await lab.settled(60_000);
  await waitFor(`${name}'s containers gone`, async () => (await Promise.all(lab.hosts.map((h) => running(h.docker, name)))).every((n) => n === 0), 60_000, 250);
  return { mode, run, ms: Math.round(ms), pulled };
}

export async function prepullMoves(): Promise<PrepullSummary> {
  const subnet = freeSubnet();
  const address = `${subnet}.254:${await freePort()}`;
  const lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-failover-prepull-')), 3, { subnet, engineArgs: ['--insecure-registry', address] });
  let registry: TestRegistry | undefined;
  let down: Promise<void> | undefined;
  const tearDown = () => (down ??= lab.down().finally(() => registry?.stop()));
  const forget = onCleanup(tearDown);
  const samples: PrepullSample[] = [];
  try {
    await lab.up();
    registry = await startRegistry(address);
    const image = `${address}/bicycle/payload:1`;
    await buildPayloadImage(lab.host(1).docker, 'bicycle/payload:build');
    await pushImage(lab.host(1).docker, 'bicycle/payload:build', image);
    await removeImage(lab.host(1).docker, 'bicycle/payload:build');
    const labelled = await json(`${lab.host(1).url}/nodes/host-1`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ labelAdd: { bench: 'front' } }) });
    if (labelled.status !== 200) throw new Error(`PATCH /nodes/host-1 answered ${labelled.status}`);
    for (let r = 1; r <= RUNS; r++) {
      for (const mode of ['pre-pulled', 'not pre-pulled'] as const) {
        const s = await bicycleRun(lab, image, mode, r);
        samples.push(s);
        process.stderr.write(`failover: ${mode} run ${r}: both replicas running on the survivor ${s.ms} ms after the kill; pulled there: ${s.pulled}\n`);
      }
      for (const pull of [false, true]) {
        const ms = Math.round(await directPath(lab.host(2).docker, image, r, pull));
        samples.push({ mode: pull ? 'direct, pull first' : 'direct, image present', run: r, ms });
        process.stderr.write(`failover: direct path, ${pull ? 'pull + ' : ''}create + start: ${ms} ms\n`);
      }
      await sleep(500);
    }
  } finally {
    await tearDown();
    forget();
  }
  const modes: PrepullMode[] = ['pre-pulled', 'not pre-pulled', 'direct, image present', 'direct, pull first'];
  const rows = modes.map((mode) => {
    const ms = samples.filter((s) => s.mode === mode).map((s) => s.ms);
    return { mode, runs: ms.length, medianMs: median(ms), worstMs: Math.max(...ms), pulls: samples.filter((s) => s.mode === mode && s.pulled).length };
  });
  return { payloadMiB: PAYLOAD_MB, runs: RUNS, rows, samples };
}
