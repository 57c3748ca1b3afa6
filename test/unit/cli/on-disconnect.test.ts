import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { buildServiceSpec } from '../../../cli/commands/service-add';
import { buildServicePatch, rolloutGoal } from '../../../cli/commands/service-update';
import { parseOnDisconnect } from '../../../cli/parse';
import { service } from './fixtures';

const waitDefaults = { timeout: 120 };

describe('--on-disconnect', () => {
  it('takes stop, keep, or default (sent as null: the default rule)', () => {
    assert.equal(parseOnDisconnect('stop'), 'stop');
    assert.equal(parseOnDisconnect('keep'), 'keep');
    assert.equal(parseOnDisconnect('default'), null);
    assert.throws(() => parseOnDisconnect('pause'), (e: unknown) => e instanceof InvalidArgumentError && /stop, keep or default, got "pause"/.test(e.message));
  });

  it('service add sends it when given, and leaves it out otherwise', () => {
    assert.equal(buildServiceSpec('web', [], { image: 'img', replicas: 1, onDisconnect: 'keep', ...waitDefaults }).onDisconnect, 'keep');
    assert.ok(!('onDisconnect' in buildServiceSpec('web', [], { image: 'img', replicas: 1, ...waitDefaults })));
  });

  it('service update sends it whenever given (null for default), and it rolls nothing out', () => {
    const current = service({ onDisconnect: 'stop' });
    assert.deepEqual(buildServicePatch(current, { onDisconnect: 'stop', ...waitDefaults }, []), { onDisconnect: 'stop' });
    assert.deepEqual(buildServicePatch(current, { onDisconnect: null, ...waitDefaults }, []), { onDisconnect: null });
    assert.deepEqual(rolloutGoal(current, { onDisconnect: 'keep' }), {});
  });
});
