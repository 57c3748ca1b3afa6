import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nextNodeLabels, parseNewService, parseNodeChanges, parseServiceChanges } from '../../modules/validation';
import { MIN_MEMORY_LIMIT_BYTES, parseMemorySize } from '../../modules/validation-placement';
import { assertInvalid } from '../helpers/assert-invalid';

// placement, resources, mode and prepull on POST and PATCH /services, and a
// node's labels on PATCH /nodes/:id (modules/validation-placement.ts).

const create = (more: Record<string, unknown>) => parseNewService({ name: 'web', image: 'nginx', ...more });
const MiB = 1024 * 1024;

describe('memory sizes (Docker\'s units, 1k = 1024)', () => {
  const cases: [string, number][] = [
    ['512M', 512 * MiB], ['1G', 1024 * MiB], ['256MiB', 256 * MiB], ['64m', 64 * MiB], ['1g', 1024 * MiB], ['2GB', 2048 * MiB],
    ['100', 100], ['100b', 100], ['100B', 100], ['4k', 4096], ['4KiB', 4096], ['1.5g', 1.5 * 1024 * MiB], ['0.5k', 512], ['10 m', 10 * MiB], ['1.3k', 1331],
  ];
  for (const [text, bytes] of cases) test(`"${text}" is ${bytes} bytes`, () => assert.equal(parseMemorySize(text), bytes));
  for (const bad of ['', 'M', '1T', '-1M', '1MM', '1 GiBs', '0x10', '1e3', 'one', '1bb', '1.2.3m']) {
    test(`"${bad}" is not a size`, () => assert.equal(parseMemorySize(bad), null));
  }
});

describe('placement', () => {
  test('constraints, preferences, per-node and per-value limits and a strategy are kept', () => {
    const { spec } = create({
      placement: {
        constraints: ['node.labels.zone==a', ' node.role != manager '],
        preferences: [{ spread: 'node.labels.zone' }, { spread: 'node.labels.rack' }],
        maxReplicasPerNode: 2,
        maxPerValue: 3,
        strategy: 'binpack',
      },
    });
    assert.deepEqual(spec.placement, {
      constraints: ['node.labels.zone==a', 'node.role != manager'],
      preferences: [{ spread: 'node.labels.zone' }, { spread: 'node.labels.rack' }],
      maxReplicasPerNode: 2,
      maxPerValue: 3,
      strategy: 'binpack',
    });
  });

  test('an empty placement, and zero limits, store nothing', () => {
    assert.equal(create({ placement: {} }).spec.placement, undefined);
    assert.deepEqual(parseServiceChanges({ placement: { maxReplicasPerNode: 0, constraints: [] } }), { placement: {} });
  });

  test('a constraint that does not parse is refused with the parser\'s message, naming its position', () => {
    assertInvalid(() => create({ placement: { constraints: ['node.labels.zone==a', 'zone=a'] } }),
      /^placement\.constraints\.1: "zone=a" is not a constraint: use KEY==VALUE or KEY!=VALUE/);
    assertInvalid(() => create({ placement: { constraints: ['engine.labels.x==1'] } }), /^placement\.constraints\.0: /);
    assertInvalid(() => create({ placement: { constraints: 'node.role==manager' } }), /^placement\.constraints: must be an array/);
  });

  test('a preference is {spread: descriptor}', () => {
    assertInvalid(() => create({ placement: { preferences: [{ spread: 'zone' }] } }), /^placement\.preferences\.0\.spread: must be \{"spread": DESCRIPTOR\}/);
    assertInvalid(() => create({ placement: { preferences: ['node.labels.zone'] } }), /^placement\.preferences\.0: /);
    assertInvalid(() => create({ placement: { preferences: [{ spread: 'node.labels.zone', weight: 1 }] } }), /unknown field "weight" in placement\.preferences\.0/);
  });

  test('limits are whole numbers 0 or more; maxPerValue needs a preference', () => {
    assertInvalid(() => create({ placement: { maxReplicasPerNode: -1 } }), /^placement\.maxReplicasPerNode: must be a whole number 0 or more/);
    assertInvalid(() => create({ placement: { maxReplicasPerNode: 1.5 } }), /^placement\.maxReplicasPerNode: /);
    assertInvalid(() => create({ placement: { maxPerValue: 2 } }), /^placement\.maxPerValue: counts replicas per value of the first spread preference: give preferences too$/);
  });

  test('the strategy is one of the four', () => {
    for (const strategy of ['spread', 'binpack', 'round-robin', 'epvm']) assert.equal(create({ placement: { strategy } }).spec.placement?.strategy, strategy);
    assertInvalid(() => create({ placement: { strategy: 'random' } }), /^placement\.strategy: must be "spread", "binpack", "round-robin" or "epvm"$/);
  });

  test('unknown fields are refused', () => {
    assertInvalid(() => create({ placement: { constraint: [] } }), /unknown field "constraint" in placement/);
  });
});

describe('resources', () => {
  test('reservations and limits are kept, memory as bytes', () => {
    const { spec } = create({ resources: { reservations: { cpus: 0.25, memory: '128M' }, limits: { cpus: 1, memory: 536_870_912, pids: 100 } } });
    assert.deepEqual(spec.resources, { reservations: { cpus: 0.25, memoryBytes: 128 * MiB }, limits: { cpus: 1, memoryBytes: 512 * MiB, pids: 100 } });
  });

  test('cpus are more than 0 and at most 1024', () => {
    assert.equal(create({ resources: { limits: { cpus: 1024 } } }).spec.resources?.limits?.cpus, 1024);
    for (const cpus of [0, -1, 1025, '1']) {
      assertInvalid(() => create({ resources: { reservations: { cpus } } }), /^resources\.reservations\.cpus: must be a number of CPUs greater than 0 and at most 1024/);
    }
  });

  test('memory that is not a size is refused naming the field', () => {
    assertInvalid(() => create({ resources: { reservations: { memory: '1T' } } }), /^resources\.reservations\.memory: must be bytes, or a size such as "512M"/);
    assertInvalid(() => create({ resources: { reservations: { memory: 1.5 } } }), /^resources\.reservations\.memory: /);
    assertInvalid(() => create({ resources: { reservations: { memory: 0 } } }), /^resources\.reservations\.memory: must be at least 1 bytes/);
  });

  test('a memory limit below the engine\'s 6 MiB is refused saying so', () => {
    assert.equal(create({ resources: { limits: { memory: '6m' } } }).spec.resources?.limits?.memoryBytes, MIN_MEMORY_LIMIT_BYTES);
    assertInvalid(() => create({ resources: { limits: { memory: '4m' } } }), /^resources\.limits\.memory: must be at least 6291456 bytes \(the engine refuses a smaller memory limit\)$/);
  });

  test('pids are whole numbers 1 or more', () => {
    assertInvalid(() => create({ resources: { limits: { pids: 0 } } }), /^resources\.limits\.pids: must be a whole number from 1 to /);
    assertInvalid(() => create({ resources: { limits: { pids: 2.5 } } }), /^resources\.limits\.pids: /);
  });

  test('a reservation above its limit is refused', () => {
    assertInvalid(() => create({ resources: { reservations: { memory: '1G' }, limits: { memory: '512M' } } }), /^resources\.reservations\.memory: reserves 1073741824 bytes, more than limits\.memory/);
    assertInvalid(() => create({ resources: { reservations: { cpus: 2 }, limits: { cpus: 1 } } }), /^resources\.reservations\.cpus: /);
  });

  test('pids is a limit, not a reservation; unknown fields are refused', () => {
    assertInvalid(() => create({ resources: { reservations: { pids: 10 } } }), /unknown field "pids" in resources\.reservations/);
    assertInvalid(() => create({ resources: { limits: { memoryBytes: 10 } } }), /unknown field "memoryBytes" in resources\.limits/);
  });
});

describe('mode and prepull', () => {
  test('a global service takes no replica count; its stored count is 0', () => {
    const parsed = create({ mode: 'global' });
    assert.equal(parsed.spec.mode, 'global');
    assert.equal(parsed.replicas, 0);
    assertInvalid(() => create({ mode: 'global', replicas: 3 }), /^replicas: a global service runs one replica on every eligible node: leave replicas out$/);
    assert.equal(create({ mode: 'replicated', replicas: 3 }).replicas, 3);
    assertInvalid(() => create({ mode: 'everywhere' }), /^mode: must be "replicated" or "global"$/);
  });

  test('prepull is true or false; on PATCH null returns to the cluster\'s setting', () => {
    assert.equal(create({ prepull: true }).spec.prepull, true);
    assert.equal(create({}).spec.prepull, undefined);
    assertInvalid(() => create({ prepull: null }), /^prepull: must be true or false$/);
    assertInvalid(() => create({ prepull: 'yes' }), /^prepull: must be true or false$/);
    assert.deepEqual(parseServiceChanges({ prepull: null }), { prepull: null });
  });

  test('PATCH may clear placement and resources with null, and names a mode (the data layer refuses a different one)', () => {
    assert.deepEqual(parseServiceChanges({ placement: null, resources: null }), { placement: null, resources: null });
    assert.deepEqual(parseServiceChanges({ mode: 'global' }), { mode: 'global' });
    assert.deepEqual(parseServiceChanges({ resources: { limits: { memory: '1g' } } }), { resources: { limits: { memoryBytes: 1024 * MiB } } });
  });
});

describe('node labels', () => {
  test('labels whole, or labelAdd and labelRm', () => {
    assert.deepEqual(parseNodeChanges({ labels: { zone: 'a' } }), { labels: { zone: 'a' } });
    assert.deepEqual(parseNodeChanges({ labelAdd: { zone: 'b' }, labelRm: ['rack'], availability: 'pause' }), { labelAdd: { zone: 'b' }, labelRm: ['rack'], availability: 'pause' });
  });

  test('reserved keys, non-string values and labels beside labelAdd are refused', () => {
    assertInvalid(() => parseNodeChanges({ labels: { 'io.bicycle.node': 'x' } }), /^labels\.io\.bicycle\.node: label keys starting with io\.bicycle\. are reserved/);
    assertInvalid(() => parseNodeChanges({ labelAdd: { zone: 1 } }), /^labelAdd\.zone: label values must be strings$/);
    assertInvalid(() => parseNodeChanges({ labels: {}, labelRm: ['zone'] }), /^labels: replaces the labels whole: give it alone/);
    assertInvalid(() => parseNodeChanges({ labelRm: [''] }), /^labelRm\.0: must be a label key/);
    assertInvalid(() => parseNodeChanges({ label: {} }), /unknown field "label"/);
  });

  test('the labels after a change: whole, or merged (removals first, then additions)', () => {
    const current = { zone: 'a', rack: '1' };
    assert.deepEqual(nextNodeLabels(current, { labels: { disk: 'ssd' } }), { disk: 'ssd' });
    assert.deepEqual(nextNodeLabels(current, { labelAdd: { zone: 'b' }, labelRm: ['rack', 'missing'] }), { zone: 'b' });
    assert.deepEqual(nextNodeLabels(current, { labelRm: ['zone'], labelAdd: { zone: 'c' } }), { zone: 'c', rack: '1' });
    assert.equal(nextNodeLabels(current, { availability: 'drain' }), undefined);
  });
});
