import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { schedulerInput, type SchedulerInput } from '../../daemon/deployment/scheduler';
import { withCommands } from '../../daemon/deployment/manager';
import { openDatabase } from '../../database/open-database';
import { applyCommand } from '../../database/apply-command';
import type { Command } from '../../database/commands';
import { listTasks, type TaskRecord } from '../../database/queries';
import { countPlacedTasks, listPendingTasks } from '../../database/task-summary';
import { isTerminalTaskState, type DesiredTaskState, type TaskState } from '../../database/task-state';
import { AT, taskRecord } from '../helpers/records';

/** Fixed so that runs are repeatable; set FC_SEED to replay a failure fast-check reports. */
const SEED = Number(process.env.FC_SEED ?? 616161);

const STATES: TaskState[] = ['NEW', 'ASSIGNED', 'STARTING', 'RUNNING', 'COMPLETE', 'FAILED', 'SHUTDOWN', 'ORPHANED'];
const DESIRED: DesiredTaskState[] = ['RUNNING', 'SHUTDOWN'];

/** Tasks of three services on three nodes (or none) in any state, NEW tasks on no node weighted up: the table as a pass may find it. */
const tasksArbitrary = fc
  .array(
    fc.record({
      service: fc.integer({ min: 0, max: 2 }),
      slot: fc.integer({ min: 1, max: 20 }),
      node: fc.option(fc.integer({ min: 0, max: 2 }), { nil: null, freq: 3 }),
      state: fc.constantFrom(...STATES),
      desired: fc.constantFrom(...DESIRED),
      pending: fc.boolean(),
      createdAt: fc.integer({ min: 0, max: 5 }),
    }),
    { maxLength: 120 },
  )
  .map((rows) =>
    rows.map((r, i): TaskRecord =>
      taskRecord(`svc${r.service}`, r.slot, {
        id: `t${String(i).padStart(3, '0')}`,
        nodeId: r.pending ? null : r.node === null ? null : `n${r.node}`,
        state: r.pending ? 'NEW' : r.state,
        desiredState: r.pending ? 'RUNNING' : r.desired,
        createdAt: AT + r.createdAt,
      }),
    ),
  );

/** The input in one order, to compare two inputs: counts by (service, node), pending tasks by id (ties of a slot may come in any order). */
function normalized(input: SchedulerInput): { placed: string[]; pending: string[] } {
  return {
    placed: input.placed.map((p) => `${p.serviceName} ${p.nodeId} ${p.tasks}`).sort(),
    pending: input.pending.map((p) => `${p.id} ${p.serviceName} ${p.slot}`).sort(),
  };
}

/** The rows once `commands` apply, field by field as the commands say, an ended task staying ended (the specification withCommands must agree with). */
function applyToRows(tasks: readonly TaskRecord[], commands: readonly Command[]): TaskRecord[] {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  for (const c of commands) {
    if (c.type === 'task.create') {
      const placed = c.nodeId === undefined ? {} : { nodeId: c.nodeId, state: 'ASSIGNED' as const };
      byId.set(c.id, taskRecord(c.serviceName, c.slot, { id: c.id, createdAt: c.at, updatedAt: c.at, ...placed }));
    }
    const id = c.type === 'task.set-desired' || c.type === 'task.observe' || c.type === 'task.remove' ? c.taskId : undefined;
    const t = id === undefined ? undefined : byId.get(id);
    if (!t) continue;
    if (c.type === 'task.set-desired') byId.set(t.id, { ...t, desiredState: c.desiredState });
    if (c.type === 'task.observe' && !isTerminalTaskState(t.state)) byId.set(t.id, { ...t, state: c.state });
    if (c.type === 'task.remove') byId.delete(t.id);
  }
  return [...byId.values()];
}

/** Commands on the given tasks (and on tasks that do not exist) in any order, as an orchestrator's pass might make. */
function commandsArbitrary(tasks: readonly TaskRecord[]): fc.Arbitrary<Command[]> {
  const id = fc.oneof(fc.constantFrom(...tasks.map((t) => t.id), 'missing'), fc.constant('missing'));
  return fc.array(
    fc.oneof(
      fc
        .record({ slot: fc.integer({ min: 1, max: 20 }), service: fc.integer({ min: 0, max: 2 }), n: fc.integer({ min: 0, max: 3 }), node: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }) })
        .map(({ slot, service, n, node }): Command => ({
          type: 'task.create', id: `new-${service}-${slot}-${n}`, serviceName: `svc${service}`, slot, specVersion: 1, ...(node === undefined ? {} : { nodeId: `n${node}` }), at: AT,
        })),
      fc.record({ taskId: id, desiredState: fc.constantFrom(...DESIRED) }).map((c): Command => ({ type: 'task.set-desired', ...c, at: AT })),
      fc.record({ taskId: id, state: fc.constantFrom<TaskState>('ORPHANED', 'FAILED', 'RUNNING') }).map((c): Command => ({ type: 'task.observe', ...c, at: AT })),
      id.map((taskId): Command => ({ type: 'task.remove', taskId, at: AT })),
    ),
    { maxLength: 40 },
  );
}

describe('scheduler input: counted by SQLite', () => {
  test('property: countPlacedTasks and listPendingTasks answer what schedulerInput derives from the rows, pending in service, slot, creation order', () => {
    fc.assert(
      fc.property(tasksArbitrary, (tasks) => {
        const db = openDatabase(':memory:', { migrate: true });
        try {
          for (let s = 0; s < 3; s++) {
            const result = applyCommand(db, {
              type: 'service.create', id: `id${s}`, name: `svc${s}`, spec: { image: 'i', command: null, env: {}, labels: {}, ports: [] }, replicas: 20, at: AT,
            });
            assert.ok(result.ok);
          }
          const insert = db.prepare(
            `INSERT INTO tasks (id, service_name, slot, spec_version, node_id, state, desired_state, created_at, updated_at)
             VALUES (@id, @serviceName, @slot, 1, @nodeId, @state, @desiredState, @createdAt, @updatedAt)`,
          );
          for (const t of tasks) insert.run(t);
          const fromSql: SchedulerInput = { placed: countPlacedTasks(db), pending: listPendingTasks(db) };
          assert.deepEqual(normalized(fromSql), normalized(schedulerInput(tasks)));
          const order = (t: { serviceName: string; slot: number; id: string }) => t.id;
          const expected = [...tasks]
            .sort((a, b) => a.serviceName.localeCompare(b.serviceName) || a.slot - b.slot || a.createdAt - b.createdAt || a.id.localeCompare(b.id))
            .filter((t) => t.nodeId === null && t.state === 'NEW' && t.desiredState === 'RUNNING');
          assert.deepEqual(fromSql.pending.map(order), expected.map(order));
          assert.deepEqual(listTasks(db).length, tasks.length);
        } finally {
          db.close();
        }
      }),
      { seed: SEED, numRuns: 150 },
    );
  });
});

describe('scheduler input: the orchestrator\'s commands folded in', () => {
  test('property: withCommands over the counts gives the input of the rows the commands leave, whether or not ended tasks can be read', () => {
    fc.assert(
      fc.property(
        tasksArbitrary.chain((tasks) => fc.tuple(fc.constant(tasks), commandsArbitrary(tasks))),
        ([tasks, commands]) => {
          const expected = normalized(schedulerInput(applyToRows(tasks, commands)));
          const byId = new Map(tasks.map((t) => [t.id, t]));
          assert.deepEqual(normalized(withCommands(schedulerInput(tasks), commands, (id) => byId.get(id))), expected);
          // The manager keeps only the named tasks that have not ended: an ended task never counts again.
          const unended = (id: string) => {
            const t = byId.get(id);
            return t && !isTerminalTaskState(t.state) ? t : undefined;
          };
          assert.deepEqual(normalized(withCommands(schedulerInput(tasks), commands, unended)), expected);
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });

  test('the input given is not modified, and no commands give it back as it is', () => {
    const tasks = [taskRecord('web', 1, { nodeId: 'n1', state: 'RUNNING' }), taskRecord('web', 2)];
    const input = schedulerInput(tasks);
    const copy = structuredClone(input);
    assert.equal(withCommands(input, [], () => undefined), input);
    const after = withCommands(input, [{ type: 'task.set-desired', taskId: 'web-1', desiredState: 'SHUTDOWN', at: AT }, { type: 'task.remove', taskId: 'web-2', at: AT }], (id) =>
      tasks.find((t) => t.id === id),
    );
    assert.deepEqual(input, copy);
    assert.deepEqual(after, { placed: [], pending: [] });
  });
});
