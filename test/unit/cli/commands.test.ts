import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildServiceSpec } from '../../../cli/commands/service-add';
import { buildServicePatch, rolloutGoal } from '../../../cli/commands/service-update';
import { serviceTable } from '../../../cli/commands/service-ls';
import { taskTable, truncate } from '../../../cli/commands/service-ps';
import { nodeTable, warningLines } from '../../../cli/commands/node-ls';
import { joinHint } from '../../../cli/commands/node-join-token';
import { rebalanceNote } from '../../../cli/commands/node-activate';
import { stateSummary } from '../../../cli/commands/state';
import type { PublishedPort } from '../../../cli/types';
import { service, task } from './fixtures';

const port = (published: number, target: number, more: Partial<PublishedPort> = {}): PublishedPort => ({
  published, target, protocol: 'tcp', mode: 'ingress', proxy: 'none', ...more,
});

const waitDefaults = { timeout: 120 };

describe('service add body', () => {
  it('leaves out what was not given', () => {
    assert.deepEqual(buildServiceSpec('web', [], { image: 'img', replicas: 1, ...waitDefaults }), {
      name: 'web', image: 'img', replicas: 1,
    });
  });
  it('carries command, env and labels', () => {
    const spec = buildServiceSpec('web', ['sh', '-c', 'sleep 1'], {
      image: 'img', replicas: 3, env: { A: '1' }, label: { team: 'core' }, ...waitDefaults,
    });
    assert.deepEqual(spec, {
      name: 'web', image: 'img', replicas: 3, command: ['sh', '-c', 'sleep 1'], env: { A: '1' }, labels: { team: 'core' },
    });
  });
  it('carries the published ports as given', () => {
    const publish = [port(8080, 80), port(8443, 443, { mode: 'host', proxy: 'v2' })];
    assert.deepEqual(buildServiceSpec('web', [], { image: 'img', replicas: 1, publish, ...waitDefaults }), {
      name: 'web', image: 'img', replicas: 1, ports: publish,
    });
  });
});

describe('service update body', () => {
  const current = service({ image: 'img:1', replicas: 2, env: { A: '1', B: '2' }, labels: { x: 'y' }, command: ['sleep', '9'] });

  it('sends env whole after adds and removals', () => {
    assert.deepEqual(buildServicePatch(current, { env: { C: '3' }, envRm: ['A'], ...waitDefaults }, []), {
      env: { B: '2', C: '3' },
    });
  });
  it('sends only fields that change', () => {
    const patch = buildServicePatch(current, { image: 'img:1', replicas: 4, env: { A: '1' }, ...waitDefaults }, []);
    assert.deepEqual(patch, { replicas: 4 });
  });
  it('takes the command from -- or --command', () => {
    assert.deepEqual(buildServicePatch(current, { ...waitDefaults }, ['sh', '-c', 'x']), { command: ['sh', '-c', 'x'] });
    assert.deepEqual(buildServicePatch(current, { command: ['sleep', '5'], ...waitDefaults }, []), { command: ['sleep', '5'] });
    assert.deepEqual(buildServicePatch(current, { command: ['sleep', '9'], ...waitDefaults }, []), {});
  });
  it('updates labels like env', () => {
    assert.deepEqual(buildServicePatch(current, { label: { z: '1' }, labelRm: ['x'], ...waitDefaults }, []), { labels: { z: '1' } });
  });

  const published = service({ ports: [port(8080, 80), port(8443, 443, { proxy: 'v2' })] });
  it('sends ports whole after --publish-rm removals and --publish-add additions', () => {
    assert.deepEqual(buildServicePatch(published, { publishAdd: [port(9000, 9000, { mode: 'host' })], publishRm: [{ published: 8080 }], ...waitDefaults }, []), {
      ports: [port(8443, 443, { proxy: 'v2' }), port(9000, 9000, { mode: 'host' })],
    });
  });
  it('--publish-add of a published port replaces it', () => {
    assert.deepEqual(buildServicePatch(published, { publishAdd: [port(8080, 8081)], ...waitDefaults }, []), {
      ports: [port(8080, 8081), port(8443, 443, { proxy: 'v2' })],
    });
  });
  it('removing every port sends an empty list', () => {
    assert.deepEqual(buildServicePatch(published, { publishRm: [{ published: 8080 }, { published: 8443, target: 443 }], ...waitDefaults }, []), { ports: [] });
  });
  it('adding a port exactly as it is sends nothing', () => {
    assert.deepEqual(buildServicePatch(published, { publishAdd: [port(8080, 80)], ...waitDefaults }, []), {});
  });
  it('a service without ports (or from a daemon that does not show them) gets its first', () => {
    assert.deepEqual(buildServicePatch(service(), { publishAdd: [port(80, 80)], ...waitDefaults }, []), { ports: [port(80, 80)] });
  });
  it('--publish-rm of a port not published is an error naming it, and no patch is made', () => {
    assert.throws(() => buildServicePatch(published, { publishRm: [{ published: 9999 }], ...waitDefaults }, []), /--publish-rm 9999: web does not publish port 9999/);
  });
});

describe('update rollout goal', () => {
  const current = service({ version: 6, tasks: [task({ version: 2 }), task({ slot: 2, version: 3 })] });
  it('wants tasks newer than any so far when the spec changes', () => {
    assert.deepEqual(rolloutGoal(current, { env: { A: '1' } }), { minTaskVersion: 4 });
    assert.deepEqual(rolloutGoal(current, { image: 'x', replicas: 2 }), { minTaskVersion: 4 });
  });
  it('wants nothing newer for a replica change alone', () => {
    assert.deepEqual(rolloutGoal(current, { replicas: 5 }), {});
  });
  it('wants nothing newer for a port change: no new containers are made', () => {
    assert.deepEqual(rolloutGoal(current, { ports: [port(80, 80)] }), {});
  });
});

describe('truncate', () => {
  it('keeps short text and flattens whitespace', () => {
    assert.equal(truncate(' a\n b ', 10), 'a b');
    assert.equal(truncate('abcdef', 4), 'abc…');
  });
});

describe('tables', () => {
  it('lists services as running/desired, sorted by name, with their published ports', () => {
    const text = serviceTable([
      service({ name: 'web', replicas: 5, running: 3, state: 'DEPLOYING', version: 2, ports: [port(8443, 443, { mode: 'host' }), port(8080, 80)] }),
      service({ name: 'api', image: 'api:1' }),
      service({ name: 'db', image: 'db:1', ports: [] }),
    ]);
    assert.equal(
      text,
      'NAME   IMAGE                  REPLICAS   STATE       VERSION   PORTS\n' +
        'api    api:1                  1/1        RUNNING     1\n' +
        'db     db:1                   1/1        RUNNING     1\n' +
        'web    bicycle/busybox:test   3/5        DEPLOYING   2         *:8080->80/tcp, 8443->443/tcp (host)\n',
    );
  });

  it('lists tasks by slot, the one meant to run first, with state ages', () => {
    const now = Date.parse('2025-01-01T00:00:12Z');
    const s = service({
      tasks: [
        task({ id: 'bbbbbbbbbbbbbbbb', slot: 2, state: 'STARTING', node: null }),
        task({ id: 'cccccccccccccccc', desiredState: 'SHUTDOWN', state: 'FAILED', error: 'exit 1' }),
        task({ id: 'aaaaaaaaaaaaaaaa', health: 'healthy' }),
      ],
    });
    assert.equal(
      taskTable(s, now),
      'ID             NAME        NODE     DESIRED STATE   CURRENT STATE   HEALTH    ERROR\n' +
        'aaaaaaaaaaaa   web.1       node-a   RUNNING         RUNNING 12s     healthy\n' +
        'cccccccccccc    \\_ web.1   node-a   SHUTDOWN        FAILED 12s                exit 1\n' +
        'bbbbbbbbbbbb   web.2       -        RUNNING         STARTING 12s\n',
    );
  });

  it('cuts long errors unless asked not to', () => {
    const long = 'image x is not on this node and could not be pulled: ' + 'y'.repeat(80);
    const s = service({ tasks: [task({ error: long })] });
    const cut = taskTable(s, 0).split('\n')[1]!;
    assert.ok(cut.endsWith('…'));
    assert.equal(cut.split('   ').at(-1)!.length, 60);
    assert.ok(taskTable(s, 0, true).includes(long));
  });

  it('marks the leader in the node table', () => {
    const text = nodeTable([
      { id: 'n-2', name: 'b', address: '10.0.0.2:7070', role: 'worker', status: 'READY', availability: 'active', leader: false, uptimeSeconds: 5, tasks: 0 },
      { id: 'n-1', name: 'a', address: '10.0.0.1:7070', role: 'manager', status: 'READY', availability: 'active', leader: true, uptimeSeconds: 5, tasks: 3, labels: { zone: 'a', disk: 'ssd' } },
    ]);
    assert.equal(
      text,
      'ID    NAME   ADDRESS         ROLE      STATUS   AVAILABILITY   LEADER   TASKS   LABELS\n' +
        'n-1   a      10.0.0.1:7070   manager   READY    active         *        3       disk=ssd,zone=a\n' +
        'n-2   b      10.0.0.2:7070   worker    READY    active                  0\n',
    );
  });

  it('summarises the state with the leader by name', () => {
    const text = stateSummary({
      cluster: { id: 'c-1', leader: 'n-1', term: 7 },
      nodes: [{ id: 'n-1', name: 'a', address: 'x', role: 'manager', status: 'READY', availability: 'active', leader: true, uptimeSeconds: 90, tasks: 1 }],
      services: [
        { name: 'web', image: 'img', replicas: 1, running: 1, state: 'RUNNING', error: 'an old failure' },
        { name: 'bad', image: 'nope', replicas: 1, running: 0, state: 'DEGRADED', error: 'image nope not found' },
      ],
      containers: [{ id: '0123456789abcdef', service: 'web', slot: 1, node: 'a', state: 'running', uptimeSeconds: 30, cpuPercent: 0.5, memoryBytes: 2048 }],
    });
    assert.match(text, /^Cluster: {2}c-1\nLeader: {3}a \(term 7\)\n/);
    assert.match(text, /\na +manager +READY +active +\* +1m +1\n/);
    assert.match(text, /\nweb +img +1\/1 +RUNNING\n/);
    assert.match(text, /\nbad +nope +0\/1 +DEGRADED +image nope not found\n/);
    assert.match(text, /\n0123456789ab +web\.1 +a +running +30s +0\.5% +2\.0KiB\n/);
  });

  it('says how many containers there are when the daemon listed only the first ones', () => {
    const base = {
      cluster: { id: 'c-1', leader: 'a', term: 2 },
      nodes: [],
      services: [],
      containers: [{ id: '0123456789abcdef', service: 'web', slot: 1, node: 'a', state: 'running', uptimeSeconds: 30, cpuPercent: null, memoryBytes: null }],
    };
    assert.match(stateSummary({ ...base, containersTruncated: true, containerCounts: { total: 250, byService: { web: 250 }, byNode: { a: 250 } } }),
      /\(the first 1 of 250 containers; bicycle state --all lists them all\)\n/);
    assert.doesNotMatch(stateSummary({ ...base, containersTruncated: false }), /the first/);
  });

  it("shows the cluster's warnings under the leader", () => {
    const text = stateSummary({
      cluster: { id: 'c-1', leader: 'a', leaderId: 'n-1', term: 2, warnings: ['2 managers: losing one stops the cluster', 'second'] },
      nodes: [{ id: 'n-1', name: 'a', address: 'x', role: 'manager', status: 'READY', availability: 'active', leader: true, uptimeSeconds: 5, tasks: 0 }],
      services: [],
      containers: [],
    });
    assert.match(text, /^Cluster: {2}c-1\nLeader: {3}a \(term 2\)\nWarning: {2}2 managers: losing one stops the cluster\nWarning: {2}second\n\nNodes\n/);
  });
});

describe('node verbs', () => {
  it('prints warnings one a line, nothing without any', () => {
    assert.equal(warningLines(['2 managers: losing one stops the cluster']), 'warning: 2 managers: losing one stops the cluster\n');
    assert.equal(warningLines([]), '');
    assert.equal(warningLines(undefined), '');
  });
  it("shows how to join with the daemon's hint", () => {
    assert.equal(
      joinHint({ token: 'BCT1-x', join: "--join <this node's address> --token BCT1-x" }),
      "bicycled --name NAME --advertise HOST:PORT --join <this node's address> --token BCT1-x",
    );
    assert.equal(joinHint({ token: 'BCT1-y' }), "bicycled --name NAME --advertise HOST:PORT --join <this node's address> --token BCT1-y");
  });
  it('names the services asked to rebalance', () => {
    assert.match(rebalanceNote(['api', 'web']), /^rebalancing api, web: /);
    assert.equal(rebalanceNote([]), 'no services to rebalance');
  });
});
