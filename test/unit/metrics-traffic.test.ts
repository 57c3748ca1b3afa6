import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSave, parseTrafficCounters, renderRules } from '../../daemon/traffic/rules';
import { Iptables, type RunCommand } from '../../daemon/traffic/iptables';
import type { TrafficPlan } from '../../daemon/traffic/plan';

/**
 * The kernel path's traffic counts: counting rules rendered per service,
 * read back from `iptables-save -c`, and carried across the rewrites that
 * zero them (each apply declares the node's chains again).
 */

const P = 'BICYCLE-abcdef';

function plan(ports: Array<{ published: number; service: string; local: number }>): TrafficPlan {
  return {
    ports: ports.map((p) => ({
      published: p.published, service: p.service, target: 80, mode: 'ingress' as const, proxy: 'none' as const, kernel: true,
      local: Array.from({ length: p.local }, (_, i) => ({ taskId: `l${i}`, nodeId: 'n1', host: `172.17.0.${i + 2}`, port: 80 })),
      remote: [],
    })),
    peerAddresses: [],
    probes: [],
    watchedPeers: [],
  };
}

/** What iptables-save -c prints for the filter rules of `plan`, each with the given counters. */
function saved(rules: string[], counters: (line: string) => [number, number]): string {
  return ['*filter', ':FORWARD ACCEPT [0:0]', `:${P}-FWD - [0:0]`, ...rules.map((l) => `[${counters(l).join(':')}] ${l}`), 'COMMIT', ''].join('\n');
}

describe('counting rules', () => {
  test('three per service with local replicas, ahead of the accept: connections, bytes in, bytes out', () => {
    const set = renderRules(plan([{ published: 8080, service: 'web', local: 2 }, { published: 9090, service: 'api', local: 0 }]), P, 'bicycle pid=1', null);
    const counting = set.rules.filter.filter((l) => l.includes('--ctorigdstport'));
    assert.deepEqual(counting, [
      `-A ${P}-FWD -p tcp -m conntrack --ctstate NEW -m conntrack --ctstate DNAT --ctorigdstport 8080 -m comment --comment "traffic web conn"`,
      `-A ${P}-FWD -p tcp -m conntrack --ctstate DNAT --ctorigdstport 8080 --ctdir ORIGINAL -m comment --comment "traffic web in"`,
      `-A ${P}-FWD -p tcp -m conntrack --ctstate DNAT --ctorigdstport 8080 --ctdir REPLY -m comment --comment "traffic web out"`,
    ], 'none for a port without local replicas: the kernel sends it nowhere');
    const accept = set.rules.filter.findIndex((l) => l.includes('-j ACCEPT'));
    assert.ok(set.rules.filter.findIndex((l) => l.includes('--ctorigdstport')) < accept, 'counted before the accept ends the chain');
    assert.ok(counting.every((l) => !/ -j /.test(l)), 'counting rules have no target');
  });

  test('parsed back from iptables-save -c: packets of the NEW rule are connections, bytes of the others bytes', () => {
    const set = renderRules(plan([{ published: 8080, service: 'web', local: 1 }, { published: 8081, service: 'web-2', local: 1 }]), P, 'bicycle pid=1', null);
    const text = saved(set.rules.filter, (l) => (l.includes('conn"') ? [7, 420] : l.includes('in"') ? [30, 2100] : l.includes('out"') ? [25, 9000] : [99, 99]));
    const counts = parseTrafficCounters(text, P);
    assert.deepEqual(counts.get('web'), { service: 'web', connections: 7, bytesIn: 2100, bytesOut: 9000 });
    assert.deepEqual(counts.get('web-2'), { service: 'web-2', connections: 7, bytesIn: 2100, bytesOut: 9000 });
    assert.equal(parseTrafficCounters(text, 'BICYCLE-000000').size, 0, 'another node\'s chains are not ours');
  });

  test('parseSave reads iptables-save -c output as it reads the plain one', () => {
    const plain = ['*nat', ':PREROUTING ACCEPT [0:0]', '-A PREROUTING -j X', 'COMMIT'].join('\n');
    const counted = ['*nat', ':PREROUTING ACCEPT [12:720]', '[3:180] -A PREROUTING -j X', 'COMMIT'].join('\n');
    assert.deepEqual(parseSave(counted), parseSave(plain));
  });
});

describe('Iptables.counters', () => {
  /** A packet filter whose counters grow by `traffic()` between calls and start again at zero when the chains are written. */
  function fakeFilter() {
    let rules: string[] = [];
    let count = { conn: 0, in: 0, out: 0 };
    const calls: string[] = [];
    const run: RunCommand = async (command, args, input) => {
      calls.push(`${command} ${args.join(' ')}`);
      if (command === 'iptables-save') {
        return saved(rules, (l) => (l.includes('conn"') ? [count.conn, count.conn * 60] : l.includes('in"') ? [1, count.in] : l.includes('out"') ? [1, count.out] : [0, 0]));
      }
      rules = (input ?? '').split('\n').filter((l) => l.startsWith(`-A ${P}-FWD`));
      count = { conn: 0, in: 0, out: 0 };
      return '';
    };
    return { run, calls, carry: (conn: number, bytesIn: number, bytesOut: number) => (count = { conn: count.conn + conn, in: count.in + bytesIn, out: count.out + bytesOut }) };
  }

  test('the totals carry across rewrites of the rules, and none is counted twice', async () => {
    const filter = fakeFilter();
    const iptables = new Iptables(P, filter.run, () => true);
    const rules = renderRules(plan([{ published: 8080, service: 'web', local: 1 }]), P, 'bicycle pid=1', null);
    await iptables.apply(rules);
    assert.deepEqual(await iptables.counters(), [{ service: 'web', connections: 0, bytesIn: 0, bytesOut: 0 }]);
    filter.carry(3, 300, 3000);
    assert.deepEqual(await iptables.counters(), [{ service: 'web', connections: 3, bytesIn: 300, bytesOut: 3000 }]);
    await iptables.apply(rules); // zeroes the kernel's counters
    assert.deepEqual(await iptables.counters(), [{ service: 'web', connections: 3, bytesIn: 300, bytesOut: 3000 }]);
    filter.carry(2, 200, 2000);
    await iptables.apply(rules);
    filter.carry(1, 100, 1000);
    assert.deepEqual(await iptables.counters(), [{ service: 'web', connections: 6, bytesIn: 600, bytesOut: 6000 }]);
    // A service whose port went away keeps what it was counted.
    await iptables.apply(renderRules(plan([]), P, 'bicycle pid=1', null));
    assert.deepEqual(await iptables.counters(), [{ service: 'web', connections: 6, bytesIn: 600, bytesOut: 6000 }]);
    assert.ok(filter.calls.includes('iptables-save -c -t filter'));
  });

  test('a read and a rewrite asked at once do not overlap', async () => {
    const filter = fakeFilter();
    const iptables = new Iptables(P, filter.run, () => true);
    const rules = renderRules(plan([{ published: 8080, service: 'web', local: 1 }]), P, 'bicycle pid=1', null);
    await iptables.apply(rules);
    filter.carry(4, 40, 400);
    const [, read] = await Promise.all([iptables.apply(rules), iptables.counters(), iptables.apply(rules)]);
    assert.deepEqual(read, [{ service: 'web', connections: 4, bytesIn: 40, bytesOut: 400 }]);
  });

  test('a failed read says why', async () => {
    const iptables = new Iptables(P, async () => {
      throw new Error('iptables-save exited with 4: Permission denied (you must be root)');
    });
    await assert.rejects(iptables.counters(), /Permission denied/);
  });
});
