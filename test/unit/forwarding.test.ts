import { describe, test } from 'node:test';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import assert from 'node:assert/strict';
import { AppliedWaiters, Forwarder, forwardTarget, type Schedule } from '../../daemon/voting/forwarding';
import { askPeer } from '../../daemon/voting/peer-client';
import { BicycleError } from '../../daemon/errors';
import type { PeerHttp } from '../../daemon/tls/peer-tls';
import type { VotingReply } from '../../daemon/cluster-protocol';

/** A clock the test moves by hand: `fire()` runs every timer still pending. */
function manualSchedule(): Schedule & { fire(): void; pending(): number } {
  let timers: Array<{ fn: () => void; ms: number }> = [];
  const schedule = ((fn: () => void, ms: number) => {
    const timer = { fn, ms };
    timers.push(timer);
    return () => {
      timers = timers.filter((t) => t !== timer);
    };
  }) as Schedule & { fire(): void; pending(): number };
  schedule.fire = () => {
    const due = timers;
    timers = [];
    for (const t of due) t.fn();
  };
  schedule.pending = () => timers.length;
  return schedule;
}

const http: PeerHttp = { scheme: 'http', fetch: async () => new Response(null, { status: 500 }), close() {} };

/** A follower of `a1` (host-1 at 10.0.0.1:7070) that has applied up to `applied.index`. */
function follower(answer: VotingReply | Error, applied: { index: number }, schedule: Schedule) {
  const waiters = new AppliedWaiters(() => applied.index, schedule);
  const asked: string[] = [];
  const forwarder = new Forwarder({
    http,
    selfAddress: '10.0.0.2:7070',
    timeoutMs: 5000,
    leader: () => 'a1',
    addressOf: (id) => (id === 'a1' ? '10.0.0.1:7070' : undefined),
    secret: () => 'sixteen-chars-secret',
    nameOf: (id) => (id === 'a1' ? 'host-1 (id a1)' : id),
    waiters,
    ask: async (_http, address, _secret, request) => {
      asked.push(`${address} ${request.kind}`);
      if (answer instanceof Error) throw answer;
      return answer;
    },
  });
  return { forwarder, waiters, asked };
}

describe('forwarding: where a follower sends a request', () => {
  test('a request that came forwarded is not forwarded again, and without a leader, its address or the secret there is nowhere to send it: NO_LEADER', () => {
    assert.match(JSON.stringify(forwardTarget({ forwarded: true, leader: 'a1', address: 'x:1', secret: 's' })), /NO_LEADER.*not the leader any more/);
    assert.match(JSON.stringify(forwardTarget({ forwarded: false, leader: null, address: undefined, secret: 's' })), /NO_LEADER.*no leader is elected yet/);
    assert.match(JSON.stringify(forwardTarget({ forwarded: false, leader: 'a1', address: undefined, secret: 's' })), /NO_LEADER.*the leader a1 cannot be reached yet/);
    assert.match(JSON.stringify(forwardTarget({ forwarded: false, leader: 'a1', address: 'x:1', secret: undefined })), /NO_LEADER/);
    assert.deepEqual(forwardTarget({ forwarded: false, leader: 'a1', address: 'x:1', secret: 's' }), { ok: true, leader: 'a1', address: 'x:1', secret: 's' });
  });
});

describe('forwarding: a forwarded write or read answers once this node has applied it, or says why not', () => {
  test('the leader\'s answer is passed on once this node applies its index', async () => {
    const schedule = manualSchedule();
    const applied = { index: 3 };
    const { forwarder, waiters, asked } = follower({ ok: true, index: 7 }, applied, schedule);
    let answer: VotingReply | undefined;
    const pending = forwarder.forwardAndWait({ kind: 'propose', command: { type: 'batch', commands: [] }, forwarded: true }, false).then((r) => (answer = r));
    await new Promise(setImmediate);
    assert.equal(answer, undefined, 'no answer while this node lags');
    applied.index = 7;
    waiters.release();
    await pending;
    assert.deepEqual(answer, { ok: true, index: 7 });
    assert.deepEqual(asked, ['10.0.0.1:7070 propose']);
    assert.equal(schedule.pending(), 0, 'the wait\'s timer is cancelled');
  });

  test('a forwarded write this node has not applied when the wait runs out answers TIMEOUT, naming the leader, the index, how far this node got and the wait', async () => {
    const schedule = manualSchedule();
    const { forwarder } = follower({ ok: true, index: 7 }, { index: 3 }, schedule);
    const pending = forwarder.forwardAndWait({ kind: 'propose', command: { type: 'batch', commands: [] }, forwarded: true }, false);
    await new Promise(setImmediate);
    schedule.fire();
    const reply = await pending;
    assert.equal(reply.ok, false);
    assert.ok(!reply.ok);
    assert.equal(reply.error.code, 'TIMEOUT');
    assert.match(reply.error.message, /the leader host-1 \(id a1\) committed the write at index 7/);
    assert.match(reply.error.message, /applied only up to index 3 after waiting 5000 ms/);
    assert.match(reply.error.message, /the write took effect: read it back, do not repeat it/);
  });

  test('a forwarded read barrier that runs out answers TIMEOUT too (a node that lags does not serve it)', async () => {
    const schedule = manualSchedule();
    const { forwarder } = follower({ ok: true, index: 9 }, { index: 4 }, schedule);
    const pending = forwarder.forwardAndWait({ kind: 'read', forwarded: true }, false);
    await new Promise(setImmediate);
    schedule.fire();
    const reply = await pending;
    assert.ok(!reply.ok);
    assert.equal(reply.error.code, 'TIMEOUT');
    assert.match(reply.error.message, /the leader host-1 \(id a1\) answered the read at index 9, but this node has applied only up to index 4 after waiting 5000 ms/);
  });

  test('a wait cut short by the daemon stopping answers UNAVAILABLE, not the leader\'s answer', async () => {
    const { forwarder, waiters } = follower({ ok: true, index: 7 }, { index: 3 }, manualSchedule());
    const pending = forwarder.forwardAndWait({ kind: 'read', forwarded: true }, false);
    await new Promise(setImmediate);
    waiters.close();
    const reply = await pending;
    assert.ok(!reply.ok);
    assert.equal(reply.error.code, 'UNAVAILABLE');
    assert.match(reply.error.message, /stopping before this node applied index 7/);
  });

  test('a refusal from the leader, or a failure to reach it, is the answer as it is, with no wait', async () => {
    const schedule = manualSchedule();
    const refused = await follower({ ok: false, error: { code: 'PERMISSION_DENIED', message: 'no' } }, { index: 0 }, schedule).forwarder.forwardAndWait({ kind: 'read', forwarded: true }, false);
    assert.deepEqual(refused, { ok: false, error: { code: 'PERMISSION_DENIED', message: 'no' } });
    const unreachable = await follower(new BicycleError('UNAVAILABLE', 'cannot reach the leader'), { index: 0 }, schedule).forwarder.forwardAndWait({ kind: 'read', forwarded: true }, false);
    assert.ok(!unreachable.ok);
    assert.equal(unreachable.error.code, 'UNAVAILABLE');
    assert.equal(schedule.pending(), 0);
  });
});

describe('forwarding: a leader that does not answer in time', () => {
  test('askPeer fails UNAVAILABLE naming the leader, its address and the wait', async () => {
    // A listener that takes the request and never answers.
    const held: ServerResponse[] = [];
    const server = createServer((_req, res) => void held.push(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const plain: PeerHttp = { scheme: 'http', fetch: (url, init) => fetch(url, init), close() {} };
    try {
      await assert.rejects(askPeer(plain, address, 'secret', { kind: 'read', forwarded: true }, 50, { peerName: 'host-1 (id a1)' }), (error: unknown) => {
        assert.ok(error instanceof BicycleError);
        assert.equal(error.code, 'UNAVAILABLE');
        assert.equal(error.message, `cannot reach the leader host-1 (id a1) at ${address}: no answer within 50 ms`);
        return true;
      });
    } finally {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
