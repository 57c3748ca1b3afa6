import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyCommand, type ApplyResult } from '../../database/apply-command';
import type { PortSpec, ServiceSpec } from '../../database/commands';
import { openDatabase, type Db } from '../../database/open-database';
import { getService } from '../../database/queries';
import { migrate } from '../../database/migrations';
import { parseNewService, parseServiceChanges } from '../../modules/validation';

const AT = 1_700_000_000_000;
const PORT: PortSpec = { published: 8080, target: 80, protocol: 'tcp', mode: 'ingress', proxy: 'none' };

function ok(result: ApplyResult): boolean {
  assert.equal(result.ok, true, result.ok ? '' : `refused: ${result.error.code} ${result.error.message}`);
  return (result as { changed: boolean }).changed;
}

function create(db: Db, name: string, overrides: Partial<ServiceSpec> = {}): void {
  const spec: ServiceSpec = { image: 'nginx:1.27', command: null, env: {}, labels: {}, ports: [], ...overrides };
  ok(applyCommand(db, { type: 'service.create', id: `svc-${name}`, name, spec, replicas: 2, at: AT }));
}

describe('onDisconnect, stored (migration 5)', () => {
  test('not given: the default rule, stop with published ports and keep without; the setting reads as null', () => {
    const db = openDatabase(':memory:', { migrate: true });
    create(db, 'web', { ports: [PORT] });
    create(db, 'worker');
    assert.deepEqual([getService(db, 'web')!.onDisconnect, getService(db, 'web')!.onDisconnectSetting], ['stop', null]);
    assert.deepEqual([getService(db, 'worker')!.onDisconnect, getService(db, 'worker')!.onDisconnectSetting], ['keep', null]);
  });

  test('given on create, it wins over the default', () => {
    const db = openDatabase(':memory:', { migrate: true });
    create(db, 'web', { ports: [PORT], onDisconnect: 'keep' });
    create(db, 'worker', { onDisconnect: 'stop' });
    assert.equal(getService(db, 'web')!.onDisconnect, 'keep');
    assert.deepEqual([getService(db, 'worker')!.onDisconnect, getService(db, 'worker')!.onDisconnectSetting], ['stop', 'stop']);
  });

  test('an update sets it (version bumped, spec version kept: no new containers); null returns to the default; the same value changes nothing', () => {
    const db = openDatabase(':memory:', { migrate: true });
    create(db, 'worker');
    assert.equal(ok(applyCommand(db, { type: 'service.update', name: 'worker', changes: { onDisconnect: 'stop' }, at: AT + 1 })), true);
    let s = getService(db, 'worker')!;
    assert.deepEqual([s.onDisconnect, s.version, s.specVersion], ['stop', 2, 1]);
    assert.equal(ok(applyCommand(db, { type: 'service.update', name: 'worker', changes: { onDisconnect: 'stop' }, at: AT + 2 })), false);
    ok(applyCommand(db, { type: 'service.update', name: 'worker', changes: { onDisconnect: null }, at: AT + 3 }));
    s = getService(db, 'worker')!;
    assert.deepEqual([s.onDisconnect, s.onDisconnectSetting, s.version], ['keep', null, 3]);
  });

  test('the default follows the ports: publishing a port later makes a service with no setting stop when cut off', () => {
    const db = openDatabase(':memory:', { migrate: true });
    create(db, 'web');
    ok(applyCommand(db, { type: 'service.update', name: 'web', changes: { ports: [PORT] }, at: AT + 1 }));
    assert.equal(getService(db, 'web')!.onDisconnect, 'stop');
  });

  test('a service stored before migration 5 reads with the default rule', () => {
    const db = openDatabase(':memory:');
    migrate(db, 4);
    db.prepare(
      `INSERT INTO services (name, id, image, command, env, labels, ports, replicas, state, version, spec_version, created_at, updated_at)
       VALUES ('web', 'svc-web', 'nginx:1.27', NULL, '{}', '{}', ?, 2, 'RUNNING', 1, 1, ?, ?)`,
    ).run(JSON.stringify([PORT]), AT, AT);
    migrate(db);
    assert.deepEqual([getService(db, 'web')!.onDisconnect, getService(db, 'web')!.onDisconnectSetting], ['stop', null]);
  });
});

describe('onDisconnect in the REST API\'s validation', () => {
  test('create takes stop or keep; left out, the spec carries none (the default rule decides)', () => {
    assert.equal(parseNewService({ name: 'web', image: 'nginx', onDisconnect: 'keep' }).spec.onDisconnect, 'keep');
    assert.equal(parseNewService({ name: 'web', image: 'nginx' }).spec.onDisconnect, undefined);
  });
  test('anything else is refused naming the field and the accepted values', () => {
    assert.throws(() => parseNewService({ name: 'web', image: 'nginx', onDisconnect: 'pause' }), /onDisconnect: must be "stop" or "keep"/);
    assert.throws(() => parseServiceChanges({ onDisconnect: 1 }), /onDisconnect: must be "stop" or "keep"/);
  });
  test('an update takes stop, keep, or null (back to the default rule)', () => {
    assert.deepEqual(parseServiceChanges({ onDisconnect: 'stop' }), { onDisconnect: 'stop' });
    assert.deepEqual(parseServiceChanges({ onDisconnect: null }), { onDisconnect: null });
  });
});
