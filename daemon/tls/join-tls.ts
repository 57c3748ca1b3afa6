import { BicycleError } from '../errors';
import type { Logger } from '../logger';
import type { JoinGrant, JoinRequest, VotingReply } from '../messages';
import { requestJoin } from '../voting/join-client';
import { fetchClusterCa } from './fetch-ca';
import { parseJoinToken } from './join-token';
import type { NodeTls } from './node-tls';
import { joiningHttp } from './peer-tls';
import { renewAtMs } from './ca';

/**
 * Joins (or, with `rejoin`, comes back to) the cluster through the member at
 * `address`: fetches the cluster CA and checks it against the token's
 * fingerprint, makes this node's key and CSR, asks to be admitted over TLS
 * trusting that CA only, and installs the certificate and CA the grant
 * carries. A BCT1 token (no fingerprint) is accepted only with --insecure.
 */
export async function joinWithCertificate(
  o: { tls: NodeTls; scheme: 'http' | 'https'; address: string; request: Omit<JoinRequest, 'csr'>; log: Logger },
): Promise<JoinGrant> {
  const token = parseJoinToken(o.request.token);
  if (token.caFingerprint === null) {
    if (o.scheme === 'https') {
      throw new BicycleError('INVALID_ARGUMENT', 'this join token (BCT1) carries no CA fingerprint, so the cluster cannot be checked: get a BCT2 token with `bicycle node join-token`, or join in clear with --insecure');
    }
    return requestJoin(joiningHttp('http', null), o.address, o.request, o.log);
  }
  const caPem = await fetchClusterCa(o.scheme, o.address, token.caFingerprint);
  o.log.info('the cluster CA matches the join token', { via: o.address, ca: token.caFingerprint });
  const { keyPem, csrPem } = await o.tls.newRequest(o.request.node.id);
  const grant = await requestJoin(joiningHttp(o.scheme, caPem), o.address, { ...o.request, csr: csrPem }, o.log);
  if (!grant.certificate || !grant.ca) throw new BicycleError('INTERNAL', `${o.address} admitted this node without a certificate`);
  o.tls.install({ keyPem, certPem: grant.certificate }, grant.ca);
  return grant;
}

/**
 * Renews this node's certificate at two thirds of its lifetime: a new key
 * and CSR, signed by the leader (`sign`, forwarded there over mutual TLS
 * with the current certificate), installed in place; the REST listener and
 * the peer connections pick the new files up. A failed attempt is retried
 * at the next check.
 */
export class CertificateRenewal {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly o: {
      tls: NodeTls;
      nodeId: string;
      sign(csr: string): Promise<VotingReply>;
      log: Logger;
      now?: () => number;
    },
  ) {}

  start(): void {
    // Often enough that a 60 s certificate renews on time, at most once a minute for long ones.
    const everyMs = Math.max(1000, Math.min(60_000, Math.floor(this.o.tls.lifetimes.nodeCertLifetimeMs / 30)));
    this.timer = setInterval(() => void this.check(), everyMs);
    this.timer.unref();
  }

  /** Renews when due; resolves with whether it did. */
  async check(): Promise<boolean> {
    const own = this.o.tls.ownCertificate();
    const now = (this.o.now ?? Date.now)();
    if (!own || this.busy || now < renewAtMs(own)) return false;
    this.busy = true;
    try {
      const { keyPem, csrPem } = await this.o.tls.newRequest(this.o.nodeId);
      const reply = await this.o.sign(csrPem);
      if (!reply.ok || !reply.certificate) {
        this.o.log.warn('cannot renew this node\'s certificate yet; retrying', { error: reply.ok ? 'no certificate in the answer' : reply.error.message, expires: new Date(own.notAfterMs).toISOString() });
        return false;
      }
      this.o.tls.install({ keyPem, certPem: reply.certificate });
      const renewed = this.o.tls.ownCertificate()!;
      this.o.log.info('renewed this node\'s certificate', { serial: renewed.serial, expires: new Date(renewed.notAfterMs).toISOString() });
      return true;
    } catch (error) {
      this.o.log.warn('cannot renew this node\'s certificate yet; retrying', { error: (error as Error).message });
      return false;
    } finally {
      this.busy = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
