import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyPairPem } from './ca';

/**
 * The TLS files of a node's data directory: the cluster CA's certificate
 * (every node), its key (managers only), and this node's own certificate
 * and key. Keys are written with mode 0600; every write goes through a
 * temporary file and a rename, so a reader (the REST thread reloading after
 * a renewal) never sees half a file.
 */
export class NodeTlsFiles {
  constructor(readonly dataDir: string) {}

  get caCertFile(): string {
    return join(this.dataDir, 'ca.crt');
  }

  get caKeyFile(): string {
    return join(this.dataDir, 'ca.key');
  }

  get certFile(): string {
    return join(this.dataDir, 'node.crt');
  }

  get keyFile(): string {
    return join(this.dataDir, 'node.key');
  }

  caCert(): string | undefined {
    return read(this.caCertFile);
  }

  /** The CA certificate and key, on a manager that holds the key. */
  ca(): KeyPairPem | undefined {
    const certPem = this.caCert();
    const keyPem = read(this.caKeyFile);
    return certPem && keyPem ? { certPem, keyPem } : undefined;
  }

  /** This node's certificate and key, once it has them. */
  node(): KeyPairPem | undefined {
    const certPem = read(this.certFile);
    const keyPem = read(this.keyFile);
    return certPem && keyPem ? { certPem, keyPem } : undefined;
  }

  writeCaCert(certPem: string): void {
    write(this.caCertFile, certPem, 0o644);
  }

  writeCa(ca: KeyPairPem): void {
    write(this.caKeyFile, ca.keyPem, 0o600);
    this.writeCaCert(ca.certPem);
  }

  /** Key first: a certificate on disk always has its key beside it. */
  writeNode(pair: KeyPairPem): void {
    write(this.keyFile, pair.keyPem, 0o600);
    write(this.certFile, pair.certPem, 0o644);
  }
}

function read(file: string): string | undefined {
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

function write(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, file);
}
