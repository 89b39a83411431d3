import { fieldOf } from '../model/fields.ts';
import type { AggregateShape } from '../model/pipeline.ts';
import { type ColumnMerge, fieldHead, type KindDefinition, kindOf } from './kinds.ts';

/**
 * The changes one batch makes to one window of one partition. Records fold in here in memory; the
 * whole batch then reaches Redis in a single commit (see state/commit.ts), so the number of Redis
 * round trips depends on batches, not records.
 *
 * Counts, sums, min/max, averages, first/last, distinct members and DDSketch buckets are kept per
 * group slot: a group's first record gives it the next slot, and each aggregate keeps one number (or
 * two, a number and a text, or a sketch) per slot in its columns, so a record costs one lookup of
 * its group instead of a field name and a Map entry per aggregate; the field names
 * (`<agg>|<group>`) are built at commit, once per group (topK still keys its maps by field).
 */
export class WindowDelta {
  /** the batch's groups in this partial, first seen first: a group's index is its slot */
  readonly groups: string[] = [];
  private readonly slots = new Map<string, number>();
  /** per aggregate (spec order), per slot: count, sum, min, max, avg's sum, first/last's event time */
  readonly num: number[][];
  /** per aggregate, per slot: avg's count */
  readonly num2: number[][];
  /** per aggregate, per slot: first/last's value */
  readonly text: string[][];
  /**
   * Per aggregate, per slot: countDistinct's members (one as itself: most groups of a slice see
   * one record), percentile's DDSketch bucket counts (one bucket seen once as its name alone).
   * Kept by slot like the numbers, so a record builds no `<agg>|<group>` field name and hashes none.
   */
  readonly sketchSlots: (Members | Buckets)[][];
  readonly tops = new Map<string, Map<string, number>>();

  /**
   * start and end are final for fixed windows; session windows settle them when the batch ends.
   * A slice (stream slicing of hopping windows) also lists the starts of the windows it is part of.
   */
  constructor(
    public start: number,
    public end: number,
    readonly covers?: readonly number[],
    /** the pipeline's aggregates, whose columns this partial keeps */
    readonly shapes: readonly AggregateShape[] = [],
  ) {
    this.num = shapes.map(() => []);
    this.num2 = shapes.map(() => []);
    this.text = shapes.map(() => []);
    this.sketchSlots = shapes.map(() => []);
  }

  /** countDistinct: each group's members, by field `<agg>|<group>` (built per call). */
  get distinct(): ReadonlyMap<string, Members> {
    return this.sketchMap('hll') as Map<string, Members>;
  }

  /** percentile: each group's bucket counts, by field `<agg>|<group>` (built per call). */
  get sketches(): ReadonlyMap<string, Buckets> {
    return this.sketchMap('dd') as Map<string, Buckets>;
  }

  private sketchMap(sketch: 'hll' | 'dd'): Map<string, Members | Buckets> {
    const out = new Map<string, Members | Buckets>();
    for (let i = 0; i < this.shapes.length; i++) {
      const form = kindOf(this.shapes[i]!).form;
      if (form.type !== 'sketch' || form.sketch !== sketch) continue;
      const head = fieldHead(this.shapes[i]!.name, '');
      const values = this.sketchSlots[i]!;
      for (let slot = 0; slot < values.length; slot++) {
        const value = values[slot];
        if (value !== undefined) out.set(head + this.groups[slot]!, value);
      }
    }
    return out;
  }

  /** Where this partial lives in the partition's key space: a window (`w:<start>`) or a slice (`sl:<start>`). */
  get key(): string {
    return `${this.covers ? 'sl' : 'w'}:${this.start}`;
  }

  /** The group's slot, and whether the group is new to this partial (its columns then grow by one). */
  slotOf(group: string): number {
    const slot = this.slots.get(group);
    if (slot !== undefined) return slot;
    this.slots.set(group, this.groups.length);
    this.groups.push(group);
    return -this.groups.length;
  }

  /** HINCRBY-like fields (counts, avg counts) and their batch values, as field -> value. */
  get increments(): Map<string, number> {
    return this.fieldMap((merge) => merge === 'count');
  }

  /** HINCRBYFLOAT-like fields (sums, avg sums). */
  get sums(): Map<string, number> {
    return this.fieldMap((merge) => merge === 'sum');
  }

  get mins(): Map<string, number> {
    return this.fieldMap((merge) => merge === 'min');
  }

  get maxs(): Map<string, number> {
    return this.fieldMap((merge) => merge === 'max');
  }

  get firsts(): Map<string, { time: number; value: string }> {
    return this.timedMap('first');
  }

  get lasts(): Map<string, { time: number; value: string }> {
    return this.timedMap('last');
  }

  private fieldMap(which: (merge: ColumnMerge) => boolean): Map<string, number> {
    const out = new Map<string, number>();
    this.shapes.forEach((shape, i) => {
      for (const column of kindOf(shape).columns ?? []) {
        if (!which(column.merge)) continue;
        const values = column.column === 'num' ? this.num[i]! : this.num2[i]!;
        const head = fieldHead(shape.name, column.part);
        this.groups.forEach((group, slot) => {
          out.set(`${head}${group}`, values[slot]!);
        });
      }
    });
    return out;
  }

  private timedMap(which: 'first' | 'last'): Map<string, { time: number; value: string }> {
    const out = new Map<string, { time: number; value: string }>();
    this.shapes.forEach((shape, i) => {
      if (kindOf(shape).timed !== which) return;
      this.groups.forEach((group, slot) => {
        out.set(fieldOf(shape.name, group), { time: this.num[i]![slot]!, value: this.text[i]![slot]! });
      });
    });
    return out;
  }
}

/** The distinct values of one group in a batch: a single one needs no Set. */
export type Members = string | Set<string>;

/** Adds a value to a group's members (by the group's slot). */
export function addMember(slots: (Members | Buckets)[], slot: number, value: string): void {
  const members = slots[slot] as Members | undefined;
  if (members === undefined) slots[slot] = value;
  else if (typeof members !== 'string') members.add(value);
  else if (members !== value) slots[slot] = new Set([members, value]);
}

/** The members as a list (the commit payload's form). */
export function memberList(members: Members): string[] {
  return typeof members === 'string' ? [members] : [...members];
}

/** A group's DDSketch bucket counts in a batch: a bucket name alone stands for that bucket counted once. */
export type Buckets = string | Map<string, number>;

/** Counts one value in a group's bucket (by the group's slot). */
export function addBucket(slots: (Members | Buckets)[], slot: number, bucket: string): void {
  const buckets = slots[slot] as Buckets | undefined;
  if (buckets === undefined) {
    slots[slot] = bucket;
    return;
  }
  const counts = typeof buckets === 'string' ? new Map([[buckets, 1]]) : buckets;
  counts.set(bucket, (counts.get(bucket) ?? 0) + 1);
  if (counts !== buckets) slots[slot] = counts;
}

/** The bucket counts as a map. */
export function bucketCounts(buckets: Buckets): Map<string, number> {
  return typeof buckets === 'string' ? new Map([[buckets, 1]]) : buckets;
}

/** Thrown when an aggregate's argument has the wrong type for it; the record goes to the dead-letter topic. */
export class AggregateInputError extends Error {}

export class BatchFold {
  readonly windows = new Map<number, WindowDelta>();
  /** hopping windows: the slices (of gcd(size, advance)) the batch's on-time records fall into */
  readonly slices = new Map<number, WindowDelta>();
  records = 0;

  private readonly kinds: readonly KindDefinition[];

  constructor(private readonly aggregates: readonly AggregateShape[]) {
    this.kinds = aggregates.map(kindOf);
  }

  window(start: number, end: number): WindowDelta {
    let delta = this.windows.get(start);
    if (!delta) {
      delta = new WindowDelta(start, end, undefined, this.aggregates);
      this.windows.set(start, delta);
    }
    return delta;
  }

  /**
   * The slice starting at `start`, part of the windows starting at `covers` (each `sizeMs` long):
   * a record updates its one slice instead of every window it falls in. The covers are only read
   * when the slice is new (the caller may look it up in `slices` first and skip listing them).
   */
  slice(start: number, end: number, covers: readonly number[]): WindowDelta {
    let delta = this.slices.get(start);
    if (!delta) {
      delta = new WindowDelta(start, end, covers, this.aggregates);
      this.slices.set(start, delta);
    }
    return delta;
  }

  /** Every partial of the batch: windows, then slices (the order the commit writes them in). */
  deltas(): WindowDelta[] {
    return [...this.windows.values(), ...this.slices.values()];
  }

  /**
   * Checks every argument before changing anything, so a record is either folded into all its
   * aggregates or into none (and dead-lettered).
   */
  prepare(args: readonly unknown[]): PreparedArgs {
    const prepared: (number | string | undefined)[] = new Array(this.aggregates.length);
    for (let i = 0; i < this.aggregates.length; i++) {
      const input = this.kinds[i]!.input;
      if (input === 'number') prepared[i] = toNumber(args[i], this.aggregates[i]!.name);
      else if (input === 'text') prepared[i] = toText(args[i], this.aggregates[i]!.name);
    }
    return prepared;
  }

  add(delta: WindowDelta, group: string, eventTime: number, prepared: PreparedArgs): void {
    // A new group's slot comes back as -(slot + 1): its columns are pushed to, not added to.
    const found = delta.slotOf(group);
    const fresh = found < 0;
    const slot = fresh ? -found - 1 : found;
    for (let i = 0; i < this.aggregates.length; i++) {
      this.kinds[i]!.fold(delta, i, this.aggregates[i]!, slot, fresh, prepared[i], eventTime);
    }
  }
}

export type PreparedArgs = readonly (number | string | undefined)[];

function toNumber(value: unknown, aggregate: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
    return Number(value);
  throw new AggregateInputError(`aggregate ${aggregate}: expected a number, got ${describe(value)}`);
}

function toText(value: unknown, aggregate: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (value === null || value === undefined) {
    throw new AggregateInputError(`aggregate ${aggregate}: the value is missing (null)`);
  }
  return JSON.stringify(value);
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (the field is missing or null)';
  return `${typeof value} ${JSON.stringify(value)?.slice(0, 40)}`;
}
