import type { Command } from './commands';

/**
 * The cluster's events, derived from the committed Raft log: one committed
 * entry (index, term, command) gives zero or more events, so reading the log
 * again from an index gives the same events again, exactly. An event says
 * what was decided (committed), in the order the cluster decided it; a
 * command the state machine refused on apply (an illegal transition) is
 * still a committed entry and still gives its event (docs/events.md).
 */
export const EVENT_TYPES = ['service', 'task', 'node', 'cluster', 'secret'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface ClusterEvent {
  /** The log index of the entry the event comes from; several events of one batch share it. */
  index: number;
  term: number;
  /** When it was decided (the command's `at`), ISO 8601. */
  time: string;
  type: EventType;
  /** create, update, delete, remove, state, health, rollback, rebalance, assign, desired, pending, ready, down, unknown, active, drain, pause, promote, demote, labels, facts, init. */
  action: string;
  service?: string;
  task?: string;
  node?: string;
  /** What else the command said, as short values (never secrets). */
  attributes: Record<string, string | number | boolean | null>;
}

export interface CommittedEntry {
  index: number;
  term: number;
  command: Command;
}

/** The service a task belongs to (task commands other than task.create name only the task); undefined when unknown. */
export type TaskServiceLookup = (taskId: string) => string | undefined;

/** The events of one committed entry; a batch gives its inner commands' events, in order. */
export function eventsOfEntry(entry: CommittedEntry, taskService: TaskServiceLookup = () => undefined): ClusterEvent[] {
  const out: ClusterEvent[] = [];
  const visit = (command: Command) => {
    if (command.type === 'batch') {
      for (const inner of command.commands) visit(inner);
      return;
    }
    for (const partial of eventsOfCommand(command, taskService)) {
      out.push({ index: entry.index, term: entry.term, time: new Date(command.at).toISOString(), ...partial });
    }
  };
  visit(entry.command);
  return out;
}

type Partial = Omit<ClusterEvent, 'index' | 'term' | 'time'>;

function eventsOfCommand(c: Exclude<Command, { type: 'batch' }>, taskService: TaskServiceLookup): Partial[] {
  const task = (taskId: string, action: string, attributes: Partial['attributes'], node?: string): Partial => {
    const service = taskService(taskId);
    return {
      type: 'task',
      action,
      ...(service === undefined ? {} : { service }),
      task: taskId,
      ...(node === undefined ? {} : { node }),
      attributes,
    };
  };
  switch (c.type) {
    case 'cluster.init':
      return [{ type: 'cluster', action: 'init', attributes: { clusterId: c.clusterId } }];
    // The token itself is a secret: the event says only that it changed.
    case 'cluster.rotate-join-token':
      return [{ type: 'cluster', action: 'rotate-join-token', attributes: {} }];
    case 'node.register':
      return [{ type: 'node', action: 'create', node: c.node.id, attributes: { name: c.node.name, address: c.node.address, role: c.node.role } }];
    case 'node.set-status':
      return [{ type: 'node', action: c.status.toLowerCase(), node: c.nodeId, attributes: { status: c.status } }];
    case 'node.set-availability':
      return [{ type: 'node', action: c.availability, node: c.nodeId, attributes: { availability: c.availability } }];
    case 'node.set-role':
      return [{ type: 'node', action: c.role === 'manager' ? 'promote' : 'demote', node: c.nodeId, attributes: { role: c.role } }];
    case 'node.set-labels':
      return [{ type: 'node', action: 'labels', node: c.nodeId, attributes: prefixed('label.', c.labels) }];
    case 'node.set-facts':
      return [{ type: 'node', action: 'facts', node: c.nodeId, attributes: flat(c.facts as unknown as Record<string, unknown>) }];
    case 'node.seen':
      // The leader's heartbeat bookkeeping: many a minute, and no change of state.
      return [];
    case 'node.remove':
      return [{ type: 'node', action: 'remove', node: c.nodeId, attributes: {} }];
    case 'service.create':
      return [
        {
          type: 'service',
          action: 'create',
          service: c.name,
          attributes: { id: c.id, image: c.spec.image, replicas: c.replicas, mode: c.spec.mode ?? 'replicated' },
        },
      ];
    case 'service.update': {
      const attributes: Partial['attributes'] = { changed: Object.keys(c.changes).sort().join(',') };
      if (c.changes.replicas !== undefined) attributes.replicas = c.changes.replicas;
      if (c.changes.image !== undefined) attributes.image = c.changes.image;
      return [{ type: 'service', action: 'update', service: c.name, attributes }];
    }
    case 'service.delete':
      return [{ type: 'service', action: 'delete', service: c.name, attributes: {} }];
    case 'service.set-state':
      return [
        {
          type: 'service',
          action: 'state',
          service: c.name,
          attributes: { state: c.state, version: c.version, ...(c.reason === undefined ? {} : { reason: c.reason }) },
        },
      ];
    case 'service.rollback':
      return [
        {
          type: 'service',
          action: 'rollback',
          service: c.name,
          attributes: { reason: c.reason, ...(c.toVersion === undefined ? {} : { toVersion: c.toVersion }) },
        },
      ];
    case 'service.remove':
      return [{ type: 'service', action: 'remove', service: c.name, attributes: {} }];
    case 'service.rebalance':
      return [{ type: 'service', action: 'rebalance', service: c.name, attributes: { requested: c.requested } }];
    case 'task.create':
      return [
        {
          type: 'task',
          action: 'create',
          service: c.serviceName,
          task: c.id,
          ...(c.nodeId === undefined ? {} : { node: c.nodeId }),
          attributes: { slot: c.slot, specVersion: c.specVersion },
        },
      ];
    case 'task.set-slot':
      return [task(c.taskId, 'update', { slot: c.slot })];
    case 'task.set-pending':
      return Object.entries(c.reasons).map(([taskId, reason]) => task(taskId, 'pending', { reason }));
    case 'task.assign':
      return [task(c.taskId, 'assign', {}, c.nodeId)];
    case 'task.observe': {
      const attributes: Partial['attributes'] = { state: c.state };
      if (c.containerId != null) attributes.containerId = c.containerId;
      if (c.error != null) attributes.error = c.error;
      if (c.exitCode != null) attributes.exitCode = c.exitCode;
      const events = [task(c.taskId, 'state', attributes)];
      if (c.health != null) events.push(task(c.taskId, 'health', { health: c.health }));
      return events;
    }
    case 'task.set-desired':
      return [task(c.taskId, 'desired', { desiredState: c.desiredState })];
    case 'task.remove':
      return [task(c.taskId, 'remove', {})];
    // API tokens are not events: GET /events is open to the read role, and who may do what is for the audit log (docs/security.md).
    case 'token.create':
    case 'token.remove':
      return [];
    // A secret's name and id; never its value, not even sealed.
    case 'secret.create':
      return [{ type: 'secret', action: 'create', attributes: { name: c.name, id: c.id } }];
    case 'secret.update':
      return [{ type: 'secret', action: 'update', attributes: { name: c.name, id: c.id } }];
    case 'secret.remove':
      return [{ type: 'secret', action: 'remove', attributes: { name: c.name } }];
  }
}

function prefixed(prefix: string, values: Record<string, string>): Partial['attributes'] {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [prefix + k, v]));
}

function flat(values: Record<string, unknown>): Partial['attributes'] {
  const out: Partial['attributes'] = {};
  for (const [k, v] of Object.entries(values)) {
    out[k] = v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : JSON.stringify(v);
  }
  return out;
}

/** What a reader asks for: every given field must match (`service` matches a service's events and its tasks'). */
export interface EventFilter {
  type?: EventType;
  service?: string;
  task?: string;
  node?: string;
  action?: string;
}

export function matchesFilter(event: ClusterEvent, filter: EventFilter): boolean {
  return (
    (filter.type === undefined || event.type === filter.type) &&
    (filter.service === undefined || event.service === filter.service) &&
    (filter.task === undefined || event.task === filter.task) &&
    (filter.node === undefined || event.node === filter.node) &&
    (filter.action === undefined || event.action === filter.action)
  );
}
