import { type BatchFold, bucketCounts, type WindowDelta } from '../aggregates/fold.ts';
import { fieldHead, kindOf } from '../aggregates/kinds.ts';
import { addBuckets, decodeBuckets, encodeBuckets } from '../aggregates/packed-buckets.ts';
import { oneRegisterOf, withMembers } from '../aggregates/redis-hll.ts';
import { packedFieldOf } from '../model/fields.ts';
import type { RedisClient } from './connection.ts';
import { keys } from './keys.ts';
import type { OwnedTotals, StagedTotals } from './owned-totals.ts';

/** An absolute value: text, or a HyperLogLog in Redis' binary format. */
export type AbsoluteValue = string | Buffer;

/** A cached value: an absolute value, or a packed HyperLogLog of one register as its integer (redis-hll.ts). */
type CachedValue = AbsoluteValue | number;

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
 * With `packedSketches` (registrations that opt in, see WindowShape), a slice's distinct sets and
 * percentile sketches are kept here too and written the same way, as fields of the slice hash: a
 * HyperLogLog in Redis' own format (`<agg>#h|<group>`, aggregates/redis-hll.ts) and DDSketch bucket
 * counts as text (`<agg>#d|<group>`, aggregates/packed-buckets.ts), so a batch writes one HSET per
 * slice instead of one PFADD and one HINCRBY per bucket per (slice, group) sketch key.
 */
export class OwnedWindows {
  /** by the partial's key (`w:<start>` or `sl:<start>`, see WindowDelta.key) */
  private readonly windows = new Map<string, { start: number; values: Map<string, CachedValue> }>();
  private fields = 0;
  /** per partial, the HSET arguments (field, value, ...) of the commit in flight */
  private staged = new Map<string, AbsoluteValue[]>();
  /** per partial of the commit in flight, where each count's and sum's fields start in its arguments (see stagedBlocks) */
  private blocks = new Map<string, Record<string, number>>();

  constructor(
    private readonly maxCachedFields = DEFAULT_MAX_CACHED_FIELDS,
    /** slices keep their HyperLogLogs and DDSketches as packed hash fields (see above) */
    readonly packedSketches = false,
    /** write-side rollups: the partials' merged sketches, kept and forgotten with their values */
    readonly totals?: OwnedTotals,
  ) {}

  /** Whether this partial's distinct sets and percentile sketches are packed fields of its hash. */
  packs(delta: WindowDelta): boolean {
    return this.packedSketches && delta.covers !== undefined;
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
      const values = new Map<string, CachedValue>();
      for (const [field, raw] of Object.entries((value ?? {}) as Record<string, string | Buffer>))
        values.set(field, typeof raw === 'string' || isHllField(field) ? raw : raw.toString());
      this.windows.set(delta.key, { start: delta.start, values });
      this.fields += values.size + (totals?.size(delta.key) ?? 0);
    });
  }

  /**
   * Per window of the batch, the new values of every field it changes, as HSET arguments (field,
   * value, ...). They become the cached values once `applied` is called.
   */
  stage(fold: BatchFold): Map<string, AbsoluteValue[]> {
    this.staged = new Map();
    this.blocks = new Map();
    for (const delta of fold.deltas()) this.staged.set(delta.key, this.stageWindow(delta));
    return this.staged;
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
  private stageWindow(delta: WindowDelta): AbsoluteValue[] {
    const values = this.windows.get(delta.key)?.values;
    if (!values) throw new Error(`window ${delta.key} was not loaded before staging`);
    // Only packed sketch fields hold bytes; every other field is text.
    const current = values as Map<string, string>;
    const out: AbsoluteValue[] = [];
    // Per aggregate, per group slot (aggregates/fold.ts): the field names are built here, once per group.
    const groups = delta.groups;
    for (let i = 0; i < delta.shapes.length; i++) {
      const shape = delta.shapes[i]!;
      const kind = kindOf(shape);
      if (kind.timed) {
        stageTimed(out, current, shape.name, groups, delta.num[i]!, delta.text[i]!, kind.timed === 'first');
        continue;
      }
      for (const column of kind.columns ?? []) {
        const head = fieldHead(shape.name, column.part);
        const values = column.column === 'num' ? delta.num[i]! : delta.num2[i]!;
        if (column.merge === 'count' || column.merge === 'sum') {
          if (column.part === '') this.blockAt(delta.key, shape.name, out.length);
          stageAdded(out, current, head, groups, values);
        } else stageKept(out, current, head, groups, values, column.merge === 'min');
      }
    }
    if (this.packs(delta)) {
      for (const [field, members] of delta.distinct) {
        const packed = packedFieldOf(field, 'h');
        out.push(packed, withMembers(values.get(packed) as Buffer | number | undefined, members));
      }
      for (const [field, buckets] of delta.sketches) {
        const packed = packedFieldOf(field, 'd');
        const stored = current.get(packed);
        if (stored === undefined) {
          out.push(packed, typeof buckets === 'string' ? `${buckets}:1` : encodeBuckets(buckets));
          continue;
        }
        const counts = decodeBuckets(stored);
        addBuckets(counts, bucketCounts(buckets));
        out.push(packed, encodeBuckets(counts));
      }
    }
    return out;
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
      const own = this.windows.get(delta.key)?.values;
      if (!own) throw new Error(`slice ${delta.key} was not loaded before staging`);
      const covers = delta.covers ?? [];
      // the cached slices of the windows this slice is part of, oldest first (undefined: not read)
      const first = Math.min(...covers);
      const neighbours: (Map<string, CachedValue> | undefined)[] = [];
      for (let t = first; t < Math.max(...covers) + sizeMs; t += sliceMs)
        neighbours.push(t === delta.start ? undefined : this.windows.get(`sl:${t}`)?.values);
      const perWindow = covers.map(() => [] as string[]);
      for (const group of delta.groups) {
        const field = head + group;
        if (own.has(field)) continue;
        covers.forEach((start, w) => {
          const from = (start - first) / sliceMs;
          for (let i = from; i < from + sizeMs / sliceMs; i++) if (neighbours[i]?.has(field)) return;
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
    for (const [key, pairs] of this.staged) {
      const window = this.windows.get(key)?.values;
      if (!window) continue;
      const before = window.size;
      for (let i = 0; i < pairs.length; i += 2) {
        const value = pairs[i + 1]!;
        // a packed HyperLogLog of one register is kept as its integer (its bytes were sent)
        window.set(pairs[i] as string, typeof value === 'string' ? value : (oneRegisterOf(value) ?? value));
      }
      this.fields += window.size - before;
    }
    if (this.totals) {
      for (const key of this.staged.keys()) this.fields -= this.totals.size(key);
      this.totals.applied();
      for (const key of this.staged.keys()) this.fields += this.totals.size(key);
    }
    this.staged = new Map();
    this.blocks = new Map();
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
    this.blocks = new Map();
    this.totals?.discard();
  }

  private forget(key: string): void {
    const window = this.windows.get(key);
    if (!window) return;
    this.fields -= window.values.size + (this.totals?.size(key) ?? 0);
    this.windows.delete(key);
    this.totals?.forget(key);
  }
}

/** Counts and sums: the stored value plus the batch's. */
function stageAdded(
  out: AbsoluteValue[],
  current: Map<string, string>,
  head: string,
  groups: readonly string[],
  values: readonly number[],
): void {
  for (let slot = 0; slot < groups.length; slot++) {
    const field = head + groups[slot]!;
    out.push(field, String(Number(current.get(field) ?? 0) + values[slot]!));
  }
}

/** min/max: the batch's value where it beats the stored one (or none is stored). */
function stageKept(
  out: AbsoluteValue[],
  current: Map<string, string>,
  head: string,
  groups: readonly string[],
  values: readonly number[],
  smaller: boolean,
): void {
  for (let slot = 0; slot < groups.length; slot++) {
    const field = head + groups[slot]!;
    const stored = current.get(field);
    const value = values[slot]!;
    if (stored === undefined || (smaller ? value < Number(stored) : value > Number(stored)))
      out.push(field, String(value));
  }
}

/** first/last keep the value with the earliest/latest event time; its time sits in "<agg>#t|<group>". */
function stageTimed(
  out: AbsoluteValue[],
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
    if (shape.kind === 'countDistinct') return packedFieldOf(fieldHead(shape.name, ''), 'h');
    if (shape.kind === 'percentile') return packedFieldOf(fieldHead(shape.name, ''), 'd');
  }
  return undefined;
}
