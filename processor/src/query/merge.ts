import { type AggregateAcc, type AggregateValue, fieldHead, KINDS, kindOf } from '../aggregates/kinds.ts';
import type { AggregateShape } from '../model/pipeline.ts';

/**
 * Merging the partial state of several partitions (and, for a rollup, of several groups) into one
 * answer. Every aggregate merges exactly from its partials: counts and sums add, min/max compare,
 * avg keeps sum and count apart, first/last compare their event times, DDSketch buckets add, topK
 * member counts add, and HyperLogLogs are merged by Redis itself (see hll.ts).
 */
export type { AggregateAcc, AggregateValue };

export type GroupAcc = AggregateAcc[];

/** The group the merged state goes to: the group key itself, or one key for a rollup. */
export type GroupMapper = (group: string) => string | null;

export const ROLLUP_KEY = '*';

export class Aggregates {
  readonly byName = new Map<string, { index: number; shape: AggregateShape }>();

  constructor(readonly shapes: readonly AggregateShape[]) {
    shapes.forEach((shape, index) => {
      this.byName.set(shape.name, { index, shape });
    });
  }

  newGroup(): GroupAcc {
    return this.shapes.map(() => ({}));
  }
}

/** `ZRANGE key 0 -1 WITHSCORES` as [member, score, member, score, ...]. */
export function mergeMembers(acc: AggregateAcc, flat: string[]): void {
  KINDS.topK.mergeFlat!(acc, flat);
}

export function mergeHll(acc: AggregateAcc, raw: Buffer | null): void {
  if (raw === null || raw.length === 0) return;
  acc.hll ??= [];
  acc.hll.push(raw);
}

/** The answer of one aggregate from its merged partials. */
export function aggregateValueOf(shape: AggregateShape, acc: AggregateAcc | undefined): AggregateValue {
  return kindOf(shape).output(shape, acc);
}

export function valuesOf(
  aggregates: Aggregates,
  group: GroupAcc | undefined,
): Record<string, AggregateValue> {
  const out: Record<string, AggregateValue> = {};
  aggregates.shapes.forEach((shape, i) => {
    out[shape.name] = aggregateValueOf(shape, group?.[i]);
  });
  return out;
}

/** Kinds whose values are numbers, so groups can be ranked by them. */
export const RANKABLE: ReadonlySet<string> = new Set(
  Object.entries(KINDS)
    .filter(([, kind]) => kind.rankable)
    .map(([name]) => name),
);

/** The group key (a JSON array of the groupBy values) as an object keyed by the group names. */
export function groupObject(names: readonly string[], key: string): Record<string, unknown> {
  if (key === ROLLUP_KEY) return {};
  let values: unknown;
  try {
    values = JSON.parse(key);
  } catch {
    values = [key];
  }
  const list = Array.isArray(values) ? values : [values];
  const out: Record<string, unknown> = {};
  names.forEach((name, i) => {
    out[name] = list[i] ?? null;
  });
  return out;
}

/**
 * A filter on group fields: `{ country: ['DE', 'FR'] }` keeps groups whose country is DE or FR.
 * Values compare as text (`?status=200` matches the number 200; `null` matches a missing value).
 */
export function groupMatcher(
  names: readonly string[],
  filters: Map<string, string[]>,
): (key: string) => boolean {
  if (filters.size === 0) return () => true;
  const wanted = [...filters.entries()].map(([name, values]) => ({
    index: names.indexOf(name),
    values: new Set(values),
  }));
  const cache = new Map<string, boolean>();
  return (key) => {
    let hit = cache.get(key);
    if (hit !== undefined) return hit;
    let list: unknown[] = [];
    try {
      const parsed = JSON.parse(key) as unknown;
      list = Array.isArray(parsed) ? parsed : [parsed];
    } catch {
      list = [key];
    }
    hit = wanted.every(({ index, values }) => {
      const value = list[index];
      return values.has(value === null || value === undefined ? 'null' : String(value));
    });
    cache.set(key, hit);
    return hit;
  };
}

/**
 * Where to find the groups of a window: ONE aggregate's entries. Every record folds into every
 * aggregate of its group (all or none, see aggregates/fold.ts), so any aggregate lists every group;
 * a hash aggregate is cheapest ('h': fields `<head><group>`), else a sketch ('s': members
 * `<type>:<name>|<group>` of the window's sketch set).
 */
export function probeOf(shapes: readonly AggregateShape[]): { mode: 'h' | 's'; prefix: string } {
  for (const shape of shapes) {
    const form = kindOf(shape).form;
    if (form.type === 'fields') return { mode: 'h', prefix: fieldHead(shape.name, form.probe) };
  }
  const shape = shapes[0];
  if (!shape) return { mode: 'h', prefix: '\u0000none|' };
  const form = kindOf(shape).form;
  return { mode: 's', prefix: `${form.type === 'sketch' ? form.sketch : 'hll'}:${shape.name}|` };
}

/**
 * The head of a sketch's packed fields (`users#h|`) from its sketch-set prefix (`hll:users|`): slices
 * written by owners that pack sketches hold them as hash fields (state/owned-windows.ts).
 */
export function packedHeadOf(prefix: string): string | undefined {
  const match = /^(hll|dd):(.*)\|$/.exec(prefix);
  if (!match) return undefined;
  return `${match[2]}#${match[1] === 'hll' ? 'h' : 'd'}|`;
}

/** Most group keys looked up one by one; larger filter products scan the window instead. */
export const MAX_EXACT_GROUPS = 256;

/**
 * When the filters name a value for every groupBy dimension, the group keys they can match, as the
 * processor writes them (JSON lists of the values' texts), so a query reads just those fields instead
 * of scanning the window: a dashboard asking for a few keys of a window with 100,000 groups costs a
 * few field reads. Undefined when some dimension is unfiltered or the product is too large.
 */
export function exactGroupKeys(
  names: readonly string[],
  filters: Map<string, string[]>,
): string[] | undefined {
  if (names.length === 0 || names.some((n) => !filters.has(n))) return undefined;
  let combos: string[][] = [[]];
  for (const name of names) {
    const values = [...new Set(filters.get(name)!)];
    if (combos.length * values.length > MAX_EXACT_GROUPS) return undefined;
    combos = combos.flatMap((prefix) => values.map((v) => [...prefix, v]));
  }
  return combos.map((values) => JSON.stringify(values));
}

/**
 * Texts a group key must contain to match the filters (a cheap test Redis runs before sending a
 * group back): a value v matches when the group value's text is v, and the JSON of such a value
 * holds v verbatim unless v has characters JSON escapes, or is `null` (also a missing value). A
 * filter with such a value gets no texts, so it is left to the exact test (groupMatcher).
 */
export function filterTexts(filters: Map<string, string[]>): string {
  const lists: string[][] = [];
  for (const values of filters.values()) {
    if (values.every((v) => v !== 'null' && v !== '' && JSON.stringify(v) === `"${v}"`)) lists.push(values);
  }
  return lists.length === 0 ? '' : JSON.stringify(lists);
}

/** What queryRows reads per group, and where each aggregate's values sit in its reply. */
export interface RowSpec {
  json: string;
  /** per aggregate: index into the HMGET values, or into the row (dd/top), or into the HLL names */
  at: number[];
  hll: string[];
}

export function rowSpecOf(shapes: readonly AggregateShape[]): RowSpec {
  const f: string[] = [];
  const d: string[] = [];
  const t: string[] = [];
  const hll: string[] = [];
  const at = shapes.map((shape) => {
    const form = kindOf(shape).form;
    if (form.type === 'fields') {
      const first = f.length;
      for (const part of form.parts) f.push(fieldHead(shape.name, part));
      return first;
    }
    const list = form.sketch === 'dd' ? d : form.sketch === 'top' ? t : hll;
    return list.push(shape.name) - 1;
  });
  // dd entries follow the values in a row, then the topK ones
  const json = JSON.stringify({ f, d, t });
  return {
    json,
    at: shapes.map((shape, i) => {
      const form = kindOf(shape).form;
      if (form.type === 'fields' || form.sketch === 'hll') return at[i]!;
      return form.sketch === 'dd' ? 1 + at[i]! : 1 + d.length + at[i]!;
    }),
    hll,
  };
}

/** Folds one partition's queryRows row of a group into its accumulators (partitions in order). */
export function mergeRow(
  aggregates: Aggregates,
  spec: RowSpec,
  group: GroupAcc,
  row: readonly unknown[],
): void {
  const values = row[0] as (string | null)[];
  aggregates.shapes.forEach((shape, i) => {
    const kind = kindOf(shape);
    const j = spec.at[i]!;
    if (kind.form.type === 'fields')
      kind.mergeFields!(group[i]!, values.slice(j, j + kind.form.parts.length));
    else kind.mergeFlat?.(group[i]!, row[j] as string[]);
  });
}

/** HGETALL of a DDSketch as [bucket, count, bucket, count, ...]. */
export function mergeFlatBuckets(acc: AggregateAcc, flat: readonly string[]): void {
  KINDS.percentile.mergeFlat!(acc, flat);
}

const text = (x: unknown): string | null =>
  x == null ? null : Buffer.isBuffer(x) ? x.toString() : String(x);

/** Folds one partition's queryRollup partials (from its Buffer variant: [groups, ...partials]) into one group. */
export function mergeRollup(aggregates: Aggregates, group: GroupAcc, reply: readonly unknown[]): void {
  aggregates.shapes.forEach((shape, i) => {
    const acc = group[i]!;
    const partial = reply[i + 1];
    const kind = kindOf(shape);
    // Field kinds come as their parts' values (or {} when no group has them), in form order.
    if (kind.form.type === 'fields') kind.mergeFields!(acc, (partial as Buffer[]).map(text));
    else if (kind.mergeFlat)
      kind.mergeFlat(
        acc,
        (partial as Buffer[]).map((b) => text(b)!),
      );
    else mergeHll(acc, (partial as Buffer | null) ?? null);
  });
}
