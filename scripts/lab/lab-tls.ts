import { existsSync, readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { Agent, setGlobalDispatcher } from 'undici';

/**
 * A lab with TLS on (docs/lab.md, "TLS"): its hosts serve HTTPS with
 * certificates from the cluster CA the first host's `--init` made, so this
 * process's fetch (and everything built on it: the tests' helpers, the
 * benchmarks) is made to trust that CA, as a client given `--ca` would.
 * Requests with a dispatcher of their own (a test checking that a client
 * without the CA refuses the server) are not affected.
 */
let trusted = '';

/** Trusts the CA in `caFile` for this process's fetch, once it exists; returns whether it does. */
export function trustLabCa(caFile: string): boolean {
  if (!existsSync(caFile)) return false;
  const ca = readFileSync(caFile, 'utf8');
  if (ca !== trusted) {
    setGlobalDispatcher(new Agent({ connect: { secureContext: createSecureContext({ ca: [ca] }) } }));
    trusted = ca;
  }
  return true;
}
