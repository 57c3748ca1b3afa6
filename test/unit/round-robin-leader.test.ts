import { test } from 'node:test';
import assert from 'node:assert/strict';
import winston from 'winston';
import { applyCommand } from '../../database/apply-command';
import type { Command } from '../../database/commands';
import { openDatabase, type Db } from '../../database/open-database';
import { listTasks, setLocal } from '../../database/queries';
import { Manager } from '../../daemon/deployment/manager';

// Round-robin continues the ring where the last leader stopped: a node that
// starts leading reads the service's last placement from the tasks, instead
// of starting again from the first node.

const AT = 1_700_000_000_000;
const quiet = winston.createLogger({ silent: true });

function apply(db: Db, command: Command): void {
  const result = applyCommand(db, command);
  assert.equal(result.ok, true, JSON.stringify(result));
}

function managerOf(db: Db, nodeId: string): Manager {
  setLocal(db, 'leader_id', nodeId);
  let at = AT;
  return new Manager({
    db, nodeId, log: quiet, updateParallelism: 1, autoRebalance: false,
    now: () => (at += 1000),
    propose: async (command) => apply(db, command),
  });
}

function placements(db: Db): string[] {
  return listTasks(db, { serviceName: 'rr' }).filter((t) => t.desiredState === 'RUNNING').sort((a, b) => a.slot - b.slot).map((t) => t.nodeId ?? '-');
}

test('a new leader places the next round-robin replica on the node after the last one, not on the first', async () => {
  const db = openDatabase(':memory:', { migrate: true });
  for (const id of ['n1', 'n2', 'n3']) {
    apply(db, { type: 'node.register', node: { id, name: `host-${id.slice(1)}`, address: `10.0.0.${id.slice(1)}:7070`, role: 'manager', startedAt: AT }, at: AT });
  }
  apply(db, { type: 'service.create', id: 'svc-rr', name: 'rr', spec: { image: 'app:1', command: null, env: {}, labels: {}, ports: [], placement: { strategy: 'round-robin' } }, replicas: 2, at: AT });
  await managerOf(db, 'n1').pass();
  assert.deepEqual(placements(db), ['n1', 'n2']);

  apply(db, { type: 'service.update', name: 'rr', changes: { replicas: 3 }, at: AT + 10_000 });
  await managerOf(db, 'n2').pass();
  assert.deepEqual(placements(db), ['n1', 'n2', 'n3'], 'the third replica goes to the third node');
});
