/**
 * Scheduler scale, simulated (no Docker, no database): placements per
 * second of the pure schedule() with 1,000 and 5,000 nodes and 100,000 and
 * 1,000,000 tasks, in services of 100 replicas, all unplaced at once (as in
 * Nomad's C1M). "Before" is the reference scan (test/unit/scheduler-reference.ts,
 * the scheduler as first written), timed in the same run on a sample of the
 * same input because it is O(tasks x nodes): its rate per placement does not
 * depend on how many tasks follow, only on the node count. Also the cost of
 * one pass when the cluster is full (every task placed) and one new service
 * of 100 replicas arrives: what the leader pays on every change.
 * Prints a table and writes bench/results/scheduler.json.
 *   node dist/bench/scheduler.js
 */
import { performance } from 'node:perf_hooks';
import { schedule, schedulerInput } from '../daemon/deployment/scheduler';
import type { NodeRecord, TaskRecord } from '../database/queries';
import { referenceSchedule } from '../test/unit/scheduler-reference';
import { AT, nodeRecord, taskRecord } from '../test/helpers/records';
import { fixed, median, runBenchmark, table, writeResults } from './common';
import { measurePlacement, type PlacementRow } from './scheduler-placement';

const REPLICAS_PER_SERVICE = 100;
const NOMAD_C1M_PER_SECOND = 3_750;

function makeNodes(count: number): NodeRecord[] {
  return Array.from({ length: count }, (_, i) =>
    nodeRecord(`node-${i.toString(16).padStart(8, '0')}`, { name: `host-${String(i).padStart(5, '0')}`, address: `10.0.${i >> 8}.${i & 255}:7070` }),
  );
}

/** `count` tasks in services of 100 replicas; `placedOn` (if given) puts each on a node, RUNNING. */
function makeTasks(count: number, firstService = 0, placedOn?: (i: number) => string): TaskRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const service = firstService + Math.floor(i / REPLICAS_PER_SERVICE);
    const slot = (i % REPLICAS_PER_SERVICE) + 1;
    return taskRecord(`svc-${String(service).padStart(6, '0')}`, slot, {
      id: `task-${service}-${slot}`,
      nodeId: placedOn ? placedOn(i) : null,
      state: placedOn ? 'RUNNING' : 'NEW',
    });
  });
}

function timeIt(fn: () => number): { ms: number; placed: number } {
  const start = performance.now();
  const placed = fn();
  return { ms: performance.now() - start, placed };
}

interface Row {
  nodes: number;
  tasks: number;
  afterPerSecond: number;
  afterPassMs: number;
  runs: number;
  beforePerSecond: number;
  beforeSample: number;
  beforeFullPassEstimateS: number;
  fullClusterNewServiceMs: number;
  speedup: number;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const nodeCount of [1_000, 5_000]) {
    const nodes = makeNodes(nodeCount);
    for (const taskCount of [100_000, 1_000_000]) {
      const tasks = makeTasks(taskCount);
      const runs = taskCount >= 1_000_000 ? 3 : 5;
      const passes: number[] = [];
      for (let r = 0; r < runs; r++) {
        const { ms, placed } = timeIt(() => schedule(schedulerInput(tasks), nodes, AT).commands.length);
        if (placed !== taskCount) throw new Error(`schedule placed ${placed} of ${taskCount}`);
        passes.push(ms);
      }
      const afterPassMs = median(passes);

      // Before: the reference scan on the first services of the same input, about 1 s of work.
      const beforeSample = Math.max(REPLICAS_PER_SERVICE, Math.round(5_000_000 / nodeCount / REPLICAS_PER_SERVICE) * REPLICAS_PER_SERVICE);
      const sample = tasks.slice(0, beforeSample);
      const same = schedule(schedulerInput(sample), nodes, AT).commands;
      const before = timeIt(() => {
        const reference = referenceSchedule(sample, nodes, AT).commands;
        for (let i = 0; i < reference.length; i++) {
          const a = reference[i]!;
          const b = same[i]!;
          if (a.type !== 'task.assign' || b.type !== 'task.assign' || a.taskId !== b.taskId || a.nodeId !== b.nodeId) {
            throw new Error(`schedule and the reference disagree at placement ${i}`);
          }
        }
        return reference.length;
      });
      const beforePerSecond = (before.placed / before.ms) * 1000;

      // A full cluster (every task placed, spread round-robin) and one new service arriving.
      const full = makeTasks(taskCount, 0, (i) => nodes[i % nodeCount]!.id).concat(makeTasks(REPLICAS_PER_SERVICE, taskCount / REPLICAS_PER_SERVICE));
      const newService: number[] = [];
      for (let r = 0; r < 3; r++) newService.push(timeIt(() => schedule(schedulerInput(full), nodes, AT).commands.length).ms);

      const afterPerSecond = (taskCount / afterPassMs) * 1000;
      rows.push({
        nodes: nodeCount,
        tasks: taskCount,
        afterPerSecond: Math.round(afterPerSecond),
        afterPassMs: Math.round(afterPassMs),
        runs,
        beforePerSecond: Math.round(beforePerSecond),
        beforeSample,
        beforeFullPassEstimateS: Math.round(taskCount / beforePerSecond),
        fullClusterNewServiceMs: Math.round(median(newService)),
        speedup: Math.round(afterPerSecond / beforePerSecond),
      });
      process.stderr.write(`scheduler: ${nodeCount} nodes, ${taskCount} tasks done\n`);
    }
  }

  console.log(`\nPure scheduler, all tasks unplaced at once, services of ${REPLICAS_PER_SERVICE} replicas (median of the runs)\n`);
  console.log(
    table([
      ['nodes', 'tasks', 'placements/s', 'pass', 'x Nomad C1M', 'before: placements/s', 'before: full pass (est.)', 'speed-up', 'full cluster + 1 service'],
      ...rows.map((r) => [
        r.nodes, r.tasks, r.afterPerSecond, `${r.afterPassMs} ms`, fixed(r.afterPerSecond / NOMAD_C1M_PER_SECOND, 0),
        `${r.beforePerSecond} (${r.beforeSample} tasks)`, `${r.beforeFullPassEstimateS} s`, `${r.speedup}x`, `${r.fullClusterNewServiceMs} ms`,
      ]),
    ]),
  );
  console.log(`\nNomad C1M for reference: ${NOMAD_C1M_PER_SECOND} placements/s; goal for the pure scheduler: ${10 * NOMAD_C1M_PER_SECOND}.`);

  // Every filter on: a constraint, a spread preference over 10 zones, a reservation, each strategy (scheduler-placement.ts).
  const placementRows: PlacementRow[] = [];
  for (const taskCount of [100_000, 1_000_000]) {
    for (const strategy of [null, 'spread', 'binpack', 'round-robin', 'epvm'] as const) {
      placementRows.push(measurePlacement(5_000, taskCount, strategy));
      process.stderr.write(`scheduler: filtered, ${taskCount} tasks, ${strategy ?? 'fast path'} done\n`);
    }
  }
  console.log('\nWith every filter on (constraint, spread over 10 zones, 0.01 CPU + 16 MiB reserved), 5,000 nodes, beside the fast path\n');
  console.log(
    table([
      ['nodes', 'tasks', 'strategy', 'placements/s', 'pass', 'x Nomad C1M', 'left unplaced'],
      ...placementRows.map((r) => [r.nodes, r.tasks, r.strategy, Math.round(r.perSecond), `${Math.round(r.passMs)} ms`, fixed(r.perSecond / NOMAD_C1M_PER_SECOND, 0), r.unplaced]),
    ]),
  );
  console.log('\nGoal with every filter on: 100,000 placements/s.');
  const file = writeResults('scheduler', { replicasPerService: REPLICAS_PER_SERVICE, nomadC1mPerSecond: NOMAD_C1M_PER_SECOND, rows, filtered: placementRows });
  console.log(`wrote ${file}`);
}

runBenchmark('bench:scheduler', main);
