import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BicycleError } from '../../daemon/errors';
import {
  MAX_REPLICAS,
  parseFlag,
  parseInteger,
  parseNewService,
  parseNodeChanges,
  parseServiceChanges,
  parseServiceName,
} from '../../modules/validation';

/** Asserts `fn` throws INVALID_ARGUMENT (HTTP 400) whose message matches every pattern. */
function assertInvalid(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof BicycleError, `expected a BicycleError, got ${String(error)}`);
    assert.equal(error.code, 'INVALID_ARGUMENT', error.message);
    assert.equal(error.status, 400);
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  });
}

describe('parseNewService: good input', () => {
  test('name and image alone are enough: replicas default to 1, env and labels to {}, command to null', () => {
    assert.deepEqual(parseNewService({ name: 'web', image: 'nginx:1.27' }), {
      name: 'web',
      replicas: 1,
      spec: { image: 'nginx:1.27', command: null, env: {}, labels: {} },
    });
  });

  test('every field given is kept', () => {
    const parsed = parseNewService({
      name: 'api_v2-x',
      image: 'registry.example.com:5000/team/api@sha256:abc',
      replicas: 0,
      command: ['node', 'server.js'],
      env: { NODE_ENV: 'production', _X: '', 'a.b': 'c' },
      labels: { tier: 'back', 'com.example/owner': 'ops' },
    });
    assert.deepEqual(parsed, {
      name: 'api_v2-x',
      replicas: 0,
      spec: {
        image: 'registry.example.com:5000/team/api@sha256:abc',
        command: ['node', 'server.js'],
        env: { NODE_ENV: 'production', _X: '', 'a.b': 'c' },
        labels: { tier: 'back', 'com.example/owner': 'ops' },
      },
    });
  });

  test(`replicas may be anything from 0 to ${MAX_REPLICAS}`, () => {
    assert.equal(parseNewService({ name: 'w', image: 'i', replicas: 0 }).replicas, 0);
    assert.equal(parseNewService({ name: 'w', image: 'i', replicas: MAX_REPLICAS }).replicas, MAX_REPLICAS);
  });

  test('command null means the image\'s own command', () => {
    assert.equal(parseNewService({ name: 'w', image: 'i', command: null }).spec.command, null);
  });
});

describe('parseNewService: bad input names the field', () => {
  test('a body that is not a JSON object is refused', () => {
    for (const body of [null, undefined, 'web', 42, ['web']]) assertInvalid(() => parseNewService(body), /the service must be a JSON object/);
  });

  test('a missing image is refused: "image: is required"', () => {
    assertInvalid(() => parseNewService({ name: 'web' }), /^image: is required$/);
  });

  test('a missing name is refused naming name', () => {
    assertInvalid(() => parseNewService({ image: 'nginx' }), /^name: is required$/);
  });

  test('an empty image or one with spaces is refused naming image', () => {
    assertInvalid(() => parseNewService({ name: 'web', image: '' }), /^image: /, /empty/);
    assertInvalid(() => parseNewService({ name: 'web', image: 'nginx latest' }), /^image: /, /spaces/);
    assertInvalid(() => parseNewService({ name: 'web', image: 7 }), /^image: must be a string$/);
  });

  for (const replicas of [-1, 'abc', 1.5, MAX_REPLICAS + 1, '3', null, true]) {
    test(`replicas ${JSON.stringify(replicas)} is refused: a whole number from 0 to ${MAX_REPLICAS}`, () => {
      assertInvalid(() => parseNewService({ name: 'web', image: 'nginx', replicas }), /^replicas: /, /whole number from 0 to 10000/);
    });
  }

  for (const name of ['my web', '', '-web', 'web!', 'a'.repeat(64)]) {
    test(`service name ${JSON.stringify(name.length > 20 ? name.slice(0, 8) + '…' : name)} is refused naming name`, () => {
      assertInvalid(() => parseNewService({ name, image: 'nginx' }), /^name: /, /letters, digits/);
    });
  }

  test('a name of 63 characters is accepted, 64 is not', () => {
    assert.equal(parseNewService({ name: 'a'.repeat(63), image: 'i' }).name.length, 63);
  });

  test('an unknown field is refused and named', () => {
    assertInvalid(() => parseNewService({ name: 'web', image: 'nginx', replica: 3 }), /unknown field "replica" in the service/);
  });

  test('several unknown fields are all named', () => {
    assertInvalid(() => parseNewService({ name: 'web', image: 'nginx', ports: [80], volumes: [] }), /unknown fields/, /"ports"/, /"volumes"/);
  });

  test('a command that is not an array is refused with an example', () => {
    assertInvalid(() => parseNewService({ name: 'web', image: 'nginx', command: 'sleep 3600' }), /^command: /, /array of strings/);
  });

  test('a command with a non-string argument is refused naming its position', () => {
    assertInvalid(() => parseNewService({ name: 'web', image: 'nginx', command: ['sleep', 3600] }), /^command\.1: /, /string/);
  });

  test('an empty command array is refused (leave it out instead)', () => {
    assertInvalid(() => parseNewService({ name: 'web', image: 'nginx', command: [] }), /^command: /, /empty/);
  });

  test('an env value that is not a string is refused naming the variable', () => {
    assertInvalid(() => parseNewService({ name: 'web', image: 'nginx', env: { PORT: 8080 } }), /^env\.PORT: /, /must be strings/);
  });

  test('env that is not an object is refused naming env', () => {
    assertInvalid(() => parseNewService({ name: 'web', image: 'nginx', env: ['A=1'] }), /^env: /, /object of string values/);
    assertInvalid(() => parseNewService({ name: 'web', image: 'nginx', env: 'A=1' }), /^env: /, /object of string values/);
  });

  test('an env variable name starting with a digit or holding "=" is refused', () => {
    assertInvalid(() => parseNewService({ name: 'web', image: 'nginx', env: { '1A': 'x' } }), /^env\.1A: /);
    assertInvalid(() => parseNewService({ name: 'web', image: 'nginx', env: { 'A=B': 'x' } }), /^env\.A=B: /);
  });

  test('label keys starting with io.bicycle. are reserved', () => {
    assertInvalid(() => parseNewService({ name: 'web', image: 'nginx', labels: { 'io.bicycle.task': 'x' } }), /^labels\.io\.bicycle\.task: /, /reserved/);
  });

  test('a label value that is not a string is refused naming the label', () => {
    assertInvalid(() => parseNewService({ name: 'web', image: 'nginx', labels: { tier: 1 } }), /^labels\.tier: /);
  });
});

describe('parseServiceChanges', () => {
  test('only the fields given are returned', () => {
    assert.deepEqual(parseServiceChanges({ replicas: 5 }), { replicas: 5 });
    assert.deepEqual(parseServiceChanges({ image: 'nginx:1.28', env: { A: '1' } }), { image: 'nginx:1.28', env: { A: '1' } });
  });

  test('command null clears the command', () => {
    assert.deepEqual(parseServiceChanges({ command: null }), { command: null });
  });

  test('an empty update is refused, saying what may be given', () => {
    assertInvalid(() => parseServiceChanges({}), /the update/, /at least one of image, replicas, command, env, labels/);
  });

  test('the name cannot be changed: it is an unknown field of an update', () => {
    assertInvalid(() => parseServiceChanges({ name: 'other' }), /unknown field "name" in the update/);
  });

  test('bad values are refused naming the field, as on create', () => {
    assertInvalid(() => parseServiceChanges({ replicas: -1 }), /^replicas: /);
    assertInvalid(() => parseServiceChanges({ replicas: 'abc' }), /^replicas: /);
    assertInvalid(() => parseServiceChanges({ image: '' }), /^image: /);
    assertInvalid(() => parseServiceChanges({ command: 'ls' }), /^command: /);
    assertInvalid(() => parseServiceChanges({ labels: { 'io.bicycle.node': 'n1' } }), /^labels\.io\.bicycle\.node: /, /reserved/);
  });

  test('a body that is not a JSON object is refused', () => {
    assertInvalid(() => parseServiceChanges([]), /the update must be a JSON object/);
  });
});

describe('other request values', () => {
  test('node availability is one of active, drain, pause', () => {
    assert.deepEqual(parseNodeChanges({ availability: 'drain' }), { availability: 'drain' });
    assertInvalid(() => parseNodeChanges({ availability: 'off' }), /^availability: /, /active, drain, pause/);
    assertInvalid(() => parseNodeChanges({}), /^availability: /);
  });

  test('a service name in a path is checked like a name in a body', () => {
    assert.equal(parseServiceName('web-1'), 'web-1');
    assertInvalid(() => parseServiceName('web 1'), /^service name: /);
  });

  test('parseFlag: absent gives the default; true, 1 and empty mean true; false and 0 mean false', () => {
    assert.equal(parseFlag(undefined, 'follow', false), false);
    assert.equal(parseFlag(undefined, 'follow', true), true);
    for (const v of ['true', '1', '']) assert.equal(parseFlag(v, 'follow', false), true, v);
    for (const v of ['false', '0']) assert.equal(parseFlag(v, 'follow', true), false, v);
  });

  test('parseFlag: anything else is refused naming the flag', () => {
    for (const v of ['yes', 'TRUE', '2', ['true', 'false']]) assertInvalid(() => parseFlag(v, 'follow', false), /^follow: must be true or false$/);
  });

  test('parseInteger: absent gives the default; a whole number in range is returned as a number', () => {
    assert.equal(parseInteger(undefined, 'tail', 100, 0, 1000), 100);
    assert.equal(parseInteger('0', 'tail', 100, 0, 1000), 0);
    assert.equal(parseInteger('250', 'tail', 100, 0, 1000), 250);
    assert.equal(parseInteger('1000', 'tail', 100, 0, 1000), 1000);
  });

  test('parseInteger: non-numbers, fractions, empty text and out-of-range values are refused naming the parameter and the range', () => {
    for (const v of ['abc', '1.5', '', ' ', '-1', '1001', ['5', '6'], 5]) {
      assertInvalid(() => parseInteger(v, 'tail', 100, 0, 1000), /^tail: must be a whole number from 0 to 1000$/);
    }
  });
});
