/**
 * Docker Swarm beside a Bicycle lab: bench/swarm-cluster.sh's three engines
 * (3 managers on 10.77.0.1–3, each in a network namespace of its own), their
 * CLI, and whether Swarm's routing mesh serves on this machine.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { getOnce } from '../scripts/lab/http-load';
import { waitFor } from '../scripts/lab/wait-for';
import { onCleanup, requireEngine, ROOT } from './common';

const SCRIPT = join(ROOT, 'bench', 'swarm-cluster.sh');
const exec = promisify(execFile);

export interface SwarmLab {
  /** The engines' API sockets (paths), node 1 first: node 1 founded the swarm. */
  sockets: string[];
  engines: Docker[];
  /** Each node's address on the lab network, in the same order. */
  ips: string[];
  /** Each engine's directory (its dockerd.log among the files). */
  dirs: string[];
}

/**
 * Starts the three engines as a swarm of 3 managers (the test image loaded
 * in each) and registers their removal (`swarm-cluster.sh stop`) with the
 * benchmark's cleanup, so it runs on failure and on a signal too.
 */
export async function startSwarmLab(): Promise<SwarmLab> {
  let stopped: Promise<void> | undefined;
  onCleanup(() => (stopped ??= exec(SCRIPT, ['stop'], { timeout: 120_000 }).then(
    () => undefined,
    (e: Error) => void process.stderr.write(`swarm-cluster stop: ${e.message}\n`),
  )));
  const { stdout } = await exec(SCRIPT, ['start'], { timeout: 180_000 });
  const sockets = stdout.trim().split('\n').slice(-3).map((s) => s.replace(/^unix:\/\//, ''));
  const engines = await Promise.all(sockets.map((s) => requireEngine(s)));
  return { sockets, engines, ips: [1, 2, 3].map((n) => `10.77.0.${n}`), dirs: sockets.map((s) => join(s, '..')) };
}

/** Runs the docker CLI against one engine of the swarm; resolves with what it printed, trimmed. */
export async function swarmDocker(socket: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const { stdout } = await exec('docker', ['-H', `unix://${socket}`, ...args], { timeout: timeoutMs });
  return stdout.trim();
}

/** `docker service rm NAME`, then waits until no engine has a container of it left. */
export async function removeSwarmService(lab: SwarmLab, name: string): Promise<void> {
  await swarmDocker(lab.sockets[0]!, ['service', 'rm', name]);
  const label = `com.docker.swarm.service.name=${name}`;
  await waitFor(`the Swarm service ${name}'s containers gone`, async () => (await Promise.all(lab.engines.map((d) => d.listContainers({ all: true, filters: { label: [label] } })))).every((l) => l.length === 0), 60_000, 250);
}

/**
 * Whether the routing mesh serves `port` (published in ingress mode by a
 * service whose task already serves): null when every node answers within
 * 10 s, else what each node answered and, when they logged it, why (the
 * mesh needs IPVS in the kernel; without it the engines say "Could not get
 * ipvs family information").
 */
export async function meshProblem(lab: SwarmLab, port: number): Promise<string | null> {
  const answers = await Promise.all(lab.ips.map((ip) =>
    waitFor(`${ip}:${port}`, () => getOnce(`${ip}:${port}`, '/', 1000).then(() => true), 10_000, 250).then(
      () => 'answers',
      (e: Error) => e.message.replace(/^.*last: /, ''),
    )));
  if (answers.every((a) => a === 'answers')) return null;
  const logs = lab.dirs.map((d) => (existsSync(join(d, 'dockerd.log')) ? readFileSync(join(d, 'dockerd.log'), 'utf8') : ''));
  const ipvs = logs.map((l) => /level=error msg="(Could not get ipvs family information[^"]*)"/.exec(l)?.[1]).find(Boolean);
  return `with -p ${port}:80 (the routing mesh) the nodes answered: ${answers.map((a, i) => `${lab.ips[i]} ${a}`).join('; ')}` + (ipvs ? `; the engines logged: ${ipvs}` : '');
}
