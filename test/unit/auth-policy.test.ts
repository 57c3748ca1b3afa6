import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { roleAllows, routeAccess } from '../../modules/auth-policy';
import { hashSecret, mintToken, parseToken } from '../../database/tokens';

describe('roles', () => {
  test('each role allows itself and the roles below it, never above', () => {
    const table: Array<[string, string, boolean]> = [
      ['read', 'read', true], ['read', 'operator', false], ['read', 'admin', false],
      ['operator', 'read', true], ['operator', 'operator', true], ['operator', 'admin', false],
      ['admin', 'read', true], ['admin', 'operator', true], ['admin', 'admin', true],
    ];
    for (const [role, needed, allowed] of table) assert.equal(roleAllows(role as never, needed as never), allowed, `${role} for ${needed}`);
  });

  test('routes: reads are read, service writes and logs operator, nodes, tokens, secrets, audit and the join token admin; unknown routes admin', () => {
    const table: Array<[string, string, string]> = [
      ['GET', '/healthz', 'public'], ['HEAD', '/healthz', 'public'], ['GET', '/ui/app.js', 'public'], ['POST', '/healthz', 'admin'],
      ['POST', '/cluster/raft', 'node'], ['POST', '/cluster/voting', 'node'], ['POST', '/cluster/join', 'node'],
      ['GET', '/cluster/join-token', 'admin'], ['GET', '/tokens', 'admin'], ['DELETE', '/tokens/ci', 'admin'], ['GET', '/audit', 'admin'], ['GET', '/debug/links', 'admin'], ['POST', '/debug/links', 'admin'], ['GET', '/node/lock', 'read'], ['POST', '/node/unlock', 'admin'], ['GET', '/secrets', 'admin'],
      ['GET', '/nodes', 'read'], ['GET', '/nodes/n1', 'read'], ['PATCH', '/nodes/n1', 'admin'], ['POST', '/nodes/n1/promote', 'admin'],
      ['GET', '/services', 'read'], ['GET', '/services/web', 'read'], ['GET', '/services/web/logs', 'operator'], ['GET', '/logs', 'operator'],
      ['POST', '/services', 'operator'], ['PATCH', '/services/web', 'operator'], ['DELETE', '/services/web', 'operator'], ['POST', '/rebalance', 'operator'],
      ['GET', '/state', 'read'], ['GET', '/events', 'read'], ['GET', '/metrics', 'read'], ['GET', '/openapi.json', 'read'],
      ['GET', '/something-new', 'admin'], ['POST', '/state', 'admin'],
    ];
    for (const [method, path, access] of table) assert.equal(routeAccess(method, path), access, `${method} ${path}`);
  });
});

describe('token strings and hashing', () => {
  test('a minted token parses back to its accessor and a secret whose SHA-256 is the stored hash', () => {
    const minted = mintToken();
    assert.match(minted.token, /^BAT1-[0-9a-f]{16}-[A-Za-z0-9_-]{43}$/);
    const parsed = parseToken(minted.token)!;
    assert.equal(parsed.accessor, minted.accessor);
    assert.equal(hashSecret(parsed.secret), minted.secretHash);
    assert.match(minted.secretHash, /^[0-9a-f]{64}$/);
    assert.ok(!minted.secretHash.includes(parsed.secret));
  });

  test('secrets are 256 random bits: two tokens never share accessor or secret', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const { token } = mintToken();
      const { accessor, secret } = parseToken(token)!;
      assert.ok(!seen.has(accessor) && !seen.has(secret));
      seen.add(accessor).add(secret);
      assert.equal(Buffer.from(secret, 'base64url').length, 32);
    }
  });

  test('anything not shaped like a token is refused', () => {
    for (const text of ['', 'BAT1-', 'BAT1-abc-def', 'BCT1-0123456789abcdef-' + 'A'.repeat(43), 'BAT1-0123456789ABCDEF-' + 'A'.repeat(43), 'BAT1-0123456789abcdef-' + 'A'.repeat(42)]) {
      assert.equal(parseToken(text), null, text);
    }
  });
});
