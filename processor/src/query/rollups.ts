import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import { kindOf } from '../aggregates/kinds.ts';
import { groupCountOf } from './group-count.ts';
import { groupList } from './groups.ts';
import { countDistinct } from './hll.ts';
import {
  type Aggregates,
  type AggregateValue,
  type GroupAcc,
  mergeHll,
  mergeRollup,
  probeOf,
  valuesOf,
} from './merge.ts';
import type { WindowSelection } from './read-context.ts';
import { partsOf, type WindowPart, type WindowReadContext } from './read-context.ts';
import { queryCommands } from './scripts.ts';

/**
 * A rollup of one window. Unfiltered, from the write-side totals when every part keeps them (one
 * queryTotals call on one Redis node, beside the group count); otherwise one queryRollup call per
 * part computes that part's partial inside Redis (over every group, or over the matching ones).
 * The partials merge here, in part order.
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
  const spec = specOf(aggregates);
  const commands = queryCommands(ctx.redis);
  const nonce = () => randomBytes(6).toString('hex');
  const group = aggregates.newGroup();
  let groupCount: number;
  const parts = partsOf(reg, scans, w.start);
  // the group count is read beside the totals (one round trip), and only used with them
  const [totals, counted] =
    filters.size === 0 && hasTotals(selection)
      ? await Promise.all([readTotals(ctx, parts, spec), groupCountOf(ctx.redis, reg, w.start, parts)])
      : [undefined, 0];
  if (totals) {
    mergeTotals(aggregates, group, totals);
    groupCount = counted;
  } else if (filters.size === 0) {
    const probe = probeOf(aggregates.shapes);
    const present = partsOf(reg, scans, w.start);
    const replies = await Promise.all(
      present.map((part) =>
        ctx.partitionRead(part, `rollup\n${spec}`, () =>
          commands.queryRollupBuffer(part.hash, spec, nonce(), 'all', probe.mode, probe.prefix),
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
        commands.queryRollupBuffer(part.hash, spec, nonce(), 'list', ...list.perPartition.get(part.id)!),
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

/** The aggregates as the rollup scripts take them. */
export function specOf(aggregates: Aggregates): string {
  return JSON.stringify(aggregates.shapes.map((s) => ({ k: s.kind, n: s.name })));
}

/** Totals are kept for tumbling and hopping windows of registrations with window.rollups. */
function hasTotals({ reg }: WindowSelection): boolean {
  return reg.window.type !== 'session' && reg.window.rollups === true;
}

/** The parts' totals partials (queryTotals' format), and the distinct counts when Redis counted them. */
export interface TotalsRead {
  partials: unknown[][];
  distinct?: number[];
}

/**
 * The window's parts' write-side totals (state/rollup-totals.ts), or undefined when one of the
 * parts has none (written before rollups): the caller scans the groups then. On one Redis node
 * every part is read in one queryTotals call that also counts the distinct values (`oneCall`); on a
 * Redis Cluster, where the parts sit in different slots, one call per part returns its raw
 * HyperLogLog, merged by query/hll.ts. Both answer the same (test/integration/query/rollup-totals.test.ts).
 */
export async function readTotals(
  ctx: WindowReadContext,
  parts: readonly WindowPart[],
  spec: string,
  oneCall = !(ctx.redis instanceof Cluster),
): Promise<TotalsRead | undefined> {
  if (parts.length === 0) return { partials: [] };
  const commands = queryCommands(ctx.redis);
  const call = (hashes: string[], mode: 'count' | 'raw') =>
    commands.queryTotalsBuffer(hashes[0]!, spec, mode, ...hashes) as Promise<
      [number, number[], ...unknown[][]]
    >;
  if (oneCall) {
    // cached while no partition's offset moved, as partitionRead caches one part's reply
    const offsets = parts.map((part) => part.scan.status.offset);
    const key = `${parts.map((part, i) => `${part.hash}@${offsets[i]}`).join('\n')}\ntotals\n${spec}`;
    const cacheable = offsets.every((offset) => offset !== null);
    let reply = cacheable
      ? (ctx.partitionCache.get(key) as Awaited<ReturnType<typeof call>> | undefined)
      : undefined;
    if (!reply) {
      reply = await call(
        parts.map((part) => part.hash),
        'count',
      );
      if (cacheable) ctx.partitionCache.set(key, reply, reply.length);
    }
    if (Number(reply[0]) < 0) return undefined;
    return { partials: reply.slice(2) as unknown[][], distinct: reply[1].map(Number) };
  }
  const replies = await Promise.all(
    parts.map((part) => ctx.partitionRead(part, `totals\n${spec}`, () => call([part.hash], 'raw'))),
  );
  if (replies.some((reply) => Number(reply[0]) < 0)) return undefined;
  return { partials: replies.flatMap((reply) => reply.slice(2) as unknown[][]) };
}

const text = (x: unknown): string | null =>
  x == null || x === false ? null : Buffer.isBuffer(x) ? x.toString() : String(x);

/**
 * Folds the parts' totals partials into one group, in part order (as mergeRollup folds queryRollup
 * partials); distinct counts that Redis counted are set as they are.
 */
export function mergeTotals(aggregates: Aggregates, group: GroupAcc, totals: TotalsRead): void {
  for (const partial of totals.partials) {
    aggregates.shapes.forEach((shape, i) => {
      const acc = group[i]!;
      const value = partial[i];
      const kind = kindOf(shape);
      if (kind.form.type === 'fields') kind.mergeFields!(acc, (value as Buffer[]).map(text));
      else if (kind.form.sketch === 'hll') mergeHll(acc, Buffer.isBuffer(value) ? value : null);
      else if (kind.form.sketch === 'dd') {
        const flat = text(value);
        if (flat) kind.mergeFlat!(acc, flat.split(','));
      } else
        kind.mergeFlat?.(
          acc,
          (value as Buffer[]).map((b) => text(b)!),
        );
    });
  }
  if (!totals.distinct) return;
  let d = 0;
  aggregates.shapes.forEach((shape, i) => {
    const form = kindOf(shape).form;
    if (form.type === 'sketch' && form.sketch === 'hll') group[i]!.distinct = totals.distinct![d++];
  });
}
