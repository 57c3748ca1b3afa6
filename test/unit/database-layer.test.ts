import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * database/ is the ground floor: a thread that opens and migrates the
 * database, and loads every database module, loads nothing of daemon/ (the
 * Raft core above all, which only the voting thread needs).
 */
test('opening, migrating and querying the database loads no module of daemon/', () => {
  const databaseDir = join(__dirname, '..', '..', 'database');
  const modules = readdirSync(databaseDir).filter((f) => f.endsWith('.js')).map((f) => join(databaseDir, f));
  const script = `
    for (const m of ${JSON.stringify(modules)}) require(m);
    const { openDatabase } = require(${JSON.stringify(join(databaseDir, 'open-database.js'))});
    const db = openDatabase(':memory:', { migrate: true });
    require(${JSON.stringify(join(databaseDir, 'queries.js'))}).clusterSecret(db);
    db.close();
    process.stdout.write(JSON.stringify(Object.keys(require.cache)));`;
  const loaded = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as string[];
  const daemon = loaded.filter((file) => file.includes(`${join('dist', 'daemon')}/`));
  assert.deepEqual(daemon, [], 'daemon modules loaded by the database layer');
  assert.ok(loaded.some((file) => file.endsWith(join('database', 'raft-schema.js'))), 'the Raft tables come from database/raft-schema');
});
