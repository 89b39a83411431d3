import { Cluster } from 'ioredis';
import { fieldHead, kindOf } from '../aggregates/kinds.ts';
import type { AggregateShape } from '../model/pipeline.ts';
import type { PipelineRegistration } from '../state/registry.ts';
import { badRequest, notFound } from './errors.ts';
import { globalTop } from './global-top.ts';
import { groupCountOf } from './group-count.ts';
import { groupValues } from './groups.ts';
import { countDistinct } from './hll.ts';
import {
  type AggregateAcc,
  Aggregates,
  type AggregateValue,
  aggregateValueOf,
  filterTexts,
  groupMatcher,
  groupObject,
  RANKABLE,
} from './merge.ts';
import {
  checkFilters,
  endOf,
  filterKeyOf,
  type GroupList,
  isFinal,
  partsOf,
  unionStarts,
  type WindowPart,
  type WindowReadContext,
} from './read-context.ts';
import { queryCommands } from './scripts.ts';
import { indexedTop } from './top-index.ts';
import type { WindowGroup } from './window-pages.ts';

export interface TopQuery {
  aggregate: string;
  window: 'latest' | number;
  limit: number;
  filters: Map<string, string[]>;
  version?: number | undefined;
}

export interface TopResult {
  pipeline: string;
  version: number;
  aggregate: string;
  window: { start: number; end: number; final: boolean } | null;
  groupCount: number;
  groups: (WindowGroup & { rank: number; value: AggregateValue })[];
}

export async function top(ctx: WindowReadContext, name: string, query: TopQuery): Promise<TopResult> {
  const reg = await ctx.registration(name, query.version);
  const aggregates = new Aggregates(reg.aggregates);
  const known = aggregates.byName.get(query.aggregate);
  if (!known) {
    throw badRequest(
      'unknown_aggregate',
      `aggregate: ${JSON.stringify(query.aggregate)} is not an aggregate of ${reg.name} (${reg.aggregates.map((a) => a.name).join(', ')})`,
    );
  }
  if (!RANKABLE.has(known.shape.kind)) {
    throw badRequest(
      'unsupported_aggregate',
      `aggregate: ${query.aggregate} is a ${known.shape.kind}, which has no number to rank groups by`,
    );
  }
  const filters = checkFilters(reg, query.filters);
  const matches = groupMatcher(reg.groupBy, filters);
  const scans =
    query.window === 'latest'
      ? await ctx.scan(reg, { latest: true })
      : await ctx.scan(reg, { from: query.window, to: query.window + 1 });
  const starts = unionStarts(scans);
  if (starts.length === 0) {
    if (query.window === 'latest') {
      return {
        pipeline: reg.name,
        version: reg.activeVersion,
        aggregate: query.aggregate,
        window: null,
        groupCount: 0,
        groups: [],
      };
    }
    throw notFound(
      'unknown_window',
      `no window of ${reg.name} starts at ${query.window} (${new Date(query.window).toISOString()})`,
    );
  }
  const start = Math.max(...starts);
  const end = endOf(reg, scans, start);
  const idle = await ctx.idle(
    reg,
    scans.map((s) => s.status),
  );
  const window = { start, end, final: isFinal(reg, scans, end, idle) };
  const cacheKey = `${reg.name}\n${reg.activeVersion}\n${start}\ntop\n${query.aggregate}\n${query.limit}\n${filterKeyOf(filters)}`;
  if (window.final) {
    const cached = ctx.cache.get(cacheKey) as TopResult | undefined;
    if (cached) return cached;
  }

  // Pass 1: the top groups by the ranking aggregate, from the top-N index when it can answer, else
  // from every (matching) group's partials.
  const present = partsOf(reg, scans, start);
  const pass1 =
    (filters.size === 0 && reg.window.type !== 'session' && reg.window.ranks === true
      ? await fromIndex(ctx, reg, start, present, known.shape, query.limit)
      : undefined) ?? (await scanTop(ctx, present, known.shape, filters, matches, query.limit));
  const { ranked, perPartition, groupCount } = pass1;
  const shape = known.shape;

  // Pass 2: every aggregate of the top groups only.
  const topKeys = ranked.map((r) => r.key);
  const list: GroupList = { sorted: topKeys, perPartition };
  const values = await groupValues(
    ctx,
    { reg, aggregates, scans, filters, filterKey: filterKeyOf(filters), matches },
    window,
    list,
    topKeys,
    false,
  );
  const result: TopResult = {
    pipeline: reg.name,
    version: reg.activeVersion,
    aggregate: query.aggregate,
    window,
    groupCount,
    groups: ranked.map((r, i) => {
      const v = values.get(r.key)!;
      v[shape.name] = r.value;
      return { rank: i + 1, group: groupObject(reg.groupBy, r.key), value: r.value, values: v };
    }),
  };
  if (window.final) ctx.cache.set(cacheKey, result, 1 + ranked.length);
  return result;
}

interface TopPass {
  ranked: { key: string; value: number }[];
  /** per part (WindowPart id), the groups to read there */
  perPartition: Map<string, string[]>;
  groupCount: number;
}

/** Top groups from the top-N index and the group count from the parts' group sets (undefined: not indexed). */
async function fromIndex(
  ctx: WindowReadContext,
  reg: PipelineRegistration,
  start: number,
  present: WindowPart[],
  shape: AggregateShape,
  limit: number,
): Promise<TopPass | undefined> {
  // On one Redis node, a window-level index when there is one and it is whole (global-top.ts).
  const indexed =
    (!(ctx.redis instanceof Cluster)
      ? await globalTop(ctx.redis, reg, start, present, shape, limit)
      : undefined) ?? (await indexedTop(ctx, present, shape, limit));
  if (!indexed) return undefined;
  return {
    ranked: indexed.top.map((e) => ({ key: e.member, value: e.value })),
    perPartition: indexed.perPartition,
    groupCount: await groupCountOf(ctx.redis, reg, start, present),
  };
}

/** Top groups from every (matching) group's partials of the ranking aggregate. */
async function scanTop(
  ctx: WindowReadContext,
  present: WindowPart[],
  shape: AggregateShape,
  filters: Map<string, string[]>,
  matches: (group: string) => boolean,
  limit: number,
): Promise<TopPass> {
  // Inside Redis: the ranking aggregate's partial of every (candidate) group, per partition.
  const texts = filterTexts(filters);
  const perPartition = new Map<string, string[]>();
  const accs = new Map<string, AggregateAcc>();
  const accFor = (g: string) => {
    let acc = accs.get(g);
    if (!acc) {
      acc = {};
      accs.set(g, acc);
    }
    return acc;
  };
  const commands = queryCommands(ctx.redis);
  // Each reply is [group, partial, ...] of one of the kind's field parts (or of its sketch).
  const kind = kindOf(shape);
  const form = kind.form;
  const replies = await Promise.all(
    present.map(async (part) => {
      const hash = part.hash;
      const groups = (mode: 'h' | 's', prefix: string, extra: string) =>
        ctx.partitionRead(part, `groups\n${mode}\n${prefix}\n${texts}\n${extra}`, () =>
          commands.queryGroups(hash, mode, prefix, texts, extra),
        );
      if (form.type === 'fields')
        return Promise.all(form.parts.map((part) => groups('h', fieldHead(shape.name, part), 'v')));
      const suffix = `${form.sketch}:${shape.name}|`;
      return [await groups('s', suffix, kind.mergeFlat ? `k:${suffix}` : '')];
    }),
  );
  const hllParts: { part: WindowPart; groups: string[] }[] = [];
  present.forEach((part, p) => {
    const perPart = replies[p]! as unknown[][];
    const groups = new Set<string>();
    if (form.type === 'sketch' && form.sketch === 'hll') {
      for (const g of perPart[0] as string[]) if (matches(g)) groups.add(g);
      hllParts.push({ part, groups: [...groups] });
    } else {
      const width = perPart.length;
      perPart.forEach((reply, k) => {
        for (let i = 0; i + 1 < reply.length; i += 2) {
          const g = reply[i] as string;
          if (!matches(g)) continue;
          if (k === 0) groups.add(g);
          if (form.type === 'fields') {
            const values: (string | null)[] = new Array(width).fill(null);
            values[k] = reply[i + 1] as string;
            kind.mergeFields!(accFor(g), values);
          } else kind.mergeFlat!(accFor(g), reply[i + 1] as string[]);
        }
      });
    }
    perPartition.set(part.id, [...groups]);
  });
  if (form.type === 'sketch' && form.sketch === 'hll') {
    // Exact: every group's HyperLogLogs of all partitions, counted together.
    const raws = new Map<string, Buffer[]>();
    const got = await Promise.all(
      hllParts.map(({ part, groups }) =>
        groups.length === 0
          ? Promise.resolve([] as (Buffer | null)[])
          : commands.queryHllBuffer(part.hash, JSON.stringify([shape.name]), ...groups),
      ),
    );
    hllParts.forEach(({ groups }, p) => {
      groups.forEach((g, i) => {
        let list = raws.get(g);
        if (!list) {
          list = [];
          raws.set(g, list);
        }
        // the sketch key's and the packed field's (queryHll gives both)
        for (const raw of [got[p]![2 * i], got[p]![2 * i + 1]]) if (raw && raw.length > 0) list.push(raw);
      });
    });
    const names = [...raws.keys()];
    const counts = await countDistinct(ctx.redis, [...raws.values()]);
    names.forEach((g, i) => {
      accFor(g).distinct = counts[i]!;
    });
  }
  const ranked = [...accs.entries()]
    .map(([key, acc]) => ({ key, value: aggregateValueOf(shape, acc) as number | null }))
    .filter((r): r is { key: string; value: number } => typeof r.value === 'number')
    .sort((a, b) => b.value - a.value || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .slice(0, limit);

  return { ranked, perPartition, groupCount: accs.size };
}
