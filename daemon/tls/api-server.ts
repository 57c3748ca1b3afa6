import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync, statSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { isLoopbackListen, type DaemonConfig } from '../config';
import { BicycleError } from '../errors';
import type { Logger } from '../logger';
import { NodeTlsFiles } from './node-files';

/**
 * The API listener: plain HTTP on loopback or with --insecure; anywhere
 * else HTTPS, presenting the node's certificate (or --tls-cert), asking
 * every client for a certificate without requiring one (the CLI has none;
 * node-to-node routes require it, modules/peer-identity.ts). A connection
 * that presents a certificate the cluster CA did not sign (self-made,
 * another cluster's, expired) is dropped as soon as the handshake ends,
 * before any request is read. Certificates are reloaded when the files
 * change (a renewal), checked every `reloadEveryMs`.
 * Throws INVALID_ARGUMENT when TLS is due and there is no certificate.
 */
export function createApiServer(handler: RequestListener, config: DaemonConfig, log: Logger, reloadEveryMs = 2000): { server: Server; tls: boolean; close(): void } {
  if (config.insecure || isLoopbackListen(config.listen)) {
    if (config.insecure && !isLoopbackListen(config.listen)) log.warn('--insecure: the API and node-to-node traffic are plain HTTP on a listener off loopback', { listen: config.listen });
    return { server: createHttpServer(handler), tls: false, close() {} };
  }
  const files = new NodeTlsFiles(config.dataDir);
  const load = () => {
    const ca = files.caCert();
    const own = config.tlsCert ? { certPem: readFileSync(config.tlsCert, 'utf8'), keyPem: readFileSync(config.tlsKey!, 'utf8') } : files.node();
    if (!own || !ca) {
      throw new BicycleError(
        'INVALID_ARGUMENT',
        `cannot serve TLS on ${config.listen}, which is not loopback: this node has no certificate from a cluster CA in ${config.dataDir} ` +
          '(a fixed cluster has none); give --tls-cert and --tls-key, or accept plain HTTP with --insecure',
      );
    }
    return { key: own.keyPem, cert: own.certPem, ca: [ca] };
  };
  const server = createHttpsServer({ ...load(), requestCert: true, rejectUnauthorized: false }, handler);
  server.on('secureConnection', (socket: TLSSocket) => {
    if (!socket.authorized && socket.getPeerCertificate()?.subject) {
      log.warn('refused a TLS client whose certificate this cluster\'s CA did not sign', { remote: socket.remoteAddress, reason: String(socket.authorizationError) });
      socket.destroy();
    }
  });
  const watched = config.tlsCert ? [config.tlsCert, files.caCertFile] : [files.certFile, files.caCertFile];
  const stamp = () => watched.map((f) => statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? 0).join(',');
  let last = stamp();
  const timer = setInterval(() => {
    const now = stamp();
    if (now === last) return;
    try {
      server.setSecureContext(load());
      last = now;
      log.info('reloaded the API listener\'s certificate');
    } catch (error) {
      log.warn('cannot reload the API listener\'s certificate; keeping the old one', { error: (error as Error).message });
    }
  }, reloadEveryMs);
  timer.unref();
  return { server, tls: true, close: () => clearInterval(timer) };
}
