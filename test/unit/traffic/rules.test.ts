import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chainPrefix, parseSave, removalInput, renderRules, restoreInput } from '../../../daemon/traffic/rules';
import type { TrafficPlan } from '../../../daemon/traffic/plan';

const P = 'BICYCLE-abcdef';
const OWNER = 'bicycle pid=42';

function plan(local: number, remote: number): TrafficPlan {
  return {
    ports: [{
      published: 8080, service: 'web', target: 80, mode: 'ingress', proxy: 'none', kernel: true,
      local: Array.from({ length: local }, (_, i) => ({ taskId: `l${i}`, nodeId: 'n1', host: `172.17.0.${i + 2}`, port: 80 })),
      remote: Array.from({ length: remote }, (_, i) => ({ taskId: `r${i}`, nodeId: `n${i + 2}`, host: `10.0.0.${i + 2}`, port: 8080 })),
    }],
    peerAddresses: ['10.0.0.2', '10.0.0.3'],
    probes: [],
    watchedPeers: [],
  };
}

const probabilities = (lines: string[], chain: string) =>
  lines.filter((l) => l.startsWith(`-A ${chain} `) && l.includes('DNAT')).map((l) => Number(/--probability (\S+)/.exec(l)?.[1] ?? 1));

describe('renderRules', () => {
  test('chain names fit iptables\' 28 characters and differ per node', () => {
    assert.match(chainPrefix('0f2babfca41d579b'), /^BICYCLE-[0-9a-f]{6}$/);
    assert.notEqual(chainPrefix('a'), chainPrefix('b'));
    assert.ok(`${chainPrefix('x')}-S65535`.length <= 28);
  });

  test('the split gives each of local + remote replicas an equal share; the remote share falls through to the hop', () => {
    const set = renderRules(plan(2, 2), P, OWNER, '172.17.0.0/16');
    const shares = probabilities(set.rules.nat, `${P}-S8080`);
    assert.deepEqual(shares.map((p) => p.toFixed(4)), ['0.2500', '0.3333']);
    // What reaches each: 1/4, then 3/4 × 1/3 = 1/4; the remaining 1/2 is the two remote replicas' share.
    const local = probabilities(set.rules.nat, `${P}-L8080`);
    assert.deepEqual(local.map((p) => p.toFixed(4)), ['0.5000', '1.0000']);
  });

  test('with only local replicas the last rule takes everything left; with none the port has no kernel rule', () => {
    assert.deepEqual(probabilities(renderRules(plan(3, 0), P, OWNER, null).rules.nat, `${P}-S8080`).map((p) => p.toFixed(4)), ['0.3333', '0.5000', '1.0000']);
    const none = renderRules(plan(0, 2), P, OWNER, null);
    assert.ok(!none.rules.nat.some((l) => l.includes('8080') && l.includes(`${P}-PRE`)));
    assert.ok(none.rules.filter.some((l) => l.includes('-s 10.0.0.2/32') && l.includes('--dport 8080') && l.includes('REJECT --reject-with tcp-reset')));
  });

  test('forwarded connections (from a peer) go to local replicas only; hairpin connections from the bridge are masqueraded', () => {
    const set = renderRules(plan(1, 2), P, OWNER, '172.17.0.0/16');
    assert.ok(set.rules.nat.includes(`-A ${P}-PRE -s 10.0.0.2/32 -j ${P}-PEER`));
    assert.ok(set.rules.nat.includes(`-A ${P}-PEER -p tcp -m tcp --dport 8080 -j ${P}-L8080`));
    assert.ok(set.rules.nat.some((l) => l.startsWith(`-A ${P}-S8080 -s 172.17.0.0/16 -j MARK`)));
    assert.ok(set.rules.nat.some((l) => l.startsWith(`-A ${P}-POST`) && l.endsWith('-j MASQUERADE')));
  });
});

describe('restoreInput', () => {
  const saved = (text: string) => parseSave(text);

  test('first time: declares the chains and puts each jump at the head of its built-in chain', () => {
    const text = restoreInput(renderRules(plan(1, 0), P, OWNER, null), P, saved('*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\nCOMMIT\n'));
    assert.match(text, new RegExp(`^:${P}-PRE - \\[0:0\\]$`, 'm'));
    assert.match(text, new RegExp(`^-I PREROUTING 1 -m addrtype --dst-type LOCAL -m comment --comment "${OWNER}" -j ${P}-PRE$`, 'm'));
    assert.match(text, new RegExp(`^-I FORWARD 1 .*-j ${P}-FWD$`, 'm'));
  });

  test('a jump already first is left alone; one that something moved down is put back first', () => {
    const jump = `-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "${OWNER}" -j ${P}-PRE`;
    const inPlace = restoreInput(renderRules(plan(1, 0), P, OWNER, null), P, saved(`*nat\n:PREROUTING ACCEPT [0:0]\n${jump}\n-A PREROUTING -j DOCKER\nCOMMIT\n`));
    assert.doesNotMatch(inPlace, /PREROUTING 1/);
    const moved = restoreInput(renderRules(plan(1, 0), P, OWNER, null), P, saved(`*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j DOCKER\n${jump}\nCOMMIT\n`));
    assert.match(moved, new RegExp(`^-D PREROUTING .*-j ${P}-PRE$`, 'm'));
    assert.match(moved, /^-I PREROUTING 1 /m);
  });

  test('chains this node no longer needs are flushed and deleted; other daemons\' chains are not touched', () => {
    const before = `*nat\n:${P}-S9090 - [0:0]\n:BICYCLE-123456-PRE - [0:0]\n-A ${P}-S9090 -j DNAT --to-destination 1.2.3.4:80\nCOMMIT\n`;
    const text = restoreInput(renderRules(plan(1, 0), P, OWNER, null), P, saved(before));
    assert.match(text, new RegExp(`^-X ${P}-S9090$`, 'm'));
    assert.doesNotMatch(text, /BICYCLE-123456/);
  });

  test('a clean stop removes this node\'s jumps and chains only', () => {
    const before = [
      '*nat', ':PREROUTING ACCEPT [0:0]', `:${P}-PRE - [0:0]`, ':BICYCLE-123456-PRE - [0:0]',
      `-A PREROUTING -m comment --comment "${OWNER}" -j ${P}-PRE`, '-A PREROUTING -m comment --comment "bicycle pid=7" -j BICYCLE-123456-PRE', 'COMMIT',
    ].join('\n');
    const text = removalInput(P, saved(before));
    assert.match(text, new RegExp(`^-D PREROUTING .*-j ${P}-PRE$`, 'm'));
    assert.match(text, new RegExp(`^-X ${P}-PRE$`, 'm'));
    assert.doesNotMatch(text, /BICYCLE-123456/);
  });
});
