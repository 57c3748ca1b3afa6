import { describe, test, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import { VotingClient } from '../../daemon/voting-client';
import { BicycleError } from '../../daemon/errors';
import type { ThreadMessage } from '../../daemon/messages';
import type { Command } from '../../database/commands';

/**
 * What a thread asks of the voting thread, with the voting thread played by
 * the test: requests are taken where the client posts them, and replies,
 * errors and main's "undeliverable" are handed back through `handle`, as a
 * thread's message handler does.
 */
type Request = Extract<ThreadMessage, { type: 'voting.request' }>;

function client(timeoutMs = 30_000): { client: VotingClient; sent: Request[] } {
  const sent: Request[] = [];
  return { sent, client: new VotingClient(timeoutMs, (m) => sent.push(m)) };
}

const observe: Command = { type: 'task.observe', taskId: 't1', state: 'RUNNING', at: 1 };

async function rejection(promise: Promise<unknown>): Promise<BicycleError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BicycleError, String(error));
    return error;
  }
  assert.fail('expected a rejection');
}

describe('the voting client', () => {
  afterEach(() => mock.timers.reset());

  test('each request has its own id and gets its own reply, whatever the order the replies come in', async () => {
    const { client: c, sent } = client();
    const first = c.proposeWithIndex(observe);
    const second = c.readBarrier();
    assert.equal(sent.length, 2);
    assert.notEqual(sent[0]!.id, sent[1]!.id);
    assert.deepEqual(sent.map((s) => s.request.kind), ['propose', 'read']);

    assert.equal(c.handle({ type: 'voting.reply', id: sent[1]!.id, reply: { ok: true, index: 41 } }), true);
    assert.equal(c.handle({ type: 'voting.reply', id: sent[0]!.id, reply: { ok: true, result: { ok: true, changed: true }, index: 42 } }), true);
    assert.deepEqual(await first, { result: { ok: true, changed: true }, index: 42 });
    assert.equal(await second, 41);
  });

  test('a proposal without a request id gets one; one the caller tagged keeps its own, so a retry applies once', async () => {
    const { client: c, sent } = client();
    const waiting = [c.propose(observe), c.propose({ ...observe, request: { id: 'r:from-rest' } })];
    const ids = sent.map((s) => (s.request.kind === 'propose' ? s.request.command.request?.id : undefined));
    assert.match(ids[0]!, /^p:[0-9a-f]{24}$/);
    assert.equal(ids[1], 'r:from-rest');
    assert.equal(sent[0]!.request.kind === 'propose' && sent[0]!.request.forwarded, false);
    c.close();
    for (const w of waiting) await assert.rejects(w, /bicycled is stopping/);
  });

  test('the voting thread\'s error comes back as the same error: code and message', async () => {
    const { client: c, sent } = client();
    const proposed = c.propose(observe);
    c.handle({ type: 'voting.reply', id: sent[0]!.id, reply: { ok: false, error: { code: 'NO_LEADER', message: 'no leader is elected yet' } } });
    const error = await rejection(proposed);
    assert.equal(error.code, 'NO_LEADER');
    assert.equal(error.message, 'no leader is elected yet');
    assert.equal(error.retryable, true);
  });

  test('no answer in time: TIMEOUT naming what was asked; a reply after it changes nothing', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const { client: c, sent } = client(500);
    let settled = false;
    const proposed = c.propose(observe);
    void proposed.catch(() => undefined).finally(() => (settled = true));
    mock.timers.tick(499);
    await new Promise(setImmediate);
    assert.equal(settled, false);
    mock.timers.tick(1);
    const error = await rejection(proposed);
    assert.equal(error.code, 'TIMEOUT');
    assert.equal(error.message, 'the cluster did not answer task.observe within 500 ms');
    // The late reply is still this client's to take, and is dropped.
    assert.equal(c.handle({ type: 'voting.reply', id: sent[0]!.id, reply: { ok: true, index: 1 } }), true);
  });

  test('a request main could not deliver (the voting thread is restarting) fails UNAVAILABLE; other messages are not the client\'s', async () => {
    const { client: c, sent } = client();
    const barrier = c.readBarrier();
    assert.equal(c.handle({ type: 'undeliverable', to: 'voting', original: sent[0]! }), true);
    const error = await rejection(barrier);
    assert.equal(error.code, 'UNAVAILABLE');
    assert.equal(error.message, 'the voting thread is restarting; try again shortly');

    assert.equal(c.handle({ type: 'logs.data', streamId: 's', text: 'x' }), false);
    assert.equal(c.handle({ type: 'undeliverable', to: 'monitoring', original: { type: 'logs.close', streamId: 's' } }), false);
  });

  test('close fails every request still waiting: UNAVAILABLE, bicycled is stopping', async () => {
    const { client: c } = client();
    const waiting = [c.propose(observe), c.readBarrier(), c.changeMembership({ action: 'remove', nodeId: 'n2' })];
    c.close();
    for (const w of waiting) {
      const error = await rejection(w);
      assert.equal(error.code, 'UNAVAILABLE');
      assert.equal(error.message, 'bicycled is stopping');
    }
  });

  test('raw answers with the reply as data, errors included, as a forwarded request from a peer gets it', async () => {
    const { client: c, sent } = client();
    const ok = c.raw({ kind: 'read', forwarded: true });
    const refused = c.raw({ kind: 'read', forwarded: true });
    c.handle({ type: 'voting.reply', id: sent[0]!.id, reply: { ok: true, index: 9 } });
    c.handle({ type: 'voting.reply', id: sent[1]!.id, reply: { ok: false, error: { code: 'NO_LEADER', message: 'no leader is elected yet' } } });
    assert.deepEqual(await ok, { ok: true, index: 9 });
    const answer = await refused;
    assert.equal(answer.ok, false);
    assert.deepEqual(answer.ok ? null : [answer.error.code, answer.error.message], ['NO_LEADER', 'no leader is elected yet']);
  });
});
