import type { Registry } from 'prom-client';
import type { ThreadMessage, ThreadName } from '../messages';
import { sendTo } from '../thread-runtime';

/**
 * A thread's side of the scrape: answers the REST thread's `metrics.request`
 * with its own registry as plain data. Feed it every message delivered to the
 * thread; returns true if the message was a metrics request.
 */
export function answerMetricsRequest(registry: Registry, from: ThreadName, body: ThreadMessage, send = sendTo): boolean {
  if (body.type !== 'metrics.request') return false;
  void registry
    .getMetricsAsJSON()
    // A collect() that fails (the packet filter cannot be read) costs this scrape the thread's series, never the thread.
    .catch(() => [])
    .then((metrics) => send(from, { type: 'metrics.reply', id: body.id, metrics }));
  return true;
}
