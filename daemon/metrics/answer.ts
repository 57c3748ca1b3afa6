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
  // A registry that cannot be read is not answered for: the scrape shows this thread's last answer, marked not
  // fresh, as for a busy thread. (No collect() here throws: the traffic counts log their own failure and go without
  // the kernel's part.)
  registry.getMetricsAsJSON().then(
    (metrics) => send(from, { type: 'metrics.reply', id: body.id, metrics }),
    () => undefined,
  );
  return true;
}
