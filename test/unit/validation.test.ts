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
  test('name and image alone are enough: replicas default to 1, env and labels to {}, command to null, ports to []', () => {
    assert.deepEqual(parseNewService({ name: 'web', image: 'nginx:1.27' }), {
      name: 'web',
      replicas: 1,
      spec: { image: 'nginx:1.27', command: null, env: {}, labels: {}, ports: [] },
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
      ports: [{ published: 8443, target: 443, protocol: 'tcp', mode: 'host', proxy: 'v2' }],
    });
    assert.deepEqual(parsed, {
      name: 'api_v2-x',
      replicas: 0,
      spec: {
        image: 'registry.example.com:5000/team/api@sha256:abc',
        command: ['node', 'server.js'],
        env: { NODE_ENV: 'production', _X: '', 'a.b': 'c' },
        labels: { tier: 'back', 'com.example/owner': 'ops' },
        ports: [{ published: 8443, target: 443, protocol: 'tcp', mode: 'host', proxy: 'v2' }],
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
    assertInvalid(() => parseNewService({ name: 'web', image: 'nginx', networks: [], volumes: [] }), /unknown fields/, /"networks"/, /"volumes"/);
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

describe('ports', () => {
  const withPorts = (ports: unknown) => parseNewService({ name: 'web', image: 'nginx', ports }).spec.ports;

  test('protocol, mode and proxy default to tcp, ingress and none', () => {
    assert.deepEqual(withPorts([{ published: 8080, target: 80 }]), [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress', proxy: 'none' }]);
  });

  test('every mode and proxy is accepted, ports 1 and 65535 too', () => {
    assert.deepEqual(
      withPorts([
        { published: 1, target: 65535, mode: 'host', proxy: 'v1' },
        { published: 65535, target: 1, protocol: 'tcp', mode: 'ingress', proxy: 'v2' },
      ]),
      [
        { published: 1, target: 65535, protocol: 'tcp', mode: 'host', proxy: 'v1' },
        { published: 65535, target: 1, protocol: 'tcp', mode: 'ingress', proxy: 'v2' },
      ],
    );
  });

  test('an empty list is accepted (no published ports)', () => {
    assert.deepEqual(withPorts([]), []);
  });

  for (const value of [0, 65536, -1, 80.5, '8080', null, true]) {
    test(`published ${JSON.stringify(value)} is refused naming ports.N.published and the range`, () => {
      assertInvalid(
        () => withPorts([{ published: 8080, target: 80 }, { published: value, target: 80 }]),
        /^ports\.1\.published: must be a whole number from 1 to 65535$/,
      );
    });
  }

  test('a bad target is refused naming ports.N.target', () => {
    assertInvalid(() => withPorts([{ published: 8080, target: 0 }]), /^ports\.0\.target: must be a whole number from 1 to 65535$/);
    assertInvalid(() => withPorts([{ published: 8080, target: 'http' }]), /^ports\.0\.target: must be a whole number from 1 to 65535$/);
  });

  test('a missing published or target port is required by name', () => {
    assertInvalid(() => withPorts([{ target: 80 }]), /^ports\.0\.published: is required$/);
    assertInvalid(() => withPorts([{ published: 8080 }]), /^ports\.0\.target: is required$/);
  });

  test('udp is refused saying it is not supported', () => {
    assertInvalid(() => withPorts([{ published: 53, target: 53, protocol: 'udp' }]), /^ports\.0\.protocol: /, /"tcp"/, /udp is not supported/);
  });

  test('an unknown mode or proxy is refused naming the field and what is accepted', () => {
    assertInvalid(() => withPorts([{ published: 80, target: 80, mode: 'global' }]), /^ports\.0\.mode: must be "ingress" or "host"$/);
    assertInvalid(() => withPorts([{ published: 80, target: 80, proxy: 'v3' }]), /^ports\.0\.proxy: must be "none", "v1" or "v2"$/);
    assertInvalid(() => withPorts([{ published: 80, target: 80, proxy: true }]), /^ports\.0\.proxy: /);
  });

  test('a published port given twice is refused naming the port and both entries', () => {
    assertInvalid(
      () => withPorts([{ published: 8080, target: 80 }, { published: 9090, target: 90 }, { published: 8080, target: 81, mode: 'host' }]),
      /^ports\.2\.published: port 8080 is already published by ports\.0$/,
    );
  });

  test('the same target behind two published ports is fine', () => {
    assert.equal(withPorts([{ published: 8080, target: 80 }, { published: 8081, target: 80 }]).length, 2);
  });

  test('an unknown field of a port is refused naming the port', () => {
    assertInvalid(() => withPorts([{ published: 80, target: 80, host_ip: '0.0.0.0' }]), /^unknown field "host_ip" in ports\.0$/);
  });

  test('ports that are not an array of objects are refused with an example', () => {
    assertInvalid(() => withPorts('8080:80'), /^ports: must be an array of ports, e.g. /);
    assertInvalid(() => withPorts({ published: 8080, target: 80 }), /^ports: must be an array/);
    assertInvalid(() => withPorts([8080]), /^ports\.0: must be an object, e.g. /);
    assertInvalid(() => withPorts(null), /^ports: /);
  });

  test('ports may be changed alone by an update, or cleared with []; bad ones are refused as on create', () => {
    assert.deepEqual(parseServiceChanges({ ports: [{ published: 8080, target: 80, proxy: 'v1' }] }), {
      ports: [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress', proxy: 'v1' }],
    });
    assert.deepEqual(parseServiceChanges({ ports: [] }), { ports: [] });
    assertInvalid(() => parseServiceChanges({ ports: [{ published: 70000, target: 80 }] }), /^ports\.0\.published: must be a whole number from 1 to 65535$/);
    assertInvalid(() => parseServiceChanges({ ports: [{ published: 1, target: 1 }, { published: 1, target: 2 }] }), /^ports\.1\.published: port 1 is already published/);
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
    assertInvalid(() => parseServiceChanges({}), /the update/, /at least one of image, replicas, command, env, labels, ports, onDisconnect, healthcheck, restart, update, rollback, stopGracePeriod, placement, resources, mode, prepull, secrets$/);
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
    assertInvalid(() => parseNodeChanges({}), /^the node update: give at least one of availability, labels, labelAdd, labelRm$/);
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

  test('parseInteger: only decimal digits (not 0x10, 1e3, " 12")', () => {
    for (const text of ['0x10', '1e3', ' 12', '12 ', '+5', '']) assertInvalid(() => parseInteger(text, 'tail', 100, 0, 1000), /tail: must be a whole number/);
  });

  test('a __proto__ key anywhere in a body is refused, naming where', () => {
    assertInvalid(() => parseNewService(JSON.parse('{"name":"a","image":"i","env":{"__proto__":"x"}}')), /^env\.__proto__: "__proto__" is not accepted as a key$/);
    assertInvalid(() => parseServiceChanges(JSON.parse('{"labels":{"__proto__":"x"}}')), /labels\.__proto__/);
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
