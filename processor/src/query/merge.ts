import { quantile } from '../aggregates/ddsketch.ts';
import type { AggregateShape } from '../runtime/pipeline.ts';
import { parseField } from '../state/keys.ts';

/**
 * Merging the partial state of several partitions (and, for a rollup, of several groups) into one
 * answer. Every aggregate merges exactly from its partials: counts and sums add, min/max compare,
 * avg keeps sum and count apart, first/last compare their event times, DDSketch buckets add, topK
 * member counts add, and HyperLogLogs are merged by Redis itself (see hll.ts).
 */
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

export type GroupAcc = AggregateAcc[];

export type AggregateValue = number | string | null | { value: string; count: number }[];

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

/**
 * Folds one partition's window hash into `groups`. Fields of groups `mapGroup` turns down (and of
 * other aggregates than `only`, when given) are skipped before any parsing: with 10,000 groups a
 * hash holds ~100,000 fields and a page needs a few of them.
 */
export function mergeHash(
  aggregates: Aggregates,
  groups: Map<string, GroupAcc>,
  hash: Record<string, string>,
  mapGroup: GroupMapper,
  only?: string,
): void {
  // first/last need their value and its event time, which sit in two fields of the hash.
  let timed: Map<string, { index: number; group: string; value?: string; t?: number }> | undefined;
  for (const field in hash) {
    const bar = field.indexOf('|');
    if (
      only !== undefined &&
      (field.length <= only.length ||
        !field.startsWith(only) ||
        (field[only.length] !== '|' && field[only.length] !== '#'))
    ) {
      continue;
    }
    const group = field.slice(bar + 1);
    const target = mapGroup(group);
    if (target === null) continue;
    const head = field.slice(0, bar);
    const hashAt = head.indexOf('#');
    const aggregate = hashAt === -1 ? head : head.slice(0, hashAt);
    const part = hashAt === -1 ? undefined : head.slice(hashAt + 1);
    const known = aggregates.byName.get(aggregate);
    if (!known) continue; // an aggregate no longer in the registration
    const raw = hash[field]!;
    const { index, shape } = known;
    if (shape.kind === 'first' || shape.kind === 'last') {
      timed ??= new Map();
      const key = `${index}|${group}`;
      let entry = timed.get(key);
      if (!entry) {
        entry = { index, group };
        timed.set(key, entry);
      }
      if (part === 't') entry.t = Number(raw);
      else if (part === undefined) entry.value = raw;
      continue;
    }
    const acc = accOf(aggregates, groups, target, index);
    const value = Number(raw);
    switch (shape.kind) {
      case 'count':
      case 'sum':
        if (part === undefined) acc.num = (acc.num ?? 0) + value;
        break;
      case 'min':
        if (part === undefined && (acc.num === undefined || value < acc.num)) acc.num = value;
        break;
      case 'max':
        if (part === undefined && (acc.num === undefined || value > acc.num)) acc.num = value;
        break;
      case 'avg':
        if (part === 's') acc.s = (acc.s ?? 0) + value;
        else if (part === 'n') acc.n = (acc.n ?? 0) + value;
        break;
      default:
        break;
    }
  }
  if (!timed) return;
  for (const entry of timed.values()) {
    if (entry.value === undefined || entry.t === undefined) continue;
    const target = mapGroup(entry.group)!;
    const acc = accOf(aggregates, groups, target, entry.index);
    const kind = aggregates.shapes[entry.index]!.kind;
    const better = acc.t === undefined || (kind === 'first' ? entry.t < acc.t : entry.t >= acc.t);
    if (better) {
      acc.t = entry.t;
      acc.text = entry.value;
    }
  }
}

export type SketchType = 'hll' | 'dd' | 'top';

/** Splits a sketch key suffix (`dd:p95|["a"]`) into its type, aggregate and group key. */
export function parseSketchSuffix(
  suffix: string,
): { type: SketchType; aggregate: string; group: string } | null {
  const colon = suffix.indexOf(':');
  const type = suffix.slice(0, colon);
  if (type !== 'hll' && type !== 'dd' && type !== 'top') return null;
  const { aggregate, group } = parseField(suffix.slice(colon + 1));
  return { type, aggregate, group };
}

export function mergeBuckets(acc: AggregateAcc, hash: Record<string, string>): void {
  acc.buckets ??= new Map();
  for (const [bucket, count] of Object.entries(hash))
    acc.buckets.set(bucket, (acc.buckets.get(bucket) ?? 0) + Number(count));
}

/** `ZRANGE key 0 -1 WITHSCORES` as [member, score, member, score, ...]. */
export function mergeMembers(acc: AggregateAcc, flat: string[]): void {
  acc.members ??= new Map();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const member = flat[i]!;
    acc.members.set(member, (acc.members.get(member) ?? 0) + Number(flat[i + 1]));
  }
}

export function mergeHll(acc: AggregateAcc, raw: Buffer | null): void {
  if (raw === null || raw.length === 0) return;
  acc.hll ??= [];
  acc.hll.push(raw);
}

export function accOf(
  aggregates: Aggregates,
  groups: Map<string, GroupAcc>,
  group: string,
  index: number,
): AggregateAcc {
  let acc = groups.get(group);
  if (!acc) {
    acc = aggregates.newGroup();
    groups.set(group, acc);
  }
  return acc[index]!;
}

/** The answer of one aggregate from its merged partials. */
export function valueOf(shape: AggregateShape, acc: AggregateAcc | undefined): AggregateValue {
  if (!acc) return shape.kind === 'count' || shape.kind === 'countDistinct' ? 0 : null;
  switch (shape.kind) {
    case 'count':
      return acc.num ?? 0;
    case 'sum':
    case 'min':
    case 'max':
      return acc.num ?? null;
    case 'avg':
      return acc.n ? (acc.s ?? 0) / acc.n : null;
    case 'first':
    case 'last':
      return acc.text ?? null;
    case 'countDistinct':
      return acc.distinct ?? 0;
    case 'percentile':
      return acc.buckets ? quantile(acc.buckets, shape.q ?? 0.5) : null;
    case 'topK': {
      if (!acc.members) return [];
      return [...acc.members.entries()]
        .filter(([, count]) => count > 0)
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
        .slice(0, shape.k ?? 10)
        .map(([value, count]) => ({ value, count }));
    }
  }
}

export function valuesOf(
  aggregates: Aggregates,
  group: GroupAcc | undefined,
): Record<string, AggregateValue> {
  const out: Record<string, AggregateValue> = {};
  aggregates.shapes.forEach((shape, i) => {
    out[shape.name] = valueOf(shape, group?.[i]);
  });
  return out;
}

/** Kinds whose values are numbers, so groups can be ranked by them. */
export const RANKABLE = new Set(['count', 'sum', 'min', 'max', 'avg', 'countDistinct', 'percentile']);

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
