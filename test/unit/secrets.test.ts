import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openSecret, sealSecret, secretAad, SecretOpenError } from '../../daemon/secret-box';
import { deriveSecretsKey, ensureSecretsKey, grantWithSecretsKey, isKeyFileLocked, lockState, readSecretsKey, SecretsKeyring, secretsKeyMode, settleSecretsKey, unlockSecretsKey, writeSecretsKey } from '../../daemon/secrets-key';
import { readFileSync } from 'node:fs';
import { BicycleError } from '../../daemon/errors';
import { applyCommand, type ApplyResult } from '../../database/apply-command';
import type { Command, ServiceSpec } from '../../database/commands';
import { openDatabase, type Db } from '../../database/open-database';
import { getService, listServiceVersions } from '../../database/queries';
import { getSealedSecret, getSecret, listSecrets } from '../../database/secrets';
import { SqliteStateMachine } from '../../daemon/voting/state-machine';
import { eventsOfEntry } from '../../database/events';
import { parseNewSecret, parseNewService, parseSecretValue, parseServiceChanges } from '../../modules/validation';

const AT = 1_700_000_000_000;
const KEY = Buffer.alloc(32, 7);
const quiet = { warn() {}, info() {} };

describe('secret box (AES-256-GCM)', () => {
  test('a sealed value opens with the same key and associated data, and holds no plaintext', () => {
    const plaintext = Buffer.from('hunter2-correct-horse');
    const sealed = sealSecret(KEY, plaintext, secretAad('id1', 'db-pass'));
    assert.match(sealed, /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    assert.ok(!sealed.includes('hunter2'));
    assert.ok(!Buffer.from(sealed.split('.')[2]!, 'base64url').includes(plaintext));
    assert.deepEqual(openSecret(KEY, sealed, secretAad('id1', 'db-pass')), plaintext);
  });

  test('a new random 96-bit nonce per value: the same plaintext seals differently', () => {
    const a = sealSecret(KEY, Buffer.from('same'), 'aad');
    const b = sealSecret(KEY, Buffer.from('same'), 'aad');
    assert.notEqual(a, b);
    assert.equal(Buffer.from(a.split('.')[1]!, 'base64url').length, 12);
  });

  test('the nonce comes from the injected randomness', () => {
    const sealed = sealSecret(KEY, Buffer.from('x'), 'aad', (n) => Buffer.alloc(n, 1));
    assert.equal(sealed.split('.')[1], Buffer.alloc(12, 1).toString('base64url'));
  });

  test('another key, another secret\'s associated data, or a changed byte does not open', () => {
    const sealed = sealSecret(KEY, Buffer.from('value'), secretAad('id1', 'a'));
    assert.throws(() => openSecret(Buffer.alloc(32, 8), sealed, secretAad('id1', 'a')), SecretOpenError);
    assert.throws(() => openSecret(KEY, sealed, secretAad('id2', 'a')), SecretOpenError);
    assert.throws(() => openSecret(KEY, sealed, secretAad('id1', 'b')), SecretOpenError);
    const parts = sealed.split('.');
    const body = Buffer.from(parts[2]!, 'base64url');
    body[0] ^= 1;
    assert.throws(() => openSecret(KEY, [parts[0], parts[1], body.toString('base64url'), parts[3]].join('.'), secretAad('id1', 'a')), /does not open/);
    assert.throws(() => openSecret(KEY, 'plain text', 'aad'), /not a sealed secret value/);
  });

  test('a key of the wrong length is refused', () => {
    assert.throws(() => sealSecret(Buffer.alloc(16), Buffer.from('x'), 'aad'), /32 bytes, not 16/);
  });
});

describe('the secrets key file', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'bicycle-key-'));

  test('made once with mode 0600, then read back; a second ensure keeps it', () => {
    const d = dir();
    try {
      assert.equal(readSecretsKey(d), null);
      const key = ensureSecretsKey(d);
      assert.equal(key.length, 32);
      assert.equal(secretsKeyMode(d), 0o600);
      assert.deepEqual(ensureSecretsKey(d), key);
      assert.deepEqual(readSecretsKey(d), key);
    } finally {
      rmSync(d, { recursive: true });
    }
  });

  test('writing another key over a node\'s key is refused; the same key is fine', () => {
    const d = dir();
    try {
      writeSecretsKey(d, KEY);
      writeSecretsKey(d, KEY);
      assert.throws(() => writeSecretsKey(d, Buffer.alloc(32, 9)), /already holds another secrets key/);
    } finally {
      rmSync(d, { recursive: true });
    }
  });

  test('a file that is not a key is refused, naming it', () => {
    const d = dir();
    try {
      writeFileSync(join(d, 'secrets.key'), 'c2hvcnQ=\n');
      assert.throws(() => readSecretsKey(d), /secrets\.key is not a secrets key \(expected 32 bytes in base64, found 5\)/);
    } finally {
      rmSync(d, { recursive: true });
    }
  });

  test('the keyring says SECRETS_KEY_UNAVAILABLE with the path while there is none, and finds one written later', () => {
    const d = dir();
    try {
      const keyring = new SecretsKeyring(d);
      assert.throws(() => keyring.key(), (e: unknown) => e instanceof BicycleError && e.code === 'SECRETS_KEY_UNAVAILABLE' && e.message.includes(join(d, 'secrets.key')));
      writeSecretsKey(d, KEY);
      assert.deepEqual(keyring.key(), KEY);
    } finally {
      rmSync(d, { recursive: true });
    }
  });

  test('a fixed cluster\'s members derive one key from their shared secret; a joiner takes the grant\'s', () => {
    assert.deepEqual(deriveSecretsKey('shared'), deriveSecretsKey('shared'));
    assert.notDeepEqual(deriveSecretsKey('shared'), deriveSecretsKey('other'));
    const founder = dir();
    const joiner = dir();
    try {
      settleSecretsKey(founder, { kind: 'found' }, quiet);
      const grant = grantWithSecretsKey(founder, { clusterId: 'c' });
      assert.equal(typeof grant.secretsKey, 'string');
      settleSecretsKey(joiner, { kind: 'joined', key: grant.secretsKey }, quiet);
      assert.deepEqual(readSecretsKey(joiner), readSecretsKey(founder));
      assert.equal(secretsKeyMode(joiner), 0o600);
    } finally {
      rmSync(founder, { recursive: true });
      rmSync(joiner, { recursive: true });
    }
  });
});

describe('secret requests and service secrets: validation', () => {
  test('a secret: name and base64 data; the value comes out decoded', () => {
    assert.deepEqual(parseNewSecret({ name: 'db-pass', data: Buffer.from('s3cret').toString('base64') }), { name: 'db-pass', value: Buffer.from('s3cret') });
    assert.deepEqual(parseSecretValue({ data: '' }), Buffer.alloc(0));
    assert.throws(() => parseNewSecret({ name: 'db pass', data: '' }), /name: must be 1-63 letters/);
    assert.throws(() => parseNewSecret({ name: 'a', data: 'not base64!' }), /data: must be the value in base64/);
    assert.throws(() => parseNewSecret({ name: 'a', data: Buffer.alloc(500 * 1024 + 1).toString('base64') }), /at most 500 KiB/);
    assert.throws(() => parseNewSecret({ name: 'a', data: '', value: 'x' }), /unknown field "value"/);
  });

  test('a service\'s secrets: target defaults to /run/secrets/<source>, mode to 0444; modes are octal, padded to four digits', () => {
    const { spec } = parseNewService({ name: 'web', image: 'nginx', secrets: [{ source: 'db-pass' }, { source: 'tls', target: '/etc/app/key.pem', mode: '400' }] });
    assert.deepEqual(spec.secrets, [
      { source: 'db-pass', target: '/run/secrets/db-pass', mode: '0444' },
      { source: 'tls', target: '/etc/app/key.pem', mode: '0400' },
    ]);
    assert.equal(parseNewService({ name: 'web', image: 'nginx' }).spec.secrets, undefined);
    assert.deepEqual(parseServiceChanges({ secrets: [] }), { secrets: [] });
  });

  for (const [what, secrets, message] of [
    ['a relative target', [{ source: 'a', target: 'run/a' }], /secrets\.0\.target: must be an absolute path/],
    ['a target with ..', [{ source: 'a', target: '/run/../etc/passwd' }], /secrets\.0\.target: must be an absolute path/],
    ['the root as target', [{ source: 'a', target: '/' }], /secrets\.0\.target/],
    ['a target with a comma', [{ source: 'a', target: '/run/a,b' }], /secrets\.0\.target/],
    ['a decimal mode', [{ source: 'a', mode: '0999' }], /secrets\.0\.mode: must be octal permission bits/],
    ['a numeric mode', [{ source: 'a', mode: 256 }], /secrets\.0\.mode: must be octal/],
    ['a bad source', [{ source: '-a' }], /secrets\.0\.source: must be 1-63/],
    ['two secrets at one target', [{ source: 'a', target: '/x' }, { source: 'b', target: '/x' }], /secrets\.1\.target: target \/x is already secrets\.0's/],
    ['an unknown field', [{ source: 'a', uid: 0 }], /unknown field "uid"/],
  ] as const) {
    test(`refused: ${what}`, () => {
      assert.throws(() => parseNewService({ name: 'web', image: 'nginx', secrets }), (e: unknown) => e instanceof BicycleError && e.code === 'INVALID_ARGUMENT' && (message as RegExp).test(e.message));
    });
  }
});

function ok(result: ApplyResult): void {
  assert.equal(result.ok, true, result.ok ? '' : `refused: ${result.error.code} ${result.error.message}`);
}

function refused(result: ApplyResult, code: string): string {
  assert.equal(result.ok, false, `expected ${code}`);
  const error = (result as { error: { code: string; message: string } }).error;
  assert.equal(error.code, code, error.message);
  return error.message;
}

function sealed(id: string, name: string, text: string): string {
  return sealSecret(KEY, Buffer.from(text), secretAad(id, name));
}

function spec(overrides: Partial<ServiceSpec> = {}): ServiceSpec {
  return { image: 'nginx:1.27', command: null, env: {}, labels: {}, ports: [], ...overrides };
}

function opened(db: Db, name: string, version: number): string {
  const row = getSealedSecret(db, name, version)!;
  return openSecret(KEY, row.value, secretAad(row.id, name)).toString();
}

/** A database with secret db-pass (value v1) and service web (RUNNING) mounting it. */
function withSecretAndService(): Db {
  const db = openDatabase(':memory:', { migrate: true });
  ok(applyCommand(db, { type: 'secret.create', id: 's1', name: 'db-pass', value: sealed('s1', 'db-pass', 'v1'), at: AT }));
  ok(applyCommand(db, { type: 'service.create', id: 'svc', name: 'web', spec: spec({ secrets: [{ source: 'db-pass', target: '/run/secrets/db', mode: '0400' }] }), replicas: 2, at: AT }));
  ok(applyCommand(db, { type: 'service.set-state', name: 'web', state: 'DEPLOYING', version: 1, at: AT }));
  ok(applyCommand(db, { type: 'service.set-state', name: 'web', state: 'RUNNING', version: 1, at: AT }));
  return db;
}

describe('applying secret commands', () => {
  test('a service pins the secret\'s current version; a service naming an unknown secret is refused', () => {
    const db = withSecretAndService();
    assert.deepEqual(getService(db, 'web')!.secrets, [{ source: 'db-pass', target: '/run/secrets/db', mode: '0400', version: 1 }]);
    assert.match(refused(applyCommand(db, { type: 'service.create', id: 'x', name: 'api', spec: spec({ secrets: [{ source: 'nope', target: '/run/secrets/nope', mode: '0444' }] }), replicas: 1, at: AT }), 'SECRET_NOT_FOUND'), /no secret named nope/);
    assert.equal(getService(db, 'api'), undefined);
    assert.match(refused(applyCommand(db, { type: 'secret.create', id: 's2', name: 'db-pass', value: 'v1.x', at: AT }), 'SECRET_EXISTS'), /already exists/);
  });

  test('secret.update: version 2, and the service that mounts it gets a new spec version under an update; rollback mounts version 1 again', () => {
    const db = withSecretAndService();
    ok(applyCommand(db, { type: 'secret.update', id: 's1', name: 'db-pass', value: sealed('s1', 'db-pass', 'v2'), at: AT + 1 }));
    const web = getService(db, 'web')!;
    assert.equal(getSecret(db, 'db-pass')!.version, 2);
    assert.equal(web.specVersion, 2);
    assert.equal(web.state, 'UPDATING');
    assert.deepEqual(web.updateStatus && { kind: web.updateStatus.kind, from: web.updateStatus.fromVersion, to: web.updateStatus.toVersion }, { kind: 'update', from: 1, to: 2 });
    assert.equal(web.secrets[0]!.version, 2);
    assert.deepEqual(listServiceVersions(db, 'web').map((v) => [v.specVersion, v.secrets[0]!.version]), [[2, 2], [1, 1]]);
    assert.equal(opened(db, 'db-pass', 1), 'v1');
    assert.equal(opened(db, 'db-pass', 2), 'v2');
    ok(applyCommand(db, { type: 'service.rollback', name: 'web', reason: 'asked', at: AT + 2 }));
    const back = getService(db, 'web')!;
    assert.equal(back.state, 'ROLLING_BACK');
    assert.deepEqual(back.secrets, [{ source: 'db-pass', target: '/run/secrets/db', mode: '0400', version: 1 }]);
  });

  test('a value no service and no recorded version pins is forgotten; the current one is kept', () => {
    const db = openDatabase(':memory:', { migrate: true });
    ok(applyCommand(db, { type: 'secret.create', id: 's1', name: 'a', value: sealed('s1', 'a', '1'), at: AT }));
    ok(applyCommand(db, { type: 'secret.update', id: 's1', name: 'a', value: sealed('s1', 'a', '2'), at: AT }));
    ok(applyCommand(db, { type: 'secret.update', id: 's1', name: 'a', value: sealed('s1', 'a', '3'), at: AT }));
    assert.deepEqual(db.prepare("SELECT version FROM secret_versions WHERE secret_name = 'a'").pluck().all(), [3]);
  });

  test('an update sealed for a secret that was removed and made again is refused', () => {
    const db = openDatabase(':memory:', { migrate: true });
    ok(applyCommand(db, { type: 'secret.create', id: 's1', name: 'a', value: sealed('s1', 'a', '1'), at: AT }));
    ok(applyCommand(db, { type: 'secret.remove', name: 'a', at: AT }));
    ok(applyCommand(db, { type: 'secret.create', id: 's2', name: 'a', value: sealed('s2', 'a', '1'), at: AT }));
    assert.match(refused(applyCommand(db, { type: 'secret.update', id: 's1', name: 'a', value: sealed('s1', 'a', '2'), at: AT }), 'SECRET_NOT_FOUND'), /removed and created again/);
  });

  test('secret.remove is refused while a service mounts it, naming the service; allowed once none does', () => {
    const db = withSecretAndService();
    assert.match(refused(applyCommand(db, { type: 'secret.remove', name: 'db-pass', at: AT }), 'SECRET_IN_USE'), /used by service web; remove it from them first/);
    ok(applyCommand(db, { type: 'service.update', name: 'web', changes: { secrets: [] }, at: AT + 1 }));
    assert.equal(getService(db, 'web')!.specVersion, 2);
    ok(applyCommand(db, { type: 'secret.remove', name: 'db-pass', at: AT + 2 }));
    assert.deepEqual(listSecrets(db), []);
    assert.equal(db.prepare('SELECT count(*) FROM secret_versions').pluck().get(), 0);
    // Version 1 of web pinned the removed secret: rolling back to it says why it cannot.
    assert.match(refused(applyCommand(db, { type: 'service.rollback', name: 'web', toVersion: 1, reason: 'asked', at: AT + 3 }), 'SECRET_NOT_FOUND'), /mounts version 1 of secret db-pass, which is no longer kept/);
    assert.match(refused(applyCommand(db, { type: 'secret.remove', name: 'db-pass', at: AT }), 'SECRET_NOT_FOUND'), /no secret named db-pass/);
  });

  test('a snapshot carries the secrets with their sealed values; a node restored from it opens them', () => {
    const db = withSecretAndService();
    const data = new SqliteStateMachine(db).snapshotData();
    assert.ok(!data.includes('"v1"'));
    const other = openDatabase(':memory:', { migrate: true });
    new SqliteStateMachine(other).restore({ data, meta: { index: 5, term: 1, conf: { voters: ['n1'], learners: [] } } } as never);
    assert.equal(opened(other, 'db-pass', 1), 'v1');
    assert.deepEqual(getService(other, 'web')!.secrets, getService(db, 'web')!.secrets);
  });

  test('events name a secret, never its value', () => {
    const command: Command = { type: 'secret.update', id: 's1', name: 'db-pass', value: sealed('s1', 'db-pass', 'v2'), at: AT };
    const events = eventsOfEntry({ index: 3, term: 1, command });
    assert.deepEqual(events.map((e) => [e.type, e.action, e.attributes]), [['secret', 'update', { name: 'db-pass', id: 's1' }]]);
    assert.ok(!JSON.stringify(events).includes(command.value));
  });

  test('random plaintext never lands in the database', () => {
    const db = openDatabase(':memory:', { migrate: true });
    const plain = randomBytes(16).toString('hex');
    ok(applyCommand(db, { type: 'secret.create', id: 's1', name: 'a', value: sealed('s1', 'a', plain), at: AT }));
    assert.ok(!JSON.stringify(db.prepare('SELECT * FROM secret_versions').all()).includes(plain));
  });
});

describe('autolock: the secrets key file sealed by a passphrase', () => {
  const quietLog = { warn: () => undefined, info: () => undefined };
  const tmp = () => mkdtempSync(join(tmpdir(), 'bicycle-autolock-unit-'));

  test('a founder with --autolock writes the key sealed from the first byte, and holds it open', () => {
    const d = tmp();
    try {
      const locked = settleSecretsKey(d, { kind: 'found' }, quietLog, { autolock: true, passphrase: 'pass phrase' });
      assert.equal(locked, false);
      assert.ok(isKeyFileLocked(d));
      assert.equal(secretsKeyMode(d), 0o600);
      const key = readSecretsKey(d)!;
      assert.equal(key.length, 32);
      assert.ok(!readFileSync(join(d, 'secrets.key'), 'utf8').includes(key.toString('base64')));
      assert.deepEqual(lockState(d), { autolock: true, locked: false });
    } finally {
      rmSync(d, { recursive: true });
    }
  });

  test('a joiner with --autolock seals the key of its grant; a locked member grants no key', () => {
    const founder = tmp();
    const joiner = tmp();
    try {
      settleSecretsKey(founder, { kind: 'found' }, quietLog);
      const grant = grantWithSecretsKey(founder, { clusterId: 'c' });
      settleSecretsKey(joiner, { kind: 'joined', key: grant.secretsKey }, quietLog, { autolock: true, passphrase: 'joiner' });
      assert.ok(isKeyFileLocked(joiner));
      assert.deepEqual(readSecretsKey(joiner), readSecretsKey(founder));
      assert.ok(!readFileSync(join(joiner, 'secrets.key'), 'utf8').includes(grant.secretsKey!));
    } finally {
      rmSync(founder, { recursive: true });
      rmSync(joiner, { recursive: true });
    }
  });

  test('a restart without the passphrase is locked until unlock; a wrong passphrase is refused; --autolock off opens the file for good', () => {
    const d = tmp();
    try {
      // Written by another process: this one holds nothing for it.
      settleSecretsKey(d, { kind: 'found' }, quietLog);
      const key = readSecretsKey(d)!;
      const sealedDir = tmp();
      try {
        writeSecretsKey(sealedDir, key, 'secret words');
        assert.equal(settleSecretsKey(sealedDir, { kind: 'restart', joined: false }, quietLog, { autolock: true }), true);
        assert.deepEqual(lockState(sealedDir), { autolock: true, locked: true });
        assert.throws(() => readSecretsKey(sealedDir), (e: unknown) => e instanceof BicycleError && e.code === 'SECRETS_KEY_UNAVAILABLE' && /this node is locked.*bicycle node unlock/.test(e.message));
        assert.throws(() => unlockSecretsKey(sealedDir, 'guess'), (e: unknown) => e instanceof BicycleError && e.code === 'INVALID_ARGUMENT' && /does not unlock/.test(e.message));
        assert.throws(() => settleSecretsKey(sealedDir, { kind: 'restart', joined: false }, quietLog, { autolock: true, passphrase: 'guess' }), /does not unlock/);
        unlockSecretsKey(sealedDir, 'secret words');
        assert.deepEqual(readSecretsKey(sealedDir), key);
        settleSecretsKey(sealedDir, { kind: 'restart', joined: false }, quietLog, { autolock: false, passphrase: 'secret words' });
        assert.equal(readFileSync(join(sealedDir, 'secrets.key'), 'utf8').trim(), key.toString('base64'));
        assert.throws(() => unlockSecretsKey(sealedDir, 'secret words'), /this node is not locked/);
      } finally {
        rmSync(sealedDir, { recursive: true });
      }
      // --autolock on a plain file without a passphrase: refused, the file as it was.
      assert.throws(() => settleSecretsKey(d, { kind: 'restart', joined: false }, quietLog, { autolock: true }), /--autolock needs the passphrase/);
      assert.equal(isKeyFileLocked(d), false);
    } finally {
      rmSync(d, { recursive: true });
    }
  });
});
