import type Docker from 'dockerode';
import { networkInterfaces } from 'node:os';
import type { Readable } from 'node:stream';
import type { ObservedContainer } from './agent-reconcile';
import { ImagePullError, NameConflictError, type BridgeNetwork, type ContainerRuntime, type ContainerSpec, type ContainerStatus, type RuntimeEvent } from './container-runtime';
import type { HealthcheckSpec } from '../../database/lifecycle';
import type { TaskHealth } from '../../database/task-state';
import type { NodeFacts } from '../../database/placement';
import { LABELS } from '../docker-client';
import { factsFromInfo, type DockerInfo, type EngineInfo } from './node-facts';
import { onJsonLines } from '../json-lines';

interface DockerError extends Error {
  statusCode?: number;
  json?: { message?: string };
}

function statusOf(error: unknown): number | undefined {
  return (error as DockerError)?.statusCode;
}

function reasonOf(error: unknown): string {
  const e = error as DockerError;
  return (e?.json?.message ?? e?.message ?? String(error)).trim();
}

function labelFilter(labels: Record<string, string>): string[] {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`);
}

/** ContainerRuntime on a Docker engine, through dockerode. */
export class DockerRuntime implements ContainerRuntime, EngineInfo {
  constructor(private readonly docker: Docker, private readonly options: { init: boolean }) {}

  async engineFacts(): Promise<NodeFacts> {
    return factsFromInfo((await this.docker.info()) as DockerInfo);
  }

  async list(labels: Record<string, string>): Promise<ObservedContainer[]> {
    const found = await this.docker.listContainers({ all: true, filters: { label: labelFilter(labels) } });
    return found.map((c) => ({
      id: c.Id,
      taskId: c.Labels?.[LABELS.task] ?? null,
      state: c.State,
      exitCode: parseExitCode(c.Status),
      health: parseHealth(c.Status),
      ip: c.State === 'running' ? (c.NetworkSettings?.Networks?.bridge?.IPAddress || null) : null,
      name: (c.Names?.[0] ?? '').replace(/^\//, ''),
    }));
  }

  async create(spec: ContainerSpec): Promise<string> {
    const options: Docker.ContainerCreateOptions = {
      name: spec.name,
      Image: spec.image,
      Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
      Labels: spec.labels,
      HostConfig: hostConfig(spec, this.options.init),
      ...(spec.healthcheck ? { Healthcheck: dockerHealthcheck(spec.healthcheck) } : {}),
    };
    if (spec.command) options.Cmd = spec.command;
    try {
      return (await this.docker.createContainer(options)).id;
    } catch (error) {
      if (statusOf(error) === 409) throw new NameConflictError(spec.name);
      if (statusOf(error) !== 404) throw error;
    }
    await this.pull(spec.image);
    try {
      return (await this.docker.createContainer(options)).id;
    } catch (error) {
      if (statusOf(error) === 409) throw new NameConflictError(spec.name);
      throw error;
    }
  }

  async pull(image: string): Promise<void> {
    try {
      const stream = (await this.docker.pull(image)) as Readable;
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(stream, (error: Error | null) => (error ? reject(error) : resolve()));
      });
    } catch (error) {
      throw new ImagePullError(image, reasonOf(error));
    }
  }

  async start(containerId: string): Promise<number> {
    try {
      await this.docker.getContainer(containerId).start();
    } catch (error) {
      if (statusOf(error) !== 304) throw error; // 304: already started
    }
    // The engine answers once the container runs: that moment is its start, without another round trip to inspect it.
    return Date.now();
  }

  async inspect(containerId: string): Promise<ContainerStatus> {
    const info = await this.docker.getContainer(containerId).inspect();
    const health = info.State.Health as { Status?: string; Log?: Array<{ Output?: string }> } | undefined;
    const at = Date.parse(info.State.StartedAt);
    const output = health?.Log?.at(-1)?.Output?.trim();
    return {
      startedAt: info.State.Running && Number.isFinite(at) ? at : null,
      health: healthOf(health?.Status),
      healthOutput: output ? output.slice(0, 512) : null,
    };
  }

  async remove(containerId: string, gracePeriodMs: number): Promise<void> {
    const container = this.docker.getContainer(containerId);
    try {
      await container.stop({ t: Math.ceil(gracePeriodMs / 1000) });
    } catch (error) {
      const status = statusOf(error);
      if (status !== 304 && status !== 404) throw error;
      if (status === 404) return;
    }
    try {
      await container.remove({ force: true });
    } catch (error) {
      const status = statusOf(error);
      // 404: gone already; 409: removal already in progress.
      if (status !== 404 && status !== 409) throw error;
    }
  }

  async bridge(): Promise<BridgeNetwork | null> {
    try {
      const info = (await this.docker.getNetwork('bridge').inspect()) as { IPAM?: { Config?: Array<{ Gateway?: string; Subnet?: string }> } };
      const config = info.IPAM?.Config?.find((c) => c.Subnet && !c.Subnet.includes(':'));
      if (!config) return null;
      // Older engines leave the default bridge's gateway out: it is this namespace's own address inside the subnet.
      const gateway = config.Gateway ?? localAddressIn(config.Subnet!);
      return gateway ? { gateway, subnet: config.Subnet! } : null;
    } catch (error) {
      if (statusOf(error) === 404) return null;
      throw error;
    }
  }

  async watch(labels: Record<string, string>, onEvent: (event: RuntimeEvent) => void, onError: (error: Error) => void): Promise<() => void> {
    const stream = (await this.docker.getEvents({ filters: { type: ['container'], label: labelFilter(labels) } })) as unknown as Readable;
    // A malformed line is skipped; the periodic resync covers whatever it meant.
    onJsonLines(stream, (value) => {
      const event = value as { Action?: string; id?: string; Actor?: { ID?: string } };
      onEvent({ action: event.Action ?? '', containerId: event.Actor?.ID ?? event.id ?? '' });
    });
    let closed = false;
    stream.on('error', (error: Error) => !closed && onError(error));
    stream.on('end', () => !closed && onError(new Error('the engine closed the event stream')));
    return () => {
      closed = true;
      stream.destroy();
    };
  }
}

/** An IPv4 address of this network namespace inside `cidr`, if it has one. */
export function localAddressIn(cidr: string): string | null {
  const [base, bits] = cidr.split('/') as [string, string];
  const toNumber = (ip: string) => ip.split('.').reduce((n, octet) => (n << 8) + Number(octet), 0) >>> 0;
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === 'IPv4' && ((toNumber(a.address) & mask) >>> 0) === ((toNumber(base) & mask) >>> 0)) return a.address;
    }
  }
  return null;
}

/** The engine's host settings for a container: init, the resolver, and the service's resource limits (NanoCpus, Memory, PidsLimit). */
export function hostConfig(spec: Pick<ContainerSpec, 'dns' | 'limits' | 'mounts'>, init: boolean): Docker.HostConfig {
  const config: Docker.HostConfig = { Init: init };
  // Secret files: bind mounts of the daemon's tmpfs, read-only; the engine records their paths, never their contents.
  if (spec.mounts && spec.mounts.length > 0) config.Mounts = spec.mounts.map((m) => ({ Type: 'bind', Source: m.source, Target: m.target, ReadOnly: true }));
  if (spec.dns) {
    config.Dns = spec.dns.servers;
    config.DnsSearch = spec.dns.search;
  }
  const limits = spec.limits ?? {};
  // The engine takes CPUs in billionths of a core, whole (--cpus 1.5 is 1500000000).
  if (limits.cpus !== undefined) config.NanoCpus = Math.round(limits.cpus * 1e9);
  if (limits.memoryBytes !== undefined) config.Memory = limits.memoryBytes;
  if (limits.pids !== undefined) config.PidsLimit = limits.pids;
  return config;
}

/** The engine's health check from a service's (durations in ns, as the engine takes them). */
export function dockerHealthcheck(check: HealthcheckSpec): Docker.HealthConfig {
  if (check.test[0] === 'NONE') return { Test: ['NONE'] };
  const ns = (ms: number) => ms * 1_000_000;
  return { Test: check.test, Interval: ns(check.intervalMs), Timeout: ns(check.timeoutMs), Retries: check.retries, StartPeriod: ns(check.startPeriodMs) };
}

function healthOf(status: string | undefined): TaskHealth {
  return status === 'starting' || status === 'healthy' || status === 'unhealthy' ? status : 'none';
}

/** The health in Docker's listing status text: "Up 5 seconds (health: starting)", "Up 1 minute (healthy)", "(unhealthy)". */
export function parseHealth(status: string | undefined): TaskHealth {
  const match = /\((health: starting|healthy|unhealthy)\)/.exec(status ?? '');
  if (!match) return 'none';
  return match[1] === 'health: starting' ? 'starting' : (match[1] as TaskHealth);
}

/** The exit code in Docker's listing status text, e.g. "Exited (137) 2 seconds ago". */
export function parseExitCode(status: string | undefined): number | null {
  const match = /Exited \((-?\d+)\)/.exec(status ?? '');
  return match ? Number(match[1]) : null;
}
