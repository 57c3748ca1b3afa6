import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import winston from 'winston';
import { openDatabase, type Db } from '../../database/open-database';
import { applyCommand } from '../../database/apply-command';
import type { Command } from '../../database/commands';
import type { ServiceSpec } from '../../database/commands';
import { setLocal } from '../../database/queries';
import type { ClusterNode } from '../../daemon/voting/cluster-node';
import type { VotingReply, VotingRequest } from '../../daemon/messages';

export const AT = 1_700_000_000_000;
export const quiet = winston.createLogger({ silent: true });

/**
 * A daemon's SQLite database in a temporary directory, migrated, holding a
 * cluster with the given nodes (all READY, active managers), as the
 * voting thread would have applied it. `close` closes it and removes the
 * directory.
 */
export function clusterDb(nodes: readonly { id: string; name: string }[], self: string): { db: Db; close(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'bicycle-shell-'));
  const db = openDatabase(join(dir, 'bicycle.db'), { migrate: true });
  apply(db, { type: 'cluster.init', clusterId: 'cl-test', secret: 's'.repeat(32), joinToken: 'BCT1-cl-test-x', at: AT });
  nodes.forEach((n, i) => {
    apply(db, { type: 'node.register', node: { id: n.id, name: n.name, address: `10.0.0.${i + 1}:7070`, role: 'manager', startedAt: AT }, at: AT });
  });
  setLocal(db, 'node_id', self);
  return {
    db,
    close() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Applies `command` as a committed entry would be; throws with the refusal (of the command, or of any command in a batch). */
export function apply(db: Db, command: Command): void {
  const result = applyCommand(db, command);
  if (!result.ok) throw new Error(`${command.type} refused: ${result.error.message}`);
  for (const r of result.refused ?? []) throw new Error(`${r.type} (batch #${r.index}) refused: ${r.error.message}`);
}

/**
 * A propose that applies each command to `db` at once, as a one-node
 * cluster's leader would, and keeps every command in `proposed`.
 */
export function applyingPropose(db: Db): { propose(command: Command): Promise<unknown>; proposed: Command[] } {
  const proposed: Command[] = [];
  return {
    proposed,
    async propose(command) {
      proposed.push(command);
      apply(db, command);
      return { ok: true, changed: true };
    },
  };
}

/** The commands inside `commands`, batches opened, in order. */
export function flatten(commands: readonly Command[]): Exclude<Command, { type: 'batch' }>[] {
  return commands.flatMap((c) => (c.type === 'batch' ? flatten(c.commands) : [c]));
}

export function simpleSpec(image: string, extra: Partial<ServiceSpec> = {}): ServiceSpec {
  return { image, command: null, env: {}, labels: {}, ports: [], ...extra };
}

/**
 * What the voting thread answers a request from another thread or a
 * forwarding peer, for the in-process ClusterNode tests: proposals and
 * reads go to the node's own methods; the rest is not part of them.
 */
export function answerAsVotingThread(node: ClusterNode, request: VotingRequest): Promise<VotingReply> {
  switch (request.kind) {
    case 'propose':
      return node.propose(request.command, request.forwarded);
    case 'read':
      return node.read(request.forwarded);
    default:
      return Promise.resolve({ ok: false, error: { code: 'INVALID_ARGUMENT', message: `${request.kind} is not part of this test` } });
  }
}

