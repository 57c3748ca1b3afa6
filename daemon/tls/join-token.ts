import { randomBytes } from 'node:crypto';
import { BicycleError } from '../errors';

/**
 * A join token, as `bicycle node join-token` prints it:
 * `BCT2-<cluster id>-<CA SHA-256, 64 hex>-<secret>` (docs/voting.md, "Joining").
 * The CA fingerprint lets the joining node check the cluster it reaches
 * before it trusts it (as Swarm's SWMTKN does); the secret admits it.
 * `BCT1-<cluster id>-<secret>` tokens (clusters founded before the CA) carry
 * no fingerprint.
 */
export interface JoinToken {
  clusterId: string;
  /** `sha256:<hex>` of the cluster CA's certificate; null in a BCT1 token. */
  caFingerprint: string | null;
  secret: string;
}

export const JOIN_TOKEN_PATTERN = /^(?:BCT2-[0-9a-f]+-[0-9a-f]{64}-[A-Za-z0-9_-]+|BCT1-[0-9a-f]+-[A-Za-z0-9_-]+)$/;

/** A new token for the cluster whose CA has `caFingerprint` (`sha256:<hex>`), with a fresh random secret. */
export function newJoinToken(clusterId: string, caFingerprint: string): string {
  return formatJoinToken({ clusterId, caFingerprint, secret: randomBytes(16).toString('base64url') });
}

export function formatJoinToken(token: JoinToken): string {
  if (token.caFingerprint === null) return `BCT1-${token.clusterId}-${token.secret}`;
  return `BCT2-${token.clusterId}-${token.caFingerprint.replace(/^sha256:/, '')}-${token.secret}`;
}

/** Reads a token; throws INVALID_ARGUMENT saying what a token looks like. */
export function parseJoinToken(text: string): JoinToken {
  const v2 = /^BCT2-([0-9a-f]+)-([0-9a-f]{64})-([A-Za-z0-9_-]+)$/.exec(text);
  if (v2) return { clusterId: v2[1]!, caFingerprint: `sha256:${v2[2]!}`, secret: v2[3]! };
  const v1 = /^BCT1-([0-9a-f]+)-([A-Za-z0-9_-]+)$/.exec(text);
  if (v1) return { clusterId: v1[1]!, caFingerprint: null, secret: v1[2]! };
  throw new BicycleError('INVALID_ARGUMENT', 'not a join token: expected BCT2-<cluster id>-<CA sha256>-<secret>, as printed by `bicycle node join-token`');
}
