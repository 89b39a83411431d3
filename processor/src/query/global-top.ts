import type { AggregateShape } from '../model/pipeline.ts';
import type { RedisClient } from '../state/connection.ts';
import { keys, partitionPrefix } from '../state/keys.ts';
import type { PipelineRegistration } from '../state/registry.ts';
import type { WindowPart } from './read-context.ts';
import { byteCompare, orderAgrees, type RankedEntry, rankOrder } from './threshold-top.ts';
import { rankedValueOf } from './top-index.ts';

/**
 * Hopping windows (kept per slice) likewise have a window-level set per ranked count, sum, min and
 * max, `kf:{p:v:~g}:rh:<start>:<agg>`, across partitions and slices: each batch moves a slice's
 * change into every window the slice is part of (a count's or sum's difference, a max's or min's
 * new value; exact in any order, so no merge order is checked), instead of a threshold over 3 × 7
 * parts whose groups are spread over the slices (reading nearly every entry). A sum's scores are
 * exact while every value is a whole number; with fractions they are within a bound the commits
 * keep (`…:re:<start>`, see sumSlack), so `top` reads on until the k-th value beats the last score
 * read by that bound, and answers with the values merged from the parts as the scan does.
 * `<part>:tot:hs` marks the parts that kept the sums' sets from their first batch on.
 *
 * `top` by a ranked sum of a tumbling window from its window-level index (one Redis node only):
 * the commit script keeps `kf:{p:v:~g}:rk:<start>:<agg>`, group -> minus its value over every
 * partition, recomputed for each batch's groups from the partitions' own indexes and added in
 * partition order (commitBatch-1.lua, applyGlobalRanks). Fagin's threshold algorithm
 * over the partitions' indexes reads deep when their values are independent (~640 entries per
 * part for the top 10 of 10,000 groups over 3 partitions); this reads O(k) entries of one set.
 *
 * Exact, not a candidate list: it is trusted only when every part with state kept it from its first
 * batch on (`<part>:tot:gr`), the partitions that wrote it are exactly those parts, in the order the
 * scan merges them (so every score is the scan's floating-point sum of that group), and no
 * watermark is past start + retention (as for the group sets, query/group-count.ts). Every group
 * read is also checked against the parts' own indexes (its exact value and where it is); a
 * difference means the index is not whole, and the caller falls back to the threshold algorithm.
 * Undefined: not usable here (read the parts then).
 */
export async function globalTop(
  redis: RedisClient,
  reg: PipelineRegistration,
  start: number,
  parts: readonly WindowPart[],
  shape: AggregateShape,
  k: number,
): Promise<{ top: RankedEntry[]; perPartition: Map<string, string[]> } | undefined> {
  if (parts.length === 0 || k <= 0) return undefined;
  const base = keys.groupSets(reg.name, reg.activeVersion);
  const kind = reg.window.type;
  // Sums of tumbling windows (in merge order), or counts, whole-number sums, min and max of hopping
  // windows (any order).
  const sums = kind === 'tumbling' && shape.kind === 'sum';
  if (!sums && !(kind === 'hopping' && ['count', 'sum', 'max', 'min'].includes(shape.kind))) return undefined;
  const hoppingSum = kind === 'hopping' && shape.kind === 'sum';
  const index = `${base}:${sums ? 'rk' : 'rh'}:${start}:${shape.name}`;
  const mark = sums ? 'gr' : hoppingSum ? 'hs' : 'hr';
  for (let depth = k + 1, tries = 0; depth <= MAX_DEPTH && tries < 8; tries++) {
    // Round 1: the candidates. Round 2, one MULTI: the same range again (equal: nothing ranked
    // above the last one changed in between), what proves the index whole, and the candidates'
    // values in every part.
    const range = await redis.zrange(index, 0, depth - 1, 'WITHSCORES');
    const members: string[] = [];
    for (let i = 0; i < range.length; i += 2) members.push(range[i]!);
    const multi = redis.multi();
    for (const id of reg.partitions)
      multi.hget(keys.checkpoint(partitionPrefix(reg.name, reg.activeVersion, id)), 'watermark');
    for (const part of parts) multi.exists(`${part.hash}:tot:${mark}`).exists(part.hash, `${part.hash}:keys`);
    multi.zrange(`${base}:rp:${start}`, 0, -1);
    // a hopping sum's rounding bound and largest magnitude (commitBatch-1.lua)
    multi.hmget(`${base}:re:${start}`, shape.name, `${shape.name}|a`);
    multi.zrange(index, 0, depth - 1, 'WITHSCORES');
    if (members.length > 0)
      for (const part of parts) multi.zmscore(`${part.hash}:tot:rk:${shape.name}`, ...members);
    const values = unwrapAll(await multi.exec());
    const watermarks = values.slice(0, reg.partitions.length);
    if (watermarks.some((w) => w !== null && Number(w) > start + reg.retentionMs)) return undefined;
    // The parts with state, in the scan's merge order: each must have written the index, and the
    // partitions that wrote it must be theirs, in the same order.
    const prefixes: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      const at = reg.partitions.length + 2 * i;
      if (Number(values[at + 1]) === 0) continue;
      if (Number(values[at]) === 0) return undefined;
      prefixes.push(parts[i]!.scan.prefix);
    }
    const at = reg.partitions.length + 2 * parts.length;
    const writers = values[at] as string[];
    if (sums && (writers.length !== prefixes.length || prefixes.some((p, i) => p !== writers[i])))
      return undefined;
    const [rounding, largest] = values[at + 1] as (string | null)[];
    const slack = hoppingSum ? sumSlack(Number(rounding ?? 0), Number(largest ?? 0), parts.length) : 0;
    const again = values[at + 2] as string[];
    if (again.length !== range.length || again.some((x, i) => x !== range[i])) continue;
    const scores = values.slice(at + 3) as (string | null)[][];
    // Every candidate's exact value from the parts, as the scan merges it: it must be its score.
    const ranked: RankedEntry[] = [];
    const entries = new Map<string, (number | null)[]>();
    for (let m = 0; m < members.length; m++) {
      const list = parts.map((_, p) => {
        const score = scores[p]![m];
        return score == null ? null : -Number(score);
      });
      const value = rankedValueOf(shape, list);
      if (value === null || Math.abs(value - -Number(range[2 * m + 1])) > slack) return undefined;
      ranked.push({ member: members[m]!, value });
      entries.set(members[m]!, list);
    }
    ranked.sort(rankOrder);
    const done = () => {
      // Every group: all of them were read.
      if (members.length < depth) return true;
      // A group not read has a value below the last one read, or equal with a later key (byte order).
      const kth = ranked[k - 1]!;
      const last = members[members.length - 1]!;
      const bound = -Number(range[range.length - 1]);
      // a group not read may be worth up to `slack` more than its score: no tie is decided by key then
      if (slack > 0) return kth.value > bound + slack;
      if (kth.value > bound) return true;
      return kth.value === bound && orderAgrees(kth.member) && byteCompare(kth.member, last) <= 0;
    };
    if (!done()) {
      depth *= 4;
      continue;
    }
    const top = ranked.slice(0, k);
    const perPartition = new Map<string, string[]>(parts.map((part) => [part.id, []]));
    for (const { member } of top)
      entries.get(member)!.forEach((x, p) => {
        if (x !== null) perPartition.get(parts[p]!.id)!.push(member);
      });
    return { top, perPartition };
  }
  return undefined;
}

/**
 * How far a hopping sum's score may be from the value the scan merges for its group: the rounding
 * bound the commits added up (none while every value was a whole number), plus the scan's own
 * rounding over `parts` values of at most `largest` each (none for whole numbers whose sums stay
 * below 2^53). Zero: the scores are the scan's values exactly.
 */
export function sumSlack(rounding: number, largest: number, parts: number): number {
  if (rounding === 0 && parts * largest <= 2 ** 53) return 0;
  const scan = Math.max(parts - 1, 1) * parts * largest * 2 ** -52;
  return (rounding + scan) * (1 + 2 ** -20);
}

/** Past this many entries (ties at the k-th value over many groups) the threshold algorithm reads instead. */
const MAX_DEPTH = 4096;

function unwrapAll(replies: [Error | null, unknown][] | null): unknown[] {
  if (!replies) throw new Error('Redis transaction aborted');
  return replies.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}
