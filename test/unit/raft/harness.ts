import { Rng } from '../../sim/prng';
import { MemoryStorage, Raft, type Entry, type Message, type NodeId, type RaftConfig, type ReadState } from '../../../daemon/voting/raft';

/** A seeded PRNG (test/sim/prng.ts's mulberry32) so every test run is the same. */
export function seeded(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

export interface TestNode {
  raft: Raft;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
  droppedReads: string[];
}

/**
 * A cluster in one process with a FIFO network the test controls: messages
 * wait in `inflight` until `deliver()`; `cut` links drop them.
 */
export class Cluster {
  readonly nodes = new Map<NodeId, TestNode>();
  inflight: Message[] = [];
  /** Directed links "a>b" whose messages are dropped. */
  readonly cut = new Set<string>();
  /** Every message ever sent, for assertions. */
  readonly sent: Message[] = [];
  private seed = 1;

  constructor(ids: NodeId[], private readonly options: Partial<RaftConfig> = {}) {
    for (const id of ids) this.start(id, new MemoryStorage(), { peers: ids });
  }

  start(id: NodeId, storage: MemoryStorage, extra: Partial<RaftConfig> = {}): TestNode {
    const raft = new Raft({ id, storage, random: seeded(this.seed++), ...this.options, ...extra });
    const node: TestNode = { raft, storage, applied: [], readStates: [], droppedReads: [] };
    this.nodes.set(id, node);
    return node;
  }

  /** Crash `id` (dropping its volatile state) and start it again on its storage. */
  restart(id: NodeId): TestNode {
    const old = this.node(id);
    const node = this.start(id, old.storage);
    node.applied = old.applied.filter((e) => e.index <= node.raft.status().applied);
    return node;
  }

  node(id: NodeId): TestNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  raft(id: NodeId): Raft {
    return this.node(id).raft;
  }

  /** Persist, send, apply and advance every node's Ready until none is left. */
  flush(): void {
    for (let again = true; again; ) {
      again = false;
      for (const [id, node] of this.nodes) {
        if (!node.raft.hasReady()) continue;
        again = true;
        const rd = node.raft.ready();
        node.storage.save(rd.hardState, rd.entries, rd.snapshot);
        for (const m of rd.messages) {
          this.sent.push(m);
          if (!this.cut.has(`${id}>${m.to}`)) this.inflight.push(m);
        }
        if (rd.snapshot !== null) node.applied = [];
        node.applied.push(...rd.committedEntries);
        node.readStates.push(...rd.readStates);
        node.droppedReads.push(...rd.droppedReads);
        node.raft.advance(rd);
      }
    }
  }

  /** Deliver messages (and the messages they cause) until the network is quiet. */
  deliver(limit = 10_000): void {
    this.flush();
    for (let n = 0; this.inflight.length > 0; n++) {
      if (n > limit) throw new Error('network did not settle');
      const m = this.inflight.shift()!;
      const target = this.nodes.get(m.to);
      if (target !== undefined && !this.cut.has(`${m.from}>${m.to}`)) target.raft.step(m);
      this.flush();
    }
  }

  /** Tick `id` until it changes role, at most `max` ticks, delivering as it goes. */
  tickUntilCampaign(id: NodeId, max = 100): void {
    const raft = this.raft(id);
    const term = raft.status().term;
    for (let i = 0; i < max && raft.status().role === 'follower' && raft.status().term === term; i++) {
      raft.tick();
      this.flush();
    }
  }

  /** Make `id` leader by ticking it to a campaign and delivering the votes. */
  elect(id: NodeId): void {
    const raft = this.raft(id);
    for (let i = 0; i < 100 && raft.status().role !== 'leader'; i++) {
      raft.tick();
      this.deliver();
    }
    if (raft.status().role !== 'leader') throw new Error(`${id} did not become leader`);
  }

  /** Tick every node `n` times, delivering after each round. */
  tickAll(n: number): void {
    for (let i = 0; i < n; i++) {
      for (const node of this.nodes.values()) node.raft.tick();
      this.deliver();
    }
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.raft.status().role === 'leader').map((n) => n.raft.id);
  }
}

/** The data of the normal entries `node` applied, in order. */
export function appliedData(node: TestNode): string[] {
  return node.applied.filter((e) => e.type === 'normal').map((e) => e.data);
}
