import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LabHost } from './lab-host';
import { DEFAULT_SUBNET, labNet } from './lab-net';
import { waitFor } from './wait-for';
import { trustLabCa } from './lab-tls';
import { initTokenIn, rememberLabToken } from './lab-auth';

const ROOT = resolve(__dirname, '..', '..', '..');
const DAEMON = join(ROOT, 'dist', 'daemon', 'main.js');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

/** Daemon tuning for the lab: quick container stops. Host-loss grace and Raft timing are the defaults. */
const LAB_CONFIG = {
  deployment: { concurrency: 8, updateParallelism: 2, resyncIntervalMs: 2000, stopGracePeriodMs: 2000, init: true, autoRebalance: false },
  monitoring: { statsIntervalMs: 2000 },
};

export interface LabOptions {
  /** Where every bicycled listens on its host's address (default 7070). */
  port?: number;
  /** Three octets, A.B.C: host i is A.B.C.i, the machine's leg A.B.C.254, host i's containers A.B.(100+i).0/24. Default BICYCLE_LAB_SUBNET, else 10.78.0. */
  subnet?: string;
  /** More arguments for every host's dockerd, e.g. `--insecure-registry A.B.C.254:5000` for a registry on the machine's leg. */
  engineArgs?: string[];
  /** HTTPS and mutual TLS between hosts, as a daemon off loopback has by default; without it every bicycled starts with --insecure. */
  tls?: boolean;
}

/** What a lab's directory records of it, so that later processes (scripts/lab.sh kill, down…) find the same lab. */
interface LabFile {
  hosts: number;
  port: number;
  subnet: string;
  tls?: boolean;
}

/**
 * Several hosts on one machine, each a host of its own: a network namespace
 * (`bicycle-lab-SUBNET-i`) whose eth0 is SUBNET.i on the lab's bridge,
 * holding its own dockerd (own data root, exec root, socket, pidfile;
 * iptables on, as on a real host; containers on A.B.(100+i).0/24) and its
 * own bicycled (own data directory, listening on SUBNET.i:port). The
 * machine's own namespace reaches every host through one leg on the bridge,
 * `clientAddress` (SUBNET.254); nothing else of the lab is in it. A host can
 * be killed as a lost machine would be, restarted, cut off from others
 * (partition, heal), and everything torn down. The network itself is
 * scripts/lab-net.sh's. State lives under `dir`, so the lab can be driven
 * from several processes (see scripts/lab.sh).
 */
export class Lab {
  readonly hosts: LabHost[] = [];
  readonly subnet: string;
  readonly port: number;
  /** The machine's own address on the lab network: where tests, the CLI and benchmarks come from. */
  readonly clientAddress: string;
  /** Every namespace of the lab is named PREFIX-i (host i) or PREFIX-sw (the switch). */
  readonly netnsPrefix: string;
  private readonly engineArgs: readonly string[];
  /** Whether the hosts serve HTTPS and talk mutual TLS (LabOptions.tls). */
  readonly tls: boolean;
  private token: string | undefined;

  constructor(readonly dir: string, count: number, options: LabOptions = {}) {
    this.subnet = options.subnet ?? process.env.BICYCLE_LAB_SUBNET ?? DEFAULT_SUBNET;
    this.port = options.port ?? 7070;
    this.engineArgs = options.engineArgs ?? [];
    this.tls = options.tls ?? false;
    const octets = this.subnet.split('.').map(Number);
    if (octets.length !== 3 || !octets.every((o) => Number.isInteger(o) && o >= 0 && o <= 255)) {
      throw new Error(`the lab's subnet is three octets such as 10.78.0, not ${this.subnet}`);
    }
    if (!Number.isInteger(count) || count < 1 || count > 99) throw new Error(`a lab has 1 to 99 hosts, not ${count}`);
    if (octets[2]! > 100 && octets[2]! <= 100 + count) throw new Error(`the subnet ${this.subnet} would overlap a host's containers (A.B.(100+i)); choose a third octet outside 101–${100 + count}`);
    this.clientAddress = `${this.subnet}.254`;
    this.netnsPrefix = `bicycle-lab-${this.subnet}`;
    for (let i = 1; i <= count; i++) this.hosts.push(new LabHost(i, this.subnet, this.port, `${this.netnsPrefix}-${i}`, join(dir, `host-${i}`), this.tls ? 'https' : 'http'));
    const saved = join(dir, TOKEN_FILE);
    if (existsSync(saved)) this.useToken(readFileSync(saved, 'utf8').trim());
  }

  /**
   * The admin token of the lab's cluster (printed by the first host's
   * `--init`, kept in the lab's directory with mode 0600 for later
   * processes); undefined before the first host has started.
   */
  get adminToken(): string | undefined {
    return this.token;
  }

  private useToken(token: string): void {
    this.token = token;
    rememberLabToken(this.hosts.map((h) => h.url), token);
  }

  /** After a host's first start: the token its --init printed, if it founded a cluster and the lab has none yet. */
  private learnToken(host: LabHost): void {
    if (this.token) return;
    const token = initTokenIn(readFileSync(join(host.dir, 'bicycled.out'), 'utf8'));
    if (!token) return;
    writeFileSync(join(this.dir, TOKEN_FILE), token + '\n', { mode: 0o600 });
    this.useToken(token);
  }

  /** The lab recorded in `dir` by an earlier up(); a lab of `fallbackHosts` with the default options when there is none. */
  static open(dir: string, fallbackHosts = 3): Lab {
    const file = join(dir, 'lab.json');
    if (!existsSync(file)) return new Lab(dir, fallbackHosts);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as LabFile;
    return new Lab(dir, saved.hosts, { port: saved.port, subnet: saved.subnet, tls: saved.tls });
  }

  host(i: number): LabHost {
    const host = this.hosts[i - 1];
    if (!host) throw new Error(`the lab has no host ${i}`);
    return host;
  }

  /**
   * Makes the network, starts every engine (loading the test image into
   * each), then the first bicycled (founding the cluster) and the others
   * (joining it). With `members`, only hosts 1..members get a bicycled; the
   * others stay bare machines until joined (join()).
   */
  async up(members = this.hosts.length): Promise<void> {
    await this.upEngines();
    await this.startDaemon(this.host(1));
    for (const host of this.hosts.slice(1, members)) await this.join(host.index);
    await this.settled(30_000, members);
  }

  /** Starts host i's bicycled joining the cluster through host-1, with a join token read there. */
  async join(i: number): Promise<void> {
    await this.startDaemon(this.host(i), { join: this.host(1).address, token: await this.joinToken() });
  }

  /** Like up(), but a fixed cluster: every host lists all of them as peers in its configuration, with a shared secret. */
  async upFixed(secret: string, workers: number[] = []): Promise<void> {
    await this.upEngines();
    const peers = this.hosts.map((h) => ({ name: h.name, address: h.address, role: workers.includes(h.index) ? 'worker' : 'manager' }));
    await Promise.all(this.hosts.map((h) => this.startDaemon(h, undefined, [], { peers, clusterSecret: secret })));
    await this.settled();
  }

  private async upEngines(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    await labNet('up', this.netnsPrefix, this.subnet, String(this.hosts.length));
    const saved: LabFile = { hosts: this.hosts.length, port: this.port, subnet: this.subnet, tls: this.tls };
    writeFileSync(join(this.dir, 'lab.json'), JSON.stringify(saved));
    await Promise.all(this.hosts.map((h) => this.startEngine(h)));
  }

  /** Waits until every host (of the first `members`) sees every one of them READY (the joiners have caught up). */
  async settled(timeoutMs = 30_000, members = this.hosts.length): Promise<void> {
    await waitFor('every host to see every host READY', async () => {
      for (const host of this.hosts.slice(0, members)) {
        const res = await fetch(`${host.url}/nodes`).catch(() => undefined);
        if (!res?.ok) return false;
        const nodes = ((await res.json()) as { nodes: Array<{ status: string }> }).nodes;
        if (nodes.length !== members || !nodes.every((n) => n.status === 'READY')) return false;
      }
      return true;
    }, timeoutMs, 100);
  }

  /**
   * The join token, read as an administrator does: `bicycle node join-token`
   * run on host-1 (in its namespace) against its loopback, the only place a
   * member hands it out (a client from the machine's leg is refused).
   */
  async joinToken(): Promise<string> {
    const host = this.host(1);
    const result = await host.exec([process.execPath, CLI, '--host', `127.0.0.1:${host.port}`, 'node', 'join-token', '--json']);
    if (result.code !== 0) throw new Error(`cannot read the join token on ${host.name}: ${result.stderr.trim()}`);
    return (JSON.parse(result.stdout) as { token: string }).token;
  }

  /**
   * Starts a host's dockerd in the host's namespace, with the engine's
   * default firewall (it manages its own nat and filter rules there, as on
   * a real host) and a bridge subnet of its own, A.B.(100+i).1/24, so that a
   * route through the host could reach its containers. The API is a unix
   * socket, which the machine's namespace reaches too.
   */
  async startEngine(host: LabHost): Promise<void> {
    mkdirSync(host.dir, { recursive: true });
    if (!existsSync(`/var/run/netns/${host.netns}`)) throw new Error(`${host.name} has no network namespace ${host.netns}: the lab is not up`);
    const [a, b] = this.subnet.split('.');
    const log = openSync(join(host.dir, 'dockerd.log'), 'a');
    const child = host.spawn(
      [
        'dockerd',
        '--data-root', join(host.dir, 'docker-data'),
        '--exec-root', join(host.dir, 'docker-exec'),
        '-H', `unix://${host.socket}`,
        '--pidfile', join(host.dir, 'docker.pid'),
        '--bip', `${a}.${b}.${100 + host.index}.1/24`,
        ...this.engineArgs,
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

  /** Starts bicycled inside a host's namespace, on SUBNET.i:port (its data directory persists across restarts). */
  async startDaemon(host: LabHost, joining?: { join: string; token: string }, extraArgs: string[] = [], extraConfig: Record<string, unknown> = {}): Promise<void> {
    const dataDir = this.dataDir(host);
    mkdirSync(dataDir, { recursive: true });
    const configFile = join(host.dir, 'bicycle-config.json');
    if (Object.keys(extraConfig).length > 0 || !existsSync(configFile)) writeFileSync(configFile, JSON.stringify({ ...LAB_CONFIG, ...extraConfig }));
    const args = [DAEMON, '--config', configFile, '--name', host.name, '--listen', host.address, '--data-dir', dataDir, '--docker-socket', host.socket, ...(this.tls ? [] : ['--insecure']), ...extraArgs];
    if (joining) args.push('--join', joining.join, '--token', joining.token);
    const log = openSync(join(host.dir, 'bicycled.out'), 'a');
    // nsenter executes node in its own place: the pid is bicycled's.
    const child = host.spawn([process.execPath, ...args], { stdio: ['ignore', log, log], detached: true });
    child.unref();
    writeFileSync(join(host.dir, 'bicycled.pid'), String(child.pid));
    await waitFor(`bicycled on ${host.name}`, async () => (!this.tls || this.trustCa()) && (await fetch(`${host.url}/healthz`)).ok, 30_000, 100);
    this.learnToken(host);
  }

  /** The cluster CA's certificate file (host-1's, which founded the cluster): what a client of a TLS lab trusts (`--ca`). */
  get caFile(): string {
    return join(this.dataDir(this.host(1)), 'ca.crt');
  }

  /** Makes this process's fetch trust the lab's CA (see lab-tls.ts); false before host-1 has made it. */
  trustCa(): boolean {
    return trustLabCa(this.caFile);
  }

  dataDir(host: LabHost): string {
    return join(host.dir, 'bicycle-data');
  }

  /**
   * What a lost machine looks like: bicycled, every container and the engine
   * die at once, and with them whatever else ran in the host's namespace.
   * bicycled is killed before the first await. The namespace and its
   * partition rules stay, as a machine's network does.
   */
  async kill(i: number): Promise<void> {
    const host = this.host(i);
    killPidFile(join(host.dir, 'bicycled.pid'));
    const running = await host.docker.listContainers().catch(() => []);
    await Promise.all(running.map((c) => host.docker.getContainer(c.Id).kill().catch(() => undefined)));
    // The engine, its containerd and shims, and anything a test started there, at once; returns once they are reaped.
    await labNet('kill', this.netnsPrefix, String(i));
    // A machine's run directory does not outlive it (and the engine's old pid may be another process's by the restart).
    rmSync(join(host.dir, 'docker.pid'), { force: true });
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

  /**
   * Sends a signal to a host's bicycled only (its engine and containers are
   * untouched): SIGKILL for a crash (start it again with startDaemon),
   * SIGSTOP and SIGCONT for a pause.
   */
  signalDaemon(i: number, signal: NodeJS.Signals): void {
    killPidFile(join(this.host(i).dir, 'bicycled.pid'), signal);
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

  /**
   * Cuts host a off from host b: every packet between them is dropped on
   * arrival, in both directions, or with oneWay only a's packets to b (b's
   * still reach a). The machine's leg is never cut. Rules add up until heal().
   */
  async partition(a: number, b: number, options: { oneWay?: boolean } = {}): Promise<void> {
    this.host(a);
    this.host(b);
    await labNet('partition', this.netnsPrefix, String(a), String(b), ...(options.oneWay ? ['--one-way'] : []));
  }

  /** Removes every partition rule of the lab. */
  async heal(): Promise<void> {
    await labNet('heal', this.netnsPrefix);
  }

  /** Stops every bicycled (SIGTERM), removes every container, stops every engine, removes the network and the lab's files. */
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
    // Kills what still runs in the namespaces (containerd, shims, a slow engine) before deleting them; only
    // a network this lab made (its lab.json says so): a lab whose up() failed on a subnet in use must not remove another's.
    if (existsSync(join(this.dir, 'lab.json'))) await labNet('down', this.netnsPrefix);
    spawnSync('sh', ['-c', `grep ' ${this.dir}/' /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r umount -l`]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Where a lab keeps its admin token (mode 0600), beside lab.json. */
const TOKEN_FILE = 'admin-token';

function killPidFile(file: string, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!existsSync(file)) return;
  const pid = Number(readFileSync(file, 'utf8').trim());
  try {
    if (pid > 0) process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export { LabHost } from './lab-host';
export { tokenFor } from './lab-auth';
export { DEFAULT_SUBNET, freeSubnet } from './lab-net';
