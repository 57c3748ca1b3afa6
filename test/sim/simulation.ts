import { MemoryStorage, type Entry, type NodeId, type ProposalOutcome, type Ready } from '../../daemon/voting/raft';
import { InvariantViolation, SafetyChecker, checkLogsMatch } from './invariants';
import { checkLinearizable, kvModel } from './linearizability';
import { SimNetwork, type NetworkFaults } from './network';
import { Rng } from './prng';
import { SimNode, type ClientOp, type SimHost } from './sim-node';

/** The shape of one run, all drawn from its seed unless overridden. */
export interface SimSettings {
  nodes: number;
  faults: NetworkFaults;
  chaosTicks: number;
  /** Liveness bound: after faults heal, ticks allowed to elect a leader and settle every request. */
  livenessTicks: number;
  clients: number;
  compactEvery: number;
  membership: boolean;
  /** Raft options under test (the defaults are on; runs without them stress elections harder). */
  preVote: boolean;
  checkQuorum: boolean;
  /** Clocks may drift: a server's ticks can run 2 or 3 times slower than the others'. */
  clockDrift: boolean;
}

export interface SimReport {
  readonly seed: number;
  readonly settings: SimSettings;
  readonly ticks: number;
  readonly messages: number;
  readonly leaderTerms: number;
  readonly ops: { ok: number; unknown: number; failed: number };
  /** Ticks from healing to a stable cluster (one leader, everything applied and answered). */
  readonly healTicks: number;
  readonly failure: string | null;
  readonly trace: readonly string[];
}

/** Draw a run's settings from its seed. */
export function settingsFor(rng: Rng): SimSettings {
  return {
    nodes: rng.pick([3, 5, 7]),
    faults: {
      drop: rng.pick([0, 0.01, 0.05, 0.1]),
      duplicate: rng.pick([0, 0.01, 0.05]),
      maxDelayTicks: rng.pick([0, 0, 1, 2]),
    },
    chaosTicks: 400,
    livenessTicks: 150,
    clients: 3,
    compactEvery: rng.pick([8, 25, 1_000_000]),
    membership: rng.chance(0.5),
    preVote: !rng.chance(0.2),
    checkQuorum: !rng.chance(0.2),
    clockDrift: rng.chance(0.5),
  };
}

/**
 * One deterministic run: N servers over a faulty network with crashes,
 * partitions and membership changes, clients writing and reading a key-value
 * store throughout; then the faults heal and the cluster must settle within
 * the liveness bound. Safety invariants are checked after every step, the
 * rest at the end, with the client history checked for linearizability.
 */
export function runSimulation(seed: number, overrides: Partial<SimSettings> = {}): SimReport {
  const sim = new Simulation(seed, overrides);
  let failure: string | null = null;
  try {
    sim.run();
  } catch (err) {
    if (!(err instanceof InvariantViolation)) failure = `crash: ${(err as Error).stack ?? String(err)}`;
    else failure = err.message;
  }
  return sim.report(failure);
}

const KEYS = ['a', 'b', 'c'];

class Simulation implements SimHost {
  readonly checker = new SafetyChecker();
  readonly compactEvery: number;
  private readonly rng: Rng;
  private readonly settings: SimSettings;
  private readonly network: SimNetwork;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly storages = new Map<NodeId, MemoryStorage>();
  private readonly peersOf = new Map<NodeId, NodeId[]>();
  private readonly crashed = new Set<NodeId>();
  private readonly pendingRemovals: Array<{ node: NodeId; index: number; term: number }> = [];
  private readonly history: ClientOp[] = [];
  private readonly acked: Array<{ index: number; term: number }> = [];
  private readonly clients: Array<{ op: ClientOp | null; startedAt: number; hint: NodeId | null }> = [];
  private readonly traceLines: string[] = [];
  private readonly leaderTerms = new Set<number>();
  /** Servers whose clock runs slow: they tick once every `rate` ticks. */
  private readonly tickRate = new Map<NodeId, number>();
  private now = 0;
  private clock = 0;
  private joined = 0;
  private reads = 0;
  private values = 0;
  private chaos = true;
  private clientsOn = true;
  private healTicks = -1;

  constructor(readonly seed: number, overrides: Partial<SimSettings>) {
    this.rng = new Rng(seed);
    this.settings = { ...settingsFor(this.rng), ...overrides };
    this.compactEvery = this.settings.compactEvery;
    this.network = new SimNetwork(this.rng.fork());
    this.network.faults = this.settings.faults;
    const ids = Array.from({ length: this.settings.nodes }, (_, i) => `n${i + 1}`);
    for (const id of ids) this.startNode(id, new MemoryStorage(), ids);
    for (let i = 0; i < this.settings.clients; i++) this.clients.push({ op: null, startedAt: 0, hint: null });
  }

  run(): void {
    for (; this.now < this.settings.chaosTicks; this.now++) {
      this.injectFaults();
      this.step();
    }
    this.healAll();
    const healedAt = this.now;
    for (; this.now - healedAt <= this.settings.livenessTicks; this.now++) {
      if (this.now - healedAt >= 30) this.clientsOn = false;
      this.step();
      if (!this.clientsOn && this.stable()) {
        this.healTicks = this.now - healedAt;
        break;
      }
    }
    if (this.healTicks < 0) {
      throw new InvariantViolation('liveness', `not settled ${this.settings.livenessTicks} ticks after healing: ${this.describe()}`);
    }
    this.finalChecks();
  }

  // ---- SimHost --------------------------------------------------------------

  send(_from: NodeId, messages: Ready['messages']): void {
    for (const m of messages) this.network.send(m, this.now);
  }

  instant(): number {
    return ++this.clock;
  }

  settled(op: ClientOp, outcome: ProposalOutcome | 'read', index: number, term: number): void {
    if (op.status !== 'pending') return;
    if (outcome === 'committed' || outcome === 'read') {
      op.ret = this.instant();
      op.status = 'ok';
      if (outcome === 'committed') this.acked.push({ index, term });
    } else {
      op.status = outcome === 'unknown' ? 'unknown' : 'failed';
    }
    const client = this.clients[op.client]!;
    if (client.op === op) client.op = null;
  }

  applied(_node: NodeId, entry: Entry): void {
    for (let i = 0; i < this.pendingRemovals.length; i++) {
      const r = this.pendingRemovals[i]!;
      if (r.index !== entry.index) continue;
      this.pendingRemovals.splice(i--, 1);
      if (r.term === entry.term) this.remove(r.node);
    }
  }

  // ---- the run --------------------------------------------------------------

  private step(): void {
    for (const node of this.nodes.values()) {
      const rate = this.tickRate.get(node.id);
      if (rate !== undefined && this.now % rate !== 0) continue;
      node.raft.tick();
      node.process();
    }
    let budget = 200_000;
    for (let due = this.network.take(this.now); due.length > 0; due = this.network.take(this.now)) {
      for (const m of due) {
        const node = this.nodes.get(m.to);
        if (node === undefined) continue;
        node.raft.step(m);
        node.process();
        if (this.chaos && this.rng.chance(0.002) && this.nodes.get(node.id) === node) {
          // A crash right after handling a message (what it persisted survives), then a reboot.
          this.crash(node.id);
          this.restart(node.id);
        }
        if (--budget === 0) throw new InvariantViolation('liveness', `message storm at tick ${this.now}`);
      }
    }
    for (const node of this.nodes.values()) {
      const { role, term } = node.raft.basicStatus();
      if (role === 'leader' && !this.leaderTerms.has(term)) {
        this.leaderTerms.add(term);
        this.trace(`leader ${node.id} term ${term}`);
      }
    }
    this.runClients();
  }

  private injectFaults(): void {
    const rng = this.rng;
    const live = [...this.nodes.keys()];
    if (rng.chance(0.015) && live.length > 0) this.crash(rng.pick(live));
    if (this.settings.clockDrift && rng.chance(0.02) && live.length > 0) {
      const id = rng.chance(0.5) ? (this.leader()?.id ?? rng.pick(live)) : rng.pick(live);
      const rate = rng.pick([1, 2, 3]);
      if (rate === 1) this.tickRate.delete(id);
      else this.tickRate.set(id, rate);
      this.trace(`clock of ${id} runs at 1/${rate}`);
    }
    if (rng.chance(0.04) && this.crashed.size > 0) this.restart(rng.pick([...this.crashed]));
    if (rng.chance(0.015)) {
      const all = rng.shuffle([...this.storages.keys()]);
      const cut = 1 + rng.int(all.length - 1);
      this.network.partition([all.slice(0, cut), all.slice(cut)]);
      this.trace(`partition ${all.slice(0, cut).join(',')} | ${all.slice(cut).join(',')}`);
    }
    if (rng.chance(0.01)) {
      const all = [...this.storages.keys()];
      for (let i = 1 + rng.int(3); i > 0; i--) {
        const from = rng.pick(all);
        const to = rng.pick(all);
        this.network.cutLink(from, to);
        this.trace(`cut ${from}>${to}`);
      }
    }
    if (rng.chance(0.01)) {
      const leader = this.leader();
      if (leader !== null) {
        this.network.partition([[leader.id], [...this.storages.keys()].filter((id) => id !== leader.id)]);
        this.trace(`isolate leader ${leader.id}`);
      }
    }
    if (rng.chance(0.03)) {
      this.network.heal();
      this.trace('heal network');
    }
    if (this.settings.membership && rng.chance(0.01)) this.changeMembership();
    if (rng.chance(0.005)) {
      const leader = this.leader();
      if (leader !== null) {
        const to = rng.pick(leader.raft.status().conf.voters as NodeId[]);
        const r = leader.raft.transferLeadership(to);
        this.trace(`transfer ${leader.id} -> ${to}: ${r.ok ? 'ok' : r.code}`);
        leader.process();
      }
    }
  }

  private changeMembership(): void {
    const leader = this.leader();
    if (leader === null) return;
    const st = leader.raft.status();
    const { voters, learners } = st.conf;
    let change: Parameters<typeof leader.raft.changeMembership>[0] | null = null;
    if (learners.length > 0) {
      const learner = learners[0]!;
      if ((st.progress.get(learner)?.match ?? 0) >= st.commit) change = { type: 'addVoter', nodeId: learner };
    } else if (voters.length < 7 && this.rng.chance(0.5)) {
      const id = `j${++this.joined}`;
      this.startNode(id, new MemoryStorage(), []);
      change = { type: 'addLearner', nodeId: id };
    } else if (voters.length > 3) {
      change = { type: 'removeNode', nodeId: this.rng.pick(voters) };
    }
    if (change === null) return;
    const r = leader.raft.changeMembership(change);
    this.trace(`${leader.id}: ${change.type} ${change.nodeId}: ${r.ok ? `at ${r.index}` : r.code}`);
    if (r.ok && change.type === 'removeNode') this.pendingRemovals.push({ node: change.nodeId, index: r.index, term: r.term });
    leader.process();
  }

  private runClients(): void {
    const live = [...this.nodes.keys()];
    this.clients.forEach((c, client) => {
      if (c.op !== null) {
        if (this.chaos && this.now - c.startedAt > 40) {
          // The client gives up: a write may still happen, a read is simply unanswered.
          c.op.status = c.op.input.kind === 'put' ? 'unknown' : 'failed';
          c.op = null;
        }
        return;
      }
      if (!this.clientsOn || live.length === 0 || !this.rng.chance(0.3)) return;
      const target = c.hint !== null && this.nodes.has(c.hint) ? c.hint : this.rng.pick(live);
      const node = this.nodes.get(target)!;
      const key = this.rng.pick(KEYS);
      const op: ClientOp = {
        client,
        input: this.rng.chance(0.5) ? { kind: 'put', key, value: `v${++this.values}` } : { kind: 'get', key },
        output: '',
        call: 0,
        ret: Infinity,
        status: 'pending',
      };
      const r = op.input.kind === 'put' ? node.write(op) : node.read(op, `q${++this.reads}`);
      if (r.ok) {
        this.history.push(op);
        if (op.status === 'pending') {
          c.op = op;
          c.startedAt = this.now;
        }
        c.hint = target;
      } else {
        c.hint = r.leader;
      }
    });
  }

  // ---- faults ---------------------------------------------------------------

  private startNode(id: NodeId, storage: MemoryStorage, peers: NodeId[]): SimNode {
    const rng = this.rng.fork();
    const { preVote, checkQuorum } = this.settings;
    const node = new SimNode(id, storage, this, { random: () => rng.next(), peers, preVote, checkQuorum });
    this.nodes.set(id, node);
    this.storages.set(id, storage);
    this.peersOf.set(id, peers);
    node.process();
    return node;
  }

  private crash(id: NodeId): void {
    const node = this.nodes.get(id);
    if (node === undefined) return;
    for (const op of node.crash()) this.settled(op, op.input.kind === 'put' ? 'unknown' : 'lost', 0, 0);
    this.nodes.delete(id);
    this.crashed.add(id);
    this.trace(`crash ${id}`);
  }

  private restart(id: NodeId): void {
    this.crashed.delete(id);
    this.startNode(id, this.storages.get(id)!, this.peersOf.get(id)!);
    this.trace(`restart ${id}`);
  }

  /** A server whose removal committed is shut down for good. */
  private remove(id: NodeId): void {
    this.crash(id);
    this.crashed.delete(id);
    this.storages.delete(id);
    this.trace(`removed ${id}`);
  }

  private healAll(): void {
    this.chaos = false;
    this.network.heal();
    this.tickRate.clear();
    this.network.faults = { drop: 0, duplicate: 0, maxDelayTicks: this.settings.faults.maxDelayTicks };
    for (const id of [...this.crashed]) this.restart(id);
    this.trace(`--- healed at tick ${this.now}`);
  }

  // ---- checks ---------------------------------------------------------------

  private leader(): SimNode | null {
    let best: SimNode | null = null;
    let bestTerm = -1;
    for (const node of this.nodes.values()) {
      const { role, term } = node.raft.basicStatus();
      if (role === 'leader' && term > bestTerm) {
        best = node;
        bestTerm = term;
      }
    }
    return best;
  }

  /** One leader that every member follows, everything committed and applied, no request pending. */
  private stable(): boolean {
    if (this.clients.some((c) => c.op !== null)) return false;
    const leader = this.leader();
    if (leader === null) return false;
    const st = leader.raft.basicStatus();
    if (st.commit !== st.lastIndex || st.lastTerm !== st.term) return false;
    for (const id of this.members(leader)) {
      const node = this.nodes.get(id);
      if (node === undefined) return false;
      const s = node.raft.basicStatus();
      if (s.leader !== leader.id || s.term !== st.term || node.applied !== st.commit || node.pendingRequests() > 0) return false;
    }
    return true;
  }

  private members(leader: SimNode): NodeId[] {
    const { voters, learners } = leader.raft.status().conf;
    return [...voters, ...learners];
  }

  private finalChecks(): void {
    const leader = this.leader()!;
    const members = this.members(leader).map((id) => this.nodes.get(id)!);
    for (let i = 0; i < members.length; i++) {
      for (let j = i + 1; j < members.length; j++) {
        const a = members[i]!;
        const b = members[j]!;
        checkLogsMatch(a.raft, b.raft, a.storage.firstIndex(), b.storage.firstIndex());
      }
    }
    const state = leader.stateJson();
    for (const node of members) {
      if (node.stateJson() !== state) {
        throw new InvariantViolation('state machine safety', `${node.id} ends with ${node.stateJson()}, leader ${leader.id} with ${state}`);
      }
    }
    for (const { index, term } of this.acked) {
      if (this.checker.committedTerm(index) !== term) {
        throw new InvariantViolation('durability', `a write acknowledged at ${index} (term ${term}) is not what was applied there`);
      }
    }
    const ops = this.history.filter((op) => op.status === 'ok' || op.status === 'unknown');
    const result = checkLinearizable(kvModel, ops);
    if (!result.ok) {
      const key = ops.map((o) => o.input.key).filter((k, i, all) => all.indexOf(k) === i)[result.partition];
      throw new InvariantViolation('linearizability', `history of key ${key} is ${result.reason === 'budget' ? 'too hard to check' : 'not linearizable'}`);
    }
  }

  private describe(): string {
    return [...this.nodes.values()]
      .map((n) => {
        const s = n.raft.basicStatus();
        return `${n.id}:${s.role}@${s.term} lead=${s.leader} commit=${s.commit} last=${s.lastIndex} applied=${n.applied} pending=${n.pendingRequests()}`;
      })
      .join('; ');
  }

  private trace(line: string): void {
    this.traceLines.push(`[${this.now}] ${line}`);
  }

  report(failure: string | null): SimReport {
    const count = (status: ClientOp['status']) => this.history.filter((op) => op.status === status).length;
    return {
      seed: this.seed,
      settings: this.settings,
      ticks: this.now,
      messages: this.network.sent,
      leaderTerms: this.leaderTerms.size,
      ops: { ok: count('ok'), unknown: count('unknown'), failed: count('failed') },
      healTicks: this.healTicks,
      failure,
      trace: this.traceLines,
    };
  }
}
