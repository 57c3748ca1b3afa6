import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostConfig } from '../../daemon/deployment/docker-runtime';
import { containerSpec } from '../../daemon/deployment/agent';
import { serviceRecord, taskRecord } from '../helpers/records';

// A service's resource limits as the engine receives them (HostConfig), and
// the agent's container spec carrying them.

describe('hostConfig: limits to the engine', () => {
  test('without limits only init (and the resolver) are set', () => {
    assert.deepEqual(hostConfig({}, true), { Init: true });
    assert.deepEqual(hostConfig({ dns: { servers: ['172.17.0.1'], search: ['bicycle'] } }, false), {
      Init: false, Dns: ['172.17.0.1'], DnsSearch: ['bicycle'],
    });
  });

  test('cpus become NanoCpus (whole billionths of a core), memory bytes Memory, pids PidsLimit', () => {
    assert.deepEqual(hostConfig({ limits: { cpus: 1.5, memoryBytes: 512 * 1024 * 1024, pids: 100 } }, true), {
      Init: true, NanoCpus: 1_500_000_000, Memory: 536_870_912, PidsLimit: 100,
    });
  });

  test('a decimal CPU count that is not exact in binary still gives a whole NanoCpus', () => {
    assert.equal(hostConfig({ limits: { cpus: 0.1 } }, true).NanoCpus, 100_000_000);
    assert.equal(hostConfig({ limits: { cpus: 0.3 } }, true).NanoCpus, 300_000_000);
  });

  test('each limit alone sets only its own field', () => {
    assert.deepEqual(hostConfig({ limits: { memoryBytes: 6 * 1024 * 1024 } }, true), { Init: true, Memory: 6_291_456 });
    assert.deepEqual(hostConfig({ limits: { pids: 1 } }, true), { Init: true, PidsLimit: 1 });
  });
});

describe('containerSpec: the service\'s limits', () => {
  test('limits are passed on; reservations are not (they place, the engine does not enforce them)', () => {
    const service = serviceRecord('web', { resources: { reservations: { cpus: 2, memoryBytes: 1024 }, limits: { cpus: 0.5, pids: 50 } } });
    const spec = containerSpec(service, taskRecord('web', 1), {});
    assert.deepEqual(spec.limits, { cpus: 0.5, pids: 50 });
  });

  test('a service without limits gives a spec without them', () => {
    assert.equal('limits' in containerSpec(serviceRecord('web'), taskRecord('web', 1), {}), false);
    assert.equal('limits' in containerSpec(serviceRecord('web', { resources: { limits: {} } }), taskRecord('web', 1), {}), false);
  });
});
