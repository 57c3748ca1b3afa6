import { once } from 'node:events';
import { ApiError, type ApiClient } from './api-client';

/**
 * Streams a plain-text body (logs) to stdout as it arrives, honouring
 * back-pressure, until the daemon ends it or the user interrupts.
 */
export async function pipeToStdout(client: ApiClient, path: string): Promise<void> {
  const body = await client.stream(path);
  try {
    for await (const chunk of body) {
      if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
    }
  } catch (err) {
    throw new ApiError('UNREACHABLE', `lost the connection to bicycled at ${client.baseUrl}: ${(err as Error).message}`, 0);
  }
}
