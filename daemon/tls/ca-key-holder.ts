import { createPublicKey, X509Certificate } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { Logger } from '../logger';
import type { VotingReply } from '../messages';
import type { NodeTls } from './node-tls';

/** What a node does about the CA key, given its role and whether it holds the key: managers hold it, workers do not. */
export function caKeyAction(role: 'manager' | 'worker' | undefined, holds: boolean): 'fetch' | 'drop' | 'none' {
  if (role === 'manager' && !holds) return 'fetch';
  if (role === 'worker' && holds) return 'drop';
  return 'none';
}

/** Whether `keyPem` is the private key of the CA certificate `certPem`. */
export function keyMatchesCertificate(keyPem: string, certPem: string): boolean {
  const ofKey = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  const ofCert = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return ofKey.equals(ofCert);
}

/**
 * Keeps the CA key where the roles say (docs/security.md, "The cluster
 * CA"): a node promoted to manager asks the leader for the key (over
 * mutual TLS, for itself only) and keeps it with mode 0600, so that it can
 * sign joins and renewals once it leads; a node demoted to worker deletes
 * its copy. Checked every `everyMs` and on demand.
 */
export class CaKeyHolder {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly o: {
      tls: NodeTls;
      /** This node's role as its row says, undefined before it has one. */
      role(): 'manager' | 'worker' | undefined;
      ask(): Promise<VotingReply>;
      log: Logger;
      everyMs?: number;
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), this.o.everyMs ?? 2000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Fetches or drops the key when the role asks; resolves with what it did. */
  async check(): Promise<'fetched' | 'dropped' | 'none'> {
    if (this.busy) return 'none';
    const action = caKeyAction(this.o.role(), this.o.tls.canSign());
    if (action === 'drop') {
      rmSync(this.o.tls.files.caKeyFile, { force: true });
      this.o.log.info('demoted to worker: deleted this node\'s copy of the cluster CA key');
      return 'dropped';
    }
    if (action === 'none') return 'none';
    const certPem = this.o.tls.files.caCert();
    if (!certPem) return 'none';
    this.busy = true;
    try {
      const reply = await this.o.ask();
      if (!reply.ok || !reply.caKey) {
        this.o.log.warn('a manager without the cluster CA key: cannot get it from the leader yet; retrying', { error: reply.ok ? 'no key in the answer' : reply.error.message });
        return 'none';
      }
      if (!keyMatchesCertificate(reply.caKey, certPem)) {
        this.o.log.error('the leader answered a CA key that does not match this node\'s CA certificate; not kept');
        return 'none';
      }
      this.o.tls.files.writeCa({ certPem, keyPem: reply.caKey });
      this.o.log.info('promoted to manager: received the cluster CA key, so this node can sign certificates when it leads');
      return 'fetched';
    } finally {
      this.busy = false;
    }
  }
}
