import { BicycleError, isErrorCode } from '../errors';
import type { Logger } from '../logger';
import { JOIN_PATH, type ErrorAnswer, type JoinAnswer, type JoinGrant, type JoinRequest } from '../cluster-protocol';
import type { PeerHttp } from '../tls/peer-tls';

/**
 * Asks the member at `address` to admit this node, retrying with back-off
 * while it cannot be reached or has no leader. A refusal (a wrong token, a
 * name already taken) is final and thrown as is. `http` trusts the cluster
 * CA the joiner checked against its token (or is clear HTTP with --insecure).
 */
export async function requestJoin(http: Pick<PeerHttp, 'scheme' | 'fetch'>, address: string, request: JoinRequest, log: Logger): Promise<JoinGrant> {
  let delayMs = 250;
  for (;;) {
    let reason: string;
    try {
      const res = await http.fetch(`${http.scheme}://${address}${JOIN_PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(15_000),
      });
      const body = (await res.json().catch(() => undefined)) as Partial<JoinAnswer & ErrorAnswer> | undefined;
      if (res.ok && body?.grant) return body.grant;
      const code = body?.error?.code;
      const message = body?.error?.message ?? `answered ${res.status}`;
      if (res.status < 500) throw new BicycleError(isErrorCode(code) ? code : 'INVALID_ARGUMENT', `cannot join the cluster through ${address}: ${message}`);
      reason = message;
    } catch (error) {
      if (error instanceof BicycleError) throw error;
      reason = (error as Error).message;
    }
    log.warn('cannot join yet; retrying', { via: address, reason, retryMs: delayMs });
    await new Promise((r) => setTimeout(r, delayMs));
    delayMs = Math.min(delayMs * 2, 5000);
  }
}
