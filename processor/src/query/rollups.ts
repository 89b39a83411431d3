import { randomBytes } from 'node:crypto';
import { groupCountOf } from './group-count.ts';
import { groupList } from './groups.ts';
import { countDistinct } from './hll.ts';
import { type AggregateValue, mergeRollup, probeOf, valuesOf } from './merge.ts';
import type { WindowSelection } from './read-context.ts';
import { partsOf, type WindowReadContext } from './read-context.ts';
import { queryCommands } from './scripts.ts';

/**
 * A rollup of one window: one queryRollup call per partition computes that partition's partial
 * inside Redis (over every group, or over the matching ones), then the partials merge here.
 */
export async function rollup(
  ctx: WindowReadContext,
  selection: WindowSelection,
  w: { start: number; final: boolean },
): Promise<{ groupCount: number; values: Record<string, AggregateValue> }> {
  const { reg, aggregates, scans, filters, filterKey } = selection;
  const cacheKey = `${reg.name}\n${reg.activeVersion}\n${w.start}\nrollup\n${filterKey}`;
  if (w.final) {
    const cached = ctx.cache.get(cacheKey) as
      | { groupCount: number; values: Record<string, AggregateValue> }
      | undefined;
    if (cached) return cached;
  }
  const spec = JSON.stringify(aggregates.shapes.map((s) => ({ k: s.kind, n: s.name })));
  const commands = queryCommands(ctx.redis);
  const nonce = randomBytes(6).toString('hex');
  const group = aggregates.newGroup();
  let groupCount: number;
  const totals = filters.size === 0 ? await fromTotals(ctx, selection, w.start, spec) : undefined;
  if (totals) {
    for (const reply of totals) mergeRollup(aggregates, group, reply);
    groupCount = await groupCountOf(ctx.redis, reg, w.start, partsOf(reg, scans, w.start));
  } else if (filters.size === 0) {
    const probe = probeOf(aggregates.shapes);
    const present = partsOf(reg, scans, w.start);
    const replies = await Promise.all(
      present.map((part) =>
        ctx.partitionRead(part, `rollup\n${spec}`, () =>
          commands.queryRollupBuffer(part.hash, spec, nonce, 'all', probe.mode, probe.prefix),
        ),
      ),
    );
    const all = new Set<string>();
    for (const reply of replies) {
      for (const g of reply[0] as Buffer[]) all.add(g.toString());
      mergeRollup(aggregates, group, reply);
    }
    groupCount = all.size;
  } else {
    const list = await groupList(ctx, selection, w);
    groupCount = list.sorted.length;
    const present = partsOf(reg, scans, w.start).filter(
      (part) => (list.perPartition.get(part.id)?.length ?? 0) > 0,
    );
    const replies = await Promise.all(
      present.map((part) =>
        commands.queryRollupBuffer(part.hash, spec, nonce, 'list', ...list.perPartition.get(part.id)!),
      ),
    );
    for (const reply of replies) mergeRollup(aggregates, group, reply);
  }
  const hll = group.filter((acc) => acc.hll !== undefined);
  const counts = await countDistinct(
    ctx.redis,
    hll.map((acc) => acc.hll!),
  );
  hll.forEach((acc, i) => {
    acc.distinct = counts[i]!;
    acc.hll = undefined;
  });
  const result = { groupCount, values: valuesOf(aggregates, groupCount > 0 ? group : undefined) };
  if (w.final) ctx.cache.set(cacheKey, result, 1);
  return result;
}

/**
 * The window's parts' write-side totals (state/rollup-totals.ts) in queryRollup's reply format, or
 * undefined when the registration or one of the parts has none (written before rollups): the
 * caller scans the groups then.
 */
async function fromTotals(
  ctx: WindowReadContext,
  selection: WindowSelection,
  start: number,
  spec: string,
): Promise<unknown[][] | undefined> {
  const { reg, scans } = selection;
  if (reg.window.type === 'session' || reg.window.rollups !== true) return undefined;
  const commands = queryCommands(ctx.redis);
  const replies = await Promise.all(
    partsOf(reg, scans, start).map((part) =>
      ctx.partitionRead(part, `totals\n${spec}`, () => commands.queryTotalsBuffer(part.hash, spec, '1')),
    ),
  );
  if (replies.some((reply) => Number(reply[0]) < 0)) return undefined;
  return replies.filter((reply) => Number(reply[0]) === 1).map((reply) => reply.slice(1));
}
