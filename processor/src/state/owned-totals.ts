import type { Buckets, Members, WindowDelta } from '../aggregates/fold.ts';
import {
  encodeHll,
  isDenseHll,
  offeredRegister,
  REGISTERS,
  type Registers,
  registerArrayOf,
} from '../aggregates/redis-hll.ts';
import type { AggregateShape } from '../model/pipeline.ts';
import type { RedisClient } from './connection.ts';
import { keys } from './keys.ts';
import type { AbsoluteValue } from './owned-windows.ts';

/**
 * A batch's write-side totals sketches of one partial as absolute values (state/rollup-totals.ts):
 * `H` the aggregates whose merged HyperLogLog changes, each followed in `args` by a HyperLogLog
 * (Redis' bytes): the whole sketch while Redis keeps it sparse (at most 3 KB), once it is dense
 * (12 KB) only the registers the batch raised, for the aggregates listed in `M`, which the script
 * merges in (PFMERGE keeps the larger value per register, so the key holds the owner's registers;
 * into a dense key that costs one pass over its registers, while setting registers one by one in
 * a sparse one rescans it each time). `D` and `T` {agg, how many args, ...} of DDSketch buckets
 * (bucket, count, ...) and topK members (count, member, ...) whose stored counts change. The commit
 * script writes them with one SET or PFMERGE, HSET or ZADD per sketch instead of one PFADD per
 * member chunk and one HINCRBY / ZINCRBY per bucket or member.
 */
export interface StagedTotals {
  H: string[];
  /** the aggregates of `H` whose argument is the raised registers, merged in */
  M: string[];
  D: (string | number)[];
  T: (string | number)[];
  args: AbsoluteValue[];
}

/** One partial's all-groups sketches as its owner knows them (what Redis holds after the last commit). */
interface KeptTotals {
  hll: Map<string, Uint8Array>;
  /** the countDistinct aggregates whose HyperLogLog Redis keeps dense */
  dense: Set<string>;
  dd: Map<string, Map<string, number>>;
  top: Map<string, Map<string, number>>;
}

/** What a staged batch changes in a partial's kept sketches, applied once Redis confirms the commit. */
interface Pending {
  /** per countDistinct, the registers the batch raises and their new values */
  hll: Map<string, Registers>;
  /** the countDistinct aggregates the batch writes whole as a dense sketch */
  dense: Set<string>;
  dd: Map<string, Map<string, number>>;
  top: Map<string, Map<string, number>>;
}

type Pipeline = ReturnType<RedisClient['pipeline']>;

/** A register array (16,384 bytes) against cached fields (a Map entry of two short strings, ~64 bytes). */
const REGISTER_ARRAY_WEIGHT = 256;

/**
 * The merged sketches (countDistinct, percentile, topK over all groups) of a partition's open
 * windows and slices, kept by the partition's owner like the per-group values of owned-windows.ts:
 * read from Redis the first time a claim touches a partial, changed here only after Redis applied
 * the commit that wrote them, dropped with the claim. Sound for the same reason: only the fenced
 * owner writes these keys, and a commit applies a batch once.
 */
export class OwnedTotals {
  private readonly kept = new Map<string, KeptTotals>();
  private pending = new Map<string, Pending>();
  private readonly distinct: string[];
  private readonly percentile: string[];
  private readonly top: string[];

  constructor(aggregates: readonly AggregateShape[]) {
    const named = (kind: string) => aggregates.filter((a) => a.kind === kind).map((a) => a.name);
    this.distinct = named('countDistinct');
    this.percentile = named('percentile');
    this.top = named('topK');
  }

  /** Whether the pipeline has any sketch aggregate (otherwise its totals are hash fields only). */
  get any(): boolean {
    return this.distinct.length + this.percentile.length + this.top.length > 0;
  }

  has(key: string): boolean {
    return this.kept.has(key);
  }

  /** Queues the reads of a partial's totals sketches; the returned function takes their replies. */
  queueLoad(pipe: Pipeline, prefix: string, key: string): (replies: unknown[]) => void {
    const hash = keys.partial(prefix, key);
    for (const agg of this.distinct) pipe.getBuffer(`${hash}:tot:hll:${agg}`);
    for (const agg of this.percentile) pipe.hgetall(`${hash}:tot:dd:${agg}`);
    for (const agg of this.top) pipe.zrange(`${hash}:tot:top:${agg}`, 0, -1, 'WITHSCORES');
    return (replies) => {
      let at = 0;
      const kept: KeptTotals = { hll: new Map(), dense: new Set(), dd: new Map(), top: new Map() };
      for (const agg of this.distinct) {
        const raw = replies[at++] as Buffer | null;
        kept.hll.set(agg, registerArrayOf(raw));
        if (isDenseHll(raw)) kept.dense.add(agg);
      }
      for (const agg of this.percentile) {
        const counts = new Map<string, number>();
        for (const [bucket, n] of Object.entries((replies[at++] ?? {}) as Record<string, string>))
          counts.set(bucket, Number(n));
        kept.dd.set(agg, counts);
      }
      for (const agg of this.top) {
        const flat = (replies[at++] ?? []) as string[];
        const counts = new Map<string, number>();
        for (let i = 0; i < flat.length; i += 2) counts.set(flat[i]!, Number(flat[i + 1]));
        kept.top.set(agg, counts);
      }
      this.kept.set(key, kept);
    };
  }

  /** How many replies queueLoad queues per partial. */
  get readsPerPartial(): number {
    return this.distinct.length + this.percentile.length + this.top.length;
  }

  /** The batch's new absolute sketches of one partial (undefined when it changes none). */
  stage(delta: WindowDelta): StagedTotals | undefined {
    const kept = this.kept.get(delta.key);
    if (!kept) throw new Error(`totals of ${delta.key} were not loaded before staging`);
    const pending: Pending = { hll: new Map(), dense: new Set(), dd: new Map(), top: new Map() };
    const staged: StagedTotals = { H: [], M: [], D: [], T: [], args: [] };
    for (let i = 0; i < delta.shapes.length; i++) {
      const shape = delta.shapes[i]!;
      const slots = delta.sketchSlots[i]!;
      if (slots.length === 0) continue;
      if (shape.kind === 'countDistinct') {
        const raised = raisedRegisters(kept.hll.get(shape.name), slots as Members[]);
        if (raised.size > 0) pending.hll.set(shape.name, raised);
      } else if (shape.kind === 'percentile') {
        for (const buckets of slots)
          if (buckets !== undefined) addCounts(shape.name, buckets as Buckets, kept.dd, pending.dd);
      }
    }
    for (const [agg, raised] of pending.hll) {
      staged.H.push(agg);
      if (kept.dense.has(agg)) {
        staged.M.push(agg);
        staged.args.push(encodeHll(raised));
        continue;
      }
      const whole = encodeHll(withRaised(kept.hll.get(agg), raised));
      if (isDenseHll(whole)) pending.dense.add(agg);
      staged.args.push(whole);
    }
    stagedCounts(pending.dd, staged.D, staged.args, false);
    for (const [field, members] of delta.tops) addCounts(headOf(field), members, kept.top, pending.top);
    stagedCounts(pending.top, staged.T, staged.args, true);
    this.pending.set(delta.key, pending);
    return staged.args.length > 0 ? staged : undefined;
  }

  /** Redis applied the staged batch: its values become the kept ones. */
  applied(): void {
    for (const [key, pending] of this.pending) {
      const kept = this.kept.get(key);
      if (!kept) continue;
      for (const [agg, raised] of pending.hll) {
        let registers = kept.hll.get(agg);
        if (!registers) {
          registers = new Uint8Array(REGISTERS);
          kept.hll.set(agg, registers);
        }
        for (const [index, value] of raised) registers[index] = value;
      }
      for (const agg of pending.dense) kept.dense.add(agg);
      merge(kept.dd, pending.dd);
      merge(kept.top, pending.top);
    }
    this.pending = new Map();
  }

  discard(): void {
    this.pending = new Map();
  }

  forget(key: string): void {
    this.kept.delete(key);
  }

  /**
   * What a partial's kept sketches weigh against the owner's cache bound (OwnedWindows'
   * maxCachedFields), in cached fields: a bucket or member each, a 16 KB register array as many
   * fields as take about as much memory, so a long grace with many open slices evicts the oldest.
   */
  size(key: string): number {
    const kept = this.kept.get(key);
    if (!kept) return 0;
    let n = kept.hll.size * REGISTER_ARRAY_WEIGHT;
    for (const counts of kept.dd.values()) n += counts.size;
    for (const counts of kept.top.values()) n += counts.size;
    return n;
  }
}

/**
 * The registers the members raise above the kept ones, with their new values: a batch of a slice
 * raises a few hundred of the 16,384, so the commit writes (and Redis' AOF logs) those, not all.
 */
function raisedRegisters(kept: Uint8Array | undefined, batch: readonly (Members | undefined)[]): Registers {
  const raised: Registers = new Map();
  for (const members of batch) {
    if (members === undefined) continue;
    if (typeof members === 'string') raise(raised, kept, offeredRegister(members));
    else for (const member of members) raise(raised, kept, offeredRegister(member));
  }
  return raised;
}

/** The kept registers with the raised ones, as a register map (a sparse sketch's: a few hundred). */
function withRaised(kept: Uint8Array | undefined, raised: Registers): Registers {
  const registers: Registers = new Map();
  if (kept) for (let r = 0; r < REGISTERS; r++) if (kept[r] !== 0) registers.set(r, kept[r]!);
  for (const [index, value] of raised) registers.set(index, value);
  return registers;
}

/** Keeps an offered register (register * 64 + value) when it raises the register. */
function raise(raised: Registers, kept: Uint8Array | undefined, offered: number): void {
  const index = offered >>> 6;
  const value = offered & 63;
  if (value > (raised.get(index) ?? kept?.[index] ?? 0)) raised.set(index, value);
}

/** Adds a group's batch counts (bucket or member -> count) into the aggregate's changed ones. */
function addCounts(
  agg: string,
  counts: Buckets | Map<string, number>,
  kept: Map<string, Map<string, number>>,
  pending: Map<string, Map<string, number>>,
): void {
  let changed = pending.get(agg);
  if (!changed) {
    changed = new Map();
    pending.set(agg, changed);
  }
  const stored = kept.get(agg);
  if (typeof counts === 'string') {
    changed.set(counts, (changed.get(counts) ?? stored?.get(counts) ?? 0) + 1);
    return;
  }
  for (const [name, n] of counts) changed.set(name, (changed.get(name) ?? stored?.get(name) ?? 0) + n);
}

/** The new absolute counts per aggregate as {agg, how many args} and (name, count) or (count, member) args. */
function stagedCounts(
  pending: Map<string, Map<string, number>>,
  layout: (string | number)[],
  args: AbsoluteValue[],
  scoreFirst: boolean,
): void {
  for (const [agg, changed] of pending) {
    layout.push(agg, changed.size * 2);
    for (const [name, n] of changed) {
      if (scoreFirst) args.push(String(n), name);
      else args.push(name, String(n));
    }
  }
}

function merge(kept: Map<string, Map<string, number>>, changed: Map<string, Map<string, number>>): void {
  for (const [agg, counts] of changed) {
    let into = kept.get(agg);
    if (!into) {
      into = new Map();
      kept.set(agg, into);
    }
    for (const [name, n] of counts) into.set(name, n);
  }
}

/** The aggregate of a per-group field `<agg>|<group>`. */
function headOf(field: string): string {
  return field.slice(0, field.indexOf('|'));
}
