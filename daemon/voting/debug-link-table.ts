import { BroadcastChannel } from 'node:worker_threads';
import type { Db } from '../../database/open-database';
import { listNodes } from '../../database/queries';
import type { Logger } from '../logger';
import type { VotingReply } from '../messages';
import { applyLinkChange, DEBUG_LINKS_CHANNEL, DEBUG_LINKS_DISABLED_MESSAGE, dropsOutgoing, type DebugLinksNote, type LinkChange, type LinkCut } from './debug-links';

/**
 * The voting thread's cut links (`bicycled --debug-links`): the set lives
 * here, in memory only, so a restart brings every link back up. Each change
 * is posted on DEBUG_LINKS_CHANNEL for the REST thread, which drops inbound
 * requests from cut peers; a thread that starts (or restarts) asks for the
 * set and gets it, and a restarted voting thread posts its empty set, so the
 * two threads never keep different cuts for long.
 */
export class DebugLinkTable {
  private cuts: LinkCut[] = [];
  private readonly channel: BroadcastChannel | undefined;

  constructor(private readonly o: { enabled: boolean; db: Db; nodeId: string; log: Logger; now?: () => number }) {
    if (!o.enabled) return;
    this.channel = new BroadcastChannel(DEBUG_LINKS_CHANNEL);
    this.channel.unref();
    this.channel.onmessage = (event) => {
      if ((event as { data: DebugLinksNote }).data?.kind === 'ask') this.post();
    };
    this.post();
  }

  /** Whether what this node sends to `peerId` is dropped. */
  dropsOutgoing(peerId: string): boolean {
    return this.cuts.length > 0 && dropsOutgoing(this.cuts, peerId);
  }

  /** Lists the cuts, after `change` if one is given; refused (DEBUG_LINKS_DISABLED) without --debug-links. */
  handle(change: LinkChange | undefined): VotingReply {
    if (!this.o.enabled) return { ok: false, error: { code: 'DEBUG_LINKS_DISABLED', message: DEBUG_LINKS_DISABLED_MESSAGE } };
    if (change) {
      const at = new Date(this.o.now?.() ?? Date.now()).toISOString();
      const result = applyLinkChange(this.cuts, change, this.o.nodeId, listNodes(this.o.db), at);
      if (!result.ok) return result;
      this.cuts = result.cuts;
      const cut = this.cuts.find((c) => c.peerId === change.peer || c.name === change.peer);
      if (change.state === 'cut') this.o.log.warn('link cut on demand', { peer: cut?.name, direction: cut?.direction });
      else this.o.log.warn('link up on demand', { peer: change.peer });
      this.post();
    }
    return { ok: true, links: this.cuts };
  }

  close(): void {
    this.channel?.close();
  }

  private post(): void {
    const note: DebugLinksNote = { kind: 'cuts', cuts: this.cuts };
    this.channel?.postMessage(note);
  }
}
