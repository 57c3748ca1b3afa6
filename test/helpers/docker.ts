import Docker from 'dockerode';

export const TEST_IMAGE = 'bicycle/busybox:test';

/**
 * The local engine for tests that need one. Fails (never skips) with a clear
 * message when no engine answers or the test image is missing.
 */
export async function requireDocker(socketPath = process.env.BICYCLE_DOCKER_SOCKET ?? '/var/run/docker.sock'): Promise<Docker> {
  const docker = new Docker({ socketPath });
  try {
    await docker.ping();
  } catch (error) {
    throw new Error(
      `this test needs a Docker engine at ${socketPath}, and none answers (${(error as Error).message}). ` +
        'Start one (dockerd) or run bash .ci/run, which installs and starts it.',
    );
  }
  try {
    await docker.getImage(TEST_IMAGE).inspect();
  } catch {
    throw new Error(`this test needs the image ${TEST_IMAGE}; build it with scripts/build-test-images.sh`);
  }
  return docker;
}

export interface TestContainer {
  id: string;
  name: string;
  state: string;
  labels: Record<string, string>;
}

/** Containers of one cluster, as the engine itself lists them (running or not). */
export async function clusterContainers(docker: Docker, clusterId: string, extra: Record<string, string> = {}): Promise<TestContainer[]> {
  const label = [`io.bicycle.cluster=${clusterId}`, ...Object.entries(extra).map(([k, v]) => `${k}=${v}`)];
  const list = await docker.listContainers({ all: true, filters: { label } });
  return list.map((c) => ({ id: c.Id, name: (c.Names[0] ?? '').replace(/^\//, ''), state: c.State, labels: c.Labels }));
}

export async function removeClusterContainers(docker: Docker, clusterId: string): Promise<void> {
  const list = await clusterContainers(docker, clusterId);
  await Promise.all(list.map((c) => docker.getContainer(c.id).remove({ force: true }).catch(() => undefined)));
}

/** Runs a command in a container (by id) and returns what it printed (stdout and stderr). */
export async function execInContainer(docker: Docker, containerId: string, cmd: string[]): Promise<string> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({});
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  // Demultiplex Docker's 8-byte frame headers.
  const raw = Buffer.concat(chunks);
  let out = '';
  for (let i = 0; i + 8 <= raw.length; ) {
    const size = raw.readUInt32BE(i + 4);
    out += raw.subarray(i + 8, i + 8 + size).toString();
    i += 8 + size;
  }
  return out;
}

/** Runs a command in the first running container of `service`. */
export async function execIn(docker: Docker, service: string, cmd: string[]): Promise<string> {
  const [info] = await docker.listContainers({ filters: { label: [`io.bicycle.service=${service}`], status: ['running'] } });
  if (!info) throw new Error(`no running container of ${service}`);
  return execInContainer(docker, info.Id, cmd);
}
