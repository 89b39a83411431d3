import { fieldHead, kindOf } from '../aggregates/kinds.ts';
import type { AggregateShape } from '../model/pipeline.ts';

/** An absolute value: text, or a HyperLogLog in Redis' binary format. */
export type AbsoluteValue = string | Buffer;

/** A cached value: an absolute value, or a packed HyperLogLog of one register as its integer (redis-hll.ts). */
export type CachedValue = AbsoluteValue | number;

/**
 * The owner's cached values of one partial (a window's or a slice's hash; state/owned-windows.ts).
 *
 * Counts, sums, min and max (and an average's sum and count) are numbers in one column per field
 * head (`<agg>|`, `<agg>#s|`...), indexed by the group's slot: staging a batch looks each group up
 * once, not one `<agg>|<group>` field per aggregate, and neither parses nor hashes a field name per
 * value (measured ~1 µs per group of workload 1 with field-keyed text values). Every other field
 * (first/last, fields of aggregates the pipeline no longer has) is kept by name; packed sketches
 * (when the owner packs them) are kept by slot too.
 */
export class CachedPartial {
  private readonly slots = new Map<string, number>();
  /** per numeric field head, per slot: the stored number, NaN where none is stored */
  private readonly columns = new Map<string, number[]>();
  private slotCount = 0;
  /** column values that are stored (numbers not NaN, packed sketches not undefined) */
  private stored = 0;
  /**
   * per packed sketch field head (`<agg>#h|`, `<agg>#d|`, with OwnedWindows.packedSketches), per
   * slot: the stored value, undefined where none is; kept by slot for the same reason as the numbers
   */
  private readonly packed = new Map<string, (CachedValue | undefined)[]>();
  /** the other fields, by name */
  readonly fields = new Map<string, CachedValue>();

  constructor(
    readonly start: number,
    numericHeads: readonly string[],
    packedHeads: readonly string[] = [],
  ) {
    for (const head of numericHeads) this.columns.set(head, []);
    for (const head of packedHeads) this.packed.set(head, []);
  }

  /** How many fields this partial holds (what the owner's cache bound counts). */
  get size(): number {
    return this.stored + this.fields.size;
  }

  /** The numbers of one field head by slot (undefined: the head's fields are kept by name). */
  column(head: string): number[] | undefined {
    return this.columns.get(head);
  }

  /** The values of one packed sketch field head by slot (undefined: that head is not packed here). */
  packedColumn(head: string): (CachedValue | undefined)[] | undefined {
    return this.packed.get(head);
  }

  /** The slot of each of these groups, a new one (nothing stored) for a group not seen yet. */
  slotsOf(groups: readonly string[]): Int32Array {
    const out = new Int32Array(groups.length);
    for (let i = 0; i < groups.length; i++) out[i] = this.slotOf(groups[i]!);
    return out;
  }

  private slotOf(group: string): number {
    const slot = this.slots.get(group);
    if (slot !== undefined) return slot;
    const added = this.slotCount++;
    this.slots.set(group, added);
    for (const column of this.columns.values()) column.push(Number.NaN);
    for (const column of this.packed.values()) column.push(undefined);
    return added;
  }

  /** Whether the field `<head><group>` is stored. */
  has(head: string, group: string): boolean {
    const column = this.columns.get(head);
    if (column) {
      const slot = this.slots.get(group);
      return slot !== undefined && !Number.isNaN(column[slot]!);
    }
    const packed = this.packed.get(head);
    if (!packed) return this.fields.has(head + group);
    const slot = this.slots.get(group);
    return slot !== undefined && packed[slot] !== undefined;
  }

  /** Sets a numeric value the owner wrote (a column of this partial, a slot from `slotsOf`). */
  setNumber(column: number[], slot: number, value: number): void {
    this.stored += (Number.isNaN(value) ? 0 : 1) - (Number.isNaN(column[slot]!) ? 0 : 1);
    column[slot] = value;
  }

  /** Sets a packed sketch the owner wrote (a packed column of this partial, a slot from `slotsOf`). */
  setPacked(column: (CachedValue | undefined)[], slot: number, value: CachedValue): void {
    if (column[slot] === undefined) this.stored++;
    column[slot] = value;
  }

  /** Sets a field the owner wrote that is kept by name (never a numeric column's: no head to look up). */
  setNamed(field: string, value: CachedValue): void {
    this.fields.set(field, value);
  }

  /** Sets a field as read from Redis (a numeric column's, a packed sketch's, or one kept by name). */
  set(field: string, value: CachedValue): void {
    const bar = field.indexOf('|');
    const head = field.slice(0, bar + 1);
    const column = typeof value === 'string' ? this.columns.get(head) : undefined;
    if (column) {
      this.setNumber(column, this.slotOf(field.slice(bar + 1)), Number(value));
      return;
    }
    const packed = this.packed.get(head);
    if (packed) this.setPacked(packed, this.slotOf(field.slice(bar + 1)), value);
    else this.fields.set(field, value);
  }
}

/**
 * The field heads a partial of these aggregates keeps as numbers: those of counts, sums, min and
 * max (an average's sum and count among them). Computed once per list of shapes.
 */
export function numericHeadsOf(shapes: readonly AggregateShape[]): readonly string[] {
  let heads = headsByShapes.get(shapes);
  if (!heads) {
    heads = shapes.flatMap((shape) =>
      (kindOf(shape).columns ?? []).map((column) => fieldHead(shape.name, column.part)),
    );
    headsByShapes.set(shapes, heads);
  }
  return heads;
}

const headsByShapes = new WeakMap<readonly AggregateShape[], readonly string[]>();

/**
 * The packed sketch field heads (`<agg>#h|` for countDistinct, `<agg>#d|` for percentile) of a
 * partial of these aggregates whose owner packs its sketches. Computed once per list of shapes.
 */
export function packedHeadsOf(shapes: readonly AggregateShape[]): readonly string[] {
  let heads = packedByShapes.get(shapes);
  if (!heads) {
    heads = shapes.flatMap((shape) => {
      const part = packedPartOf(shape);
      return part ? [packedHead(shape.name, part)] : [];
    });
    packedByShapes.set(shapes, heads);
  }
  return heads;
}

/** Which packed field a sketch aggregate keeps: `h` (HyperLogLog), `d` (DDSketch), none for others. */
export function packedPartOf(shape: AggregateShape): 'h' | 'd' | undefined {
  const form = kindOf(shape).form;
  if (form.type !== 'sketch') return undefined;
  return form.sketch === 'hll' ? 'h' : form.sketch === 'dd' ? 'd' : undefined;
}

/** `<agg>#h|` or `<agg>#d|`: the head of a packed sketch's fields (`<agg>#h|<group>`, state/keys.ts). */
export function packedHead(name: string, part: 'h' | 'd'): string {
  return `${name}#${part}|`;
}

const packedByShapes = new WeakMap<readonly AggregateShape[], readonly string[]>();
