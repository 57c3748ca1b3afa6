import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import Docker from 'dockerode';
import { daemonPath } from './daemon';
import { waitFor } from './wait';

const ROOT = resolve(__dirname, '..', '..', '..');

/** Daemon tuning for the lab: quick container stops. Host-loss grace and Raft timing are the defaults. */
const LAB_CONFIG = {
  deployment: { concurrency: 8, updateParallelism: 2, resyncIntervalMs: 2000, stopGracePeriodMs: 2000, init: true, autoRebalance: false },
  monitoring: { statsIntervalMs: 2000 },
};

export interface LabHost {
  index: number;
  name: string;
  /** 127.0.0.(10+index):7070 */
  address: string;
  url: string;
  dir: string;
  socket: string;
  docker: Docker;
}

/**
 * Several hosts on one machine: each with its own dockerd (own data root,
 * exec root, socket, pidfile and network namespace) and its own
 * bicycled (own data directory, own loopback address, pointed at its own
 * engine). A host can be killed as a lost machine would be — its bicycled,
 * its containers and its engine all at once — restarted, and everything
 * torn down. State lives under `dir`, so the lab can be driven from several
 * processes (see scripts/lab.sh).
 */
export class Lab {
  readonly hosts: LabHost[] = [];
  private readonly daemons = new Map<number, ChildProcess>();

  constructor(readonly dir: string, count: number, portBase = 7070) {
    for (let i = 1; i <= count; i++) {
      const hostDir = join(dir, `host-${i}`);
      const socket = join(hostDir, 'docker.sock');
      const address = `127.0.0.${10 + i}:${portBase}`;
      this.hosts.push({ index: i, name: `host-${i}`, address, url: `http://${address}`, dir: hostDir, socket, docker: new Docker({ socketPath: socket }) });
    }
  }

  host(i: number): LabHost {
    const host = this.hosts[i - 1];
    if (!host) throw new Error(`the lab has no host ${i}`);
    return host;
  }

  /** Starts every engine, loads the test image into each, then the first bicycled (founding the cluster) and the others (joining it). */
  async up(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    await Promise.all(this.hosts.map((h) => this.startEngine(h)));
    await this.startDaemon(this.host(1));
    const token = await this.joinToken();
    for (const host of this.hosts.slice(1)) await this.startDaemon(host, { join: this.host(1).address, token });
    await this.settled();
  }

  /** Waits until every host sees every host READY (the joiners have caught up). */
  async settled(timeoutMs = 30_000): Promise<void> {
    await waitFor('every host to see every host READY', async () => {
      for (const host of this.hosts) {
        const res = await fetch(`${host.url}/nodes`).catch(() => undefined);
        if (!res?.ok) return false;
        const nodes = ((await res.json()) as { nodes: Array<{ status: string }> }).nodes;
        if (nodes.length !== this.hosts.length || !nodes.every((n) => n.status === 'READY')) return false;
      }
      return true;
    }, timeoutMs, 100);
  }

  /** Like up(), but a fixed cluster: every host lists all of them as peers in its configuration, with a shared secret. */
  async upFixed(secret: string, workers: number[] = []): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    await Promise.all(this.hosts.map((h) => this.startEngine(h)));
    const peers = this.hosts.map((h) => ({ name: h.name, address: h.address, role: workers.includes(h.index) ? 'worker' : 'manager' }));
    await Promise.all(this.hosts.map((h) => this.startDaemon(h, undefined, [], { peers, clusterSecret: secret })));
    await this.settled();
  }

  async joinToken(): Promise<string> {
    const res = await fetch(`${this.host(1).url}/cluster/join-token`);
    return ((await res.json()) as { token: string }).token;
  }

  /**
   * Each engine runs in a network namespace of its own: an engine sharing the
   * machine's namespace would manage (and, without a bridge, delete) the main
   * engine's docker0. The API is a unix socket, so bicycled reaches it from
   * outside.
   */
  private netns(host: LabHost): string {
    return `bicycle-lab-${createHash('sha1').update(this.dir).digest('hex').slice(0, 8)}-${host.index}`;
  }

  async startEngine(host: LabHost): Promise<void> {
    mkdirSync(host.dir, { recursive: true });
    const netns = this.netns(host);
    if (!existsSync(`/var/run/netns/${netns}`)) {
      const added = spawnSync('ip', ['netns', 'add', netns], { encoding: 'utf8' });
      if (added.status !== 0) throw new Error(`cannot create network namespace ${netns}: ${added.stderr}`);
    }
    spawnSync('ip', ['netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up']);
    const log = openSync(join(host.dir, 'dockerd.log'), 'a');
    // nsenter enters the network namespace only; `ip netns exec` would also remount /sys and hide the cgroup mounts the engine needs.
    const child = spawn(
      'nsenter',
      [
        `--net=/var/run/netns/${netns}`, 'dockerd',
        '--data-root', join(host.dir, 'docker-data'),
        '--exec-root', join(host.dir, 'docker-exec'),
        '-H', `unix://${host.socket}`,
        '--pidfile', join(host.dir, 'docker.pid'),
        '--iptables=false', '--ip-masq=false',
      ],
      { stdio: ['ignore', log, log], detached: true },
    );
    child.unref();
    await waitFor(`the engine of ${host.name}`, async () => (await host.docker.ping(), true), 30_000, 200);
    const images = await host.docker.listImages({ filters: { reference: ['bicycle/busybox:test'] } });
    if (images.length === 0) {
      const built = spawnSync(join(ROOT, 'scripts', 'build-test-images.sh'), [`unix://${host.socket}`], { encoding: 'utf8' });
      if (built.status !== 0) throw new Error(`cannot load the test image into ${host.name}: ${built.stderr}`);
    }
  }

  /** Starts bicycled on a host (its data directory persists across restarts). */
  async startDaemon(host: LabHost, joining?: { join: string; token: string }, extraArgs: string[] = [], extraConfig: Record<string, unknown> = {}): Promise<void> {
    const dataDir = this.dataDir(host);
    mkdirSync(dataDir, { recursive: true });
    const configFile = join(host.dir, 'bicycle-config.json');
    if (Object.keys(extraConfig).length > 0 || !existsSync(configFile)) writeFileSync(configFile, JSON.stringify({ ...LAB_CONFIG, ...extraConfig }));
    const args = [daemonPath(), '--config', configFile, '--name', host.name, '--listen', host.address, '--data-dir', dataDir, '--docker-socket', host.socket, ...extraArgs];
    if (joining) args.push('--join', joining.join, '--token', joining.token);
    const log = openSync(join(host.dir, 'bicycled.out'), 'a');
    const child = spawn(process.execPath, args, { stdio: ['ignore', log, log], detached: true });
    child.unref();
    this.daemons.set(host.index, child);
    writeFileSync(join(host.dir, 'bicycled.pid'), String(child.pid));
    await waitFor(`bicycled on ${host.name}`, async () => (await fetch(`${host.url}/healthz`)).ok, 30_000, 100);
  }

  dataDir(host: LabHost): string {
    return join(host.dir, 'bicycle-data');
  }

  /** What a lost machine looks like: bicycled, every container and the engine die at once. */
  async kill(i: number): Promise<void> {
    const host = this.host(i);
    killPidFile(join(host.dir, 'bicycled.pid'));
    const running = await host.docker.listContainers().catch(() => []);
    await Promise.all(running.map((c) => host.docker.getContainer(c.Id).kill().catch(() => undefined)));
    killPidFile(join(host.dir, 'docker.pid'));
    // The engine's containerd and shims, found by the exec root in their command lines.
    spawnSync('pkill', ['-9', '-f', join(host.dir, 'docker-exec')]);
    await waitFor(`${host.name}'s engine to be gone`, async () => {
      try {
        await host.docker.ping();
        return false;
      } catch {
        return true;
      }
    }, 10_000, 100);
  }

  /** Stops a host's bicycled gracefully (SIGTERM) and waits for it to exit; the engine and containers stay. */
  async stopDaemon(i: number): Promise<void> {
    const host = this.host(i);
    const pidFile = join(host.dir, 'bicycled.pid');
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    killPidFile(pidFile, 'SIGTERM');
    await waitFor(`bicycled on ${host.name} to exit`, () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 20_000, 50);
  }

  /** What a host's bicycled printed. */
  output(i: number): string {
    return readFileSync(join(this.host(i).dir, 'bicycled.out'), 'utf8');
  }

  /** Brings a killed host back: engine first, then bicycled on its old data (it rejoins as itself). */
  async restart(i: number): Promise<void> {
    const host = this.host(i);
    await this.startEngine(host);
    await this.startDaemon(host);
  }

  /** Stops every bicycled (SIGTERM), removes every container, stops every engine, deletes the lab's files. */
  async down(): Promise<void> {
    for (const host of this.hosts) killPidFile(join(host.dir, 'bicycled.pid'), 'SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    for (const host of this.hosts) {
      const all = await host.docker.listContainers({ all: true }).catch(() => []);
      await Promise.all(all.map((c) => host.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
      killPidFile(join(host.dir, 'bicycled.pid'), 'SIGKILL');
      killPidFile(join(host.dir, 'docker.pid'), 'SIGTERM');
    }
    await new Promise((r) => setTimeout(r, 1000));
    for (const host of this.hosts) spawnSync('pkill', ['-9', '-f', join(host.dir, 'docker-exec')]);
    for (const host of this.hosts) {
      spawnSync('sh', ['-c', `grep ' ${host.dir}' /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r umount -l`]);
      spawnSync('ip', ['netns', 'del', this.netns(host)]);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function killPidFile(file: string, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!existsSync(file)) return;
  const pid = Number(readFileSync(file, 'utf8').trim());
  try {
    if (pid > 0) process.kill(pid, signal);
  } catch {
    // already gone
  }
}
