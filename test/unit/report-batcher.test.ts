import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReportBatcher } from '../../daemon/deployment/report-batcher';
import type { Command } from '../../database/commands';

const observe = (taskId: string): Command => ({ type: 'task.observe', taskId, state: 'RUNNING', at: 1 });

test('reports made together go out as one batch, and each resolves when it is committed', async () => {
  const proposed: Command[] = [];
  const batcher = new ReportBatcher(async (c) => void proposed.push(c), 5);
  await Promise.all(['a', 'b', 'c'].map((id) => batcher.report(observe(id))));
  assert.equal(proposed.length, 1);
  assert.equal(proposed[0]!.type, 'batch');
  assert.deepEqual((proposed[0] as Extract<Command, { type: 'batch' }>).commands.map((c) => (c as { taskId: string }).taskId), ['a', 'b', 'c']);
});

test('a lone report is proposed as itself; a full batch goes out at once; a failed commit rejects its reports', async () => {
  const proposed: Command[] = [];
  const lone = new ReportBatcher(async (c) => void proposed.push(c), 5);
  await lone.report(observe('x'));
  assert.equal(proposed[0]!.type, 'task.observe');

  const full = new ReportBatcher(async (c) => void proposed.push(c), 60_000, 2);
  await Promise.all([full.report(observe('p')), full.report(observe('q'))]);
  assert.equal(proposed.length, 2, 'the second report filled the batch: no wait for the window');

  const failing = new ReportBatcher(async () => {
    throw new Error('no leader');
  }, 5);
  await assert.rejects(failing.report(observe('z')), /no leader/);
});
