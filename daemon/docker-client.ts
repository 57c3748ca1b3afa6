// First: it puts off what dockerode would load for features Bicycle does not use.
import './docker-deferred-modules';
import Docker from 'dockerode';

/** The local engine, as configured. Only the deployment and monitoring threads call this. */
export function connectDocker(socketPath: string): Docker {
  return new Docker({ socketPath });
}

/** Labels every Bicycle container carries. */
export const LABELS = {
  cluster: 'io.bicycle.cluster',
  node: 'io.bicycle.node',
  service: 'io.bicycle.service',
  task: 'io.bicycle.task',
  slot: 'io.bicycle.slot',
} as const;
