import { describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyLinkChange, dropsOutgoing, incomingCut, type LinkCut, type LinkPeer } from '../../daemon/voting/debug-links';
import { HttpTransport } from '../../daemon/voting/http-transport';
import { askPeer } from '../../daemon/voting/peer-client';
import type { PeerHttp } from '../../daemon/tls/peer-tls';
import type { Message } from '../../daemon/voting/raft/index';
import { BicycleError } from '../../daemon/errors';
import { parseLinkChange } from '../../modules/validation';
import { assertInvalid } from '../helpers/assert-invalid';

/**
 * Links cut on demand (bicycled --debug-links): which cut a change leaves,
 * what is dropped each way, and that a cut peer gets nothing from this
 * node's transport and forwards while its other peers still do.
 */
const MEMBERS: LinkPeer[] = [
  { id: 'a1', name: 'alpha', address: '10.0.0.1:7070' },
  { id: 'b2', name: 'beta', address: '10.0.0.2:7070' },
  { id: 'c3', name: 'gamma', address: '10.0.0.3:7070' },
];
const AT = '2026-01-01T00:00:00.000Z';

function cut(peer: string, direction?: 'both' | 'in' | 'out', cuts: LinkCut[] = []): LinkCut[] {
  const r = applyLinkChange(cuts, { peer, state: 'cut', ...(direction ? { direction } : {}) }, 'a1', MEMBERS, AT);
  assert.ok(r.ok, JSON.stringify(r));
  return r.cuts;
}

describe('applyLinkChange', () => {
  test('a cut names the peer by id or by name, both ways unless told', () => {
    assert.deepEqual(cut('beta'), [{ peerId: 'b2', name: 'beta', address: '10.0.0.2:7070', direction: 'both', since: AT }]);
    assert.deepEqual(cut('c3', 'out').map((c) => [c.name, c.direction]), [['gamma', 'out']]);
  });

  test('a second cut of the same peer replaces the first; up removes it, and up of a link that is up is no error', () => {
    const narrowed = cut('beta', 'in', cut('beta', 'both', cut('gamma')));
    assert.deepEqual(narrowed.map((c) => [c.name, c.direction]), [['gamma', 'both'], ['beta', 'in']]);
    const up = applyLinkChange(narrowed, { peer: 'beta', state: 'up' }, 'a1', MEMBERS, AT);
    assert.ok(up.ok);
    assert.deepEqual(up.cuts.map((c) => c.name), ['gamma']);
    const again = applyLinkChange(up.cuts, { peer: 'beta', state: 'up' }, 'a1', MEMBERS, AT);
    assert.ok(again.ok);
    assert.deepEqual(again.cuts.map((c) => c.name), ['gamma']);
  });

  test('an unknown peer is NODE_NOT_FOUND naming it and the peers there are; this node itself is INVALID_ARGUMENT', () => {
    const unknown = applyLinkChange([], { peer: 'delta', state: 'cut' }, 'a1', MEMBERS, AT);
    assert.ok(!unknown.ok);
    assert.equal(unknown.error.code, 'NODE_NOT_FOUND');
    assert.match(unknown.error.message, /delta.*peers: beta, gamma/);
    const alone = applyLinkChange([], { peer: 'delta', state: 'cut' }, 'a1', [MEMBERS[0]!], AT);
    assert.ok(!alone.ok);
    assert.match(alone.error.message, /no peers/);
    const self = applyLinkChange([], { peer: 'alpha', state: 'cut' }, 'a1', MEMBERS, AT);
    assert.ok(!self.ok);
    assert.equal(self.error.code, 'INVALID_ARGUMENT');
    assert.match(self.error.message, /alpha is this node/);
  });
});

describe('what a cut drops', () => {
  test('outgoing: a cut both ways or out drops, a cut in does not, other peers are untouched', () => {
    const cuts = cut('gamma', 'in', cut('beta', 'out'));
    assert.equal(dropsOutgoing(cuts, 'b2'), true);
    assert.equal(dropsOutgoing(cuts, 'c3'), false);
    assert.equal(dropsOutgoing(cut('beta'), 'b2'), true);
    assert.equal(dropsOutgoing(cuts, 'a1'), false);
  });

  test('incoming: the certificate names the peer first, then the address it claims, then its IP when one member has it', () => {
    const cuts = cut('beta', 'in', cut('gamma', 'out'));
    assert.equal(incomingCut(cuts, { certificateNodeId: 'b2', remoteIp: '10.0.0.3' }, MEMBERS)?.name, 'beta');
    assert.equal(incomingCut(cuts, { certificateNodeId: 'c3', remoteIp: '10.0.0.2' }, MEMBERS), undefined, 'the certificate wins over the IP');
    assert.equal(incomingCut(cuts, { claimedAddress: '10.0.0.2:7070', remoteIp: '127.0.0.1' }, MEMBERS)?.name, 'beta');
    assert.equal(incomingCut(cuts, { remoteIp: '::ffff:10.0.0.2' }, MEMBERS)?.name, 'beta');
    assert.equal(incomingCut(cuts, { remoteIp: '10.0.0.3' }, MEMBERS), undefined, 'gamma is cut outward only');
    assert.equal(incomingCut(cuts, { remoteIp: '10.0.0.9' }, MEMBERS), undefined, 'a client that is no member passes');
  });

  test('incoming on one machine: an IP that several members share names nobody', () => {
    const local: LinkPeer[] = [
      { id: 'a1', name: 'alpha', address: '127.0.0.1:7001' },
      { id: 'b2', name: 'beta', address: '127.0.0.1:7002' },
    ];
    const r = applyLinkChange([], { peer: 'beta', state: 'cut' }, 'a1', local, AT);
    assert.ok(r.ok);
    assert.equal(incomingCut(r.cuts, { remoteIp: '127.0.0.1' }, local), undefined);
    assert.equal(incomingCut(r.cuts, { remoteIp: '127.0.0.1', claimedAddress: '127.0.0.1:7002' }, local)?.name, 'beta');
  });
});

describe('the request body', () => {
  test('peer and state are needed, direction is one of three and only for a cut, nothing else is accepted', () => {
    assert.deepEqual(parseLinkChange({ peer: 'beta', state: 'cut' }), { peer: 'beta', state: 'cut' });
    assert.deepEqual(parseLinkChange({ peer: 'beta', state: 'cut', direction: 'out' }), { peer: 'beta', state: 'cut', direction: 'out' });
    assertInvalid(() => parseLinkChange({ state: 'cut' }), /peer/);
    assertInvalid(() => parseLinkChange({ peer: 'beta', state: 'down' }), /state: must be "cut" or "up"/);
    assertInvalid(() => parseLinkChange({ peer: 'beta', state: 'cut', direction: 'sideways' }), /direction: must be "both", "in" or "out"/);
    assertInvalid(() => parseLinkChange({ peer: 'beta', state: 'up', direction: 'in' }), /direction: is for a cut only/);
    assertInvalid(() => parseLinkChange({ peer: 'beta', state: 'cut', duration: 5 }), /unknown field "duration"/);
    assertInvalid(() => parseLinkChange([]), /must be a JSON object/);
  });
});

/** A PeerHttp that records the URLs asked for and answers 204 at once. */
function recordingHttp(): PeerHttp & { urls: string[] } {
  const urls: string[] = [];
  return {
    scheme: 'http',
    urls,
    async fetch(url: string) {
      urls.push(url);
      return new Response(null, { status: 204 });
    },
    close() {},
  };
}

const silentLog = { debug() {}, info() {}, warn() {}, error() {}, child() { return silentLog; } } as unknown as import('../../daemon/logger').Logger;

describe('the voting thread\'s sends', () => {
  test('a peer cut outward gets no Raft batch and is reported unreachable; the others still get theirs', async () => {
    const http = recordingHttp();
    const unreachable: string[] = [];
    const cutOff = new Set(['b2']);
    const transport = new HttpTransport({
      http,
      selfAddress: '10.0.0.1:7070',
      secret: () => 'a-cluster-secret-long-enough',
      addressOf: (id) => MEMBERS.find((m) => m.id === id)?.address,
      onUnreachable: (id) => unreachable.push(id),
      onSnapshotSent: () => {},
      log: silentLog,
      dropsOutgoing: (id) => cutOff.has(id),
    });
    const heartbeat = (to: string): Message => ({ type: 'heartbeat', from: 'a1', to, term: 1, commit: 0 }) as unknown as Message;
    transport.send([heartbeat('b2'), heartbeat('c3')]);
    for (let i = 0; i < 5; i++) await new Promise(setImmediate);
    assert.deepEqual(http.urls, ['http://10.0.0.3:7070/cluster/raft']);
    assert.deepEqual(unreachable, ['b2']);
    transport.close();
  });

  test('a forward over a cut link sends nothing and fails UNAVAILABLE after the timeout, as an unanswered request would', async () => {
    const http = recordingHttp();
    mock.timers.enable({ apis: ['setTimeout'] });
    const forwarded = askPeer(http, '10.0.0.2:7070', 'secret', { kind: 'read', forwarded: true }, 30, { cut: true });
    let settled = false;
    void forwarded.catch(() => undefined).finally(() => (settled = true));
    mock.timers.tick(29);
    await new Promise(setImmediate);
    assert.equal(settled, false, 'it fails only once the timeout has passed');
    mock.timers.tick(1);
    mock.timers.reset();
    await assert.rejects(forwarded, (error: unknown) => {
      assert.ok(error instanceof BicycleError);
      assert.equal(error.code, 'UNAVAILABLE');
      assert.match(error.message, /10\.0\.0\.2:7070.*no answer within 30 ms/);
      return true;
    });
    assert.deepEqual(http.urls, []);
    const reply = await askPeer({ ...http, fetch: async (url) => (http.urls.push(url), Response.json({ reply: { ok: true, index: 7 } })) }, '10.0.0.2:7070', 'secret', { kind: 'read', forwarded: true }, 30, { selfAddress: '10.0.0.1:7070' });
    assert.deepEqual(reply, { ok: true, index: 7 });
  });
});
