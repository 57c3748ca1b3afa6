import type { Db } from '../../database/open-database';
import type { Command } from '../../database/commands';
import type { NodeFacts } from '../../database/placement';
import { getNode } from '../../database/queries';
import type { Logger } from '../logger';

/**
 * What a node reports of itself (CPUs, memory, OS, architecture, engine
 * version), read from its engine's `docker info` at start and every
 * minute, and proposed as `node.set-facts` only when it differs from the
 * node's row: the scheduler counts reservations against these, and
 * `node.platform.*` constraints read them.
 */

/** The engine as the facts reporter needs it. */
export interface EngineInfo {
  /** What the engine says of its host; throws when the engine cannot be reached. */
  engineFacts(): Promise<NodeFacts>;
}

/** The fields of `docker info` (GET /info) that make a node's facts. */
export interface DockerInfo {
  NCPU?: number;
  MemTotal?: number;
  OSType?: string;
  Architecture?: string;
  ServerVersion?: string;
}

/** A node's facts from `docker info`; a field the engine leaves out is 0 or "". */
export function factsFromInfo(info: DockerInfo): NodeFacts {
  return {
    cpus: info.NCPU ?? 0,
    memoryBytes: info.MemTotal ?? 0,
    os: info.OSType ?? '',
    arch: info.Architecture ?? '',
    engineVersion: info.ServerVersion ?? '',
  };
}

export function sameFacts(a: NodeFacts | null, b: NodeFacts): boolean {
  return a !== null && a.cpus === b.cpus && a.memoryBytes === b.memoryBytes && a.os === b.os && a.arch === b.arch && a.engineVersion === b.engineVersion;
}

export interface NodeFactsOptions {
  db: Db;
  nodeId: string;
  engine: EngineInfo;
  propose(command: Command): Promise<{ ok: boolean; error?: { message: string } }>;
  log: Logger;
  now?: () => number;
}

/** Reads the engine's facts and proposes them when this node's row says otherwise. */
export class NodeFactsReporter {
  private readonly now: () => number;

  constructor(private readonly o: NodeFactsOptions) {
    this.now = o.now ?? Date.now;
  }

  /**
   * One check. Resolves true when the row holds the engine's facts (or now
   * will), false when it should be tried again soon: the node has no row
   * yet (it is joining) or the command was refused. Throws when the engine
   * cannot be read.
   */
  async check(): Promise<boolean> {
    const facts = await this.o.engine.engineFacts();
    const node = getNode(this.o.db, this.o.nodeId);
    if (!node) return false;
    if (sameFacts(node.facts, facts)) return true;
    const result = await this.o.propose({ type: 'node.set-facts', nodeId: this.o.nodeId, facts, at: this.now() });
    if (!result.ok) return false;
    this.o.log.info('node facts reported', { cpus: facts.cpus, memoryBytes: facts.memoryBytes, os: facts.os, arch: facts.arch, engineVersion: facts.engineVersion });
    return true;
  }
}
