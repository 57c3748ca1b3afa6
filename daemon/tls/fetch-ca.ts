import { BicycleError } from '../errors';
import { JOIN_PATH, type CaAnswer } from '../cluster-protocol';
import { fingerprintOf } from './ca';
import { oneShotAgent, undiciFetch } from './peer-tls';

/** GET on the join path answers the cluster CA (modules/cluster.ts): what a joiner asks first, before it trusts anything. */
export const CA_PATH = JOIN_PATH;

/**
 * A joining node's first request: the cluster CA's certificate from the
 * member at `address`, fetched without trusting anything yet (the member's
 * certificate cannot be checked before the CA is known), then checked
 * against the fingerprint the join token carries. Throws CA_MISMATCH naming
 * both fingerprints when they differ (another cluster, or someone in the
 * middle), UNAVAILABLE when the member cannot be reached.
 */
export async function fetchClusterCa(scheme: 'http' | 'https', address: string, expectedFingerprint: string): Promise<string> {
  const agent = oneShotAgent(null);
  let certPem: string | undefined;
  try {
    const res = await undiciFetch(`${scheme}://${address}${CA_PATH}`, { dispatcher: agent, signal: AbortSignal.timeout(10_000) });
    const body = (await res.json().catch(() => undefined)) as Partial<CaAnswer> | undefined;
    if (!res.ok || typeof body?.certificate !== 'string') throw new Error(`answered ${res.status} without a CA certificate`);
    certPem = body.certificate;
  } catch (error) {
    throw new BicycleError('UNAVAILABLE', `cannot fetch the cluster CA from ${address}: ${(error as Error).message}`);
  } finally {
    void agent.close();
  }
  const presented = fingerprintOf(certPem);
  if (presented !== expectedFingerprint) {
    throw new BicycleError(
      'CA_MISMATCH',
      `the cluster at ${address} presents CA ${presented} but the join token expects ${expectedFingerprint}: this token is another cluster's, or someone is between this node and ${address}; get a token with \`bicycle node join-token\` on a member of the cluster you mean to join`,
    );
  }
  return certPem;
}
