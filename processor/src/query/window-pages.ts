import { groupList, groupValues } from './groups.ts';
import { Aggregates, type AggregateValue, groupMatcher, groupObject } from './merge.ts';
import type { Cursor } from './params.ts';
import type { WindowSelection } from './read-context.ts';
import {
  checkFilters,
  endOf,
  filterKeyOf,
  isFinal,
  unionStarts,
  type WindowReadContext,
} from './read-context.ts';
import { rollup } from './rollups.ts';

export interface WindowGroup {
  group: Record<string, unknown>;
  values: Record<string, AggregateValue>;
}

export interface WindowResult {
  start: number;
  end: number;
  final: boolean;
  /** groups of this window matching the filter (all pages together) */
  groupCount: number;
  groups: WindowGroup[];
}

export interface WindowsQuery {
  from?: number;
  to?: number;
  filters: Map<string, string[]>;
  limit: number;
  cursor?: Cursor;
  order: 'asc' | 'desc';
  rollup: boolean;
  /** a live version other than the active one (query/versions.ts) */
  version?: number | undefined;
}

export interface WindowsPage {
  pipeline: string;
  version: number;
  windows: WindowResult[];
  nextCursor: string | null;
}

/** Windows read per step while filling a page. */
const WINDOW_CHUNK = 8;

export async function windows(
  ctx: WindowReadContext,
  name: string,
  query: WindowsQuery,
): Promise<WindowsPage> {
  const reg = await ctx.registration(name, query.version);
  const aggregates = new Aggregates(reg.aggregates);
  const filters = checkFilters(reg, query.filters);
  const matches = groupMatcher(reg.groupBy, filters);
  const filterKey = filterKeyOf(filters);
  const scans = await ctx.scan(reg, { from: query.from, to: query.to });
  const selection: WindowSelection = {
    reg,
    aggregates,
    scans,
    filters,
    filterKey,
    matches,
    shared: new Map(),
  };
  const idle = await ctx.idle(
    reg,
    scans.map((s) => s.status),
  );
  const asc = query.order === 'asc';
  let starts = unionStarts(scans).sort((a, b) => (asc ? a - b : b - a));
  const cursor = query.cursor;
  if (cursor) {
    starts = starts.filter(
      (s) => (asc ? s > cursor.s : s < cursor.s) || (s === cursor.s && cursor.g !== null),
    );
  }
  if (query.rollup && cursor) starts = starts.filter((s) => s !== cursor.s);

  const page: WindowResult[] = [];
  let remaining = query.limit;
  let nextCursor: Cursor | null = null;
  let lastIncluded = -1;
  const windowOf = (start: number) => {
    const end = endOf(reg, scans, start);
    return { start, end, final: isFinal(reg, scans, end, idle) };
  };
  for (let i = 0, n = 0; i < starts.length && remaining > 0; i += n) {
    // A rollup takes one row per window: no more windows than rows left.
    n = query.rollup ? Math.min(WINDOW_CHUNK, remaining) : WINDOW_CHUNK;
    const chunk = starts.slice(i, i + n).map(windowOf);
    if (query.rollup) {
      // One partial per partition and window, computed inside Redis.
      const rollups = await Promise.all(chunk.map((w) => rollup(ctx, selection, w)));
      for (const [k, w] of chunk.entries()) {
        const r = rollups[k]!;
        if (r.groupCount === 0) continue;
        page.push({ ...w, groupCount: r.groupCount, groups: [{ group: {}, values: r.values }] });
        remaining--;
        lastIncluded = i + k;
      }
      continue;
    }
    const lists = await Promise.all(chunk.map((w) => groupList(ctx, selection, w)));
    // Which groups of which windows the page takes, then their values read together (one round
    // trip for the chunk, not one per window: the slices they share are read once, sharedRead).
    const taken: { k: number; take: string[] }[] = [];
    for (const [k, w] of chunk.entries()) {
      if (remaining === 0) break;
      const list = lists[k]!;
      if (list.sorted.length === 0) continue;
      let groupKeys = list.sorted;
      if (cursor && w.start === cursor.s && cursor.g !== null) {
        const after = cursor.g;
        groupKeys = groupKeys.slice(upperBound(groupKeys, after));
      }
      if (groupKeys.length === 0) continue;
      const take = groupKeys.slice(0, remaining);
      remaining -= take.length;
      taken.push({ k, take });
      lastIncluded = i + k;
      if (take.length < groupKeys.length) {
        nextCursor = { s: w.start, g: take[take.length - 1]! };
        break;
      }
    }
    const values = await Promise.all(
      taken.map(({ k, take }) => groupValues(ctx, selection, chunk[k]!, lists[k]!, take)),
    );
    for (const [t, { k, take }] of taken.entries()) {
      page.push({
        ...chunk[k]!,
        groupCount: lists[k]!.sorted.length,
        groups: take.map((key) => ({ group: groupObject(reg.groupBy, key), values: values[t]!.get(key)! })),
      });
    }
    if (nextCursor) break;
  }
  if (!nextCursor && remaining === 0 && lastIncluded >= 0 && lastIncluded < starts.length - 1) {
    nextCursor = { s: page[page.length - 1]!.start, g: null };
  }
  return {
    pipeline: reg.name,
    version: reg.activeVersion,
    windows: page,
    nextCursor: nextCursor ? Buffer.from(JSON.stringify(nextCursor)).toString('base64url') : null,
  };
}

/** The first index whose key sorts after `after` (keys sorted in code-unit order). */
function upperBound(sorted: readonly string[], after: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
