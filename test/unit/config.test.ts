import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, loadConfig } from '../../daemon/config';
import { assertInvalid } from '../helpers/assert-invalid';

const dir = mkdtempSync(join(tmpdir(), 'bicycle-config-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileCounter = 0;
function configFile(content: unknown): string {
  const file = join(dir, `config-${++fileCounter}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('loadConfig: defaults', () => {
  test('the embedded defaults alone are a valid configuration', () => {
    const config = loadConfig({});
    const defaults = defaultConfig();
    assert.equal(config.name, defaults.name);
    assert.equal(config.listen, '127.0.0.1:7070');
    assert.equal(config.dataDir, 'data');
    assert.equal(config.dockerSocket, '/var/run/docker.sock');
    assert.equal(config.logLevel, 'info');
    assert.deepEqual(config.deployment, { concurrency: 8, updateParallelism: 2, resyncIntervalMs: 5000, stopGracePeriodMs: 10_000, init: true, autoRebalance: false, maxReplicas: 50_000, strategy: 'spread', prepull: false });
    assert.deepEqual(config.monitoring, { statsIntervalMs: 5000 });
    assert.equal(config.role, 'manager');
    assert.equal(config.join, undefined);
    assert.deepEqual(config.voting, { tickMs: 100, electionTicks: 5, heartbeatTicks: 1, learnerHeartbeatTicks: 10, hostGraceMs: 3000, snapshotEveryEntries: 1000, forwardTimeoutMs: 10_000 });
  });

  test('join needs a token, and a joining node must advertise a reachable address', () => {
    assert.throws(() => loadConfig({ flags: { join: '10.0.0.1:7070' } }), /token: is required with join/);
    assert.throws(
      () => loadConfig({ flags: { join: '10.0.0.1:7070', token: 'BCT1-ab12-xyz', listen: '0.0.0.0:7070' } }),
      /advertise: 0\.0\.0\.0:7070 is not an address other nodes can reach/,
    );
    assert.throws(() => loadConfig({ flags: { join: '10.0.0.1:7070', token: 'nope' } }), /token: must be a join token/);
    assert.equal(loadConfig({ flags: { join: '10.0.0.1:7070', token: 'BCT1-ab12-xyz', advertise: '10.0.0.2:7070' } }).join, '10.0.0.1:7070');
  });

  test('a role other than manager or worker is refused', () => {
    assert.throws(() => loadConfig({ flags: { role: 'boss' } }), /role/);
  });

  test('the API listens on loopback by default (it has no authentication of its own)', () => {
    assert.match(loadConfig({}).listen, /^127\.0\.0\.1:/);
  });

  test('advertise defaults to the listen address', () => {
    assert.equal(loadConfig({ flags: { listen: '0.0.0.0:8080' } }).advertise, '0.0.0.0:8080');
    assert.equal(loadConfig({ flags: { listen: '0.0.0.0:8080', advertise: '10.0.0.5:8080' } }).advertise, '10.0.0.5:8080');
  });

  test('the default node name is valid whatever the host is called', () => {
    assert.match(defaultConfig().name, /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/);
  });
});

describe('loadConfig: precedence file < environment < flags', () => {
  test('a config file overrides the defaults', () => {
    const file = configFile({ listen: '0.0.0.0:9000', logLevel: 'debug' });
    const config = loadConfig({ file });
    assert.equal(config.listen, '0.0.0.0:9000');
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.dataDir, 'data', 'options the file leaves out keep their defaults');
  });

  test('a nested section in the file is merged with the defaults, not replacing them', () => {
    const file = configFile({ deployment: { concurrency: 3 } });
    const config = loadConfig({ file });
    assert.equal(config.deployment.concurrency, 3);
    assert.equal(config.deployment.updateParallelism, 2);
    assert.equal(config.deployment.init, true);
  });

  test('BICYCLE_* environment variables override the file', () => {
    const file = configFile({ listen: '0.0.0.0:9000', name: 'from-file', dataDir: '/file' });
    const config = loadConfig({ file, env: { BICYCLE_LISTEN: '0.0.0.0:9100', BICYCLE_NAME: 'from-env' } });
    assert.equal(config.listen, '0.0.0.0:9100');
    assert.equal(config.name, 'from-env');
    assert.equal(config.dataDir, '/file');
  });

  test('flags override environment variables and the file', () => {
    const file = configFile({ listen: '0.0.0.0:9000', logLevel: 'warn' });
    const config = loadConfig({
      file,
      env: { BICYCLE_LISTEN: '0.0.0.0:9100', BICYCLE_LOG_LEVEL: 'error' },
      flags: { listen: '0.0.0.0:9200' },
    });
    assert.equal(config.listen, '0.0.0.0:9200');
    assert.equal(config.logLevel, 'error', 'the environment still wins over the file where no flag is given');
  });

  test('every overridable option has its BICYCLE_* variable', () => {
    const config = loadConfig({
      env: {
        BICYCLE_NAME: 'n1',
        BICYCLE_LISTEN: '0.0.0.0:1',
        BICYCLE_ADVERTISE: 'host.example:1',
        BICYCLE_DATA_DIR: '/var/lib/bicycle',
        BICYCLE_DOCKER_SOCKET: '/run/docker.sock',
        BICYCLE_LOG_LEVEL: 'warn',
      },
    });
    assert.equal(config.name, 'n1');
    assert.equal(config.listen, '0.0.0.0:1');
    assert.equal(config.advertise, 'host.example:1');
    assert.equal(config.dataDir, '/var/lib/bicycle');
    assert.equal(config.dockerSocket, '/run/docker.sock');
    assert.equal(config.logLevel, 'warn');
  });

  test('an empty environment variable is ignored; unrelated variables are ignored', () => {
    const config = loadConfig({ env: { BICYCLE_LISTEN: '', PATH: '/bin', BICYCLE_UNRELATED: 'x' } });
    assert.equal(config.listen, '127.0.0.1:7070');
  });

  test('debugLinks is off by default, on from the file, BICYCLE_DEBUG_LINKS or the --debug-links flag, and anything but a boolean is refused naming it', () => {
    assert.equal(loadConfig({}).debugLinks, false);
    assert.equal(loadConfig({ file: configFile({ debugLinks: true }) }).debugLinks, true);
    assert.equal(loadConfig({ env: { BICYCLE_DEBUG_LINKS: 'true' } }).debugLinks, true);
    assert.equal(loadConfig({ file: configFile({ debugLinks: true }), env: { BICYCLE_DEBUG_LINKS: 'false' } }).debugLinks, false);
    assert.equal(loadConfig({ flags: { debugLinks: 'true' } }).debugLinks, true);
    assert.throws(() => loadConfig({ env: { BICYCLE_DEBUG_LINKS: 'yes' } }), /invalid configuration: debugLinks: must be true or false/);
  });

  test('a flag left undefined does not erase the value below it', () => {
    const config = loadConfig({ env: { BICYCLE_NAME: 'from-env' }, flags: { name: undefined } });
    assert.equal(config.name, 'from-env');
  });
});

describe('loadConfig: bad values name the option', () => {
  test('a listen address that is not host:port is refused naming listen', () => {
    assertInvalid(() => loadConfig({ flags: { listen: 'localhost' } }), /invalid configuration: listen: /, /host:port/);
    assertInvalid(() => loadConfig({ env: { BICYCLE_LISTEN: '127.0.0.1:99999' } }), /listen: /, /port/);
  });

  test('a bad advertise address names advertise', () => {
    assertInvalid(() => loadConfig({ flags: { advertise: 'no port' } }), /advertise: /);
  });

  test('a deployment.concurrency out of range names deployment.concurrency', () => {
    assertInvalid(() => loadConfig({ file: configFile({ deployment: { concurrency: 0 } }) }), /invalid configuration: deployment\.concurrency: /);
    assertInvalid(() => loadConfig({ file: configFile({ deployment: { concurrency: 2.5 } }) }), /deployment\.concurrency: /);
    assertInvalid(() => loadConfig({ file: configFile({ deployment: { concurrency: '4' } }) }), /deployment\.concurrency: /);
  });

  test('other nested tuning values name their full path', () => {
    assertInvalid(() => loadConfig({ file: configFile({ monitoring: { statsIntervalMs: 10 } }) }), /monitoring\.statsIntervalMs: /);
    assertInvalid(() => loadConfig({ file: configFile({ deployment: { init: 'yes' } }) }), /deployment\.init: /);
  });

  test('an unknown log level names logLevel', () => {
    assertInvalid(() => loadConfig({ env: { BICYCLE_LOG_LEVEL: 'verbose' } }), /logLevel: /);
  });

  test('a node name with spaces names name', () => {
    assertInvalid(() => loadConfig({ flags: { name: 'my node' } }), /name: /);
  });

  test('an unknown top-level option is refused and named', () => {
    assertInvalid(() => loadConfig({ file: configFile({ lisen: '0.0.0.0:1' }) }), /unknown option\(s\): lisen/);
  });

  test('an unknown nested option is refused and named with its section', () => {
    assertInvalid(() => loadConfig({ file: configFile({ deployment: { paralellism: 3 } }) }), /deployment: unknown option\(s\): paralellism/);
  });
});

describe('loadConfig: the config file itself', () => {
  test('a missing file is refused naming the file', () => {
    const file = join(dir, 'does-not-exist.json');
    assertInvalid(() => loadConfig({ file }), /cannot read config file/, new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  });

  test('a file that is not valid JSON is refused naming the file', () => {
    const file = configFile('{ "listen": ');
    assertInvalid(() => loadConfig({ file }), /cannot read config file/, new RegExp(`config-${fileCounter}\\.json`));
  });

  test('a file holding JSON that is not an object is refused naming the file', () => {
    for (const content of ['[]', '42', 'null', '"x"']) {
      const file = configFile(content);
      assertInvalid(() => loadConfig({ file }), /must hold a JSON object/, new RegExp(`config-${fileCounter}\\.json`));
    }
  });

  test('a directory instead of a file is refused naming it', () => {
    assertInvalid(() => loadConfig({ file: dir }), /cannot read config file/);
  });
});
