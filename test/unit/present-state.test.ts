import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../database/open-database';
import { applyCommand } from '../../database/apply-command';
import { readService, readServices, readState } from '../../modules/present';
import { getService } from '../../database/queries';

test('GET /state reads fresh rows as soon as another thread commits, and cached rows otherwise', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'bicycle-state-')), 'bicycle.db');
  const writer = openDatabase(file, { migrate: true });
  const reader = openDatabase(file);
  const at = 1_700_000_000_000;
  applyCommand(writer, { type: 'service.create', id: 's1', name: 'one', spec: { image: 'i', command: null, env: {}, labels: {}, ports: [] }, replicas: 1, at });
  assert.deepEqual(readState(reader, at).services.map((s) => s.name), ['one']);
  const cached = readState(reader, at + 1000);
  assert.deepEqual(cached.services.map((s) => s.name), ['one'], 'same rows while nothing is written');

  applyCommand(writer, { type: 'service.create', id: 's2', name: 'two', spec: { image: 'i', command: null, env: {}, labels: {}, ports: [] }, replicas: 2, at });
  assert.deepEqual(readState(reader, at + 2000).services.map((s) => s.name), ['one', 'two'], 'a commit by another connection is seen at once');
  applyCommand(writer, { type: 'service.update', name: 'two', changes: { replicas: 5 }, at });
  assert.equal(readState(reader, at + 3000).services.find((s) => s.name === 'two')!.replicas, 5);
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
