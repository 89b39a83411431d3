import { fieldOf } from '../model/fields.ts';
import type { AggregateShape } from '../model/pipeline.ts';
import type { AggregateOperator } from '../spec/aggregates.ts';
import { bucketOf, quantile, upperQuantile } from './ddsketch.ts';
import { addBucket, addMember, type WindowDelta } from './fold.ts';

/**
 * The one registry of aggregate kinds. Each kind says, in one place, how a record folds into a
 * batch's partial (`fold`), where that partial lives in Redis (`form`), how partials of several
 * partitions (or groups, or windows) merge (`mergeFields` / `mergeFlat`), and what the answer is
 * (`output`). The fold, the commit, the query merge, `top()`, the sink and the OpenAPI document all
 * read this table: adding a kind means adding an entry here (and its operator in spec/aggregates.ts,
 * which holds its user-facing description).
 */

/** A part of a kind's window-hash fields: '' is `<agg>|<group>`, 's' is `<agg>#s|<group>`, ... */
export type FieldPart = '' | 's' | 'n' | 't';
export type SketchType = 'hll' | 'dd' | 'top';
export type ColumnMerge = 'count' | 'sum' | 'min' | 'max';

/** Where a kind's partial state lives: fields of the window hash, or one sketch key per group. */
export type WriteForm =
  | {
      type: 'fields';
      /** in the order `mergeFields` receives their values */
      parts: readonly FieldPart[];
      /** the part every group of the aggregate has: how the query API lists a window's groups */
      probe: FieldPart;
    }
  | { type: 'sketch'; sketch: SketchType };

/** The merged partials of one aggregate of one group (or of a rollup). */
export interface AggregateAcc {
  num?: number;
  s?: number;
  n?: number;
  text?: string;
  t?: number;
  buckets?: Map<string, number>;
  members?: Map<string, number>;
  /** raw HyperLogLog strings, one per partition (and group, for a rollup) */
  hll?: Buffer[];
  /** the merged distinct count, once computed */
  distinct?: number;
}

export type AggregateValue = number | string | null | { value: string; count: number }[];

/** A field's text as stored (or missing: null/undefined). */
type Raw = string | null | undefined;

export interface KindDefinition {
  /** what the argument must be: none (count), a number, or any value kept as text */
  input: 'none' | 'number' | 'text';
  form: WriteForm;
  /** its value is a number groups can be ranked by (`top`) */
  rankable: boolean;
  /**
   * How its partials combine into the group's value when that is monotone in each partial (a sum, a
   * max or a min of them): such aggregates get a per-part ranking index (query/top-index.ts) that
   * `top` reads with the threshold algorithm. Absent: `top` scans the window's groups.
   */
  rankIndex?: 'sum' | 'max' | 'min';
  /**
   * No monotone merge, but each part's sketch bounds the group's merged value from above (a
   * percentile: the part's upper quantile, aggregates/ddsketch.ts). Listed in `spec.rankBy`, the
   * owner indexes these bounds per part and `top` reads candidates' exact values apart.
   */
  rankBound?: (shape: AggregateShape, buckets: ReadonlyMap<string, number>) => number | null;
  /**
   * Folds one record's prepared argument into the batch's partial of the group in `slot` (the
   * aggregate's columns are at `index`; `fresh`: the slot is new, its columns are pushed to).
   */
  fold(
    delta: WindowDelta,
    index: number,
    shape: AggregateShape,
    slot: number,
    fresh: boolean,
    value: unknown,
    eventTime: number,
  ): void;
  /**
   * Fields kinds: which columns of the partial (WindowDelta.num / num2) hold each part's batch
   * value, and how a batch value meets the stored one: added (a count as an integer), or the
   * smaller or larger kept. first/last say `timed` instead (the event time in `num`, the value in `text`).
   */
  columns?: readonly { part: FieldPart; column: 'num' | 'num2'; merge: ColumnMerge }[];
  timed?: 'first' | 'last';
  /** merges one partial read from the hash fields, values in `form.parts` order */
  mergeFields?(acc: AggregateAcc, values: readonly Raw[]): void;
  /** merges one sketch partial read as [member, count, member, count, ...] (dd, top) */
  mergeFlat?(acc: AggregateAcc, flat: readonly string[]): void;
  output(shape: AggregateShape, acc: AggregateAcc | undefined): AggregateValue;
}

const fields = (parts: readonly FieldPart[], probe: FieldPart = ''): WriteForm => ({
  type: 'fields',
  parts,
  probe,
});

const addNum = (acc: AggregateAcc, [raw]: readonly Raw[]) => {
  if (raw != null) acc.num = (acc.num ?? 0) + Number(raw);
};

const compareNum =
  (smaller: boolean) =>
  (acc: AggregateAcc, [raw]: readonly Raw[]): void => {
    if (raw == null) return;
    const x = Number(raw);
    if (acc.num === undefined || (smaller ? x < acc.num : x > acc.num)) acc.num = x;
  };

/** first/last: the value of the earliest/latest event time (ties: the later partial wins for last). */
const mergeTimed =
  (first: boolean) =>
  (acc: AggregateAcc, [value, time]: readonly Raw[]): void => {
    if (value == null || time == null) return;
    const t = Number(time);
    if (acc.t === undefined || (first ? t < acc.t : t >= acc.t)) {
      acc.t = t;
      acc.text = value;
    }
  };

const addFlat =
  (key: 'buckets' | 'members') =>
  (acc: AggregateAcc, flat: readonly string[]): void => {
    acc[key] ??= new Map();
    const map = acc[key];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const member = flat[i]!;
      map.set(member, (map.get(member) ?? 0) + Number(flat[i + 1]));
    }
  };

const numberOr = (fallback: 0 | null) => (_: AggregateShape, acc: AggregateAcc | undefined) =>
  acc?.num ?? fallback;

/** Adds to the slot's number in a column (a new slot's first value is pushed). */
const addTo = (column: number[], slot: number, fresh: boolean, by: number) => {
  if (fresh) column.push(by);
  else column[slot]! += by;
};

const foldCompared =
  (smaller: boolean) =>
  (
    delta: WindowDelta,
    index: number,
    _: AggregateShape,
    slot: number,
    fresh: boolean,
    value: unknown,
  ): void => {
    const column = delta.num[index]!;
    const x = value as number;
    if (fresh) column.push(x);
    else if (smaller ? x < column[slot]! : x > column[slot]!) column[slot] = x;
  };

/** first/last: the value of the earliest event time (ties: the earlier offset) or the latest (ties: the later). */
const foldTimed =
  (first: boolean) =>
  (
    delta: WindowDelta,
    index: number,
    _: AggregateShape,
    slot: number,
    fresh: boolean,
    value: unknown,
    eventTime: number,
  ): void => {
    const times = delta.num[index]!;
    const values = delta.text[index]!;
    if (fresh) {
      times.push(eventTime);
      values.push(value as string);
    } else if (first ? eventTime < times[slot]! : eventTime >= times[slot]!) {
      times[slot] = eventTime;
      values[slot] = value as string;
    }
  };

/** topK keeps its per-group maps under the field `<agg>|<group>` (countDistinct and percentile by slot). */
const sketchField = (delta: WindowDelta, shape: AggregateShape, slot: number) =>
  fieldOf(shape.name, delta.groups[slot]!);

export const KINDS: Record<AggregateOperator, KindDefinition> = {
  count: {
    input: 'none',
    form: fields(['']),
    rankable: true,
    rankIndex: 'sum',
    columns: [{ part: '', column: 'num', merge: 'count' }],
    fold: (delta, index, _, slot, fresh) => addTo(delta.num[index]!, slot, fresh, 1),
    mergeFields: addNum,
    output: numberOr(0),
  },
  sum: {
    input: 'number',
    form: fields(['']),
    rankable: true,
    rankIndex: 'sum',
    columns: [{ part: '', column: 'num', merge: 'sum' }],
    fold: (delta, index, _, slot, fresh, value) => addTo(delta.num[index]!, slot, fresh, value as number),
    mergeFields: addNum,
    output: numberOr(null),
  },
  min: {
    input: 'number',
    form: fields(['']),
    rankable: true,
    rankIndex: 'min',
    columns: [{ part: '', column: 'num', merge: 'min' }],
    fold: foldCompared(true),
    mergeFields: compareNum(true),
    output: numberOr(null),
  },
  max: {
    input: 'number',
    form: fields(['']),
    rankable: true,
    rankIndex: 'max',
    columns: [{ part: '', column: 'num', merge: 'max' }],
    fold: foldCompared(false),
    mergeFields: compareNum(false),
    output: numberOr(null),
  },
  avg: {
    input: 'number',
    // kept as sum and count so that it merges exactly
    form: fields(['s', 'n'], 'n'),
    rankable: true,
    columns: [
      { part: 's', column: 'num', merge: 'sum' },
      { part: 'n', column: 'num2', merge: 'count' },
    ],
    fold: (delta, index, _, slot, fresh, value) => {
      addTo(delta.num[index]!, slot, fresh, value as number);
      addTo(delta.num2[index]!, slot, fresh, 1);
    },
    mergeFields: (acc, [s, n]) => {
      if (s != null) acc.s = (acc.s ?? 0) + Number(s);
      if (n != null) acc.n = (acc.n ?? 0) + Number(n);
    },
    output: (_, acc) => (acc?.n ? (acc.s ?? 0) / acc.n : null),
  },
  first: {
    input: 'text',
    // the value, then its event time ("<agg>#t|<group>")
    form: fields(['', 't']),
    rankable: false,
    timed: 'first',
    fold: foldTimed(true),
    mergeFields: mergeTimed(true),
    output: (_, acc) => acc?.text ?? null,
  },
  last: {
    input: 'text',
    form: fields(['', 't']),
    rankable: false,
    timed: 'last',
    fold: foldTimed(false),
    mergeFields: mergeTimed(false),
    output: (_, acc) => acc?.text ?? null,
  },
  countDistinct: {
    input: 'text',
    // a HyperLogLog per group; partials merge inside Redis (query/hll.ts)
    form: { type: 'sketch', sketch: 'hll' },
    rankable: true,
    fold: (delta, index, _, slot, __, value) => addMember(delta.sketchSlots[index]!, slot, value as string),
    output: (_, acc) => acc?.distinct ?? 0,
  },
  percentile: {
    input: 'number',
    // a DDSketch per group: bucket -> count, merged by adding counts
    form: { type: 'sketch', sketch: 'dd' },
    rankable: true,
    fold: (delta, index, shape, slot, __, value) =>
      addBucket(delta.sketchSlots[index]!, slot, bucketOf(value as number, shape.accuracy)),
    mergeFlat: addFlat('buckets'),
    rankBound: (shape, buckets) => upperQuantile(buckets, shape.q ?? 0.5, shape.accuracy),
    output: (shape, acc) => (acc?.buckets ? quantile(acc.buckets, shape.q ?? 0.5, shape.accuracy) : null),
  },
  topK: {
    input: 'text',
    // a sorted set per group: member -> count, merged by adding counts
    form: { type: 'sketch', sketch: 'top' },
    rankable: false,
    fold: (delta, _, shape, slot, __, value) =>
      increment(mapOf(delta.tops, sketchField(delta, shape, slot)), value as string, 1),
    mergeFlat: addFlat('members'),
    output: (shape, acc) => {
      if (!acc?.members) return [];
      return [...acc.members.entries()]
        .filter(([, count]) => count > 0)
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
        .slice(0, shape.k ?? 10)
        .map(([value, count]) => ({ value, count }));
    },
  },
};

export const KIND_NAMES = Object.keys(KINDS) as AggregateOperator[];

export function kindOf(shape: AggregateShape): KindDefinition {
  return KINDS[shape.kind];
}

/** The window-hash field head of one part of an aggregate: `name|`, `name#s|`, ... */
export function fieldHead(name: string, part: FieldPart): string {
  return part === '' ? `${name}|` : `${name}#${part}|`;
}

export function increment(map: Map<string, number>, key: string, by: number): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

function mapOf<V>(map: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let inner = map.get(key);
  if (!inner) {
    inner = new Map();
    map.set(key, inner);
  }
  return inner;
}

/** The aggregates that get a per-part ranking index (KindDefinition.rankIndex), in spec order. */
export function rankedAggregates(shapes: readonly AggregateShape[]): string[] {
  return shapes.filter((shape) => KINDS[shape.kind].rankIndex !== undefined).map((shape) => shape.name);
}

/** Of `spec.rankBy`, the aggregates indexed by their parts' bounds (KindDefinition.rankBound), not values. */
export function boundRankedAggregates(
  shapes: readonly AggregateShape[],
  ranked: readonly string[],
): AggregateShape[] {
  return shapes.filter((shape) => ranked.includes(shape.name) && KINDS[shape.kind].rankBound !== undefined);
}

/** How a part's change of a ranked aggregate goes into a hopping window's window-level ranking set. */
export type HoppingRankMode = 'add' | 'sum' | 'max' | 'min';

/**
 * Of the ranked aggregates, those whose hopping windows get a window-level ranking set, with how a
 * part's change combines into it: counts add (integers: exact in any order), max and min compare,
 * sums add (exact for whole numbers; with fractions within a rounding bound the commits keep, which
 * `top` reads past: query/global-top.ts).
 */
export function hoppingRankModes(
  shapes: readonly AggregateShape[],
  ranked: readonly string[],
): [string, HoppingRankMode][] {
  const out: [string, HoppingRankMode][] = [];
  for (const shape of shapes) {
    if (!ranked.includes(shape.name)) continue;
    if (shape.kind === 'count') out.push([shape.name, 'add']);
    else if (shape.kind === 'sum') out.push([shape.name, 'sum']);
    else if (shape.kind === 'max' || shape.kind === 'min') out.push([shape.name, shape.kind]);
  }
  return out;
}
