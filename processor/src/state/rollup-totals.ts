import { bucketCounts, memberList, type WindowDelta } from '../aggregates/fold.ts';
import { fieldHead, kindOf } from '../aggregates/kinds.ts';
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
 * H/D/T give the layout of the `n` script arguments that hold them as absolute values (a
 * HyperLogLog whole, or for the aggregates in M its raised registers, merged in).
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
  M?: string[];
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
    ...columnTotals(delta),
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
    if (sketches.M.length > 0) payload.M = sketches.M;
    payload.D = sketches.D;
    payload.T = sketches.T;
    payload.n = sketches.args.length;
  }
  return payload;
}

/**
 * The field-kind totals of a partial from its per-group columns (aggregates/fold.ts): per field
 * head, the sum of the groups' values (in slot order, as the per-group values were added) or the
 * smallest/largest; first/last the value of the earliest/latest time (ties: the first slot for
 * first, the last for last, as the per-group rule keeps them).
 */
function columnTotals(delta: WindowDelta): Pick<TotalsPayload, 'i' | 'f' | 'mn' | 'mx' | 'fi' | 'la'> {
  const out: Pick<TotalsPayload, 'i' | 'f' | 'mn' | 'mx' | 'fi' | 'la'> = {
    i: [],
    f: [],
    mn: [],
    mx: [],
    fi: [],
    la: [],
  };
  const slots = delta.groups.length;
  if (slots === 0) return out;
  for (let i = 0; i < delta.shapes.length; i++) {
    const shape = delta.shapes[i]!;
    const kind = kindOf(shape);
    if (kind.timed) {
      const times = delta.num[i]!;
      const first = kind.timed === 'first';
      let best = 0;
      for (let slot = 1; slot < slots; slot++)
        if (first ? times[slot]! < times[best]! : times[slot]! >= times[best]!) best = slot;
      (first ? out.fi : out.la).push(fieldHead(shape.name, ''), String(times[best]), delta.text[i]![best]!);
      continue;
    }
    for (const column of kind.columns ?? []) {
      const values = column.column === 'num' ? delta.num[i]! : delta.num2[i]!;
      const head = fieldHead(shape.name, column.part);
      if (column.merge === 'count' || column.merge === 'sum') {
        let total = 0;
        for (let slot = 0; slot < slots; slot++) total += values[slot]!;
        if (column.merge === 'count') out.i.push(head, total);
        else out.f.push(head, String(total));
        continue;
      }
      const smaller = column.merge === 'min';
      let kept = values[0]!;
      for (let slot = 1; slot < slots; slot++)
        if (smaller ? values[slot]! < kept : values[slot]! > kept) kept = values[slot]!;
      (smaller ? out.mn : out.mx).push(head, String(kept));
    }
  }
  return out;
}

/** The partial's groups: every record folds into every aggregate (or into none, see BatchFold.prepare). */
function groupsOf(delta: WindowDelta): string[] {
  return delta.groups;
}
