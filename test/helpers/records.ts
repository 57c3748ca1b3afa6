import type { NodeRecord, ServiceRecord, TaskRecord } from '../../database/queries';

/** The time every fixture is stamped with unless told otherwise. */
export const AT = 1_700_000_000_000;

/** A READY, active worker named `id` (id, name and address derived from it), with any field overridden. */
export function nodeRecord(id: string, overrides: Partial<NodeRecord> = {}): NodeRecord {
  return {
    id,
    name: id,
    address: `${id}:7070`,
    role: 'worker',
    status: 'READY',
    availability: 'active',
    link: 'raft',
    startedAt: AT,
    lastSeenAt: AT,
    labels: {},
    facts: null,
    createdAt: AT,
    updatedAt: AT,
    ...overrides,
  };
}

/** An unplaced task (NEW, wanted RUNNING, no container) of `serviceName` slot `slot`, with any field overridden. */
export function taskRecord(serviceName: string, slot: number, overrides: Partial<TaskRecord> = {}): TaskRecord {
  return {
    id: `${serviceName}-${slot}`,
    serviceName,
    slot,
    specVersion: 1,
    nodeId: null,
    state: 'NEW',
    desiredState: 'RUNNING',
    containerId: null,
    error: null,
    exitCode: null,
    startedAt: null,
    health: null,
    createdAt: AT,
    updatedAt: AT,
    ...overrides,
  };
}

/** A RUNNING service `name` of 3 replicas at spec version 1 with every setting at its default, with any field overridden. */
export function serviceRecord(name: string, overrides: Partial<ServiceRecord> = {}): ServiceRecord {
  return {
    name,
    id: `svc-${name}`,
    image: 'bicycle/busybox:test',
    command: null,
    env: {},
    labels: {},
    ports: [],
    onDisconnect: 'keep',
    onDisconnectSetting: null,
    healthcheck: null,
    lifecycle: {},
    updateStatus: null,
    placement: {},
    resources: {},
    mode: 'replicated',
    prepull: null,
    secrets: [],
    replicas: 3,
    state: 'RUNNING',
    version: 1,
    specVersion: 1,
    rebalance: false,
    createdAt: AT,
    updatedAt: AT,
    ...overrides,
  };
}
