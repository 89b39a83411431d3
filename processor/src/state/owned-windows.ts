import {
  type BatchFold,
  type Buckets,
  bucketCounts,
  type Members,
  type WindowDelta,
} from '../aggregates/fold.ts';
import { fieldHead, kindOf } from '../aggregates/kinds.ts';
import { addBuckets, decodeBuckets, encodeBuckets } from '../aggregates/packed-buckets.ts';
import { oneRegisterOf, withMembers } from '../aggregates/redis-hll.ts';
import type { AggregateShape } from '../model/pipeline.ts';
import {
  type AbsoluteValue,
  CachedPartial,
  type CachedValue,
  numericHeadsOf,
  packedHead,
  packedHeadsOf,
  packedPartOf,
} from './cached-partial.ts';
import type { RedisClient } from './connection.ts';
import { keys } from './keys.ts';
import { countedArguments, NumberPairs, type StagedArguments } from './number-pairs.ts';
import type { OwnedTotals, StagedTotals } from './owned-totals.ts';
import { ValuePairs } from './value-pairs.ts';

export type { AbsoluteValue } from './cached-partial.ts';

/** Numeric values of one column staged for a commit: the value for each slot (state/cached-partial.ts). */
interface StagedNumbers {
  column: number[];
  slots: ArrayLike<number>;
  values: number[];
  /** the partial's group index of each value, when not every group has one (min/max) */
  which?: number[];
}

/** Packed sketches of one head staged for a commit: the value for each slot. */
interface StagedPacked {
  column: (CachedValue | undefined)[];
  slots: number[];
  values: AbsoluteValue[];
}

/** What `applied` writes into a partial's cache: its numbers, its packed sketches, and the ranges of its arguments kept by name. */
interface StagedCache {
  numbers: StagedNumbers[];
  packed: StagedPacked[];
  /** [from, to) index ranges of (field, value) pairs among the partial's arguments */
  named: number[];
}

/** Most hash fields kept per partition by default; beyond it the oldest windows are dropped (and re-read if touched). */
export const DEFAULT_MAX_CACHED_FIELDS = 500_000;

/**
 * The current values of a partition's open-window hash fields (counts, sums, averages, min, max,
 * first, last), known to the replica that owns the partition, so that a commit writes absolute
 * values with one variadic HSET per window instead of one HINCRBY (or HGET + HSET) per field
 * inside the script: measured 1.3 vs 3.3 µs of Redis CPU per record in bench/redis-payload.ts.
 *
 * Sound because only the owner writes these hashes (every commit is fenced by the owner's epoch)
 * and a window is read from Redis the first time this claim touches it; a new claim (after any
 * rebalance, fencing or duplicate) starts with an empty cache. Values change here only after Redis
 * confirmed the commit, so a failed or unanswered commit leaves the cache as it was.
 *
 * With `packedSketches` (registrations that opt in, see WindowShape), a window's or slice's distinct
 * sets and percentile sketches are kept here too and written the same way, as fields of its hash: a
 * HyperLogLog in Redis' own format (`<agg>#h|<group>`, aggregates/redis-hll.ts) and DDSketch bucket
 * counts as text (`<agg>#d|<group>`, aggregates/packed-buckets.ts), so a batch writes one HSET per
 * window or slice instead of one PFADD and one HINCRBY per bucket per (window, group) sketch key.
 */
export class OwnedWindows {
  /** by the partial's key (`w:<start>` or `sl:<start>`, see WindowDelta.key) */
  private readonly windows = new Map<string, CachedPartial>();
  private fields = 0;
  /** per partial, the HSET arguments (field, value, ...) of the commit in flight */
  private staged = new Map<string, StagedArguments>();
  /** per partial of the commit in flight, how its staged values enter the cache */
  private stagedCache = new Map<string, StagedCache>();
  /** per partial of the commit in flight, where each count's and sum's fields start in its arguments (see stagedBlocks) */
  private blocks = new Map<string, Record<string, number>>();
  /** per partial of the commit in flight, the ranked percentiles' bounds (see stagedBounds) */
  private bounds = new Map<string, Record<string, string[]>>();
  /** the bound-ranked aggregates (KindDefinition.rankBound) by name */
  private readonly boundShapes: ReadonlyMap<string, AggregateShape>;

  constructor(
    private readonly maxCachedFields = DEFAULT_MAX_CACHED_FIELDS,
    /** slices keep their HyperLogLogs and DDSketches as packed hash fields (see above) */
    readonly packedSketches = false,
    /** write-side rollups: the partials' merged sketches, kept and forgotten with their values */
    readonly totals?: OwnedTotals,
    /** percentiles of spec.rankBy, whose per-part upper bounds the commit indexes (packed sketches only) */
    rankedBounds: readonly AggregateShape[] = [],
  ) {
    this.boundShapes = new Map(rankedBounds.map((shape) => [shape.name, shape]));
  }

  /** Whether this partial's distinct sets and percentile sketches are packed fields of its hash. */
  packs(_delta: WindowDelta): boolean {
    return this.packedSketches;
  }

  /** Reads the windows of this batch the claim has not seen yet (one round trip, none when all are known). */
  async load(redis: RedisClient, prefix: string, fold: BatchFold): Promise<void> {
    const unknown = fold.deltas().filter((delta) => !this.windows.has(delta.key));
    if (unknown.length === 0) return;
    const pipe = redis.pipeline();
    const totals = this.totals;
    const readTotals: ((replies: unknown[]) => void)[] = [];
    for (const delta of unknown) {
      // Packed HyperLogLogs are binary: those hashes are read as bytes, their text fields decoded.
      if (this.packs(delta)) pipe.hgetallBuffer(keys.partial(prefix, delta.key));
      else pipe.hgetall(keys.partial(prefix, delta.key));
      if (totals) readTotals.push(totals.queueLoad(pipe, prefix, delta.key));
    }
    const replies = (await pipe.exec()) ?? [];
    const step = 1 + (totals?.readsPerPartial ?? 0);
    unknown.forEach((delta, n) => {
      const i = n * step;
      const own = replies.slice(i, i + step).map(([error, value]) => {
        if (error) throw error;
        return value;
      });
      if (own.length < step) throw new Error('no reply');
      readTotals[n]?.(own.slice(1));
      const value = own[0];
      const partial = new CachedPartial(
        delta.start,
        numericHeadsOf(delta.shapes),
        this.packs(delta) ? packedHeadsOf(delta.shapes) : [],
      );
      for (const [field, raw] of Object.entries((value ?? {}) as Record<string, string | Buffer>))
        partial.set(field, typeof raw === 'string' || isHllField(field) ? raw : raw.toString());
      this.windows.set(delta.key, partial);
      this.fields += partial.size + (totals?.size(delta.key) ?? 0);
    });
  }

  /**
   * Per window of the batch, the new values of every field it changes, as HSET arguments (field,
   * value, ...). They become the cached values once `applied` is called.
   */
  stage(fold: BatchFold): Map<string, StagedArguments> {
    this.staged = new Map();
    this.stagedCache = new Map();
    this.blocks = new Map();
    this.bounds = new Map();
    for (const delta of fold.deltas()) this.staged.set(delta.key, this.stageWindow(delta));
    return this.staged;
  }

  /**
   * Per partial of the staged commit whose sketches are packed, per ranked percentile, the new
   * upper bound of each group whose sketch the batch changed, as (group, bound) texts: the commit
   * script keeps them in the part's top-N index (query/top-index.ts). Undefined without ranked
   * percentiles; a partial without an entry (its sketches are not packed) gets no index.
   */
  stagedBounds(): ReadonlyMap<string, Readonly<Record<string, string[]>>> | undefined {
    return this.boundShapes.size > 0 ? this.bounds : undefined;
  }

  /**
   * Per partial of the staged commit, the index in its arguments where each count's and sum's own
   * fields start (`<agg>|<group>`, value): one pair per group, in the order of the partial's groups
   * (WindowDelta.groups, which is also the payload's `r.g`). The commit script reads the ranked
   * aggregates' new values from there instead of reading them back from the hash it just wrote.
   */
  stagedBlocks(): ReadonlyMap<string, Readonly<Record<string, number>>> {
    return this.blocks;
  }

  // No closures here: tsx (esbuild keepNames) names each one as it is created, per window per batch.
  private stageWindow(delta: WindowDelta): StagedArguments {
    const partial = this.windows.get(delta.key);
    if (!partial) throw new Error(`window ${delta.key} was not loaded before staging`);
    // Fields kept by name (first/last) are text; packed sketches are in slot columns.
    const current = partial.fields as Map<string, string>;
    const out: (AbsoluteValue | NumberPairs | ValuePairs)[] = [];
    // script arguments so far (a block of pairs is one element of `out`)
    let args = 0;
    const cache: StagedCache = { numbers: [], packed: [], named: [] };
    this.stagedCache.set(delta.key, cache);
    // Per aggregate, per group slot (aggregates/fold.ts): counts, sums, min and max go as blocks of
    // numeric pairs (number-pairs.ts), whose field names the encoder writes; first/last as text.
    const groups = delta.groups;
    let slots: Int32Array | undefined;
    for (let i = 0; i < delta.shapes.length; i++) {
      const shape = delta.shapes[i]!;
      const kind = kindOf(shape);
      if (kind.timed) {
        const from = out.length;
        stageTimed(out, current, shape.name, groups, delta.num[i]!, delta.text[i]!, kind.timed === 'first');
        cache.named.push(from, out.length);
        args += out.length - from;
        continue;
      }
      for (const column of kind.columns ?? []) {
        const head = fieldHead(shape.name, column.part);
        const values = column.column === 'num' ? delta.num[i]! : delta.num2[i]!;
        const cached = partial.column(head);
        if (!cached) throw new Error(`window ${delta.key} was cached without the column ${head}`);
        slots ??= partial.slotsOf(groups);
        const added = column.merge === 'count' || column.merge === 'sum';
        if (added && column.part === '') this.blockAt(delta.key, shape.name, args);
        const staged = added
          ? stageAdded(cached, slots, groups, values)
          : stageKept(cached, slots, values, column.merge === 'min');
        cache.numbers.push(staged);
        const pairs = new NumberPairs(head, groups, staged.values, staged.which);
        out.push(pairs);
        args += pairs.arguments;
      }
    }
    if (this.packs(delta)) {
      const bounds = this.boundShapes.size > 0 ? this.boundsOf(delta.key) : undefined;
      for (let i = 0; i < delta.shapes.length; i++) {
        const batch = delta.sketchSlots[i]!;
        const part = batch.length > 0 ? packedPartOf(delta.shapes[i]!) : undefined;
        if (!part) continue;
        const name = delta.shapes[i]!.name;
        const head = packedHead(name, part);
        const column = partial.packedColumn(head);
        if (!column) throw new Error(`window ${delta.key} was cached without the packed sketches ${head}`);
        slots ??= partial.slotsOf(groups);
        const bound = bounds ? this.boundShapes.get(name) : undefined;
        const staged =
          part === 'h'
            ? stageDistinct(column, slots, batch as Members[])
            : stageSketches(column, slots, batch as Buckets[], groups, bound, bounds?.[name]);
        cache.packed.push(staged);
        const pairs = new ValuePairs(head, groups, staged.values, staged.which);
        out.push(pairs);
        args += pairs.arguments;
      }
    }
    return countedArguments(out, args);
  }

  private boundsOf(key: string): Record<string, string[]> {
    const bounds: Record<string, string[]> = {};
    for (const name of this.boundShapes.keys()) bounds[name] = [];
    this.bounds.set(key, bounds);
    return bounds;
  }

  private blockAt(key: string, name: string, at: number): void {
    const blocks = this.blocks.get(key);
    if (blocks) blocks[name] = at;
    else this.blocks.set(key, { [name]: at });
  }

  /**
   * Per partial of the batch, its new all-groups sketches as absolute values (write-side rollups
   * with sketch aggregates; call after stage). They become the kept ones once `applied` is called.
   */
  stageTotals(fold: BatchFold): Map<string, StagedTotals> | undefined {
    const totals = this.totals;
    if (!totals?.any) return undefined;
    totals.discard();
    const out = new Map<string, StagedTotals>();
    for (const delta of fold.deltas()) {
      const staged = totals.stage(delta);
      if (staged) out.set(delta.key, staged);
    }
    return out;
  }

  /**
   * Hopping windows' window-level group sets (one Redis node; query/group-count.ts): per slice of
   * the batch, the windows (starts as text) and the groups to add to each, as [start, groups, ...].
   * A group goes to a window only when it is new to the slice (on this partition) and no other
   * slice of that window this claim knows holds it, so a group costs about one member per slice
   * instead of one per window per batch. Exact because of what the commit script keeps true: every
   * group a slice holds is in the set of every window the slice is part of (a slice with state but
   * not this rule from its first batch on has no `:tot:wg` mark, and readers then count the union).
   * Adding a group a set already has changes nothing, so a slice this claim has not read counts as
   * not holding the group. Undefined when a slice's groups cannot be told from its cached fields
   * (only unpacked sketch aggregates): the script then leaves the window sets alone.
   */
  stageSliceGroups(
    fold: BatchFold,
    sizeMs: number,
    sliceMs: number,
  ): Map<string, (string | string[])[]> | undefined {
    const out = new Map<string, (string | string[])[]>();
    for (const delta of fold.slices.values()) {
      const head = groupFieldHead(delta, this.packs(delta));
      if (head === undefined) return undefined;
      const own = this.windows.get(delta.key);
      if (!own) throw new Error(`slice ${delta.key} was not loaded before staging`);
      const covers = delta.covers ?? [];
      // the cached slices of the windows this slice is part of, oldest first (undefined: not read)
      const first = Math.min(...covers);
      const neighbours: (CachedPartial | undefined)[] = [];
      for (let t = first; t < Math.max(...covers) + sizeMs; t += sliceMs)
        neighbours.push(t === delta.start ? undefined : this.windows.get(`sl:${t}`));
      const perWindow = covers.map(() => [] as string[]);
      for (const group of delta.groups) {
        if (own.has(head, group)) continue;
        covers.forEach((start, w) => {
          const from = (start - first) / sliceMs;
          for (let i = from; i < from + sizeMs / sliceMs; i++) if (neighbours[i]?.has(head, group)) return;
          perWindow[w]!.push(group);
        });
      }
      const adds: (string | string[])[] = [];
      covers.forEach((start, w) => {
        if (perWindow[w]!.length > 0) adds.push(String(start), perWindow[w]!);
      });
      out.set(delta.key, adds);
    }
    return out;
  }

  /** Redis applied the staged values; the windows it closed will not change again and leave the cache. */
  applied(closedWindows: readonly number[]): void {
    for (const [key, staged] of this.staged) {
      const window = this.windows.get(key);
      const cache = this.stagedCache.get(key);
      if (!window || !cache) continue;
      const before = window.size;
      for (const { column, slots, values } of cache.numbers)
        for (let i = 0; i < values.length; i++) window.setNumber(column, slots[i]!, values[i]!);
      // a packed HyperLogLog of one register is kept as its integer (its bytes were sent)
      for (const { column, slots, values } of cache.packed)
        for (let i = 0; i < values.length; i++) {
          const value = values[i]!;
          window.setPacked(
            column,
            slots[i]!,
            typeof value === 'string' ? value : (oneRegisterOf(value) ?? value),
          );
        }
      for (let r = 0; r < cache.named.length; r += 2) {
        for (let i = cache.named[r]!; i < cache.named[r + 1]!; i += 2) {
          window.setNamed(staged[i] as string, staged[i + 1] as AbsoluteValue);
        }
      }
      this.fields += window.size - before;
    }
    if (this.totals) {
      for (const key of this.staged.keys()) this.fields -= this.totals.size(key);
      this.totals.applied();
      for (const key of this.staged.keys()) this.fields += this.totals.size(key);
    }
    this.staged = new Map();
    this.stagedCache = new Map();
    this.blocks = new Map();
    this.bounds = new Map();
    if (closedWindows.length > 0) {
      // Windows close oldest first, so slices older than a closed window are in closed windows only.
      const newest = Math.max(...closedWindows.map(Number));
      for (const start of closedWindows) this.forget(`w:${start}`);
      for (const [key, { start }] of this.windows)
        if (key.startsWith('sl:') && start < newest) this.forget(key);
    }
    if (this.fields > this.maxCachedFields) {
      const oldestFirst = [...this.windows].sort(([, a], [, b]) => a.start - b.start);
      for (const [key] of oldestFirst) {
        if (this.fields <= this.maxCachedFields / 2) break;
        this.forget(key);
      }
    }
  }

  /** The commit did not apply (or its outcome is unknown): the staged values are dropped. */
  discard(): void {
    this.staged = new Map();
    this.stagedCache = new Map();
    this.blocks = new Map();
    this.bounds = new Map();
    this.totals?.discard();
  }

  private forget(key: string): void {
    const window = this.windows.get(key);
    if (!window) return;
    this.fields -= window.size + (this.totals?.size(key) ?? 0);
    this.windows.delete(key);
    this.totals?.forget(key);
  }
}

/** Counts and sums: the stored value (NaN: none) plus the batch's, for every group of the partial. */
function stageAdded(
  cached: number[],
  slots: Int32Array,
  groups: readonly string[],
  values: readonly number[],
): StagedNumbers {
  const staged = new Array<number>(groups.length);
  for (let slot = 0; slot < groups.length; slot++) {
    const stored = cached[slots[slot]!]!;
    staged[slot] = (Number.isNaN(stored) ? 0 : stored) + values[slot]!;
  }
  return { column: cached, slots, values: staged };
}

/** min/max: the batch's value where it beats the stored one (or none is stored), for those groups only. */
function stageKept(
  cached: number[],
  slots: Int32Array,
  values: readonly number[],
  smaller: boolean,
): StagedNumbers {
  const which: number[] = [];
  const changed: number[] = [];
  const staged: number[] = [];
  for (let slot = 0; slot < values.length; slot++) {
    const stored = cached[slots[slot]!]!;
    const value = values[slot]!;
    if (Number.isNaN(stored) || (smaller ? value < stored : value > stored)) {
      which.push(slot);
      changed.push(slots[slot]!);
      staged.push(value);
    }
  }
  return { column: cached, slots: changed, values: staged, which };
}

/** first/last keep the value with the earliest/latest event time; its time sits in "<agg>#t|<group>". */
function stageTimed(
  out: (AbsoluteValue | NumberPairs | ValuePairs)[],
  current: Map<string, string>,
  name: string,
  groups: readonly string[],
  times: readonly number[],
  values: readonly string[],
  first: boolean,
): void {
  const head = fieldHead(name, '');
  const timeHead = fieldHead(name, 't');
  for (let slot = 0; slot < groups.length; slot++) {
    const timeField = timeHead + groups[slot]!;
    const stored = current.get(timeField);
    const time = times[slot]!;
    if (stored === undefined || (first ? time < Number(stored) : time >= Number(stored)))
      out.push(head + groups[slot]!, values[slot]!, timeField, String(time));
  }
}

/** countDistinct: each changed group's HyperLogLog (Redis' bytes) with the batch's members added. */
function stageDistinct(
  column: readonly (CachedValue | undefined)[],
  slots: Int32Array,
  batch: readonly (Members | undefined)[],
): StagedPacked & { which: number[] } {
  const which: number[] = [];
  const at: number[] = [];
  const values: AbsoluteValue[] = [];
  for (let slot = 0; slot < batch.length; slot++) {
    const members = batch[slot];
    if (members === undefined) continue;
    which.push(slot);
    at.push(slots[slot]!);
    values.push(withMembers(column[slots[slot]!] as Buffer | number | undefined, members));
  }
  return { column: column as (CachedValue | undefined)[], slots: at, values, which };
}

/**
 * percentile: each changed group's DDSketch bucket counts (text) with the batch's added, and, for
 * a ranked percentile, the group's new upper bound as (group, bound) texts for the top-N index.
 */
function stageSketches(
  column: readonly (CachedValue | undefined)[],
  slots: Int32Array,
  batch: readonly (Buckets | undefined)[],
  groups: readonly string[],
  ranked: AggregateShape | undefined,
  bounds: string[] | undefined,
): StagedPacked & { which: number[] } {
  const which: number[] = [];
  const at: number[] = [];
  const values: AbsoluteValue[] = [];
  for (let slot = 0; slot < batch.length; slot++) {
    const buckets = batch[slot];
    if (buckets === undefined) continue;
    which.push(slot);
    at.push(slots[slot]!);
    const stored = column[slots[slot]!] as string | undefined;
    let counts: ReadonlyMap<string, number> | undefined;
    if (stored === undefined) {
      values.push(typeof buckets === 'string' ? `${buckets}:1` : encodeBuckets(buckets));
      if (ranked) counts = bucketCounts(buckets);
    } else {
      const added = decodeBuckets(stored);
      addBuckets(added, bucketCounts(buckets));
      values.push(encodeBuckets(added));
      counts = added;
    }
    if (!ranked || !bounds || !counts) continue;
    const bound = kindOf(ranked).rankBound!(ranked, counts);
    // String(): the shortest text that reads back as the same double (the script only moves it)
    if (bound !== null) bounds.push(groups[slot]!, String(bound));
  }
  return { column: column as (CachedValue | undefined)[], slots: at, values, which };
}

function isHllField(field: string): boolean {
  const bar = field.indexOf('|');
  return bar > 1 && field.slice(bar - 2, bar) === '#h';
}

/**
 * The start of a hash field every group of a partial has (every record folds into every aggregate):
 * its first count, sum, min/max, average or first/last field, else a packed sketch's; undefined
 * when the partial has only sketch aggregates kept as keys of their own.
 */
function groupFieldHead(delta: WindowDelta, packed: boolean): string | undefined {
  for (const shape of delta.shapes) {
    const kind = kindOf(shape);
    if (kind.timed) return fieldHead(shape.name, '');
    const column = kind.columns?.[0];
    if (column) return fieldHead(shape.name, column.part);
  }
  if (!packed) return undefined;
  for (const shape of delta.shapes) {
    const part = packedPartOf(shape);
    if (part) return packedHead(shape.name, part);
  }
  return undefined;
}
