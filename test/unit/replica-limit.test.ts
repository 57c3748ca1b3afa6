import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase } from '../../database/open-database';
import { applyCommand } from '../../database/apply-command';
import { getService } from '../../database/queries';
import { replicasWith, requireReplicasWithinLimit } from '../../database/replica-limit';

const spec = { image: 'i', command: null, env: {}, labels: {}, ports: [] };
const at = 1_700_000_000_000;

test('the replica limit counts every service not being deleted and names the limit and its option', () => {
  const db = openDatabase(':memory:', { migrate: true });
  assert.equal(applyCommand(db, { type: 'service.create', id: 'a', name: 'a', spec, replicas: 30_000, maxReplicas: 50_000, at }).ok, true);
  assert.equal(applyCommand(db, { type: 'service.create', id: 'b', name: 'b', spec, replicas: 10_000, maxReplicas: 50_000, at }).ok, true);
  assert.equal(replicasWith(db, 'c', 20_000), 60_000);
  assert.throws(() => requireReplicasWithinLimit(db, 'c', 20_000, 50_000), {
    code: 'REPLICA_LIMIT',
    status: 409,
    message: 'the cluster would run 60,000 replicas; the limit is 50,000 (deployment.maxReplicas)',
  });
  const refused = applyCommand(db, { type: 'service.create', id: 'c', name: 'c', spec, replicas: 20_000, maxReplicas: 50_000, at });
  assert.deepEqual(refused, { ok: false, error: { code: 'REPLICA_LIMIT', message: 'the cluster would run 60,000 replicas; the limit is 50,000 (deployment.maxReplicas)' } });
  assert.equal(getService(db, 'c'), undefined, 'a refused create writes nothing');

  // An update counts the service at its new size, not twice.
  assert.equal(applyCommand(db, { type: 'service.update', name: 'b', changes: { replicas: 20_000 }, maxReplicas: 50_000, at }).ok, true);
  const over = applyCommand(db, { type: 'service.update', name: 'b', changes: { replicas: 20_001 }, maxReplicas: 50_000, at });
  assert.equal(over.ok ? null : over.error.code, 'REPLICA_LIMIT');
  assert.equal(getService(db, 'b')!.replicas, 20_000);

  // A service being deleted frees its replicas at once.
  applyCommand(db, { type: 'service.delete', name: 'a', at });
  assert.equal(applyCommand(db, { type: 'service.create', id: 'c', name: 'c', spec, replicas: 30_000, maxReplicas: 50_000, at }).ok, true);
  db.close();
});

test('scaling down is allowed when the cluster is over the limit, and commands from before the limit apply unchecked', () => {
  const db = openDatabase(':memory:', { migrate: true });
  // Committed before the limit existed: no maxReplicas in the command, applied as it was (replay stays deterministic).
  assert.equal(applyCommand(db, { type: 'service.create', id: 'a', name: 'a', spec, replicas: 10_000, at }).ok, true);
  assert.equal(applyCommand(db, { type: 'service.create', id: 'b', name: 'b', spec, replicas: 10_000, at }).ok, true);
  assert.equal(applyCommand(db, { type: 'service.update', name: 'a', changes: { replicas: 9_000 }, maxReplicas: 5_000, at }).ok, true, 'lowering is never refused');
  assert.throws(() => requireReplicasWithinLimit(db, 'a', 9_500, 5_000, 9_000), { code: 'REPLICA_LIMIT' });
  assert.doesNotThrow(() => requireReplicasWithinLimit(db, 'a', 8_000, 5_000, 9_000));
  const image = applyCommand(db, { type: 'service.update', name: 'a', changes: { image: 'j' }, maxReplicas: 5_000, at });
  assert.equal(image.ok, true, 'a change that is not of replicas is not checked');
  db.close();
});
