import { BicycleError, isErrorCode } from '../errors';
import { PEER_ADDRESS_HEADER, VOTING_PATH, type ErrorAnswer, type VotingAnswer, type VotingReply, type VotingRequest } from '../cluster-protocol';
import type { PeerHttp } from '../tls/peer-tls';

export interface AskPeerOptions {
  /** This node's advertised address, sent as `x-bicycle-address` (so a peer in clear HTTP knows who asks). */
  selfAddress?: string;
  /** The link to the peer is cut outward (`--debug-links`): nothing is sent, and the call fails as a timeout would, after `timeoutMs`. */
  cut?: boolean;
}

/**
 * Sends a request to another node's voting thread (through its REST
 * listener) and returns its reply: how a follower forwards proposals, reads
 * and joins to the leader. Transport failures become UNAVAILABLE (retryable).
 */
export async function askPeer(http: PeerHttp, address: string, secret: string, request: VotingRequest, timeoutMs: number, options: AskPeerOptions = {}): Promise<VotingReply> {
  if (options.cut) {
    await new Promise((resolve) => setTimeout(resolve, timeoutMs));
    throw new BicycleError('UNAVAILABLE', `cannot reach the leader at ${address}: no answer within ${timeoutMs} ms (the link is cut, POST /debug/links)`);
  }
  let res: Response;
  try {
    res = await http.fetch(`${http.scheme}://${address}${VOTING_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}`, ...(options.selfAddress ? { [PEER_ADDRESS_HEADER]: options.selfAddress } : {}) },
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new BicycleError('UNAVAILABLE', `cannot reach the leader at ${address}: ${(error as Error).message}`);
  }
  const body = (await res.json().catch(() => undefined)) as Partial<VotingAnswer & ErrorAnswer> | undefined;
  if (body?.reply) return body.reply;
  const code = body?.error?.code;
  throw new BicycleError(isErrorCode(code) ? code : 'UNAVAILABLE', body?.error?.message ?? `the leader at ${address} answered ${res.status}`);
}
