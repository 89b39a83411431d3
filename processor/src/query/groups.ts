import { countHlls } from '../aggregates/hll-estimate.ts';
import {
  type AggregateValue,
  exactGroupKeys,
  filterTexts,
  type GroupAcc,
  mergeHll,
  mergeRow,
  packedHeadOf,
  probeOf,
  rowSpecOf,
  valuesOf,
} from './merge.ts';
import type { WindowSelection } from './read-context.ts';
import { type GroupList, partsOf, sharedRead, type WindowReadContext } from './read-context.ts';
import { queryCommands } from './scripts.ts';

/** Groups per queryRows call. */
const ROW_SLICE = 500;

/**
 * The (matching) groups of one window, sorted: one queryGroups call per partition, which sends
 * back only group keys (only candidates for the filter, when it can tell). Final windows' lists
 * are cached.
 */
export async function groupList(
  ctx: WindowReadContext,
  selection: WindowSelection,
  w: { start: number; final: boolean },
): Promise<GroupList> {
  const { reg, aggregates, scans, filters, filterKey, matches } = selection;
  const cacheKey = `${reg.name}\n${reg.activeVersion}\n${w.start}\ngroups\n${filterKey}`;
  if (w.final) {
    const cached = ctx.cache.get(cacheKey) as GroupList | undefined;
    if (cached) return cached;
  }
  const probe = probeOf(aggregates.shapes);
  const texts = filterTexts(filters);
  const commands = queryCommands(ctx.redis);
  const present = partsOf(reg, scans, w.start);
  const exact = exactGroupKeys(reg.groupBy, filters);
  const replies = await Promise.all(
    present.map((part) => {
      const args = exact
        ? `exact\n${probe.mode}\n${probe.prefix}\n${filterKey}\n`
        : `groups\n${probe.mode}\n${probe.prefix}\n${texts}\n`;
      return sharedRead(selection, `${part.hash}\n${args}`, () =>
        ctx.partitionRead(part, args, () =>
          exact
            ? presentGroups(ctx, part.hash, probe, exact)
            : commands.queryGroups(part.hash, probe.mode, probe.prefix, texts, ''),
        ),
      );
    }),
  );
  const perPartition = new Map<string, string[]>();
  const all = new Set<string>();
  present.forEach((part, p) => {
    const reply = replies[p]! as string[];
    const groups = filters.size === 0 ? reply : reply.filter(matches);
    perPartition.set(part.id, groups);
    for (const g of groups) all.add(g);
  });
  // Plain code-unit order, as Array.prototype.sort: the cursor compares group keys the same way.
  const list: GroupList = { sorted: [...all].sort(), perPartition };
  if (w.final) ctx.cache.set(cacheKey, list, 1 + all.size);
  return list;
}

/**
 * Which of the given group keys the window holds: one HMGET (or, for sketches, SMISMEMBER of the
 * sketch index and HMGET of the packed fields, see state/lua/prelude.lua).
 */
export async function presentGroups(
  ctx: WindowReadContext,
  hash: string,
  probe: { mode: 'h' | 's'; prefix: string },
  groups: readonly string[],
): Promise<string[]> {
  const members = groups.map((g) => `${probe.prefix}${g}`);
  if (probe.mode === 'h') {
    const found = await ctx.redis.hmget(hash, ...members);
    return groups.filter((_, i) => found[i] !== null);
  }
  const packed = packedHeadOf(probe.prefix);
  const [inSet, inFields] = await Promise.all([
    ctx.redis.smismember(`${hash}:keys`, ...members),
    packed ? ctx.redis.hmget(hash, ...groups.map((g) => `${packed}${g}`)) : Promise.resolve([]),
  ]);
  return groups.filter((_, i) => inSet[i] === 1 || (inFields[i] ?? null) !== null);
}

/**
 * Every aggregate of the given groups of one window: one queryRows call (hash fields, DDSketches,
 * topKs) and, with countDistinct aggregates, one queryHll call per partition, each holding only
 * the groups that partition has; then the distinct counts in one more call. Final windows' values
 * are cached per group.
 */
export async function groupValues(
  ctx: WindowReadContext,
  selection: WindowSelection,
  w: { start: number; final: boolean },
  list: GroupList,
  wanted: string[],
  useCache = true,
): Promise<Map<string, Record<string, AggregateValue>>> {
  const { reg, aggregates, scans } = selection;
  const out = new Map<string, Record<string, AggregateValue>>();
  const cacheKey = (g: string) => `${reg.name}\n${reg.activeVersion}\n${w.start}\nvalues\n${g}`;
  let missing = wanted;
  if (w.final && useCache) {
    missing = [];
    for (const g of wanted) {
      const cached = ctx.cache.get(cacheKey(g)) as Record<string, AggregateValue> | undefined;
      if (cached) out.set(g, { ...cached });
      else missing.push(g);
    }
  }
  if (missing.length === 0) return out;
  const spec = rowSpecOf(aggregates.shapes);
  const commands = queryCommands(ctx.redis);
  const missingSet = new Set(missing);
  const groups = new Map<string, GroupAcc>(missing.map((g) => [g, aggregates.newGroup()]));
  const present = partsOf(reg, scans, w.start).filter((part) => list.perPartition.has(part.id));
  const reads = await Promise.all(
    present.map(async (part) => {
      const mine = list.perPartition.get(part.id)!.filter((g) => missingSet.has(g));
      if (mine.length === 0) return null;
      const hash = part.hash;
      const calls: Promise<unknown>[] = [];
      // Slices keep each script call short (Redis runs one at a time).
      for (let i = 0; i < mine.length; i += ROW_SLICE) {
        const slice = mine.slice(i, i + ROW_SLICE);
        const groupsKey = JSON.stringify(slice);
        calls.push(
          sharedRead(selection, `${hash}\nrows\n${groupsKey}`, () =>
            commands.queryRows(hash, spec.json, ...slice),
          ),
        );
        if (spec.hll.length > 0)
          calls.push(
            sharedRead(selection, `${hash}\nhll\n${groupsKey}`, () =>
              commands.queryHllBuffer(hash, JSON.stringify(spec.hll), ...slice),
            ),
          );
      }
      return { mine, replies: await Promise.all(calls) };
    }),
  );
  for (const read of reads) {
    if (!read) continue;
    const step = spec.hll.length > 0 ? 2 : 1;
    read.replies.forEach((reply, c) => {
      if (c % step !== 0) return;
      const offset = (c / step) * ROW_SLICE;
      const rows = reply as unknown[][];
      const raws = step === 2 ? (read.replies[c + 1] as (Buffer | null)[]) : [];
      rows.forEach((row, r) => {
        const g = read.mine[offset + r]!;
        const group = groups.get(g)!;
        mergeRow(aggregates, spec, group, row);
        if (step === 2) {
          spec.hll.forEach((name, h) => {
            const acc = group[aggregates.byName.get(name)!.index]!;
            // the sketch key's and the packed field's (queryHll gives both)
            const at = 2 * (r * spec.hll.length + h);
            mergeHll(acc, raws[at] ?? null);
            mergeHll(acc, raws[at + 1] ?? null);
          });
        }
      });
    });
  }
  // Counted here, as PFCOUNT would (a group's few partials are mostly sparse sketches of a few
  // bytes), rather than copied into Redis to count there: Redis' CPU is the processors' too.
  for (const group of groups.values())
    for (const name of spec.hll) {
      const acc = group[aggregates.byName.get(name)!.index]!;
      acc.distinct = countHlls(acc.hll ?? []);
      acc.hll = undefined;
    }
  for (const [g, group] of groups) {
    const values = valuesOf(aggregates, group);
    out.set(g, values);
    if (w.final) ctx.cache.set(cacheKey(g), { ...values }, 1);
  }
  return out;
}
