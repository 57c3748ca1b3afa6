import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Registry } from 'prom-client';
import { renderThreadMetrics, ThreadMetricsCollector } from '../../daemon/metrics/collector';
import { answerMetricsRequest } from '../../daemon/metrics/answer';
import { createDeploymentMetrics, createVotingMetrics, type TrafficCounts } from '../../daemon/metrics/thread-metrics';
import type { ThreadMessage, ThreadMetricsJson, ThreadName } from '../../daemon/messages';

/**
 * How the other threads' metrics reach a scrape: each thread's registry as
 * plain data, merged by the REST thread, with a timeout for a thread that
 * does not answer. No workers here: the messages are handed over directly.
 */

/** The value of one series in a text-format scrape, or undefined when it is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function counterJson(name: string, labels: Record<string, string>, value: number): Promise<ThreadMetricsJson> {
  const registry = new Registry();
  new Counter({ name, help: `${name} help`, labelNames: Object.keys(labels), registers: [registry] }).inc(labels, value);
  return registry.getMetricsAsJSON();
}

/** A collector whose threads answer (or not) as `answer` says, after `delayMs`. */
function collectorWith(answer: (thread: ThreadName) => ThreadMetricsJson | 'silent' | 'undeliverable', timeoutMs = 50, delayMs = 0) {
  const asked: ThreadName[] = [];
  const collector: ThreadMetricsCollector = new ThreadMetricsCollector({
    threads: ['voting', 'deployment'],
    timeoutMs,
    send(to, body) {
      asked.push(to);
      assert.equal(body.type, 'metrics.request');
      const id = (body as Extract<ThreadMessage, { type: 'metrics.request' }>).id;
      const reply = answer(to);
      if (reply === 'silent') return;
      setTimeout(() => {
        collector.handle(reply === 'undeliverable'
          ? { type: 'undeliverable', to, original: body }
          : { type: 'metrics.reply', id, metrics: reply });
      }, delayMs);
    },
  });
  return { collector, asked };
}

describe('renderThreadMetrics', () => {
  test('the threads\' series side by side, in text format, with a fresh gauge per thread', async () => {
    const text = await renderThreadMetrics([
      { thread: 'voting', metrics: await counterJson('bicycle_a_total', { outcome: 'committed' }, 3), fresh: true },
      { thread: 'deployment', metrics: await counterJson('bicycle_b_total', { loop: 'agent' }, 2), fresh: false },
    ]);
    assert.match(text, /^# TYPE bicycle_a_total counter$/m);
    assert.match(text, /^# HELP bicycle_b_total bicycle_b_total help$/m);
    assert.equal(sample(text, 'bicycle_a_total{outcome="committed"}'), 3);
    assert.equal(sample(text, 'bicycle_b_total{loop="agent"}'), 2);
    assert.equal(sample(text, 'bicycle_thread_metrics_fresh{thread="voting"}'), 1);
    assert.equal(sample(text, 'bicycle_thread_metrics_fresh{thread="deployment"}'), 0);
  });

  test('a name two threads share is summed per label set', async () => {
    const text = await renderThreadMetrics([
      { thread: 'voting', metrics: await counterJson('bicycle_same_total', { k: 'x' }, 3), fresh: true },
      { thread: 'deployment', metrics: await counterJson('bicycle_same_total', { k: 'x' }, 4), fresh: true },
    ]);
    assert.equal(sample(text, 'bicycle_same_total{k="x"}'), 7);
    assert.equal(text.match(/^# TYPE bicycle_same_total /gm)?.length, 1);
  });

  test('a thread without any answer yet has no series but its fresh gauge', async () => {
    const text = await renderThreadMetrics([{ thread: 'voting', metrics: null, fresh: false }]);
    assert.equal(sample(text, 'bicycle_thread_metrics_fresh{thread="voting"}'), 0);
    assert.equal(text.split('\n').filter((l) => l && !l.startsWith('#')).length, 1);
  });

  test('histograms keep their buckets, sum and count', async () => {
    const registry = new Registry();
    const voting = createVotingMetrics(registry);
    voting.proposed(0.003, 'committed');
    voting.proposed(0.2, 'committed');
    voting.proposed(0.01, 'NO_LEADER');
    voting.applied('service.create', 0.00002);
    const text = await renderThreadMetrics([{ thread: 'voting', metrics: await registry.getMetricsAsJSON(), fresh: true }]);
    assert.match(text, /^# TYPE bicycle_raft_proposal_duration_seconds histogram$/m);
    assert.equal(sample(text, 'bicycle_raft_proposal_duration_seconds_count{outcome="committed"}'), 2);
    assert.equal(sample(text, 'bicycle_raft_proposal_duration_seconds_bucket{le="0.005",outcome="committed"}'), 1);
    assert.equal(sample(text, 'bicycle_raft_proposal_duration_seconds_bucket{le="+Inf",outcome="committed"}'), 2);
    assert.ok(Math.abs(sample(text, 'bicycle_raft_proposal_duration_seconds_sum{outcome="committed"}')! - 0.203) < 1e-9);
    assert.equal(sample(text, 'bicycle_raft_proposal_duration_seconds_count{outcome="NO_LEADER"}'), 1);
    assert.equal(sample(text, 'bicycle_raft_apply_duration_seconds_count{command="service.create"}'), 1);
  });
});

describe('ThreadMetricsCollector', () => {
  test('asks every thread and merges what they answer', async () => {
    const voting = await counterJson('bicycle_v_total', {}, 1);
    const deployment = await counterJson('bicycle_d_total', {}, 2);
    const { collector, asked } = collectorWith((t) => (t === 'voting' ? voting : deployment));
    const text = await collector.render();
    assert.deepEqual(asked.sort(), ['deployment', 'voting']);
    assert.equal(sample(text, 'bicycle_v_total'), 1);
    assert.equal(sample(text, 'bicycle_d_total'), 2);
    assert.equal(sample(text, 'bicycle_thread_metrics_fresh{thread="voting"}'), 1);
    assert.equal(sample(text, 'bicycle_thread_metrics_fresh{thread="deployment"}'), 1);
  });

  test('a thread that does not answer in time does not hold the scrape; its last answer is shown, marked not fresh', async () => {
    const first = await counterJson('bicycle_d_total', {}, 5);
    const voting = await counterJson('bicycle_v_total', {}, 1);
    let silent = false;
    const { collector } = collectorWith((t) => (t === 'voting' ? voting : silent ? 'silent' : first), 50);
    await collector.render();
    silent = true;
    const started = Date.now();
    const text = await collector.render();
    const tookMs = Date.now() - started;
    assert.ok(tookMs < 500, `the scrape waited ${tookMs} ms`);
    assert.equal(sample(text, 'bicycle_d_total'), 5, 'the last answer');
    assert.equal(sample(text, 'bicycle_thread_metrics_fresh{thread="deployment"}'), 0);
    assert.equal(sample(text, 'bicycle_thread_metrics_fresh{thread="voting"}'), 1);
  });

  test('an answer that arrives after the timeout is kept for the next scrape', async () => {
    let value = 1;
    // Every answer comes 60 ms after its request: after the 20 ms the scrape waits.
    const late = new ThreadMetricsCollector({
      threads: ['deployment'],
      timeoutMs: 20,
      send(_to, body) {
        const id = (body as Extract<ThreadMessage, { type: 'metrics.request' }>).id;
        const metrics = counterJson('bicycle_late_total', {}, value++);
        setTimeout(() => void metrics.then((m) => late.handle({ type: 'metrics.reply', id, metrics: m })), 60);
      },
    });
    const first = await late.render();
    assert.equal(sample(first, 'bicycle_late_total'), undefined, 'nothing yet');
    await new Promise((r) => setTimeout(r, 100));
    const second = await late.render();
    assert.equal(sample(second, 'bicycle_late_total'), 1, 'the first scrape\'s late answer');
    assert.equal(sample(second, 'bicycle_thread_metrics_fresh{thread="deployment"}'), 0);
  });

  test('a thread that is restarting (undeliverable) is answered at once from its last answer', async () => {
    const { collector } = collectorWith(() => 'undeliverable', 5000);
    const started = Date.now();
    const text = await collector.render();
    assert.ok(Date.now() - started < 1000);
    assert.equal(sample(text, 'bicycle_thread_metrics_fresh{thread="voting"}'), 0);
  });

  test('a message that is not about metrics is left to others', () => {
    const { collector } = collectorWith(() => 'silent');
    assert.equal(collector.handle({ type: 'logs.close', streamId: 'x' }), false);
  });
});

describe('answerMetricsRequest', () => {
  test('a deployment thread\'s registry, through the messages, as a scrape shows it', async () => {
    const registry = new Registry();
    const traffic: TrafficCounts[] = [
      { service: 'web', path: 'hop', connections: 4, bytesIn: 400, bytesOut: 4000 },
      { service: 'web', path: 'kernel', connections: 10, bytesIn: 1200, bytesOut: 9000 },
    ];
    const deployment = createDeploymentMetrics(registry, async () => traffic);
    deployment.containerStarted();
    deployment.containerStarted();
    deployment.containerStartFailed('image_pull');
    deployment.taskRunning(1.5);
    deployment.passed('agent', 0.004, false);
    deployment.passed('agent', 0.02, true);

    const collector: ThreadMetricsCollector = new ThreadMetricsCollector({
      threads: ['deployment'],
      timeoutMs: 1000,
      send(to, body) {
        assert.equal(answerMetricsRequest(registry, 'rest', body, (back, reply) => {
          assert.equal(back, 'rest');
          collector.handle(reply);
        }), true);
        assert.equal(to, 'deployment');
      },
    });
    const text = await collector.render();
    assert.equal(sample(text, 'bicycle_container_starts_total'), 2);
    assert.equal(sample(text, 'bicycle_container_start_failures_total{reason="image_pull"}'), 1);
    assert.equal(sample(text, 'bicycle_container_start_failures_total{reason="start"}'), 0, 'every reason listed at zero');
    assert.equal(sample(text, 'bicycle_task_scheduling_delay_seconds_count'), 1);
    assert.equal(sample(text, 'bicycle_task_scheduling_delay_seconds_sum'), 1.5);
    assert.equal(sample(text, 'bicycle_reconcile_pass_duration_seconds_count{loop="agent"}'), 2);
    assert.equal(sample(text, 'bicycle_reconcile_pass_failures_total{loop="agent"}'), 1);
    assert.equal(sample(text, 'bicycle_traffic_connections_total{service="web",path="hop"}'), 4);
    assert.equal(sample(text, 'bicycle_traffic_connections_total{service="web",path="kernel"}'), 10);
    assert.equal(sample(text, 'bicycle_traffic_bytes_total{service="web",path="kernel",direction="in"}'), 1200);
    assert.equal(sample(text, 'bicycle_traffic_bytes_total{service="web",path="hop",direction="out"}'), 4000);

    // The counts are read again at each scrape: they follow what the traffic manager says now.
    traffic[0] = { ...traffic[0]!, connections: 6 };
    assert.equal(sample(await collector.render(), 'bicycle_traffic_connections_total{service="web",path="hop"}'), 6);
  });

  test('a registry that cannot be read is not answered for: the scrape shows the thread as not fresh', async () => {
    const registry = new Registry();
    new Counter({ name: 'bicycle_broken_total', help: 'x', registers: [registry], collect() { throw new Error('cannot read'); } });
    const collector: ThreadMetricsCollector = new ThreadMetricsCollector({
      threads: ['deployment'],
      timeoutMs: 50,
      send: (_to, body) => void answerMetricsRequest(registry, 'rest', body, (_back, reply) => collector.handle(reply)),
    });
    const text = await collector.render();
    assert.equal(sample(text, 'bicycle_thread_metrics_fresh{thread="deployment"}'), 0);
    assert.equal(sample(text, 'bicycle_broken_total'), undefined);
  });

  test('a message that is not a metrics request is not answered', () => {
    const sent: unknown[] = [];
    assert.equal(answerMetricsRequest(new Registry(), 'rest', { type: 'logs.close', streamId: 'x' }, (_t, b) => sent.push(b)), false);
    assert.deepEqual(sent, []);
  });
});
