import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { migrate, SCHEMA_VERSION } from '../../database/migrations';
import { getService } from '../../database/queries';

test('a database from before published ports keeps its services, each with no ports', () => {
  const db = new Database(':memory:');
  migrate(db, 2);
  db.prepare(
    `INSERT INTO services (name, id, image, command, env, labels, replicas, state, version, spec_version, created_at, updated_at)
     VALUES ('web', 's1', 'nginx:1.27', NULL, '{}', '{}', 2, 'RUNNING', 3, 1, 1, 1)`,
  ).run();
  migrate(db);
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  const web = getService(db, 'web')!;
  assert.deepEqual(web.ports, []);
  assert.deepEqual([web.image, web.replicas, web.state, web.version], ['nginx:1.27', 2, 'RUNNING', 3]);
  db.close();
});
