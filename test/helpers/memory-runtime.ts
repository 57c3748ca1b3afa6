import type { ObservedContainer } from '../../daemon/deployment/agent-reconcile';
import {
  ImagePullError, NameConflictError,
  type BridgeNetwork, type ContainerRuntime, type ContainerSpec, type ContainerStatus, type RuntimeEvent,
} from '../../daemon/deployment/container-runtime';
import type { TaskHealth } from '../../database/task-state';
import { LABELS } from '../../daemon/docker-client';

/** A container as the in-memory engine keeps it. */
export interface MemoryContainer {
  readonly id: string;
  readonly spec: ContainerSpec;
  state: 'created' | 'running' | 'exited';
  exitCode: number | null;
  startedAt: number | null;
  health: TaskHealth;
  healthOutput: string | null;
  ip: string | null;
}

interface Watcher {
  labels: Record<string, string>;
  onEvent(event: RuntimeEvent): void;
  onError(error: Error): void;
}

export interface MemoryRuntimeOptions {
  /** Images the engine has from the start; any other is pulled on first use (unless a pull is made to fail). */
  images?: readonly string[];
  /** The engine's clock (ms since the epoch), for start times; Date.now by default. */
  now?: () => number;
  /** The default bridge network; null for an engine without one. */
  bridge?: BridgeNetwork | null;
}

/**
 * A ContainerRuntime held in memory, for unit and simulation tests of the
 * shells that drive an engine (the agent, the loops): containers are
 * created, started, stopped and removed as Docker would, events go to the
 * watchers whose labels match, and failures are injected on demand (a pull
 * that fails, a start that fails, a container that exits, a broken event
 * stream). It follows the interface's contract (a name conflict throws
 * NameConflictError, removing a missing container succeeds), not Docker's
 * every behaviour: tests of the real engine run against Docker.
 */
export class MemoryRuntime implements ContainerRuntime {
  private readonly containers = new Map<string, MemoryContainer>();
  private readonly images: Set<string>;
  private readonly pullFailures = new Map<string, string>();
  private readonly createFailures = new Map<string, string>();
  private readonly startFailures = new Map<string, string>();
  private readonly watchers = new Set<Watcher>();
  private readonly now: () => number;
  private readonly network: BridgeNetwork | null;
  private nextId = 1;
  /** Addresses on the bridge go out in order, one per start. */
  private nextAddress = 0;
  /** Every event emitted, in order, whoever watched. */
  readonly events: RuntimeEvent[] = [];
  /** Every image pulled, in order. */
  readonly pulls: string[] = [];
  /** The grace period each removal was given, by container id. */
  readonly removals = new Map<string, number>();

  constructor(options: MemoryRuntimeOptions = {}) {
    this.images = new Set(options.images ?? []);
    this.now = options.now ?? Date.now;
    this.network = options.bridge === undefined ? { gateway: '172.17.0.1', subnet: '172.17.0.0/16' } : options.bridge;
  }

  // ---- the engine, as the agent sees it ----

  async list(labels: Record<string, string>): Promise<ObservedContainer[]> {
    return [...this.containers.values()].filter((c) => matches(c.spec.labels, labels)).map((c) => ({
      id: c.id,
      taskId: c.spec.labels[LABELS.task] ?? null,
      state: c.state,
      exitCode: c.exitCode,
      health: c.health,
      ip: c.ip,
      name: c.spec.name,
    }));
  }

  async create(spec: ContainerSpec): Promise<string> {
    if ([...this.containers.values()].some((c) => c.spec.name === spec.name)) throw new NameConflictError(spec.name);
    const refused = this.createFailures.get(spec.image);
    if (refused !== undefined) throw new Error(refused);
    if (!this.images.has(spec.image)) await this.pull(spec.image);
    const id = (this.nextId++).toString(16).padStart(64, '0');
    this.containers.set(id, { id, spec, state: 'created', exitCode: null, startedAt: null, health: 'none', healthOutput: null, ip: null });
    this.emit(id, 'create');
    return id;
  }

  async pull(image: string): Promise<void> {
    const reason = this.pullFailures.get(image);
    if (reason !== undefined) throw new ImagePullError(image, reason);
    this.pulls.push(image);
    this.images.add(image);
  }

  async start(containerId: string): Promise<number> {
    const c = this.get(containerId);
    if (!c) throw new Error(`no such container: ${containerId}`);
    const refused = this.startFailures.get(c.spec.image);
    if (refused !== undefined) throw new Error(refused);
    if (c.state === 'running') return c.startedAt!;
    c.state = 'running';
    c.exitCode = null;
    c.startedAt = this.now();
    c.health = c.spec.healthcheck && c.spec.healthcheck.test[0] !== 'NONE' ? 'starting' : 'none';
    c.ip = `172.17.${Math.floor(this.nextAddress / 250)}.${2 + (this.nextAddress++ % 250)}`;
    this.emit(containerId, 'start');
    return c.startedAt;
  }

  async inspect(containerId: string): Promise<ContainerStatus> {
    const c = this.get(containerId);
    if (!c) throw new Error(`no such container: ${containerId}`);
    return { startedAt: c.state === 'running' ? c.startedAt : null, health: c.health, healthOutput: c.healthOutput };
  }

  async remove(containerId: string, gracePeriodMs: number): Promise<void> {
    const c = this.get(containerId);
    if (!c) return;
    this.removals.set(containerId, gracePeriodMs);
    if (c.state === 'running') {
      this.stopContainer(c, 143);
      this.emit(containerId, 'stop');
    }
    this.emit(containerId, 'destroy');
    this.containers.delete(containerId);
  }

  async bridge(): Promise<BridgeNetwork | null> {
    return this.network;
  }

  async watch(labels: Record<string, string>, onEvent: (event: RuntimeEvent) => void, onError: (error: Error) => void): Promise<() => void> {
    const watcher: Watcher = { labels, onEvent, onError };
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  // ---- what a test does to the engine ----

  /** Pulls of `image` fail with `reason` (ImagePullError) until `allowPull`. */
  failPull(image: string, reason = 'pull access denied'): void {
    this.pullFailures.set(image, reason);
    this.images.delete(image);
  }

  allowPull(image: string): void {
    this.pullFailures.delete(image);
  }

  /** Creating a container of `image` fails with `reason` (a plain engine error). */
  failCreate(image: string, reason = 'no space left on device'): void {
    this.createFailures.set(image, reason);
  }

  /** Starting a container of `image` fails with `reason` until `allowStart`. */
  failStart(image: string, reason = 'exec format error'): void {
    this.startFailures.set(image, reason);
  }

  allowStart(image: string): void {
    this.startFailures.delete(image);
  }

  /** The container's process exits with `code`, as if it ended or crashed; watchers hear `die`. */
  exit(containerId: string, code: number): void {
    const c = this.get(containerId);
    if (!c || c.state !== 'running') throw new Error(`container ${containerId} is not running`);
    this.stopContainer(c, code);
  }

  /** The container's health check now reports `health` (with what it printed); watchers hear `health_status: <health>`. */
  setHealth(containerId: string, health: Exclude<TaskHealth, 'none'>, output: string | null = null): void {
    const c = this.get(containerId);
    if (!c) throw new Error(`no such container: ${containerId}`);
    c.health = health;
    c.healthOutput = output;
    this.emit(containerId, `health_status: ${health}`);
  }

  /** Every event stream breaks (the engine restarted, say): each watcher's onError is called and it hears nothing more. */
  breakWatches(error = new Error('the engine closed the event stream')): void {
    const watchers = [...this.watchers];
    this.watchers.clear();
    for (const w of watchers) w.onError(error);
  }

  /** The containers the engine holds now, running or not. */
  all(): MemoryContainer[] {
    return [...this.containers.values()];
  }

  /** The running containers. */
  running(): MemoryContainer[] {
    return this.all().filter((c) => c.state === 'running');
  }

  /** A container made behind the agent's back (someone with access to the engine, or an earlier life of the daemon). */
  async planted(spec: ContainerSpec, options: { start?: boolean } = {}): Promise<string> {
    this.images.add(spec.image);
    const id = await this.create(spec);
    if (options.start ?? true) await this.start(id);
    return id;
  }

  private stopContainer(c: MemoryContainer, code: number): void {
    c.state = 'exited';
    c.exitCode = code;
    c.startedAt = null;
    c.ip = null;
    this.emit(c.id, 'die');
  }

  /** A container by its id or a unique prefix of it, as the engine accepts. */
  private get(idOrPrefix: string): MemoryContainer | undefined {
    const exact = this.containers.get(idOrPrefix);
    if (exact) return exact;
    const found = [...this.containers.values()].filter((c) => c.id.startsWith(idOrPrefix));
    return found.length === 1 ? found[0] : undefined;
  }

  private emit(containerId: string, action: string): void {
    const event = { action, containerId };
    this.events.push(event);
    const labels = this.containers.get(containerId)?.spec.labels ?? {};
    for (const w of [...this.watchers]) if (matches(labels, w.labels)) w.onEvent(event);
  }
}

function matches(labels: Record<string, string>, wanted: Record<string, string>): boolean {
  return Object.entries(wanted).every(([k, v]) => labels[k] === v);
}
