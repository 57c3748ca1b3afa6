import type { Db } from '../../database/open-database';
import { parseConstraint, satisfies, type PlacementNode } from '../../database/placement';
import { getNode, listServices, type NodeRecord, type ServiceRecord } from '../../database/queries';
import { isServiceDeleting } from '../../database/service-state';
import type { Logger } from '../logger';
import { errorMessage } from '../logger';
import type { ContainerRuntime } from './container-runtime';
import { readPrepullStatus, writePrepullStatus, type PrepullStatus } from './prepull-status';

/**
 * Pre-pull (docs/deployment.md): every eligible node pulls the image of
 * each service with pre-pull in effect (its own `prepull`, else the
 * cluster's `deployment.prepull`) before a replica needs it, so a
 * scale-up or a rolling update does not wait for the registry. Once per
 * (service, image), in the background, a few at a time, failures retried
 * with back-off. What this node has pulled is node-local (prepull-status.ts).
 */

/** One image to pull ahead for one service. */
export interface PrepullTarget {
  service: string;
  image: string;
}

/**
 * Whether this node would run the service's replicas, as far as pre-pull
 * cares: READY, active, and passing the service's constraints. (Resources
 * are not counted: an image pulled for a replica that may come is cheap.)
 */
export function isEligible(node: NodeRecord, service: ServiceRecord): boolean {
  if (node.status !== 'READY' || node.availability !== 'active') return false;
  const placed: PlacementNode = { id: node.id, name: node.name, role: node.role, labels: node.labels, facts: node.facts };
  for (const text of service.placement.constraints ?? []) {
    const constraint = parseConstraint(text);
    // A constraint that does not parse was refused on the way in; one stored anyway places nowhere.
    if (typeof constraint === 'string' || !satisfies(placed, constraint)) return false;
  }
  return true;
}

/** The images this node should have pulled ahead: services not being deleted, with pre-pull in effect, for which it is eligible. */
export function prepullTargets(services: readonly ServiceRecord[], node: NodeRecord | undefined, clusterDefault: boolean): PrepullTarget[] {
  if (!node) return [];
  return services
    .filter((s) => !isServiceDeleting(s.state) && (s.prepull ?? clusterDefault) && isEligible(node, s))
    .map((s) => ({ service: s.name, image: s.image }));
}

/** The wait before retry `attempt` (1, 2, …) of a failed pull: 5 s, doubling, at most 5 min. */
export function retryDelayMs(attempt: number): number {
  return Math.min(5000 * 2 ** Math.max(0, attempt - 1), 300_000);
}

interface Entry extends PrepullStatus {
  failures: number;
  /** When a failed pull is tried again (ms since the epoch). */
  retryAt: number;
}

export interface PrepullerOptions {
  db: Db;
  nodeId: string;
  runtime: Pick<ContainerRuntime, 'pull'>;
  log: Logger;
  /** The cluster's `deployment.prepull`: whether a service without its own setting is pulled ahead. */
  clusterDefault: boolean;
  /** Pulls at once (1 or 2: pre-pull must not crowd out the pulls replicas wait for). */
  concurrency: number;
  /** Called when a pull ended, so the loop makes another pass. */
  wake(): void;
  now?: () => number;
}

const keyOf = (t: PrepullTarget) => `${t.service}\u0000${t.image}`;

/**
 * The pre-pull's shell: each pass reads the services and this node's row,
 * starts the pulls still to do (at most `concurrency` at once), forgets
 * what is no longer wanted, and writes the status. It returns when a
 * failed pull is due again, for the loop to wake then.
 */
export class Prepuller {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly now: () => number;

  constructor(private readonly o: PrepullerOptions) {
    this.now = o.now ?? Date.now;
    // What an earlier life of this thread finished stays done: the engine keeps its images.
    for (const s of readPrepullStatus(o.db)) {
      if (s.state === 'done') this.entries.set(keyOf(s), { ...s, failures: 0, retryAt: 0 });
    }
  }

  async pass(): Promise<number | void> {
    const targets = prepullTargets(listServices(this.o.db), getNode(this.o.db, this.o.nodeId), this.o.clusterDefault);
    const wanted = new Set(targets.map(keyOf));
    // A pull under way for what is no longer wanted finishes; its result is not kept.
    for (const key of this.entries.keys()) if (!wanted.has(key)) this.entries.delete(key);
    const now = this.now();
    let nextRetry = Infinity;
    for (const target of targets) {
      const key = keyOf(target);
      const entry = this.entries.get(key);
      if (this.inFlight.has(key) || entry?.state === 'done' || entry?.state === 'pulling') continue;
      if (entry?.state === 'failed' && entry.retryAt > now) {
        nextRetry = Math.min(nextRetry, entry.retryAt);
        continue;
      }
      if (this.inFlight.size >= this.o.concurrency) break;
      this.start(target, entry?.failures ?? 0);
    }
    this.writeStatus();
    return Number.isFinite(nextRetry) ? nextRetry : undefined;
  }

  private start(target: PrepullTarget, failures: number): void {
    const key = keyOf(target);
    const log = this.o.log.child({ service: target.service, image: target.image });
    this.entries.set(key, { ...target, state: 'pulling', error: null, failures, retryAt: 0 });
    const pull = this.o.runtime
      .pull(target.image)
      .then(
        () => {
          log.info('image pulled ahead');
          this.settle(key, { state: 'done', error: null, failures: 0, retryAt: 0 });
        },
        (error: unknown) => {
          const retryMs = retryDelayMs(failures + 1);
          log.warn('pre-pull failed; will retry', { error: errorMessage(error), retryMs });
          this.settle(key, { state: 'failed', error: errorMessage(error), failures: failures + 1, retryAt: this.now() + retryMs });
        },
      )
      .finally(() => {
        this.inFlight.delete(key);
        this.o.wake();
      });
    this.inFlight.set(key, pull);
  }

  private settle(key: string, outcome: Pick<Entry, 'state' | 'error' | 'failures' | 'retryAt'>): void {
    const entry = this.entries.get(key);
    // Forgotten while it pulled (the service went, or its image changed): nothing to record.
    if (entry?.state === 'pulling') this.entries.set(key, { ...entry, ...outcome });
  }

  private writeStatus(): void {
    const status = [...this.entries.values()]
      .map(({ service, image, state, error }): PrepullStatus => ({ service, image, state, error }))
      .sort((a, b) => a.service.localeCompare(b.service) || a.image.localeCompare(b.image));
    writePrepullStatus(this.o.db, status);
  }
}
