import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildProgram } from '../../../cli/main';
import { buildServiceSpec } from '../../../cli/commands/service-add';
import { buildServicePatch, rolloutGoal } from '../../../cli/commands/service-update';
import { replicasText } from '../../../cli/commands/service-ls';
import { buildNodePatch } from '../../../cli/commands/node-update';
import { memoryBytes } from '../../../cli/placement-flags';
import { service } from './fixtures';

// The placement flags of service add/update (cli/placement-flags.ts), node
// update's labels, and a global service in service ls.

/** Parses `args` as `bicycle service <verb> web …` and returns the options commander gave the action. */
function optionsOf(verb: 'add' | 'update', args: string[]): Record<string, any> {
  const program = buildProgram();
  let captured: Record<string, any> | undefined;
  const cmd = program.commands.find((c) => c.name() === 'service')!.commands.find((c) => c.name() === verb)!;
  cmd.action((_name: string, _command: string[], options: Record<string, any>) => {
    captured = options;
  });
  program.parse(['node', 'bicycle', 'service', verb, 'web', ...(verb === 'add' ? ['--image', 'img'] : []), ...args]);
  return captured!;
}

describe('service add: placement flags', () => {
  it('repeatable constraints and spread preferences, limits and reservations, mode and prepull', () => {
    const options = optionsOf('add', [
      '--constraint', 'node.labels.zone==a', '--constraint', 'node.role!=manager', '--placement-pref', 'spread=node.labels.zone',
      '--max-replicas-per-node', '2', '--placement-strategy', 'binpack',
      '--reserve-cpu', '0.5', '--reserve-memory', '256M', '--limit-cpu', '1', '--limit-memory', '1G', '--limit-pids', '100', '--prepull',
    ]);
    assert.deepEqual(buildServiceSpec('web', [], options as any), {
      name: 'web', image: 'img', replicas: 1, prepull: true,
      placement: { constraints: ['node.labels.zone==a', 'node.role!=manager'], preferences: [{ spread: 'node.labels.zone' }], maxReplicasPerNode: 2, strategy: 'binpack' },
      resources: { reservations: { cpus: 0.5, memory: '256M' }, limits: { cpus: 1, memory: '1G', pids: 100 } },
    });
  });

  it('--no-prepull sends false; neither sends nothing', () => {
    assert.equal(buildServiceSpec('web', [], optionsOf('add', ['--no-prepull']) as any).prepull, false);
    assert.equal('prepull' in buildServiceSpec('web', [], optionsOf('add', []) as any), false);
  });

  it('--mode global sends no replica count, and refuses one', () => {
    assert.deepEqual(buildServiceSpec('web', [], optionsOf('add', ['--mode', 'global']) as any), { name: 'web', image: 'img', mode: 'global' });
    assert.throws(() => buildServiceSpec('web', [], optionsOf('add', ['--mode', 'global', '--replicas', '2']) as any), /--replicas cannot be given with --mode global/);
  });

  it('bad values are usage errors naming what is wanted', () => {
    assert.throws(() => optionsOf('add', ['--constraint', 'zone']), /expected KEY==VALUE or KEY!=VALUE/);
    assert.throws(() => optionsOf('add', ['--placement-pref', 'node.labels.zone']), /expected spread=DESCRIPTOR/);
    assert.throws(() => optionsOf('add', ['--reserve-memory', 'lots']), /expected a size such as 512M/);
    assert.throws(() => optionsOf('add', ['--limit-cpu', '0']), /greater than 0/);
    assert.throws(() => optionsOf('add', ['--mode', 'all']), /must be replicated or global/);
    assert.throws(() => optionsOf('add', ['--placement-strategy', 'random']), /must be spread, binpack, round-robin or epvm/);
  });

  it('memory sizes read as the daemon reads them', () => {
    assert.deepEqual(['512M', '1g', '256MiB', '100', '4KiB', 'x'].map(memoryBytes), [512 * 1024 ** 2, 1024 ** 3, 256 * 1024 ** 2, 100, 4096, null]);
  });
});

describe('service update: placement flags', () => {
  const current = service({
    placement: { constraints: ['node.labels.zone==a', 'node.role!=manager'], preferences: [{ spread: 'node.labels.zone' }], maxPerValue: 2 },
    resources: { reservations: { cpus: 0.5 }, limits: { memory: 1024 ** 3 } },
    prepull: false,
  });

  it('--constraint-add and --constraint-rm change the current constraints, sent whole', () => {
    const patch = buildServicePatch(current, optionsOf('update', ['--constraint-rm', 'node.role!=manager', '--constraint-add', 'node.labels.disk==ssd']) as any, []);
    assert.deepEqual(patch, { placement: { constraints: ['node.labels.zone==a', 'node.labels.disk==ssd'], preferences: [{ spread: 'node.labels.zone' }], maxPerValue: 2 } });
  });

  it('removing the last preference drops maxPerValue, which counts over it', () => {
    const patch = buildServicePatch(current, optionsOf('update', ['--placement-pref-rm', 'spread=node.labels.zone', '--placement-pref-add', 'spread=node.labels.rack']) as any, []);
    assert.deepEqual(patch.placement?.preferences, [{ spread: 'node.labels.rack' }]);
    const none = buildServicePatch(current, optionsOf('update', ['--placement-pref-rm', 'spread=node.labels.zone']) as any, []);
    assert.deepEqual(none.placement, { constraints: ['node.labels.zone==a', 'node.role!=manager'] });
  });

  it('resource flags merge into the current resources; a limit change is a new container spec, a reservation change is not', () => {
    const limit = buildServicePatch(current, optionsOf('update', ['--limit-memory', '2G']) as any, []);
    assert.deepEqual(limit, { resources: { reservations: { cpus: 0.5 }, limits: { memory: '2G' } } });
    assert.ok(rolloutGoal(current, limit).minTaskVersion !== undefined);
    const reserve = buildServicePatch(current, optionsOf('update', ['--reserve-memory', '64M']) as any, []);
    assert.deepEqual(reserve, { resources: { reservations: { cpus: 0.5, memory: '64M' }, limits: { memory: 1024 ** 3 } } });
    assert.deepEqual(rolloutGoal(current, reserve), {});
  });

  it('what does not change is not sent', () => {
    assert.deepEqual(buildServicePatch(current, optionsOf('update', ['--limit-memory', '1G', '--no-prepull', '--constraint-add', 'node.labels.zone==a']) as any, []), {});
    assert.deepEqual(buildServicePatch(current, optionsOf('update', ['--prepull']) as any, []), { prepull: true });
  });

  it('--mode is not an update flag', () => {
    assert.throws(() => optionsOf('update', ['--mode', 'global']), /unknown option '--mode'/);
  });
});

describe('nodes and global services', () => {
  it('node update sends labels to add and remove, and refuses nothing at all', () => {
    assert.deepEqual(buildNodePatch({ labelAdd: { zone: 'a' }, labelRm: ['rack'] }), { labelAdd: { zone: 'a' }, labelRm: ['rack'] });
    assert.throws(() => buildNodePatch({}), /nothing to update/);
  });

  it('service ls shows a global service as N/N (global)', () => {
    assert.equal(replicasText({ healthy: 3, running: 3, replicas: 3, mode: 'global' }), '3/3 (global)');
    assert.equal(replicasText({ healthy: 1, running: 2, replicas: 2, mode: 'replicated' }), '1/2');
  });
});
