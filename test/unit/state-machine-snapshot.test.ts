import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase, type Db } from '../../database/open-database';
import { applyCommand } from '../../database/apply-command';
import type { Command } from '../../database/commands';
import { REPLICATED_TABLES, SqliteStateMachine } from '../../daemon/voting/state-machine';

const AT = 1_700_000_000_000;

function apply(db: Db, command: Command): void {
  const result = applyCommand(db, command);
  if (!result.ok) throw new Error(`${command.type}: ${result.error.message}`);
}

/** A cluster whose rows hold what JSON must escape (quotes, backslashes, newlines, control and non-ASCII characters) and nulls. */
function seeded(): Db {
  const db = openDatabase(':memory:', { migrate: true });
  apply(db, { type: 'cluster.init', clusterId: 'c1', secret: 's"\\e\ncret', joinToken: 'BCT1-c1-x', at: AT });
  apply(db, { type: 'node.register', node: { id: 'n1', name: 'hôte-ä', address: '127.0.0.1:7070', role: 'manager', startedAt: AT }, at: AT });
  apply(db, {
    type: 'service.create', id: 's1', name: 'web',
    spec: { image: 'nginx:1.27', command: ['sh', '-c', 'echo "hi"\n\tprintf \'\\u0001\''], env: { A: 'ü €\u0007' }, labels: {}, ports: [] },
    replicas: 2, at: AT,
  });
  apply(db, { type: 'task.create', id: 't1', serviceName: 'web', slot: 1, specVersion: 1, at: AT });
  apply(db, { type: 'task.assign', taskId: 't1', nodeId: 'n1', at: AT + 1 });
  apply(db, { type: 'task.observe', taskId: 't1', state: 'FAILED', error: 'exit "1"\nstack: \\x', at: AT + 2 });
  apply(db, { type: 'task.create', id: 't2', serviceName: 'web', slot: 2, specVersion: 1, at: AT + 3 });
  return db;
}

describe('state machine: snapshot data', () => {
  test('is every replicated table as JSON.stringify of SELECT * writes it, once parsed', () => {
    const db = seeded();
    const expected: Record<string, unknown[]> = {};
    for (const table of REPLICATED_TABLES) expected[table] = db.prepare(`SELECT * FROM ${table}`).all();
    const data = new SqliteStateMachine(db).snapshotData();
    assert.deepEqual(JSON.parse(data), JSON.parse(JSON.stringify(expected)));
    assert.deepEqual(Object.keys(JSON.parse(data) as object), [...REPLICATED_TABLES]);
    assert.ok((expected.tasks as unknown[]).length === 2 && (expected.nodes as unknown[]).length === 1);
    db.close();
  });

  test('restores on another node to the same rows; empty tables stay empty', () => {
    const leader = seeded();
    const follower = openDatabase(':memory:', { migrate: true });
    new SqliteStateMachine(follower).restore({ meta: { index: 7, term: 1, conf: { voters: ['n1'], learners: [] } }, data: new SqliteStateMachine(leader).snapshotData() });
    for (const table of REPLICATED_TABLES) {
      assert.deepEqual(follower.prepare(`SELECT * FROM ${table}`).all(), leader.prepare(`SELECT * FROM ${table}`).all(), table);
    }
    const empty = openDatabase(':memory:', { migrate: true });
    assert.deepEqual(JSON.parse(new SqliteStateMachine(empty).snapshotData()), Object.fromEntries(REPLICATED_TABLES.map((t) => [t, []])));
    leader.close();
    follower.close();
    empty.close();
  });
});
