import { bucketCounts, memberList, type WindowDelta } from '../aggregates/fold.ts';
import type { StagedTotals } from './owned-totals.ts';

/**
 * Write-side rollups: what one batch adds to a window's (or a slice's) all-groups totals, folded
 * from the batch's own deltas so the commit script applies O(aggregates) updates per window instead
 * of the query API scanning every group. Sound with absolute values too: the owner's absolute value
 * of a field is the stored one plus exactly this batch's delta, and the fenced commit applies a
 * batch once.
 *
 * The totals live beside the partial's hash (state/keys.ts): `<hash>:tot` holds the field-kind
 * totals under the field heads with an empty group (`orders|`, `avgAmount#s|`, `firstItem#t|`),
 * `<hash>:tot:hll:<agg>`, `:tot:dd:<agg>` and `:tot:top:<agg>` the merged sketches, and
 * `<hash>:tot:g` the set of group keys (a rollup reports how many groups it covers).
 *
 * As the script's payload (`r` of a window): i/f/mn/mx = {head, value, ...}, fi/la = {head, time,
 * value, ...}, h = {agg, {member, ...}, ...}, d/t = {agg, {bucket|member, n, ...}, ...}, g = {group, ...}.
 * When the partition owner keeps the merged sketches (state/owned-totals.ts), h/d/t are empty and
 * H/D/T give the layout of the `n` script arguments that hold them whole (absolute values).
 */
export interface TotalsPayload {
  i: (string | number)[];
  f: string[];
  mn: string[];
  mx: string[];
  fi: string[];
  la: string[];
  h: (string | string[])[];
  d: (string | (string | number)[])[];
  t: (string | (string | number)[])[];
  g: string[];
  /** owner-kept sketches (state/owned-totals.ts): their layout, and how many arguments they take */
  H?: string[];
  D?: (string | number)[];
  T?: (string | number)[];
  n?: number;
}

/**
 * The payload of one partial. With `owned` (the partition owner's merged sketches), its sketches
 * are absolute values among the script's arguments, and only their layout rides here.
 */
export function totalsOf(delta: WindowDelta, owned?: ReadonlyMap<string, StagedTotals>): TotalsPayload {
  // Per field, its head (`<agg>|`, `<agg>#s|`...): fields of one head mostly follow each other in a
  // map, so the last head is checked with startsWith before a new one is cut (no string per field).
  let head = '';
  const headOf = (field: string) => {
    if (head === '' || !field.startsWith(head)) head = field.slice(0, field.indexOf('|') + 1);
    return head;
  };
  const added = (map: Map<string, number>) => {
    const out = new Map<string, number>();
    let current = '';
    let sum = 0;
    for (const [field, by] of map) {
      const h = headOf(field);
      if (h !== current) {
        if (current !== '') out.set(current, sum);
        current = h;
        sum = out.get(h) ?? 0;
      }
      sum += by;
    }
    if (current !== '') out.set(current, sum);
    return out;
  };
  const extreme = (map: Map<string, number>, better: (a: number, b: number) => boolean) => {
    const out = new Map<string, number>();
    for (const [field, value] of map) {
      const h = headOf(field);
      const current = out.get(h);
      if (current === undefined || better(value, current)) out.set(h, value);
    }
    return [...out].flatMap(([h, value]) => [h, String(value)]);
  };
  // Ties of event time keep the entry the per-group rule keeps: the first arrival for first, the last for last.
  const timed = (map: Map<string, { time: number; value: string }>, first: boolean) => {
    const out = new Map<string, { time: number; value: string }>();
    for (const [field, entry] of map) {
      const h = headOf(field);
      const current = out.get(h);
      if (!current || (first ? entry.time < current.time : entry.time >= current.time)) out.set(h, entry);
    }
    return [...out].flatMap(([h, e]) => [h, String(e.time), e.value]);
  };
  const nested = (map: Map<string, Map<string, number>>) => {
    const out = new Map<string, Map<string, number>>();
    for (const [field, inner] of map) {
      const agg = headOf(field).slice(0, -1);
      let acc = out.get(agg);
      if (!acc) {
        acc = new Map();
        out.set(agg, acc);
      }
      for (const [member, n] of inner) acc.set(member, (acc.get(member) ?? 0) + n);
    }
    return [...out].flatMap(([agg, inner]) => [agg, [...inner].flat()]);
  };
  const distinct = new Map<string, Set<string>>();
  for (const [field, members] of owned ? [] : delta.distinct) {
    const agg = headOf(field).slice(0, -1);
    let acc = distinct.get(agg);
    if (!acc) {
      acc = new Set();
      distinct.set(agg, acc);
    }
    for (const m of memberList(members)) acc.add(m);
  }
  const payload: TotalsPayload = {
    i: [...added(delta.increments)].flat(),
    f: [...added(delta.sums)].flatMap(([h, by]) => [h, String(by)]),
    mn: extreme(delta.mins, (a, b) => a < b),
    mx: extreme(delta.maxs, (a, b) => a > b),
    fi: timed(delta.firsts, true),
    la: timed(delta.lasts, false),
    h: [...distinct].flatMap(([agg, members]) => [agg, [...members]]),
    d: owned
      ? []
      : nested(new Map([...delta.sketches].map(([field, buckets]) => [field, bucketCounts(buckets)]))),
    t: owned ? [] : nested(delta.tops),
    g: groupsOf(delta),
  };
  const sketches = owned?.get(delta.key);
  if (sketches) {
    payload.H = sketches.H;
    payload.D = sketches.D;
    payload.T = sketches.T;
    payload.n = sketches.args.length;
  }
  return payload;
}

/**
 * The partial's groups. Every record folds into every aggregate (or into none, see
 * BatchFold.prepare), so the fields of any one aggregate name them all: those of the first field's.
 */
function groupsOf(delta: WindowDelta): string[] {
  const maps: Map<string, unknown>[] = [
    delta.increments,
    delta.sums,
    delta.mins,
    delta.maxs,
    delta.firsts,
    delta.lasts,
    delta.distinct,
    delta.sketches,
    delta.tops,
  ];
  for (const map of maps) {
    if (map.size === 0) continue;
    const first = map.keys().next().value as string;
    const head = first.slice(0, first.indexOf('|') + 1);
    const groups: string[] = [];
    for (const field of map.keys()) if (field.startsWith(head)) groups.push(field.slice(head.length));
    return groups;
  }
  return [];
}
