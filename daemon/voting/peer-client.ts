import { BicycleError, isErrorCode } from '../errors';
import { PEER_ADDRESS_HEADER, VOTING_PATH, type ErrorAnswer, type VotingAnswer, type VotingReply, type VotingRequest } from '../cluster-protocol';
import type { PeerHttp } from '../tls/peer-tls';

export interface AskPeerOptions {
  /** This node's advertised address, sent as `x-bicycle-address` (so a peer in clear HTTP knows who asks). */
  selfAddress?: string;
  /** The link to the peer is cut outward (`--debug-links`): nothing is sent, and the call fails as a timeout would, after `timeoutMs`. */
  cut?: boolean;
  /** Who the peer is, for the error messages (e.g. `host-1 (id a1b2)`); else only its address names it. */
  peerName?: string;
}

/**
 * Sends a request to another node's voting thread (through its REST
 * listener) and returns its reply: how a follower forwards proposals, reads
 * and joins to the leader. Transport failures become UNAVAILABLE (retryable);
 * no answer within `timeoutMs` too, saying so and naming the wait.
 */
export async function askPeer(http: PeerHttp, address: string, secret: string, request: VotingRequest, timeoutMs: number, options: AskPeerOptions = {}): Promise<VotingReply> {
  const leader = options.peerName ? `the leader ${options.peerName} at ${address}` : `the leader at ${address}`;
  if (options.cut) {
    await new Promise((resolve) => setTimeout(resolve, timeoutMs));
    throw new BicycleError('UNAVAILABLE', `cannot reach ${leader}: no answer within ${timeoutMs} ms (the link is cut, POST /debug/links)`);
  }
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await http.fetch(`${http.scheme}://${address}${VOTING_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}`, ...(options.selfAddress ? { [PEER_ADDRESS_HEADER]: options.selfAddress } : {}) },
      body: JSON.stringify(request),
      signal,
    });
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') throw new BicycleError('UNAVAILABLE', `cannot reach ${leader}: no answer within ${timeoutMs} ms`);
    throw new BicycleError('UNAVAILABLE', `cannot reach ${leader}: ${(error as Error).message}`);
  }
  const body = (await res.json().catch(() => undefined)) as Partial<VotingAnswer & ErrorAnswer> | undefined;
  if (body?.reply) return body.reply;
  if (signal.aborted) throw new BicycleError('UNAVAILABLE', `cannot reach ${leader}: no complete answer within ${timeoutMs} ms`);
  const code = body?.error?.code;
  throw new BicycleError(isErrorCode(code) ? code : 'UNAVAILABLE', body?.error?.message ?? `${leader} answered ${res.status}`);
}
