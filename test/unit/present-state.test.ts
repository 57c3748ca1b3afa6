import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../database/open-database';
import { applyCommand } from '../../database/apply-command';
import { readService, readServices, readState } from '../../modules/present';
import { getService, setLocal } from '../../database/queries';
import { readVersion } from '../../database/read-version';
import type { Command } from '../../database/commands';

test('GET /state reads fresh rows as soon as another thread applies a change, and cached rows otherwise', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'bicycle-state-')), 'bicycle.db');
  const writer = openDatabase(file, { migrate: true });
  const reader = openDatabase(file);
  const at = 1_700_000_000_000;
  // As the voting thread's state machine applies: the command and the applied index in one transaction.
  let index = 0;
  const apply = (command: Command) => writer.transaction(() => {
    writer.prepare("INSERT INTO raft_entries (log_index, term, type, data) VALUES (?, 1, 'normal', ?)").run(index + 1, JSON.stringify(command));
    applyCommand(writer, command);
    setLocal(writer, 'applied_index', String(++index));
  })();
  apply({ type: 'service.create', id: 's1', name: 'one', spec: { image: 'i', command: null, env: {}, labels: {}, ports: [] }, replicas: 1, at });
  assert.deepEqual(readState(reader, at).services.map((s) => s.name), ['one']);
  const cached = readState(reader, at + 1000);
  assert.deepEqual(cached.services.map((s) => s.name), ['one'], 'same rows while nothing is written');

  // The voting thread's own bookkeeping (the leader contact time, written every few hundred ms) changes no answer.
  const version = readVersion(reader);
  setLocal(writer, 'leader_contact_at', String(at + 1500));
  assert.deepEqual(readVersion(reader), version, 'a local value no answer shows keeps the read version');
  // Raft's own entries (a membership change as each node joins) apply no command: the rows are as they were.
  writer.transaction(() => {
    writer.prepare("INSERT INTO raft_entries (log_index, term, type, data) VALUES (?, 1, 'config', '{}')").run(++index);
    setLocal(writer, 'applied_index', String(index));
  })();
  assert.deepEqual(readVersion(reader), version, 'an applied membership entry keeps the read version');
  setLocal(writer, 'leader_id', 'n2');
  const led = readVersion(reader);
  assert.notEqual(led.all, version.all, 'a new leader is a new read version');
  assert.equal(led.tasks, version.tasks, 'of what a leader changes no task');
  assert.equal(readState(reader, at + 1600).cluster.leaderId, 'n2');

  // A node's own changes (the leader's node.seen every few seconds) are seen, and keep what is derived from tasks.
  apply({ type: 'node.register', node: { id: 'n2', name: 'host-b', address: '10.0.0.2:7070', role: 'manager', startedAt: at }, at });
  const registered = readVersion(reader);
  apply({ type: 'batch', commands: [{ type: 'node.seen', seen: { n2: at + 1700 }, at: at + 1700 }] });
  const seen = readVersion(reader);
  assert.notEqual(seen.all, registered.all);
  assert.equal(seen.tasks, registered.tasks, 'node.seen changes no task');
  assert.equal(readState(reader, at + 1800).nodes.find((n) => n.id === 'n2')!.lastSeenAt, new Date(at + 1700).toISOString());

  apply({ type: 'service.create', id: 's2', name: 'two', spec: { image: 'i', command: null, env: {}, labels: {}, ports: [] }, replicas: 2, at });
  assert.deepEqual(readState(reader, at + 2000).services.map((s) => s.name), ['one', 'two'], 'a change applied by another connection is seen at once');
  apply({ type: 'service.update', name: 'two', changes: { replicas: 5 }, at });
  assert.equal(readState(reader, at + 3000).services.find((s) => s.name === 'two')!.replicas, 5);

  // A write on the reading connection itself is seen too, applied index or not.
  applyCommand(reader, { type: 'service.update', name: 'two', changes: { replicas: 7 }, at });
  assert.equal(readState(reader, at + 4000).services.find((s) => s.name === 'two')!.replicas, 7);
  writer.close();
  reader.close();
});

test('services and State show each service\'s ports, every field present, in order of published port', () => {
  const db = openDatabase(':memory:', { migrate: true });
  const at = 1_700_000_000_000;
  const ports = [
    { published: 9443, target: 443, protocol: 'tcp' as const, mode: 'host' as const, proxy: 'v2' as const },
    { published: 8080, target: 80, protocol: 'tcp' as const, mode: 'ingress' as const, proxy: 'none' as const },
  ];
  applyCommand(db, { type: 'service.create', id: 's1', name: 'web', spec: { image: 'i', command: null, env: {}, labels: {}, ports }, replicas: 1, at });
  applyCommand(db, { type: 'service.create', id: 's2', name: 'plain', spec: { image: 'i', command: null, env: {}, labels: {}, ports: [] }, replicas: 1, at });
  const sorted = [ports[1], ports[0]];
  assert.deepEqual(readService(db, getService(db, 'web')!).ports, sorted);
  assert.deepEqual(readServices(db).map((s) => [s.name, s.ports]), [['plain', []], ['web', sorted]]);
  assert.deepEqual(readState(db, at).services.map((s) => [s.name, s.ports]), [['plain', []], ['web', sorted]]);
  db.close();
});
