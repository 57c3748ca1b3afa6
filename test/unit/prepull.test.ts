import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import winston from 'winston';
import { openDatabase, type Db } from '../../database/open-database';
import { applyCommand } from '../../database/apply-command';
import type { Command, ServiceSpec } from '../../database/commands';
import { isEligible, Prepuller, prepullTargets, retryDelayMs } from '../../daemon/deployment/prepull';
import { readPrepullStatus } from '../../daemon/deployment/prepull-status';
import { factsFromInfo, NodeFactsReporter, sameFacts } from '../../daemon/deployment/node-facts';
import { getNode } from '../../database/queries';
import { nodeRecord, serviceRecord } from '../helpers/records';

// Pre-pull (daemon/deployment/prepull.ts) and node facts (node-facts.ts):
// which images a node pulls ahead, a few at a time, retried with back-off;
// facts proposed only when they changed. No Docker: a fake engine, a fake clock.

const AT = 1_700_000_000_000;
const log = winston.createLogger({ silent: true });

function apply(db: Db, command: Command): void {
  const result = applyCommand(db, command);
  if (!result.ok) throw new Error(`${command.type}: ${result.error.message}`);
}

function cluster(): Db {
  const db = openDatabase(':memory:', { migrate: true });
  apply(db, { type: 'cluster.init', clusterId: 'cl', secret: 's'.repeat(24), joinToken: 'BCT1-cl-x', at: AT });
  apply(db, { type: 'node.register', node: { id: 'n1', name: 'host-a', address: '127.0.0.1:7070', role: 'manager', startedAt: AT }, at: AT });
  return db;
}

function addService(db: Db, name: string, more: Partial<ServiceSpec> = {}): void {
  apply(db, { type: 'service.create', id: `id-${name}`, name, spec: { image: `${name}:1`, command: null, env: {}, labels: {}, ports: [], ...more }, replicas: 1, maxReplicas: 100, at: AT });
}

/** An engine whose pulls wait until settled by the test. */
class FakeEngine {
  pulls: { image: string; resolve(): void; reject(e: Error): void }[] = [];
  pull(image: string): Promise<void> {
    return new Promise((resolve, reject) => this.pulls.push({ image, resolve, reject }));
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('which images a node pulls ahead', () => {
  test('a READY, active node that passes the constraints; not a drained, paused or down one', () => {
    const service = serviceRecord('web', { placement: { constraints: ['node.labels.zone==a', 'node.role!=manager'] } });
    assert.equal(isEligible(nodeRecord('n1', { labels: { zone: 'a' } }), service), true);
    assert.equal(isEligible(nodeRecord('n1', { labels: { zone: 'b' } }), service), false);
    assert.equal(isEligible(nodeRecord('n1', { labels: { zone: 'a' }, availability: 'drain' }), service), false);
    assert.equal(isEligible(nodeRecord('n1', { labels: { zone: 'a' }, availability: 'pause' }), service), false);
    assert.equal(isEligible(nodeRecord('n1', { labels: { zone: 'a' }, status: 'DOWN' }), service), false);
  });

  test('the service\'s own setting wins over the cluster\'s; a service being deleted is not pulled', () => {
    const node = nodeRecord('n1');
    const services = [
      serviceRecord('own-on', { prepull: true }), serviceRecord('own-off', { prepull: false }), serviceRecord('default'),
      serviceRecord('going', { prepull: true, state: 'DELETING' }),
    ];
    assert.deepEqual(prepullTargets(services, node, false).map((t) => t.service), ['own-on']);
    assert.deepEqual(prepullTargets(services, node, true).map((t) => t.service), ['own-on', 'default']);
    assert.deepEqual(prepullTargets(services, undefined, true), []);
  });

  test('retries back off from 5 s, doubling, to at most 5 min', () => {
    assert.deepEqual([1, 2, 3, 4, 7, 20].map(retryDelayMs), [5000, 10_000, 20_000, 40_000, 300_000, 300_000]);
  });
});

describe('the pre-puller', () => {
  test('pulls each image once, at most `concurrency` at a time, and records the status node-locally', async () => {
    const db = cluster();
    for (const name of ['a', 'b', 'c']) addService(db, name, { prepull: true });
    const engine = new FakeEngine();
    let wakes = 0;
    const prepuller = new Prepuller({ db, nodeId: 'n1', runtime: engine, log, clusterDefault: false, concurrency: 2, wake: () => wakes++, now: () => AT });
    await prepuller.pass();
    assert.deepEqual(engine.pulls.map((p) => p.image), ['a:1', 'b:1']);
    assert.deepEqual(readPrepullStatus(db).map((s) => s.state), ['pulling', 'pulling']);
    engine.pulls[0]!.resolve();
    await settle();
    assert.equal(wakes, 1);
    await prepuller.pass();
    assert.deepEqual(engine.pulls.map((p) => p.image), ['a:1', 'b:1', 'c:1']);
    assert.deepEqual(readPrepullStatus(db), [
      { service: 'a', image: 'a:1', state: 'done', error: null },
      { service: 'b', image: 'b:1', state: 'pulling', error: null },
      { service: 'c', image: 'c:1', state: 'pulling', error: null },
    ]);
    engine.pulls[1]!.resolve();
    engine.pulls[2]!.resolve();
    await settle();
    await prepuller.pass();
    await prepuller.pass();
    assert.equal(engine.pulls.length, 3, 'done images are not pulled again');
    assert.ok(readPrepullStatus(db).every((s) => s.state === 'done'));
  });

  test('a new image is pulled again; a service that goes, or stops pre-pulling, leaves the status', async () => {
    const db = cluster();
    addService(db, 'web', { prepull: true });
    addService(db, 'api', { prepull: true });
    const engine = new FakeEngine();
    const prepuller = new Prepuller({ db, nodeId: 'n1', runtime: engine, log, clusterDefault: false, concurrency: 2, wake: () => undefined, now: () => AT });
    await prepuller.pass();
    for (const p of engine.pulls) p.resolve();
    await settle();
    apply(db, { type: 'service.update', name: 'web', changes: { image: 'web:2' }, maxReplicas: 100, at: AT });
    apply(db, { type: 'service.update', name: 'api', changes: { prepull: false }, maxReplicas: 100, at: AT });
    await prepuller.pass();
    assert.deepEqual(engine.pulls.map((p) => p.image), ['api:1', 'web:1', 'web:2']);
    assert.deepEqual(readPrepullStatus(db), [{ service: 'web', image: 'web:2', state: 'pulling', error: null }]);
  });

  test('a failed pull shows its error and is retried after the back-off, not before', async () => {
    const db = cluster();
    addService(db, 'web', { prepull: true });
    const engine = new FakeEngine();
    let now = AT;
    const prepuller = new Prepuller({ db, nodeId: 'n1', runtime: engine, log, clusterDefault: false, concurrency: 1, wake: () => undefined, now: () => now });
    await prepuller.pass();
    engine.pulls[0]!.reject(new Error('registry unreachable'));
    await settle();
    assert.equal(await prepuller.pass(), AT + 5000, 'the loop is asked to wake when the retry is due');
    assert.deepEqual(readPrepullStatus(db), [{ service: 'web', image: 'web:1', state: 'failed', error: 'registry unreachable' }]);
    now = AT + 4999;
    await prepuller.pass();
    assert.equal(engine.pulls.length, 1);
    now = AT + 5000;
    await prepuller.pass();
    assert.equal(engine.pulls.length, 2);
    engine.pulls[1]!.reject(new Error('still unreachable'));
    await settle();
    assert.equal(await prepuller.pass(), AT + 5000 + 10_000, 'the second wait is twice the first');
  });

  test('a node that is drained, or no longer passes the constraints, pulls nothing', async () => {
    const db = cluster();
    addService(db, 'web', { prepull: true, placement: { constraints: ['node.labels.zone==a'] } });
    const engine = new FakeEngine();
    const prepuller = new Prepuller({ db, nodeId: 'n1', runtime: engine, log, clusterDefault: false, concurrency: 1, wake: () => undefined, now: () => AT });
    await prepuller.pass();
    assert.equal(engine.pulls.length, 0);
    apply(db, { type: 'node.set-labels', nodeId: 'n1', labels: { zone: 'a' }, at: AT });
    await prepuller.pass();
    assert.equal(engine.pulls.length, 1);
  });

  test('what an earlier life finished stays done', async () => {
    const db = cluster();
    addService(db, 'web', { prepull: true });
    const engine = new FakeEngine();
    const first = new Prepuller({ db, nodeId: 'n1', runtime: engine, log, clusterDefault: false, concurrency: 1, wake: () => undefined, now: () => AT });
    await first.pass();
    engine.pulls[0]!.resolve();
    await settle();
    await first.pass();
    const second = new Prepuller({ db, nodeId: 'n1', runtime: engine, log, clusterDefault: false, concurrency: 1, wake: () => undefined, now: () => AT });
    await second.pass();
    assert.equal(engine.pulls.length, 1);
  });
});

describe('node facts', () => {
  const info = { NCPU: 8, MemTotal: 16_000_000_000, OSType: 'linux', Architecture: 'x86_64', ServerVersion: '27.3.1', Name: 'ignored' };

  test('docker info\'s NCPU, MemTotal, OSType, Architecture and ServerVersion', () => {
    assert.deepEqual(factsFromInfo(info), { cpus: 8, memoryBytes: 16_000_000_000, os: 'linux', arch: 'x86_64', engineVersion: '27.3.1' });
    assert.equal(sameFacts(null, factsFromInfo(info)), false);
    assert.equal(sameFacts(factsFromInfo(info), factsFromInfo({ ...info, NCPU: 4 })), false);
  });

  test('proposed when the row differs, not again while it holds them; not before the node has a row', async () => {
    const db = cluster();
    const proposed: Command[] = [];
    let engineInfo = info;
    const reporter = new NodeFactsReporter({
      db, nodeId: 'n1', log, now: () => AT,
      engine: { engineFacts: async () => factsFromInfo(engineInfo) },
      propose: async (command) => {
        proposed.push(command);
        return applyCommand(db, command);
      },
    });
    assert.equal(await reporter.check(), true);
    assert.equal(await reporter.check(), true);
    assert.equal(proposed.length, 1);
    assert.deepEqual(getNode(db, 'n1')!.facts, factsFromInfo(info));
    engineInfo = { ...info, MemTotal: 32_000_000_000 };
    await reporter.check();
    assert.equal(proposed.length, 2);
    assert.equal(getNode(db, 'n1')!.facts!.memoryBytes, 32_000_000_000);
    const joining = new NodeFactsReporter({ db, nodeId: 'n9', log, engine: { engineFacts: async () => factsFromInfo(info) }, propose: async () => ({ ok: true }) });
    assert.equal(await joining.check(), false);
  });
});
