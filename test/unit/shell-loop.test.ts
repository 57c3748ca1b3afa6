import { describe, test, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import winston from 'winston';
import { Loop, RESYNC_IDLE_FACTOR } from '../../daemon/deployment/loop';
import { ChangeNotes } from '../../daemon/changes';
import { BicycleError } from '../../daemon/errors';

/**
 * The control loop's shell on node:test's mock timers (setTimeout,
 * setInterval and Date): when passes run, how wake-ups coalesce, resyncs,
 * a pass's own wake-up time, failures, stop. What is checked is how many
 * passes ran and what the daemon log says.
 */
const DEBOUNCE_MS = 5;
const RESYNC_MS = 200;

/** Lets promise callbacks and setImmediate run (not mocked), so a pass the timers started gets on. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Moves the mocked clock on `ms`, a millisecond at a time: a timer set while
 * the clock moves (the debounce after a resync) is due from the moment it
 * was set, as with real time.
 */
async function tick(ms: number): Promise<void> {
  for (let i = 0; i < ms; i++) {
    mock.timers.tick(1);
    await settle();
  }
}

/** The daemon log as the loop writes it, one record per line. */
function capturingLog(): { log: winston.Logger; lines: Array<{ level: string; message: string; error?: string }> } {
  const lines: Array<{ level: string; message: string; error?: string }> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { lines, log: winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] }) };
}

/** A pass that counts its runs; `hold()` makes the next runs wait until `release()`. */
function countingPass() {
  let runs = 0;
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  const results: Array<number | void | Error> = [];
  return {
    get runs() {
      return runs;
    },
    /** What the next passes return (a wake-up time) or throw, in order; then nothing. */
    results,
    hold() {
      gate = new Promise<void>((resolve) => (open = resolve));
    },
    release() {
      gate = undefined;
      open?.();
    },
    pass: async (): Promise<number | void> => {
      runs += 1;
      if (gate) await gate;
      const next = results.shift();
      if (next instanceof Error) throw next;
      return next;
    },
  };
}

describe('a control loop', () => {
  let loop: Loop | undefined;
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_700_000_000_000 }));
  afterEach(async () => {
    const stopping = loop?.stop();
    mock.timers.runAll();
    await stopping;
    loop = undefined;
    mock.timers.reset();
  });

  test('runs a pass at start, after the debounce; a burst of wake-ups is one more pass', async () => {
    const p = countingPass();
    loop = new Loop('test', p.pass, capturingLog().log, { resyncIntervalMs: RESYNC_MS, debounceMs: DEBOUNCE_MS });
    loop.start();
    await tick(DEBOUNCE_MS - 1);
    assert.equal(p.runs, 0, 'not before the debounce');
    await tick(1);
    assert.equal(p.runs, 1);
    for (let i = 0; i < 20; i++) loop.wake();
    await tick(DEBOUNCE_MS);
    assert.equal(p.runs, 2, 'twenty wake-ups, one pass');
  });

  test('passes never overlap: wake-ups during a pass make exactly one pass after it', async () => {
    const p = countingPass();
    loop = new Loop('test', p.pass, capturingLog().log, { resyncIntervalMs: RESYNC_MS, debounceMs: DEBOUNCE_MS });
    p.hold();
    loop.start();
    await tick(DEBOUNCE_MS);
    assert.equal(p.runs, 1);
    loop.wake();
    loop.wake();
    await tick(DEBOUNCE_MS * 10);
    assert.equal(p.runs, 1, 'the first pass is still under way');
    p.release();
    await settle();
    assert.equal(p.runs, 2, 'one pass follows it at once');
    await tick(DEBOUNCE_MS * 10);
    assert.equal(p.runs, 2, 'and no more');
  });

  test('resyncs every resyncIntervalMs with no wake-up at all', async () => {
    const p = countingPass();
    loop = new Loop('test', p.pass, capturingLog().log, { resyncIntervalMs: RESYNC_MS, debounceMs: DEBOUNCE_MS });
    loop.start();
    await tick(DEBOUNCE_MS);
    assert.equal(p.runs, 1);
    await tick(RESYNC_MS - DEBOUNCE_MS - 1);
    assert.equal(p.runs, 1);
    await tick(1 + DEBOUNCE_MS);
    assert.equal(p.runs, 2);
    await tick(RESYNC_MS * 3);
    assert.equal(p.runs, 5);
  });

  test('after a long pass a resync waits until the loop was idle ten times as long; a wake-up does not wait', async () => {
    const p = countingPass();
    loop = new Loop('test', p.pass, capturingLog().log, { resyncIntervalMs: RESYNC_MS, debounceMs: DEBOUNCE_MS, clock: Date.now });
    p.hold();
    loop.start();
    await tick(DEBOUNCE_MS);
    assert.equal(p.runs, 1);
    // The first pass takes 100 ms (a pass over every row of a large cluster): resyncs wait 1,000 ms after it.
    await tick(100 - DEBOUNCE_MS);
    p.release();
    await settle();
    const ended = Date.now();
    await tick(100 * RESYNC_IDLE_FACTOR - 1);
    assert.equal(p.runs, 1, 'the resyncs within ten times the pass are let go');
    await tick(RESYNC_MS + DEBOUNCE_MS);
    assert.ok(Date.now() - ended >= 100 * RESYNC_IDLE_FACTOR);
    assert.equal(p.runs, 2, 'the first resync after it runs');
    // That pass was quick: resyncs come every resyncIntervalMs again, and a wake-up is never held back.
    loop.wake();
    await tick(DEBOUNCE_MS);
    assert.equal(p.runs, 3, 'a wake-up runs at once');
    await tick(RESYNC_MS * 2);
    assert.equal(p.runs, 5);
  });

  test('a pass that names a time (a back-off ending) runs again then, not only at the resync', async () => {
    const p = countingPass();
    p.results.push(Date.now() + 50);
    loop = new Loop('test', p.pass, capturingLog().log, { resyncIntervalMs: RESYNC_MS, debounceMs: DEBOUNCE_MS });
    loop.start();
    await tick(DEBOUNCE_MS);
    assert.equal(p.runs, 1);
    await tick(49 - DEBOUNCE_MS);
    assert.equal(p.runs, 1);
    await tick(1 + DEBOUNCE_MS);
    assert.equal(p.runs, 2, 'woken at the time it named');
  });

  test('a failed pass is logged with its error and retried at the next wake-up; no leader yet is only a debug line', async () => {
    const p = countingPass();
    const { log, lines } = capturingLog();
    const heard: boolean[] = [];
    p.results.push(new Error('database is locked'), new BicycleError('NO_LEADER', 'no leader is elected yet'));
    loop = new Loop('agent', p.pass, log, { resyncIntervalMs: RESYNC_MS, debounceMs: DEBOUNCE_MS, onPass: (_name, _s, failed) => heard.push(failed) });
    loop.start();
    await tick(DEBOUNCE_MS);
    loop.wake();
    await tick(DEBOUNCE_MS);
    loop.wake();
    await tick(DEBOUNCE_MS);
    assert.equal(p.runs, 3, 'the loop outlives its failures');
    assert.deepEqual(heard, [true, true, false]);
    const failures = lines.filter((l) => l.message === 'agent pass failed; will retry');
    assert.deepEqual(failures.map((l) => [l.level, l.error]), [['warn', 'database is locked'], ['debug', 'no leader is elected yet']]);
  });

  test('a change note from another thread wakes it, as the deployment thread wires them', async () => {
    const p = countingPass();
    loop = new Loop('orchestrator', p.pass, capturingLog().log, { resyncIntervalMs: RESYNC_MS, debounceMs: DEBOUNCE_MS });
    const notes = new ChangeNotes();
    const voting = new ChangeNotes();
    let delivered = false;
    notes.subscribe((note) => {
      if (note.tables.includes('tasks')) loop!.wake();
      delivered = true;
    });
    loop.start();
    await tick(DEBOUNCE_MS);
    assert.equal(p.runs, 1);
    voting.publish(['tasks']);
    // The channel is unref'd (a note never keeps a thread alive): the test keeps the event loop turning until it lands.
    for (let i = 0; i < 10_000 && !delivered; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(delivered, true, 'the note arrived');
    await tick(DEBOUNCE_MS);
    assert.equal(p.runs, 2);
    notes.close();
    voting.close();
  });

  test('stop waits for the pass under way and no pass runs after it', async () => {
    const p = countingPass();
    const l = new Loop('test', p.pass, capturingLog().log, { resyncIntervalMs: RESYNC_MS, debounceMs: DEBOUNCE_MS });
    p.hold();
    l.start();
    await tick(DEBOUNCE_MS);
    l.wake();
    let stopped = false;
    const stopping = l.stop().then(() => (stopped = true));
    await settle();
    assert.equal(stopped, false, 'the pass is still under way');
    p.release();
    await stopping;
    assert.equal(p.runs, 1, 'the wake-up before stop does not run another pass');
    l.wake();
    await tick(RESYNC_MS * 2);
    assert.equal(p.runs, 1);
  });
});
