import { BicycleError } from '../errors';
import { certificateInfo, createClusterCa, createNodeRequest, fingerprintOf, signNodeCertificate } from './ca';
import { NodeTlsFiles } from './node-files';

/** Certificate lifetimes, as configured (`tls` in the configuration, docs/daemon.md). */
export interface TlsLifetimes {
  /** A node certificate's validity; it is renewed at two thirds of it. */
  nodeCertLifetimeMs: number;
  /** The cluster CA's validity. */
  caLifetimeMs: number;
}

/**
 * A node's part in the cluster's public-key infrastructure: founding the CA,
 * signing other nodes' certificates (on a manager holding the CA key), and
 * its own certificate. Files live in the data directory (NodeTlsFiles).
 */
export class NodeTls {
  readonly files: NodeTlsFiles;

  constructor(dataDir: string, readonly lifetimes: TlsLifetimes, private readonly now: () => number = Date.now) {
    this.files = new NodeTlsFiles(dataDir);
  }

  /** Founding a cluster: a new CA, kept in the data directory, and this node's certificate signed by it. */
  async found(nodeId: string, address: string): Promise<void> {
    const ca = await createClusterCa(nodeId, this.now(), this.lifetimes.caLifetimeMs);
    this.files.writeCa(ca);
    const { keyPem, csrPem } = await createNodeRequest(nodeId);
    this.files.writeNode({ keyPem, certPem: await this.sign(csrPem, nodeId, address) });
  }

  /** Whether this node holds the CA key (and so can sign certificates). */
  canSign(): boolean {
    return this.files.ca() !== undefined;
  }

  /** Signs a node certificate for `nodeId` at `address`; throws UNAVAILABLE on a node without the CA key. */
  async sign(csrPem: string, nodeId: string, address: string): Promise<string> {
    const ca = this.files.ca();
    if (!ca) throw new BicycleError('UNAVAILABLE', 'this node does not hold the cluster CA key, so it cannot sign certificates');
    return signNodeCertificate(ca, { csrPem, nodeId, address }, this.now(), this.lifetimes.nodeCertLifetimeMs);
  }

  /** `sha256:<hex>` of the CA certificate this node trusts; undefined before it has one. */
  caFingerprint(): string | undefined {
    const ca = this.files.caCert();
    return ca ? fingerprintOf(ca) : undefined;
  }

  /** When this node's certificate expires, and when it is due for renewal; undefined without one. */
  ownCertificate(): { notAfterMs: number; notBeforeMs: number; serial: string } | undefined {
    const own = this.files.node();
    if (!own) return undefined;
    const info = certificateInfo(own.certPem);
    return { notAfterMs: info.notAfterMs, notBeforeMs: info.notBeforeMs, serial: info.serial };
  }

  /** A fresh key and CSR for this node; the key is kept only once its certificate comes back (install). */
  newRequest(nodeId: string): Promise<{ keyPem: string; csrPem: string }> {
    return createNodeRequest(nodeId);
  }

  /** Installs a new certificate (with the key of the request it answers), and the CA certificate or key the grant carried. */
  install(pair: { keyPem: string; certPem: string }, ca?: { certPem: string; keyPem?: string }): void {
    if (ca?.keyPem) this.files.writeCa({ certPem: ca.certPem, keyPem: ca.keyPem });
    else if (ca) this.files.writeCaCert(ca.certPem);
    this.files.writeNode(pair);
  }
}
