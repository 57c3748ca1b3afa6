import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyCommand, type ApplyResult, type Table } from '../../database/apply-command';
import type { Command, PortSpec, ServiceSpec } from '../../database/commands';
import { openDatabase, type Db } from '../../database/open-database';
import { getMeta, getNode, getService, listServices, listServiceVersions, listTasks } from '../../database/queries';

const AT = 1_700_000_000_000;

function freshDb(): Db {
  return openDatabase(':memory:', { migrate: true });
}

function spec(overrides: Partial<ServiceSpec> = {}): ServiceSpec {
  return { image: 'nginx:1.27', command: null, env: {}, labels: {}, ports: [], ...overrides };
}

function ok(result: ApplyResult): boolean {
  assert.equal(result.ok, true, result.ok ? '' : `refused: ${result.error.code} ${result.error.message}`);
  return (result as { changed: boolean }).changed;
}

function refused(result: ApplyResult, code: string): string {
  assert.equal(result.ok, false, `expected ${code}, but the command was applied`);
  const error = (result as { error: { code: string; message: string } }).error;
  assert.equal(error.code, code, error.message);
  return error.message;
}

/** A database with one READY node `n1` and a service `web` (2 replicas) in `state`. */
function withService(state: 'NEW' | 'DEPLOYING' | 'RUNNING' = 'RUNNING', serviceSpec: ServiceSpec = spec()): Db {
  const db = freshDb();
  ok(applyCommand(db, { type: 'node.register', node: { id: 'n1', name: 'node-1', address: '10.0.0.1:7070', role: 'manager', startedAt: AT }, at: AT }));
  ok(applyCommand(db, { type: 'service.create', id: 'svc-1', name: 'web', spec: serviceSpec, replicas: 2, at: AT }));
  if (state !== 'NEW') ok(applyCommand(db, { type: 'service.set-state', name: 'web', state: 'DEPLOYING', version: 1, at: AT }));
  if (state === 'RUNNING') ok(applyCommand(db, { type: 'service.set-state', name: 'web', state: 'RUNNING', version: 1, at: AT }));
  return db;
}

function createTask(db: Db, id: string, slot = 1, specVersion = 1): void {
  ok(applyCommand(db, { type: 'task.create', id, serviceName: 'web', slot, specVersion, at: AT }));
}

function web(db: Db) {
  const service = getService(db, 'web');
  assert.ok(service, 'service web exists');
  return service;
}

function task(db: Db, id: string) {
  const found = listTasks(db).find((t) => t.id === id);
  assert.ok(found, `task ${id} exists`);
  return found;
}

describe('applyCommand: services', () => {
  test('a created service starts NEW at version 1 and spec version 1, with its spec stored as given', () => {
    const db = freshDb();
    const changed = ok(
      applyCommand(db, {
        type: 'service.create',
        id: 'svc-1',
        name: 'web',
        spec: spec({ command: ['nginx', '-g', 'daemon off;'], env: { B: '2', A: '1' }, labels: { tier: 'front' } }),
        replicas: 3,
        at: AT,
      }),
    );
    assert.equal(changed, true);
    const s = web(db);
    assert.equal(s.id, 'svc-1');
    assert.equal(s.image, 'nginx:1.27');
    assert.deepEqual(s.command, ['nginx', '-g', 'daemon off;']);
    assert.deepEqual(s.env, { A: '1', B: '2' });
    assert.deepEqual(s.labels, { tier: 'front' });
    assert.equal(s.replicas, 3);
    assert.equal(s.state, 'NEW');
    assert.equal(s.version, 1);
    assert.equal(s.specVersion, 1);
    assert.equal(s.createdAt, AT);
  });

  test('a second service with the same name is refused SERVICE_EXISTS and the first is left as it was', () => {
    const db = withService('RUNNING');
    const before = web(db);
    const message = refused(
      applyCommand(db, { type: 'service.create', id: 'svc-2', name: 'web', spec: spec({ image: 'redis:7' }), replicas: 9, at: AT + 1 }),
      'SERVICE_EXISTS',
    );
    assert.match(message, /web/);
    assert.deepEqual(web(db), before);
    assert.equal(listServices(db).length, 1);
  });

  test('changing the image bumps both version and spec version, and starts an update (UPDATING from the old spec version)', () => {
    const db = withService('RUNNING');
    assert.equal(ok(applyCommand(db, { type: 'service.update', name: 'web', changes: { image: 'nginx:1.28' }, at: AT + 1 })), true);
    const s = web(db);
    assert.equal(s.image, 'nginx:1.28');
    assert.equal(s.version, 2);
    assert.equal(s.specVersion, 2);
    assert.equal(s.state, 'UPDATING');
    assert.deepEqual(s.updateStatus, { kind: 'update', fromVersion: 1, toVersion: 2, startedAt: AT + 1, completedAt: null, message: null });
    assert.equal(s.updatedAt, AT + 1);
  });

  test('changing command, env or labels each counts as a spec change', () => {
    const db = withService('RUNNING');
    ok(applyCommand(db, { type: 'service.update', name: 'web', changes: { command: ['sleep', '60'] }, at: AT }));
    assert.equal(web(db).specVersion, 2);
    ok(applyCommand(db, { type: 'service.update', name: 'web', changes: { env: { A: '1' } }, at: AT }));
    assert.equal(web(db).specVersion, 3);
    ok(applyCommand(db, { type: 'service.update', name: 'web', changes: { labels: { team: 'x' } }, at: AT }));
    assert.equal(web(db).specVersion, 4);
    ok(applyCommand(db, { type: 'service.update', name: 'web', changes: { command: null }, at: AT }));
    const s = web(db);
    assert.equal(s.specVersion, 5);
    assert.equal(s.command, null);
    assert.equal(s.version, 5);
  });

  test('changing only the replica count bumps version but not spec version (no rolling restart)', () => {
    const db = withService('RUNNING');
    assert.equal(ok(applyCommand(db, { type: 'service.update', name: 'web', changes: { replicas: 5 }, at: AT + 1 })), true);
    const s = web(db);
    assert.equal(s.replicas, 5);
    assert.equal(s.version, 2);
    assert.equal(s.specVersion, 1);
    assert.equal(s.state, 'DEPLOYING');
  });

  test('an update to a NEW service keeps it NEW (the orchestrator has not started deploying it yet)', () => {
    const db = withService('NEW');
    ok(applyCommand(db, { type: 'service.update', name: 'web', changes: { image: 'nginx:1.28' }, at: AT }));
    const s = web(db);
    assert.equal(s.state, 'NEW');
    assert.equal(s.version, 2);
    assert.equal(s.specVersion, 2);
  });

  test('an update that changes nothing is not a change: version, spec version and state stay', () => {
    const db = withService('RUNNING', spec({ env: { A: '1' } }));
    const before = web(db);
    assert.equal(ok(applyCommand(db, { type: 'service.update', name: 'web', changes: { image: 'nginx:1.27', replicas: 2, env: { A: '1' } }, at: AT + 5 })), false);
    assert.deepEqual(web(db), before);
  });

  test('env and labels given with their keys in another order are not a change', () => {
    const db = withService('RUNNING', spec({ env: { A: '1', B: '2', C: '3' }, labels: { x: '1', y: '2' } }));
    const before = web(db);
    const changed = ok(
      applyCommand(db, { type: 'service.update', name: 'web', changes: { env: { C: '3', A: '1', B: '2' }, labels: { y: '2', x: '1' } }, at: AT + 5 }),
    );
    assert.equal(changed, false);
    assert.deepEqual(web(db), before);
  });

  test('updating a service that does not exist is refused SERVICE_NOT_FOUND', () => {
    const db = freshDb();
    refused(applyCommand(db, { type: 'service.update', name: 'ghost', changes: { replicas: 1 }, at: AT }), 'SERVICE_NOT_FOUND');
  });

  test('deleting moves the service to DELETE and bumps its version; deleting again changes nothing', () => {
    const db = withService('RUNNING');
    assert.equal(ok(applyCommand(db, { type: 'service.delete', name: 'web', at: AT + 1 })), true);
    assert.equal(web(db).state, 'DELETE');
    assert.equal(web(db).version, 2);
    assert.equal(ok(applyCommand(db, { type: 'service.delete', name: 'web', at: AT + 2 })), false);
    assert.equal(web(db).version, 2);
  });

  test('a service being deleted refuses updates with SERVICE_DELETING and keeps its spec', () => {
    const db = withService('RUNNING');
    ok(applyCommand(db, { type: 'service.delete', name: 'web', at: AT + 1 }));
    const before = web(db);
    refused(applyCommand(db, { type: 'service.update', name: 'web', changes: { replicas: 7 }, at: AT + 2 }), 'SERVICE_DELETING');
    assert.deepEqual(web(db), before);
    ok(applyCommand(db, { type: 'service.set-state', name: 'web', state: 'DELETING', version: before.version, at: AT + 3 }));
    refused(applyCommand(db, { type: 'service.update', name: 'web', changes: { image: 'x:1' }, at: AT + 4 }), 'SERVICE_DELETING');
    assert.equal(web(db).image, 'nginx:1.27');
  });

  test('DELETE moves only to DELETING: set-state to RUNNING on a deleted service is refused ILLEGAL_TRANSITION', () => {
    const db = withService('RUNNING');
    ok(applyCommand(db, { type: 'service.delete', name: 'web', at: AT + 1 }));
    refused(applyCommand(db, { type: 'service.set-state', name: 'web', state: 'RUNNING', version: 2, at: AT + 2 }), 'ILLEGAL_TRANSITION');
    assert.equal(web(db).state, 'DELETE');
  });

  test('set-state decided from an older version of the service is ignored (a stale decision)', () => {
    const db = withService('DEPLOYING');
    ok(applyCommand(db, { type: 'service.update', name: 'web', changes: { image: 'nginx:1.28' }, at: AT + 1 })); // version 2
    const changed = ok(applyCommand(db, { type: 'service.set-state', name: 'web', state: 'RUNNING', version: 1, at: AT + 2 }));
    assert.equal(changed, false);
    assert.equal(web(db).state, 'UPDATING');
    assert.equal(ok(applyCommand(db, { type: 'service.set-state', name: 'web', state: 'RUNNING', version: 2, at: AT + 3 })), true);
    assert.equal(web(db).state, 'RUNNING');
    assert.equal(web(db).updateStatus?.completedAt, AT + 3, 'the update completed');
  });

  test('set-state does not bump the version (the orchestrator\'s own decisions are not user changes)', () => {
    const db = withService('DEPLOYING');
    ok(applyCommand(db, { type: 'service.set-state', name: 'web', state: 'DEGRADED', version: 1, at: AT + 1 }));
    assert.equal(web(db).version, 1);
    assert.equal(web(db).state, 'DEGRADED');
  });

  test('an illegal set-state is refused ILLEGAL_TRANSITION and the state stays', () => {
    const db = withService('RUNNING');
    refused(applyCommand(db, { type: 'service.set-state', name: 'web', state: 'NEW', version: 1, at: AT }), 'ILLEGAL_TRANSITION');
    assert.equal(web(db).state, 'RUNNING');
  });

  test('service.remove deletes a DELETING service together with its tasks', () => {
    const db = withService('RUNNING');
    createTask(db, 't1', 1);
    createTask(db, 't2', 2);
    ok(applyCommand(db, { type: 'service.delete', name: 'web', at: AT }));
    ok(applyCommand(db, { type: 'service.set-state', name: 'web', state: 'DELETING', version: 2, at: AT }));
    const touched = new Set<Table>();
    assert.equal(ok(applyCommand(db, { type: 'service.remove', name: 'web', at: AT }, touched)), true);
    assert.equal(getService(db, 'web'), undefined);
    assert.deepEqual(listTasks(db), []);
    assert.deepEqual([...touched].sort(), ['services', 'tasks']);
  });

  test('service.remove is refused unless the service is DELETING (a live service is never dropped)', () => {
    const db = withService('RUNNING');
    createTask(db, 't1');
    refused(applyCommand(db, { type: 'service.remove', name: 'web', at: AT }), 'ILLEGAL_TRANSITION');
    ok(applyCommand(db, { type: 'service.delete', name: 'web', at: AT }));
    refused(applyCommand(db, { type: 'service.remove', name: 'web', at: AT }), 'ILLEGAL_TRANSITION');
    assert.ok(getService(db, 'web'));
    assert.equal(listTasks(db).length, 1);
  });
});

describe('applyCommand: published ports', () => {
  const port = (published: number, target: number, more: Partial<PortSpec> = {}): PortSpec => ({ published, target, protocol: 'tcp', mode: 'ingress', proxy: 'none', ...more });
  const create = (db: Db, name: string, ports: PortSpec[]) =>
    applyCommand(db, { type: 'service.create', id: `svc-${name}`, name, spec: spec({ ports }), replicas: 1, at: AT });
  const update = (db: Db, name: string, ports: unknown[], at = AT + 1) =>
    applyCommand(db, { type: 'service.update', name, changes: { ports: ports as PortSpec[] }, at });

  test('a created service stores its ports, in order of published port; none means []', () => {
    const db = withService('RUNNING', spec({ ports: [port(9443, 443, { mode: 'host', proxy: 'v2' }), port(8080, 80)] }));
    assert.deepEqual(web(db).ports, [port(8080, 80), port(9443, 443, { mode: 'host', proxy: 'v2' })]);
    ok(create(db, 'plain', []));
    assert.deepEqual(getService(db, 'plain')!.ports, []);
  });

  test('ports left out of a port are read back with the defaults (tcp, ingress, no PROXY header)', () => {
    const db = freshDb();
    ok(create(db, 'web', [{ published: 8080, target: 80 } as PortSpec]));
    assert.deepEqual(web(db).ports, [port(8080, 80)]);
  });

  test('a service.create committed before ports existed (no spec.ports) stores none', () => {
    const db = freshDb();
    const old = { image: 'nginx:1.27', command: null, env: {}, labels: {} } as unknown as ServiceSpec;
    ok(applyCommand(db, { type: 'service.create', id: 'svc-1', name: 'web', spec: old, replicas: 1, at: AT }));
    assert.deepEqual(web(db).ports, []);
  });

  test('an update with ports replaces the whole list, bumps version, but keeps spec version and state', () => {
    const db = withService('RUNNING', spec({ ports: [port(8080, 80), port(8443, 443)] }));
    assert.equal(ok(update(db, 'web', [port(8080, 8080, { proxy: 'v1' }), port(9000, 9000)])), true);
    const s = web(db);
    assert.deepEqual(s.ports, [port(8080, 8080, { proxy: 'v1' }), port(9000, 9000)]);
    assert.equal(s.version, 2);
    assert.equal(s.specVersion, 1, 'no new containers for a port change');
    assert.equal(s.state, 'RUNNING');
    assert.equal(s.updatedAt, AT + 1);
    ok(update(db, 'web', [], AT + 2));
    assert.deepEqual(web(db).ports, []);
    assert.equal(web(db).version, 3);
    assert.equal(web(db).specVersion, 1);
  });

  test('ports together with an image change: both versions move once', () => {
    const db = withService('RUNNING');
    ok(applyCommand(db, { type: 'service.update', name: 'web', changes: { image: 'nginx:1.28', ports: [port(80, 80)] }, at: AT + 1 }));
    assert.deepEqual([web(db).version, web(db).specVersion], [2, 2]);
  });

  test('the same ports in another order, or with the defaults spelled out, are not a change', () => {
    const db = withService('RUNNING', spec({ ports: [port(8080, 80), port(8443, 443)] }));
    const before = web(db);
    assert.equal(ok(update(db, 'web', [{ published: 8443, target: 443 }, port(8080, 80)])), false);
    assert.deepEqual(web(db), before);
  });

  test('an update without ports keeps them', () => {
    const db = withService('RUNNING', spec({ ports: [port(8080, 80)] }));
    ok(applyCommand(db, { type: 'service.update', name: 'web', changes: { replicas: 4 }, at: AT + 1 }));
    assert.deepEqual(web(db).ports, [port(8080, 80)]);
  });

  test('a port another service publishes is refused PORT_IN_USE naming the port and both services, and nothing is stored', () => {
    const db = withService('RUNNING', spec({ ports: [port(8080, 80)] }));
    const message = refused(create(db, 'api', [port(9090, 90), port(8080, 3000, { mode: 'host' })]), 'PORT_IN_USE');
    assert.equal(message, 'published port 8080 is already used by service web (asked for by service api)');
    assert.equal(getService(db, 'api'), undefined);

    ok(create(db, 'api', [port(9090, 90)]));
    const before = getService(db, 'api');
    assert.equal(
      refused(update(db, 'api', [port(9090, 90), port(8080, 80)]), 'PORT_IN_USE'),
      'published port 8080 is already used by service web (asked for by service api)',
    );
    assert.deepEqual(getService(db, 'api'), before);
  });

  test('a service may keep its own ports across an update (it does not conflict with itself)', () => {
    const db = withService('RUNNING', spec({ ports: [port(8080, 80)] }));
    assert.equal(ok(update(db, 'web', [port(8080, 81)])), true);
    assert.deepEqual(web(db).ports, [port(8080, 81)]);
  });

  test('a service being deleted keeps its ports until its row is removed; then they are free', () => {
    const db = withService('RUNNING', spec({ ports: [port(8080, 80)] }));
    ok(applyCommand(db, { type: 'service.delete', name: 'web', at: AT + 1 }));
    assert.match(refused(create(db, 'api', [port(8080, 80)]), 'PORT_IN_USE'), /service web/);
    ok(applyCommand(db, { type: 'service.set-state', name: 'web', state: 'DELETING', version: 2, at: AT + 2 }));
    assert.match(refused(create(db, 'api', [port(8080, 80)]), 'PORT_IN_USE'), /service web/);
    ok(applyCommand(db, { type: 'service.remove', name: 'web', at: AT + 3 }));
    ok(create(db, 'api', [port(8080, 80)]));
    assert.deepEqual(getService(db, 'api')!.ports, [port(8080, 80)]);
  });

  test('a list that publishes a port twice is refused even when it reaches the log unvalidated', () => {
    const db = freshDb();
    assert.match(refused(create(db, 'web', [port(8080, 80), port(8080, 81)]), 'INVALID_ARGUMENT'), /published port 8080 is given twice/);
    assert.equal(getService(db, 'web'), undefined);
  });

  test('a refused service.create inside a batch does not stop the others', () => {
    const db = withService('RUNNING', spec({ ports: [port(8080, 80)] }));
    ok(applyCommand(db, {
      type: 'batch',
      commands: [
        { type: 'service.create', id: 'a', name: 'a', spec: spec({ ports: [port(8080, 80)] }), replicas: 1, at: AT },
        { type: 'service.create', id: 'b', name: 'b', spec: spec({ ports: [port(8081, 80)] }), replicas: 1, at: AT },
      ],
    }));
    assert.deepEqual(listServices(db).map((s) => s.name), ['b', 'web']);
  });

  test('the conflict check names the lowest clashing port and the first holder by name, the same on every node', () => {
    const db = freshDb();
    ok(create(db, 'zeta', [port(9000, 1)]));
    ok(create(db, 'alpha', [port(9500, 1)]));
    assert.equal(refused(create(db, 'new', [port(9500, 1), port(9000, 1)]), 'PORT_IN_USE'), 'published port 9000 is already used by service zeta (asked for by service new)');
  });
});

describe('applyCommand: spec versions, rollback, lifecycle', () => {
  const update = (db: Db, changes: object, at = AT + 1) => applyCommand(db, { type: 'service.update', name: 'web', changes, at });

  test('every spec version is recorded with what its containers are made of; the newest ten are kept', () => {
    const db = withService('RUNNING');
    for (let i = 2; i <= 13; i++) ok(update(db, { image: `nginx:1.${i}` }, AT + i));
    const versions = listServiceVersions(db, 'web');
    assert.equal(versions.length, 10);
    assert.deepEqual(versions.map((v) => v.specVersion), [13, 12, 11, 10, 9, 8, 7, 6, 5, 4]);
    assert.equal(versions[0]!.image, 'nginx:1.13');
    assert.equal(versions[0]!.createdAt, AT + 13);
  });

  test('a health check is part of the spec version; policies, ports and replicas are not', () => {
    const db = withService('RUNNING');
    ok(update(db, { replicas: 5, update: { parallelism: 3 }, restart: { condition: 'on-failure' } }));
    assert.equal(web(db).specVersion, 1);
    assert.equal(web(db).state, 'DEPLOYING', 'a scale deploys');
    assert.deepEqual(web(db).lifecycle, { restart: { condition: 'on-failure' }, update: { parallelism: 3 } });
    const check = { test: ['CMD-SHELL', 'test -f /ok'], intervalMs: 1000, timeoutMs: 1000, retries: 2, startPeriodMs: 0 };
    ok(update(db, { healthcheck: check }, AT + 2));
    assert.equal(web(db).specVersion, 2);
    assert.deepEqual(web(db).healthcheck, check);
    assert.deepEqual(listServiceVersions(db, 'web')[0]!.healthcheck, check);
    ok(update(db, { update: { order: 'start-first' }, restart: null }, AT + 3));
    assert.deepEqual(web(db).lifecycle, { update: { order: 'start-first', parallelism: 3 } }, 'a block merges field by field; null clears it');
  });

  test('rollback returns the container spec of the version the update started from, as that version', () => {
    const db = withService('RUNNING', spec({ env: { A: '1' } }));
    ok(update(db, { image: 'nginx:2', env: { A: '2' } }));
    assert.equal(ok(applyCommand(db, { type: 'service.rollback', name: 'web', reason: 'asked for', at: AT + 5 })), true);
    const s = web(db);
    assert.equal(s.image, 'nginx:1.27');
    assert.deepEqual(s.env, { A: '1' });
    assert.equal(s.specVersion, 1, 'the old tasks are current again: nothing of theirs is replaced');
    assert.equal(s.state, 'ROLLING_BACK');
    assert.deepEqual(s.updateStatus, { kind: 'rollback', fromVersion: 2, toVersion: 1, startedAt: AT + 5, completedAt: null, message: 'asked for' });
    ok(applyCommand(db, { type: 'service.rollback', name: 'web', reason: 'again', at: AT + 6 }));
    assert.equal(web(db).image, 'nginx:2', 'rolling back a rollback re-applies what it undid (the previous spec)');
    assert.equal(web(db).specVersion, 2);
    ok(update(db, { image: 'nginx:3' }, AT + 7));
    assert.equal(web(db).specVersion, 3, 'the next version is past every recorded one');
  });

  test('rollback to a named version, and the refusals: no earlier version, unknown version, being deleted', () => {
    const db = withService('RUNNING');
    refused(applyCommand(db, { type: 'service.rollback', name: 'web', reason: 'x', at: AT }), 'NO_PREVIOUS_VERSION');
    ok(update(db, { image: 'nginx:2' }));
    ok(applyCommand(db, { type: 'service.set-state', name: 'web', state: 'RUNNING', version: 2, at: AT + 2 }));
    ok(update(db, { image: 'nginx:3' }, AT + 3));
    refused(applyCommand(db, { type: 'service.rollback', name: 'web', toVersion: 3, reason: 'x', at: AT }), 'NO_PREVIOUS_VERSION');
    assert.match(refused(applyCommand(db, { type: 'service.rollback', name: 'web', toVersion: 9, reason: 'x', at: AT }), 'VERSION_NOT_FOUND'), /no spec version 9/);
    ok(applyCommand(db, { type: 'service.rollback', name: 'web', toVersion: 1, reason: 'x', at: AT + 4 }));
    assert.equal(web(db).image, 'nginx:1.27');
    ok(applyCommand(db, { type: 'service.delete', name: 'web', at: AT + 5 }));
    refused(applyCommand(db, { type: 'service.rollback', name: 'web', toVersion: 2, reason: 'x', at: AT }), 'SERVICE_DELETING');
  });

  test('PAUSED keeps its reason; new policies resume the update; a scale keeps an update\'s state', () => {
    const db = withService('RUNNING');
    ok(update(db, { image: 'nginx:2' }));
    ok(update(db, { replicas: 4 }, AT + 2));
    assert.equal(web(db).state, 'UPDATING');
    ok(applyCommand(db, { type: 'service.set-state', name: 'web', state: 'PAUSED', version: web(db).version, reason: '1 of 2 updated replicas failed', at: AT + 3 }));
    assert.equal(web(db).state, 'PAUSED');
    assert.equal(web(db).updateStatus?.message, '1 of 2 updated replicas failed');
    ok(update(db, { update: { failureAction: 'continue' } }, AT + 4));
    assert.equal(web(db).state, 'UPDATING');
    assert.equal(web(db).updateStatus?.message, null);
  });

  test('a task\'s health is recorded with its observation and kept when a report leaves it out', () => {
    const db = withService('RUNNING');
    createTask(db, 't1');
    ok(applyCommand(db, { type: 'task.assign', taskId: 't1', nodeId: 'n1', at: AT }));
    ok(applyCommand(db, { type: 'task.observe', taskId: 't1', state: 'RUNNING', containerId: 'c1', health: 'starting', at: AT + 1 }));
    assert.equal(task(db, 't1').health, 'starting');
    ok(applyCommand(db, { type: 'task.observe', taskId: 't1', state: 'RUNNING', health: 'healthy', at: AT + 2 }));
    ok(applyCommand(db, { type: 'task.observe', taskId: 't1', state: 'RUNNING', at: AT + 3 }));
    assert.equal(task(db, 't1').health, 'healthy');
  });
});

describe('applyCommand: placement', () => {
  const update = (db: Db, changes: object, at = AT + 1) => applyCommand(db, { type: 'service.update', name: 'web', changes, at });

  test('node labels are replaced whole; facts are recorded when they change', () => {
    const db = withService('RUNNING');
    assert.equal(ok(applyCommand(db, { type: 'node.set-labels', nodeId: 'n1', labels: { zone: 'a', disk: 'ssd' }, at: AT + 1 })), true);
    assert.equal(ok(applyCommand(db, { type: 'node.set-labels', nodeId: 'n1', labels: { disk: 'ssd', zone: 'a' }, at: AT + 2 })), false, 'the same labels');
    assert.deepEqual(getNode(db, 'n1')!.labels, { disk: 'ssd', zone: 'a' });
    const facts = { cpus: 2, memoryBytes: 24 * 2 ** 30, os: 'linux', arch: 'x86_64', engineVersion: '20.10.24' };
    assert.equal(ok(applyCommand(db, { type: 'node.set-facts', nodeId: 'n1', facts, at: AT + 3 })), true);
    assert.equal(ok(applyCommand(db, { type: 'node.set-facts', nodeId: 'n1', facts, at: AT + 4 })), false);
    assert.deepEqual(getNode(db, 'n1')!.facts, facts);
    refused(applyCommand(db, { type: 'node.set-labels', nodeId: 'nx', labels: {}, at: AT }), 'NODE_NOT_FOUND');
  });

  test('placement and reservations need no new containers; limits do, and a rollback restores them', () => {
    const db = withService('RUNNING');
    ok(update(db, { placement: { constraints: ['node.labels.zone==a'] }, resources: { reservations: { cpus: 0.5 } } }));
    assert.equal(web(db).specVersion, 1);
    assert.deepEqual(web(db).placement, { constraints: ['node.labels.zone==a'] });
    ok(update(db, { resources: { reservations: { cpus: 0.5 }, limits: { memoryBytes: 64 * 2 ** 20 } } }, AT + 2));
    assert.equal(web(db).specVersion, 2, 'limits are part of the spec version');
    assert.deepEqual(listServiceVersions(db, 'web')[0]!.limits, { memoryBytes: 64 * 2 ** 20 });
    ok(applyCommand(db, { type: 'service.rollback', name: 'web', reason: 'x', at: AT + 3 }));
    assert.deepEqual(web(db).resources, { reservations: { cpus: 0.5 } }, 'the old limits (none) are back; the reservation stays');
    ok(update(db, { placement: null }, AT + 4));
    assert.deepEqual(web(db).placement, {});
  });

  test('a service\'s mode is fixed at creation', () => {
    const db = freshDb();
    ok(applyCommand(db, { type: 'service.create', id: 's', name: 'web', spec: spec({ mode: 'global' }), replicas: 0, at: AT }));
    assert.equal(web(db).mode, 'global');
    assert.match(refused(update(db, { mode: 'replicated' }), 'INVALID_ARGUMENT'), /mode cannot change/);
  });

  test('a global task is created on its node, ASSIGNED; a pending reason is kept on a waiting task until it is placed', () => {
    const db = withService('RUNNING');
    ok(applyCommand(db, { type: 'task.create', id: 'g1', serviceName: 'web', slot: 0, specVersion: 1, nodeId: 'n1', at: AT }));
    assert.equal(task(db, 'g1').state, 'ASSIGNED');
    assert.equal(task(db, 'g1').nodeId, 'n1');
    createTask(db, 't1');
    ok(applyCommand(db, { type: 'task.set-pending', reasons: { t1: 'no node fits: 1 fails node.labels.zone==b', g1: 'ignored: placed' }, at: AT }));
    assert.equal(task(db, 't1').error, 'no node fits: 1 fails node.labels.zone==b');
    assert.equal(task(db, 'g1').error, null);
    ok(applyCommand(db, { type: 'task.assign', taskId: 't1', nodeId: 'n1', at: AT + 1 }));
    assert.equal(task(db, 't1').error, null, 'placed: the reason is gone');
  });
});

describe('applyCommand: tasks', () => {
  test('a created task is NEW, wanted RUNNING, on no node', () => {
    const db = withService();
    createTask(db, 't1', 2, 1);
    const t = task(db, 't1');
    assert.equal(t.serviceName, 'web');
    assert.equal(t.slot, 2);
    assert.equal(t.specVersion, 1);
    assert.equal(t.state, 'NEW');
    assert.equal(t.desiredState, 'RUNNING');
    assert.equal(t.nodeId, null);
    assert.equal(t.containerId, null);
  });

  test('creating a task with an id that exists changes nothing; a task for an unknown service is refused', () => {
    const db = withService();
    createTask(db, 't1', 1);
    assert.equal(ok(applyCommand(db, { type: 'task.create', id: 't1', serviceName: 'web', slot: 2, specVersion: 1, at: AT })), false);
    assert.equal(task(db, 't1').slot, 1);
    refused(applyCommand(db, { type: 'task.create', id: 't9', serviceName: 'ghost', slot: 1, specVersion: 1, at: AT }), 'SERVICE_NOT_FOUND');
  });

  test('assigning a NEW task puts it on the node as ASSIGNED; assigning it again to the same node changes nothing', () => {
    const db = withService();
    createTask(db, 't1');
    assert.equal(ok(applyCommand(db, { type: 'task.assign', taskId: 't1', nodeId: 'n1', at: AT + 1 })), true);
    assert.equal(task(db, 't1').nodeId, 'n1');
    assert.equal(task(db, 't1').state, 'ASSIGNED');
    assert.equal(ok(applyCommand(db, { type: 'task.assign', taskId: 't1', nodeId: 'n1', at: AT + 2 })), false);
  });

  test('a task already placed cannot move to another node (ILLEGAL_TRANSITION); an unknown node is refused NODE_NOT_FOUND', () => {
    const db = withService();
    ok(applyCommand(db, { type: 'node.register', node: { id: 'n2', name: 'node-2', address: '10.0.0.2:7070', role: 'worker', startedAt: AT }, at: AT }));
    createTask(db, 't1');
    createTask(db, 't2', 2);
    refused(applyCommand(db, { type: 'task.assign', taskId: 't2', nodeId: 'nope', at: AT }), 'NODE_NOT_FOUND');
    assert.equal(task(db, 't2').nodeId, null);
    ok(applyCommand(db, { type: 'task.assign', taskId: 't1', nodeId: 'n1', at: AT }));
    refused(applyCommand(db, { type: 'task.assign', taskId: 't1', nodeId: 'n2', at: AT }), 'ILLEGAL_TRANSITION');
    assert.equal(task(db, 't1').nodeId, 'n1');
    refused(applyCommand(db, { type: 'task.assign', taskId: 'missing', nodeId: 'n1', at: AT }), 'NOT_FOUND');
  });

  test('observations record the container, start time and exit code; the container id is kept when a later report omits it', () => {
    const db = withService();
    createTask(db, 't1');
    ok(applyCommand(db, { type: 'task.assign', taskId: 't1', nodeId: 'n1', at: AT }));
    ok(applyCommand(db, { type: 'task.observe', taskId: 't1', state: 'RUNNING', containerId: 'c1', startedAt: AT + 10, at: AT + 11 }));
    let t = task(db, 't1');
    assert.equal(t.state, 'RUNNING');
    assert.equal(t.containerId, 'c1');
    assert.equal(t.startedAt, AT + 10);
    ok(applyCommand(db, { type: 'task.observe', taskId: 't1', state: 'FAILED', exitCode: 137, error: 'container exited with code 137', at: AT + 20 }));
    t = task(db, 't1');
    assert.equal(t.state, 'FAILED');
    assert.equal(t.containerId, 'c1');
    assert.equal(t.exitCode, 137);
    assert.equal(t.error, 'container exited with code 137');
    assert.equal(t.startedAt, AT + 10);
    assert.equal(t.updatedAt, AT + 20);
  });

  test('an observation that would move a task backward is refused ILLEGAL_TRANSITION and changes nothing', () => {
    const db = withService();
    createTask(db, 't1');
    ok(applyCommand(db, { type: 'task.assign', taskId: 't1', nodeId: 'n1', at: AT }));
    ok(applyCommand(db, { type: 'task.observe', taskId: 't1', state: 'FAILED', exitCode: 1, at: AT + 1 }));
    refused(applyCommand(db, { type: 'task.observe', taskId: 't1', state: 'RUNNING', containerId: 'c2', at: AT + 2 }), 'ILLEGAL_TRANSITION');
    const t = task(db, 't1');
    assert.equal(t.state, 'FAILED');
    assert.equal(t.containerId, null);
    assert.equal(t.updatedAt, AT + 1);
  });

  test('a late observation of a task that was already removed is a harmless no-op', () => {
    const db = withService();
    createTask(db, 't1');
    assert.equal(ok(applyCommand(db, { type: 'task.remove', taskId: 't1', at: AT })), true);
    assert.equal(ok(applyCommand(db, { type: 'task.observe', taskId: 't1', state: 'SHUTDOWN', at: AT + 1 })), false);
    assert.deepEqual(listTasks(db), []);
  });

  test('desired state goes RUNNING → SHUTDOWN once; setting it again changes nothing; SHUTDOWN → RUNNING is refused', () => {
    const db = withService();
    createTask(db, 't1');
    assert.equal(ok(applyCommand(db, { type: 'task.set-desired', taskId: 't1', desiredState: 'SHUTDOWN', at: AT })), true);
    assert.equal(task(db, 't1').desiredState, 'SHUTDOWN');
    assert.equal(ok(applyCommand(db, { type: 'task.set-desired', taskId: 't1', desiredState: 'SHUTDOWN', at: AT })), false);
    refused(applyCommand(db, { type: 'task.set-desired', taskId: 't1', desiredState: 'RUNNING', at: AT }), 'ILLEGAL_TRANSITION');
    assert.equal(task(db, 't1').desiredState, 'SHUTDOWN');
  });

  test('removing a task deletes it; removing it again changes nothing', () => {
    const db = withService();
    createTask(db, 't1');
    assert.equal(ok(applyCommand(db, { type: 'task.remove', taskId: 't1', at: AT })), true);
    assert.equal(ok(applyCommand(db, { type: 'task.remove', taskId: 't1', at: AT })), false);
  });
});

describe('applyCommand: batches', () => {
  test('a refused command inside a batch is skipped and the others are applied', () => {
    const db = withService();
    const batch: Command = {
      type: 'batch',
      commands: [
        { type: 'task.create', id: 't1', serviceName: 'web', slot: 1, specVersion: 1, at: AT },
        { type: 'task.assign', taskId: 't1', nodeId: 'no-such-node', at: AT }, // refused
        { type: 'service.create', id: 'svc-x', name: 'web', spec: spec(), replicas: 1, at: AT }, // refused: exists
        { type: 'task.create', id: 't2', serviceName: 'web', slot: 2, specVersion: 1, at: AT },
        { type: 'task.assign', taskId: 't2', nodeId: 'n1', at: AT },
      ],
    };
    const result = applyCommand(db, batch);
    assert.equal(ok(result), true);
    // The refusals are answered, each with its place in the batch, so the proposer can log them.
    assert.deepEqual(result.ok && result.refused?.map((r) => [r.index, r.type, r.error.code]), [
      [1, 'task.assign', 'NODE_NOT_FOUND'],
      [2, 'service.create', 'SERVICE_EXISTS'],
    ]);
    assert.deepEqual(
      listTasks(db).map((t) => [t.id, t.state, t.nodeId]),
      [
        ['t1', 'NEW', null],
        ['t2', 'ASSIGNED', 'n1'],
      ],
    );
    assert.equal(web(db).id, 'svc-1');
  });

  test('every refusal of a task command leaves the rows exactly as they were', () => {
    const db = withService();
    ok(applyCommand(db, { type: 'node.register', node: { id: 'n2', name: 'node-2', address: '10.0.0.2:7070', role: 'worker', startedAt: AT }, at: AT }));
    createTask(db, 't1');
    ok(applyCommand(db, { type: 'task.assign', taskId: 't1', nodeId: 'n1', at: AT }));
    ok(applyCommand(db, { type: 'task.observe', taskId: 't1', state: 'STARTING', at: AT }));
    ok(applyCommand(db, { type: 'task.set-desired', taskId: 't1', desiredState: 'SHUTDOWN', at: AT }));
    const rows = () => JSON.stringify(db.prepare('SELECT * FROM tasks ORDER BY id').all()) + JSON.stringify(db.prepare('SELECT * FROM services').all());
    const before = rows();
    const result = applyCommand(db, {
      type: 'batch',
      commands: [
        { type: 'task.create', id: 't9', serviceName: 'ghost', slot: 1, specVersion: 1, at: AT + 1 },
        { type: 'task.create', id: 't9', serviceName: 'web', slot: 1, specVersion: 1, nodeId: 'ghost', at: AT + 1 },
        { type: 'task.assign', taskId: 't1', nodeId: 'n2', at: AT + 1 },
        { type: 'task.assign', taskId: 'ghost', nodeId: 'n1', at: AT + 1 },
        { type: 'task.observe', taskId: 't1', state: 'NEW', error: 'backwards', at: AT + 1 },
        { type: 'task.set-desired', taskId: 't1', desiredState: 'RUNNING', at: AT + 1 },
        { type: 'task.set-slot', taskId: 'ghost', slot: 4, at: AT + 1 },
      ],
    });
    assert.deepEqual(result.ok && result.refused?.map((r) => r.error.code), [
      'SERVICE_NOT_FOUND', 'NODE_NOT_FOUND', 'ILLEGAL_TRANSITION', 'NOT_FOUND', 'ILLEGAL_TRANSITION', 'ILLEGAL_TRANSITION', 'NOT_FOUND',
    ]);
    assert.equal(rows(), before);
  });

  test('a batch of commands that all change nothing reports no change', () => {
    const db = withService();
    const result = applyCommand(db, {
      type: 'batch',
      commands: [
        { type: 'service.update', name: 'web', changes: { replicas: 2 }, at: AT },
        { type: 'task.remove', taskId: 'nothing', at: AT },
      ],
    });
    assert.equal(ok(result), false);
  });

  test('a refused command inside a transaction leaves earlier work in the same transaction in place', () => {
    const db = withService();
    db.transaction(() => {
      ok(applyCommand(db, { type: 'task.create', id: 't1', serviceName: 'web', slot: 1, specVersion: 1, at: AT }));
      refused(applyCommand(db, { type: 'task.assign', taskId: 't1', nodeId: 'ghost', at: AT }), 'NODE_NOT_FOUND');
    })();
    assert.equal(task(db, 't1').state, 'NEW');
  });
});

describe('applyCommand: nodes and cluster', () => {
  test('cluster.init records the cluster id, secret and join token once; a second init keeps the first', () => {
    const db = freshDb();
    assert.equal(ok(applyCommand(db, { type: 'cluster.init', clusterId: 'c-1', secret: 's-1', joinToken: 't-1', at: AT })), true);
    assert.equal(ok(applyCommand(db, { type: 'cluster.init', clusterId: 'c-2', secret: 's-2', joinToken: 't-2', at: AT })), false);
    assert.equal(getMeta(db, 'cluster_id'), 'c-1');
    assert.equal(getMeta(db, 'cluster_secret'), 's-1');
    assert.equal(getMeta(db, 'join_token'), 't-1');
  });

  test('a registered node is READY and active; re-registering updates its address and marks it READY again', () => {
    const db = withService();
    ok(applyCommand(db, { type: 'node.set-status', nodeId: 'n1', status: 'DOWN', at: AT + 1 }));
    assert.equal(getNode(db, 'n1')!.status, 'DOWN');
    ok(applyCommand(db, { type: 'node.register', node: { id: 'n1', name: 'node-1', address: '10.0.0.9:7070', role: 'manager', startedAt: AT + 2 }, at: AT + 2 }));
    const n = getNode(db, 'node-1')!;
    assert.equal(n.status, 'READY');
    assert.equal(n.availability, 'active');
    assert.equal(n.address, '10.0.0.9:7070');
  });

  test('a node cannot take a name another node already has', () => {
    const db = withService();
    const message = refused(
      applyCommand(db, { type: 'node.register', node: { id: 'n2', name: 'node-1', address: '10.0.0.2:7070', role: 'worker', startedAt: AT }, at: AT }),
      'INVALID_ARGUMENT',
    );
    assert.match(message, /node-1/);
    assert.equal(getNode(db, 'n2'), undefined);
  });

  test('node status changes follow the node state machine: DOWN → UNKNOWN is refused', () => {
    const db = withService();
    ok(applyCommand(db, { type: 'node.set-status', nodeId: 'n1', status: 'DOWN', at: AT }));
    refused(applyCommand(db, { type: 'node.set-status', nodeId: 'n1', status: 'UNKNOWN', at: AT }), 'ILLEGAL_TRANSITION');
    assert.equal(getNode(db, 'n1')!.status, 'DOWN');
    assert.equal(ok(applyCommand(db, { type: 'node.set-status', nodeId: 'n1', status: 'DOWN', at: AT })), false);
    refused(applyCommand(db, { type: 'node.set-status', nodeId: 'n9', status: 'READY', at: AT }), 'NODE_NOT_FOUND');
  });

  test('node availability changes (drain) are recorded; the same availability again changes nothing', () => {
    const db = withService();
    assert.equal(ok(applyCommand(db, { type: 'node.set-availability', nodeId: 'n1', availability: 'drain', at: AT })), true);
    assert.equal(getNode(db, 'n1')!.availability, 'drain');
    assert.equal(ok(applyCommand(db, { type: 'node.set-availability', nodeId: 'n1', availability: 'drain', at: AT })), false);
  });
});
