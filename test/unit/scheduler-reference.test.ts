import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { schedule, schedulerInput } from '../../daemon/deployment/scheduler';
import { referenceSchedule } from './scheduler-reference';
import type { NodeRecord, TaskRecord } from '../../database/queries';
import type { NodeAvailability, NodeStatus } from '../../database/node-state';
import type { DesiredTaskState, TaskState } from '../../database/task-state';
import { AT, nodeRecord, taskRecord } from '../helpers/records';

/** Fixed so that runs are repeatable; set FC_SEED to replay a failure fast-check reports. */
const SEED = Number(process.env.FC_SEED ?? 515151);

const STATES: TaskState[] = ['NEW', 'ASSIGNED', 'STARTING', 'RUNNING', 'COMPLETE', 'FAILED', 'SHUTDOWN', 'ORPHANED'];
const DESIRED: DesiredTaskState[] = ['RUNNING', 'SHUTDOWN'];
const STATUSES: NodeStatus[] = ['READY', 'READY', 'READY', 'DOWN', 'UNKNOWN'];
const AVAILABILITIES: NodeAvailability[] = ['active', 'active', 'active', 'drain', 'pause'];

/** Random clusters: nodes with clashing names and any status, tasks of a few services on known, unknown or no nodes, in any order. */
const clusterArbitrary = fc
  .record({
    nodes: fc.array(
      fc.record({ name: fc.integer({ min: 0, max: 30 }), status: fc.constantFrom(...STATUSES), availability: fc.constantFrom(...AVAILABILITIES) }),
      { minLength: 0, maxLength: 25 },
    ),
    tasks: fc.array(
      fc.record({
        service: fc.integer({ min: 0, max: 5 }),
        slot: fc.integer({ min: 1, max: 40 }),
        node: fc.option(fc.integer({ min: 0, max: 30 }), { nil: null, freq: 2 }),
        state: fc.constantFrom(...STATES),
        desired: fc.constantFrom(...DESIRED),
        pending: fc.boolean(),
      }),
      { minLength: 0, maxLength: 300 },
    ),
  })
  .map(({ nodes, tasks }) => ({
    nodes: nodes.map((n, i): NodeRecord => nodeRecord(`id-${i}`, { name: `n${n.name}`, address: `n${i}:7070`, status: n.status, availability: n.availability })),
    tasks: tasks.map((t, i): TaskRecord =>
      taskRecord(`svc${t.service}`, t.slot, {
        id: `t${i}`,
        nodeId: t.pending ? null : t.node === null ? null : `id-${t.node}`,
        state: t.pending ? 'NEW' : t.state,
        desiredState: t.pending ? 'RUNNING' : t.desired,
      }),
    ),
  }));

describe('scheduler: the fast schedule() places exactly as the reference scan', () => {
  test('property: on random clusters (any node states, clashing names, tasks already placed anywhere) the commands are identical', () => {
    fc.assert(
      fc.property(clusterArbitrary, ({ nodes, tasks }) => {
        const fast = schedule(schedulerInput(tasks), nodes, AT);
        const reference = referenceSchedule(tasks, nodes, AT);
        assert.deepEqual(fast.commands, reference.commands);
        assert.deepEqual(fast.unplaced.map((u) => u.taskId), reference.unplaced.map((u) => u.taskId));
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  test('property: many replicas of few services on many nodes, half already placed, give identical commands', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (nodeCount, replicaCounts, salt) => {
          const nodes: NodeRecord[] = Array.from({ length: nodeCount }, (_, i) => ({
            id: `id-${i}`, name: `n${(i * 7919 + salt) % 1000}`, address: '', role: 'worker', status: 'READY', availability: 'active', link: 'raft',
            startedAt: AT, lastSeenAt: AT, labels: {}, facts: null, createdAt: AT, updatedAt: AT,
          }));
          const tasks: TaskRecord[] = replicaCounts.flatMap((replicas, s) =>
            Array.from({ length: replicas }, (_, i): TaskRecord => {
              const placed = (i * 31 + salt + s) % 2 === 0;
              return {
                id: `svc${s}-${i}`, serviceName: `svc${s}`, slot: i + 1, specVersion: 1,
                nodeId: placed ? `id-${(i * 13 + salt) % nodeCount}` : null, state: placed ? 'RUNNING' : 'NEW', desiredState: 'RUNNING',
                containerId: null, error: null, exitCode: null, startedAt: null, health: null, createdAt: AT, updatedAt: AT,
              };
            }),
          );
          assert.deepEqual(schedule(schedulerInput(tasks), nodes, AT).commands, referenceSchedule(tasks, nodes, AT).commands);
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });
});
