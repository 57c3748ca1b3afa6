import { isIP } from 'node:net';

/**
 * Local administration: what only someone on a member's own host may ask
 * (the join token, until API tokens exist) is answered only to a client on
 * the loopback. A daemon that listens on a specific non-loopback address
 * therefore also listens on 127.0.0.1 at the same port (see docs/rest.md).
 */

/** Whether a client address (as a socket reports it) is the loopback: 127.0.0.0/8, ::1, or 127.x mapped into IPv6. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const plain = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  if (isIP(plain) === 4) return plain.startsWith('127.');
  return plain === '::1';
}

/**
 * Where the local administration listener goes for a daemon listening on
 * `listen` (host:port): 127.0.0.1 at the same port, or null when `listen`
 * already takes loopback clients (a loopback address, a wildcard, or a name
 * such as localhost).
 */
export function localAdminListen(listen: string): { host: string; port: number } | null {
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(colon + 1));
  if (isIP(host) === 0) return null; // a name (localhost): resolved by the listener, loopback in practice
  if (isLoopbackAddress(host) || host === '0.0.0.0' || host === '::') return null;
  return { host: '127.0.0.1', port };
}
