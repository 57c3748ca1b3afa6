import { readFileSync } from 'node:fs';
import { Agent, fetch as undiciFetch } from 'undici';

/**
 * fetch trusting the CA certificate (PEM) in `caFile`, for a daemon whose
 * HTTPS listener serves a certificate of its cluster CA (`--ca`,
 * BICYCLE_CA, or a context's `ca`; docs/cli.md). Throws an Error naming the
 * file when it cannot be read.
 */
export function fetchTrusting(caFile: string): typeof fetch {
  let ca: string;
  try {
    ca = readFileSync(caFile, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the CA certificate ${caFile} (--ca, BICYCLE_CA or the context's ca): ${(error as Error).message}`);
  }
  const agent = new Agent({ connect: { ca: [ca] } });
  return ((input: string | URL, init?: RequestInit) =>
    undiciFetch(input, { ...(init as object), dispatcher: agent } as Parameters<typeof undiciFetch>[1])) as unknown as typeof fetch;
}
