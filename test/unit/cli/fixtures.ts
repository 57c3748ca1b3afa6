import type { Service, Task } from '../../../cli/types';

/** A task with defaults; override what a test is about. */
export function task(overrides: Partial<Task> = {}): Task {
  return {
    id: 'a1b2c3d4e5f6a7b8c9d0',
    slot: 1,
    node: 'node-a',
    nodeId: 'n-1',
    state: 'RUNNING',
    desiredState: 'RUNNING',
    containerId: 'c0ffee',
    error: null,
    version: 1,
    createdAt: '2025-01-01T00:00:00Z',
    updatedAt: '2025-01-01T00:00:00Z',
    ...overrides,
  };
}

/** A service with defaults and the given tasks. */
export function service(overrides: Partial<Service> = {}): Service {
  return {
    name: 'web',
    image: 'bicycle/busybox:test',
    replicas: 1,
    running: 1,
    state: 'RUNNING',
    version: 1,
    command: null,
    env: {},
    labels: {},
    createdAt: '2025-01-01T00:00:00Z',
    updatedAt: '2025-01-01T00:00:00Z',
    tasks: [task()],
    ...overrides,
  };
}
