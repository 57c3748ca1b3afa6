/**
 * A linearizability checker: the Wing & Gong search with Lowe's memoization,
 * as Porcupine does it. A history is a set of operations, each with the time
 * it was called and the time it returned (Infinity if the caller never
 * learned its outcome, e.g. the server crashed: it may or may not have taken
 * effect). The history is linearizable if the operations can be put in one
 * order that respects real time (an operation that returned before another
 * was called comes first) and in which every operation is legal for the
 * sequential model.
 *
 * The search walks the history in time order, tentatively linearizing any
 * pending call; it backtracks when it reaches a return whose call could not
 * be linearized. A cache of (set of linearized operations, model state)
 * prunes states already explored. Operations are partitioned (e.g. by key)
 * first, and each partition is checked on its own.
 */

export interface Operation<I, O> {
  readonly input: I;
  readonly output: O;
  readonly call: number;
  /** Infinity when the outcome is unknown. */
  readonly ret: number;
}

export interface Model<S, I, O> {
  init(): S;
  /** Is `input` returning `output` legal in `state`, and the state after it. */
  step(state: S, input: I, output: O): [boolean, S];
  /** A key identifying a state, for the memoization cache. */
  hash(state: S): string;
  /** Split a history into independent parts (e.g. by key); default: one part. */
  partition?(ops: ReadonlyArray<Operation<I, O>>): Array<Array<Operation<I, O>>>;
}

export type CheckResult = { ok: true } | { ok: false; partition: number; reason: 'illegal' | 'budget' };

interface Node {
  id: number;
  isCall: boolean;
  match: Node | null; // a call's return
  prev: Node | null;
  next: Node | null;
}

/** Check a whole history. `maxSteps` bounds the search per partition (then reason 'budget'). */
export function checkLinearizable<S, I, O>(
  model: Model<S, I, O>,
  ops: ReadonlyArray<Operation<I, O>>,
  maxSteps = 1_000_000,
): CheckResult {
  const parts = model.partition ? model.partition(ops) : [ops.slice()];
  for (let p = 0; p < parts.length; p++) {
    const r = checkPartition(model, parts[p]!, maxSteps);
    if (r !== true) return { ok: false, partition: p, reason: r };
  }
  return { ok: true };
}

function checkPartition<S, I, O>(model: Model<S, I, O>, ops: ReadonlyArray<Operation<I, O>>, maxSteps: number): true | 'illegal' | 'budget' {
  if (ops.length === 0) return true;
  // Events in time order; a call sorts before a return at the same time.
  const events: Array<{ time: number; isCall: boolean; id: number }> = [];
  ops.forEach((op, id) => {
    events.push({ time: op.call, isCall: true, id });
    events.push({ time: op.ret, isCall: false, id });
  });
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.id - b.id : a.isCall ? -1 : 1));
  const head: Node = { id: -1, isCall: false, match: null, prev: null, next: null };
  const calls: Node[] = [];
  const returns: Node[] = [];
  let last = head;
  for (const ev of events) {
    const node: Node = { id: ev.id, isCall: ev.isCall, match: null, prev: last, next: null };
    last.next = node;
    last = node;
    if (ev.isCall) calls[ev.id] = node;
    else returns[ev.id] = node;
  }
  for (let id = 0; id < ops.length; id++) calls[id]!.match = returns[id]!;

  const lift = (call: Node): void => {
    call.prev!.next = call.next;
    if (call.next) call.next.prev = call.prev;
    const ret = call.match!;
    ret.prev!.next = ret.next;
    if (ret.next) ret.next.prev = ret.prev;
  };
  const unlift = (call: Node): void => {
    const ret = call.match!;
    ret.prev!.next = ret;
    if (ret.next) ret.next.prev = ret;
    call.prev!.next = call;
    if (call.next) call.next.prev = call;
  };

  const bits = new Uint32Array(Math.ceil(ops.length / 32));
  const cache = new Set<string>();
  const stack: Array<{ call: Node; state: S }> = [];
  let state = model.init();
  let entry = head.next;
  let steps = 0;
  while (head.next !== null) {
    if (++steps > maxSteps) return 'budget';
    if (entry!.isCall) {
      const op = ops[entry!.id]!;
      const [legal, next] = model.step(state, op.input, op.output);
      if (legal) {
        bits[entry!.id >>> 5]! |= 1 << (entry!.id & 31);
        const key = `${bits.join(',')}|${model.hash(next)}`;
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ call: entry!, state });
          state = next;
          lift(entry!);
          entry = head.next;
          continue;
        }
        bits[entry!.id >>> 5]! &= ~(1 << (entry!.id & 31));
      }
      entry = entry!.next;
    } else {
      // A return whose call is not linearized yet: undo the last choice.
      const top = stack.pop();
      if (top === undefined) return 'illegal';
      bits[top.call.id >>> 5]! &= ~(1 << (top.call.id & 31));
      state = top.state;
      unlift(top.call);
      entry = top.call.next;
    }
  }
  return true;
}

/** Inputs and outputs of the key-value model the simulator's clients use. */
export type KvInput = { readonly kind: 'put'; readonly key: string; readonly value: string } | { readonly kind: 'get'; readonly key: string };

/** A map of registers, partitioned by key; a get returns the last put value ('' if none). */
export const kvModel: Model<string, KvInput, string> = {
  init: () => '',
  step: (state, input, output) => (input.kind === 'put' ? [true, input.value] : [output === state, state]),
  hash: (state) => state,
  partition: (ops) => {
    const byKey = new Map<string, Array<Operation<KvInput, string>>>();
    for (const op of ops) {
      let part = byKey.get(op.input.key);
      if (part === undefined) byKey.set(op.input.key, (part = []));
      part.push(op);
    }
    return [...byKey.values()];
  },
};
