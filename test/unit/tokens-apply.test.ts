import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyCommand } from '../../database/apply-command';
import type { Command } from '../../database/commands';
import { openDatabase } from '../../database/open-database';
import { findToken, getToken, listTokens, mintToken } from '../../database/tokens';
import { SqliteStateMachine } from '../../daemon/voting/state-machine';

const AT = 1_700_000_000_000;
const spec = { image: 'busybox', command: null, env: {}, labels: {}, ports: [] };

function tokenCreate(name: string, role: 'read' | 'operator' | 'admin' = 'operator'): Command & { type: 'token.create' } {
  const minted = mintToken();
  return { type: 'token.create', accessor: minted.accessor, name, role, secretHash: minted.secretHash, expiresAt: null, createdBy: 'test', at: AT };
}

describe('token commands', () => {
  test('token.create keeps only the hash; a name in use is refused TOKEN_EXISTS; token.remove of an unknown accessor TOKEN_NOT_FOUND', () => {
    const db = openDatabase(':memory:', { migrate: true });
    const ci = tokenCreate('ci');
    assert.deepEqual(applyCommand(db, ci), { ok: true, changed: true });
    assert.equal(getToken(db, ci.accessor)?.secretHash, ci.secretHash);
    assert.equal(findToken(db, 'ci')?.accessor, ci.accessor);
    const again = applyCommand(db, tokenCreate('ci'));
    assert.equal(again.ok, false);
    assert.equal(!again.ok && again.error.code, 'TOKEN_EXISTS');
    const missing = applyCommand(db, { type: 'token.remove', accessor: '0123456789abcdef', at: AT });
    assert.equal(!missing.ok && missing.error.code, 'TOKEN_NOT_FOUND');
    assert.deepEqual(applyCommand(db, { type: 'token.remove', accessor: ci.accessor, at: AT }), { ok: true, changed: true });
    assert.deepEqual(listTokens(db), []);
  });

  test('a write made with a token that was removed before it committed is refused, on every node alike', () => {
    const db = openDatabase(':memory:', { migrate: true });
    const ci = tokenCreate('ci');
    applyCommand(db, ci);
    const write: Command = { type: 'service.create', id: 's1', name: 'web', spec, replicas: 1, at: AT, request: { id: 'req:1', actor: 'ci', accessor: ci.accessor } };
    applyCommand(db, { type: 'token.remove', accessor: ci.accessor, at: AT });
    const result = applyCommand(db, write);
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.error.code, 'UNAUTHENTICATED');
    assert.match(!result.ok ? result.error.message : '', /the token ci was removed before this write committed/);
    // Without an accessor (a tokenless local request, or the daemon's own), it applies.
    assert.equal(applyCommand(db, { ...write, request: { id: 'req:2', actor: 'local' } }).ok, true);
  });

  test('snapshots carry the tokens: a node restored from one authenticates the same tokens', () => {
    const leader = openDatabase(':memory:', { migrate: true });
    const machine = new SqliteStateMachine(leader);
    const ci = tokenCreate('ci', 'read');
    machine.apply([{ index: 1, term: 1, type: 'normal', data: JSON.stringify(ci) }]);
    const data = machine.snapshotData();
    assert.ok(!data.includes(ci.accessor) || data.includes(ci.secretHash), 'the row travels with its hash');
    const follower = openDatabase(':memory:', { migrate: true });
    new SqliteStateMachine(follower).restore({ meta: { index: 1, term: 1, conf: { voters: ['a'], learners: [] } }, data } as never);
    assert.deepEqual(getToken(follower, ci.accessor), getToken(leader, ci.accessor));
  });
});
