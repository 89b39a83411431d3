import { randomBytes } from 'node:crypto';
import type { AggregateShape, WindowShape } from '../model/pipeline.ts';
import type { RedisClient } from '../state/connection.ts';
import { keys, partitionPrefix } from '../state/keys.ts';
import { type PipelineRegistration, readRegistrations } from '../state/registry.ts';
import { readHeartbeats } from '../state/replica-status.ts';
import { pendingRegistration } from '../state/versions.ts';
import { BoundedCache } from './cache.ts';
import { badRequest, notFound } from './errors.ts';
import { countDistinct } from './hll.ts';
import {
  type AggregateAcc,
  Aggregates,
  type AggregateValue,
  aggregateValueOf,
  exactGroupKeys,
  filterTexts,
  type GroupAcc,
  groupMatcher,
  groupObject,
  mergeFlatBuckets,
  mergeHll,
  mergeRollup,
  mergeRow,
  probeOf,
  RANKABLE,
  rowSpecOf,
  valuesOf,
} from './merge.ts';
import type { Cursor } from './params.ts';
import { queryCommands } from './scripts.ts';
import { type LiveVersion, liveVersions, registrationOf } from './versions.ts';

/** The checkpoint of one partition, as the query API reports it. */
export interface PartitionStatus {
  id: string;
  /** false for a partition no replica has committed yet */
  committed: boolean;
  offset: string | null;
  watermark: number | null;
  updatedAt: number | null;
  records: number;
  /** records of this partition that were late, and that went to the dead-letter topic (from the checkpoint) */
  late: number;
  deadLettered: number;
}

export interface PipelineSummary {
  name: string;
  activeVersion: number;
  /** a newer version replaying the log (Kappa reprocessing), or activeVersion when none is */
  latestVersion: number;
  topics: string[];
  window: WindowShape;
  groupBy: string[];
  aggregates: AggregateShape[];
  retentionMs: number;
  /** the lowest watermark of the committed partitions: every window ending (plus grace) before it is final */
  watermark: number | null;
  /** records behind the end of the topic, summed over live replicas' heartbeats (null: no replica) */
  lag: number | null;
  replicas: number;
  recordsPerSecond: number;
  /** records folded into the active version since it started */
  records: number;
  /** counters the processors may report in their heartbeats (null when none does) */
  late: number | null;
  deadLettered: number | null;
  updatedAt: number | null;
  partitions: PartitionStatus[];
  versions: LiveVersion[];
}

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

/** The first reading of every partition: its checkpoint, the window starts asked for, and its open windows. */
interface PartitionScan {
  id: string;
  prefix: string;
  status: PartitionStatus;
  starts: Set<number>;
  ends: Map<number, number>;
}

/** The groups of one window: all of them sorted, and each partition's. */
interface GroupList {
  sorted: string[];
  perPartition: Map<string, string[]>;
}

/** Windows read per step while filling a page. */
const WINDOW_CHUNK = 8;
/** Groups per queryRows call. */
const ROW_SLICE = 500;
/** Merged results of final windows kept in memory, in group entries (a result counts its groups). */
const CACHE_WEIGHT = 200_000;

export class QueryStore {
  /** Answers for final windows (closed on every partition: they never change again). */
  readonly cache: BoundedCache;
  private readonly lagOf: ((reg: PipelineRegistration) => Promise<number | null>) | undefined;
  /**
   * One partition's script replies about one window, keyed by that partition's checkpoint offset:
   * every change to a partition's state comes with a new offset (commitBatch writes both in one
   * step), so a reply read at an offset holds for as long as the offset has not moved.
   */
  readonly partitionCache: BoundedCache;

  constructor(
    readonly redis: RedisClient,
    options: { cache?: boolean; lag?: (reg: PipelineRegistration) => Promise<number | null> } = {},
  ) {
    this.lagOf = options.lag;
    const weight = options.cache === false ? 0 : CACHE_WEIGHT;
    this.cache = new BoundedCache(weight);
    this.partitionCache = new BoundedCache(weight);
  }

  /** A per-partition read through partitionCache (not cached before the partition's first commit). */
  private async partitionRead<T extends unknown[]>(
    scan: PartitionScan,
    start: number,
    args: string,
    read: () => Promise<T>,
  ): Promise<T> {
    const offset = scan.status.offset;
    if (offset === null) return read();
    const key = `${scan.prefix}\n${start}\n${offset}\n${args}`;
    const cached = this.partitionCache.get(key) as T | undefined;
    if (cached) return cached;
    const value = await read();
    this.partitionCache.set(key, value, 1 + value.length);
    return value;
  }

  async registration(name: string, version?: number): Promise<PipelineRegistration> {
    return registrationOf(this.redis, name, version);
  }

  async listPipelines(): Promise<PipelineSummary[]> {
    const all = await readRegistrations(this.redis);
    return Promise.all(all.map((r) => this.summary(r)));
  }

  async pipeline(name: string): Promise<PipelineSummary> {
    return this.summary(await this.registration(name));
  }

  async summary(reg: PipelineRegistration): Promise<PipelineSummary> {
    const [statuses, beats, pending] = await Promise.all([
      this.checkpoints(reg),
      readHeartbeats(this.redis, reg.name, reg.activeVersion),
      pendingRegistration(this.redis, reg.name),
    ]);
    const committed = statuses.filter((s) => s.committed && s.watermark !== null);
    // Kafka end offsets minus Redis checkpoints (state/lag.ts); null without Kafka access or on error.
    const lag = this.lagOf ? await this.lagOf(reg).catch(() => null) : null;
    // Counted by the commit script in each partition's checkpoint: exact, and they survive restarts.
    const late = committed.length > 0 ? statuses.reduce((sum, s) => sum + s.late, 0) : null;
    const deadLettered = committed.length > 0 ? statuses.reduce((sum, s) => sum + s.deadLettered, 0) : null;
    const updated = statuses.map((s) => s.updatedAt ?? 0);
    const watermark = committed.length > 0 ? Math.min(...committed.map((s) => s.watermark!)) : null;
    const records = statuses.reduce((sum, s) => sum + s.records, 0);
    const replaying =
      pending && pending.activeVersion > reg.activeVersion
        ? { version: pending.activeVersion, statuses: await this.checkpoints(pending) }
        : null;
    return {
      name: reg.name,
      activeVersion: reg.activeVersion,
      latestVersion: Math.max(reg.activeVersion, pending?.activeVersion ?? 0),
      topics: reg.topics,
      window: reg.window,
      groupBy: reg.groupBy,
      aggregates: reg.aggregates,
      retentionMs: reg.retentionMs,
      watermark,
      lag,
      replicas: beats.length,
      recordsPerSecond: beats.reduce((sum, b) => sum + (b.recordsPerSecond ?? 0), 0),
      records,
      late,
      deadLettered,
      updatedAt: updated.length > 0 && Math.max(...updated) > 0 ? Math.max(...updated) : null,
      partitions: statuses,
      versions: liveVersions({ version: reg.activeVersion, records, watermark }, replaying),
    };
  }

  /** Every partition's checkpoint: one HGETALL each, sent together. */
  async checkpoints(reg: PipelineRegistration): Promise<PartitionStatus[]> {
    return Promise.all(
      reg.partitions.map(async (id) => {
        const prefix = partitionPrefix(reg.name, reg.activeVersion, id);
        return statusOf(id, await this.redis.hgetall(keys.checkpoint(prefix)));
      }),
    );
  }

  async windows(name: string, query: WindowsQuery): Promise<WindowsPage> {
    const reg = await this.registration(name, query.version);
    const aggregates = new Aggregates(reg.aggregates);
    const filters = checkFilters(reg, query.filters);
    const matches = groupMatcher(reg.groupBy, filters);
    const filterKey = filterKeyOf(filters);
    const scans = await this.scan(reg, { from: query.from, to: query.to });
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
      return { start, end, final: isFinal(reg, scans, end) };
    };
    for (let i = 0, n = 0; i < starts.length && remaining > 0; i += n) {
      // A rollup takes one row per window: no more windows than rows left.
      n = query.rollup ? Math.min(WINDOW_CHUNK, remaining) : WINDOW_CHUNK;
      const chunk = starts.slice(i, i + n).map(windowOf);
      if (query.rollup) {
        // One partial per partition and window, computed inside Redis.
        const rollups = await Promise.all(
          chunk.map((w) => this.rollup(reg, aggregates, scans, w, filters, filterKey, matches)),
        );
        for (const [k, w] of chunk.entries()) {
          const r = rollups[k]!;
          if (r.groupCount === 0) continue;
          page.push({ ...w, groupCount: r.groupCount, groups: [{ group: {}, values: r.values }] });
          remaining--;
          lastIncluded = i + k;
        }
        continue;
      }
      const lists = await Promise.all(
        chunk.map((w) => this.groupList(reg, aggregates, scans, w, filters, filterKey, matches)),
      );
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
        const values = await this.groupValues(reg, aggregates, scans, w, list, take);
        page.push({
          ...w,
          groupCount: list.sorted.length,
          groups: take.map((key) => ({ group: groupObject(reg.groupBy, key), values: values.get(key)! })),
        });
        lastIncluded = i + k;
        if (take.length < groupKeys.length) {
          nextCursor = { s: w.start, g: take[take.length - 1]! };
          break;
        }
      }
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

  async top(name: string, query: TopQuery): Promise<TopResult> {
    const reg = await this.registration(name, query.version);
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
        ? await this.scan(reg, { latest: true })
        : await this.scan(reg, { from: query.window, to: query.window + 1 });
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
    const window = { start, end, final: isFinal(reg, scans, end) };
    const cacheKey = `${reg.name}\n${reg.activeVersion}\n${start}\ntop\n${query.aggregate}\n${query.limit}\n${filterKeyOf(filters)}`;
    if (window.final) {
      const cached = this.cache.get(cacheKey) as TopResult | undefined;
      if (cached) return cached;
    }

    // Pass 1, inside Redis: the ranking aggregate's partial of every (candidate) group, per partition.
    const shape = known.shape;
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
    const commands = queryCommands(this.redis);
    const present = scans.filter((scan) => scan.starts.has(start));
    const replies = await Promise.all(
      present.map(async (scan) => {
        const hash = keys.window(scan.prefix, start);
        const groups = (mode: 'h' | 's', prefix: string, extra: string) =>
          this.partitionRead(scan, start, `groups\n${mode}\n${prefix}\n${texts}\n${extra}`, () =>
            commands.queryGroups(hash, mode, prefix, texts, extra),
          );
        if (shape.kind === 'avg')
          return Promise.all([groups('h', `${shape.name}#s|`, 'v'), groups('h', `${shape.name}#n|`, 'v')]);
        if (shape.kind === 'percentile')
          return [await groups('s', `dd:${shape.name}|`, `k:dd:${shape.name}|`)];
        if (shape.kind === 'countDistinct') return [await groups('s', `hll:${shape.name}|`, '')];
        return [await groups('h', `${shape.name}|`, 'v')];
      }),
    );
    const hllParts: { scan: PartitionScan; groups: string[] }[] = [];
    present.forEach((scan, p) => {
      const [first, second] = replies[p]! as [unknown[], unknown[] | undefined];
      const groups: string[] = [];
      if (shape.kind === 'countDistinct') {
        for (const g of first as string[]) if (matches(g)) groups.push(g);
        hllParts.push({ scan, groups });
      } else {
        for (let i = 0; i + 1 < first.length; i += 2) {
          const g = first[i] as string;
          if (!matches(g)) continue;
          groups.push(g);
          const acc = accFor(g);
          const raw = first[i + 1];
          switch (shape.kind) {
            case 'count':
            case 'sum':
              acc.num = (acc.num ?? 0) + Number(raw);
              break;
            case 'min':
            case 'max': {
              const x = Number(raw);
              if (acc.num === undefined || (shape.kind === 'min' ? x < acc.num : x > acc.num)) acc.num = x;
              break;
            }
            case 'avg':
              acc.s = (acc.s ?? 0) + Number(raw);
              break;
            case 'percentile':
              mergeFlatBuckets(acc, raw as string[]);
              break;
          }
        }
        if (second) {
          for (let i = 0; i + 1 < second.length; i += 2) {
            const g = second[i] as string;
            if (matches(g)) accFor(g).n = (accFor(g).n ?? 0) + Number(second[i + 1]);
          }
        }
      }
      perPartition.set(scan.id, groups);
    });
    if (shape.kind === 'countDistinct') {
      // Exact: every group's HyperLogLogs of all partitions, counted together.
      const raws = new Map<string, Buffer[]>();
      const got = await Promise.all(
        hllParts.map(({ scan, groups }) =>
          groups.length === 0
            ? Promise.resolve([] as (Buffer | null)[])
            : commands.queryHllBuffer(
                keys.window(scan.prefix, start),
                JSON.stringify([shape.name]),
                ...groups,
              ),
        ),
      );
      hllParts.forEach(({ groups }, p) => {
        groups.forEach((g, i) => {
          let list = raws.get(g);
          if (!list) {
            list = [];
            raws.set(g, list);
          }
          const raw = got[p]![i];
          if (raw && raw.length > 0) list.push(raw);
        });
      });
      const names = [...raws.keys()];
      const counts = await countDistinct(this.redis, [...raws.values()]);
      names.forEach((g, i) => {
        accFor(g).distinct = counts[i]!;
      });
    }
    const ranked = [...accs.entries()]
      .map(([key, acc]) => ({ key, value: aggregateValueOf(shape, acc) as number | null }))
      .filter((r): r is { key: string; value: number } => typeof r.value === 'number')
      .sort((a, b) => b.value - a.value || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, query.limit);

    // Pass 2: every aggregate of the top groups only.
    const topKeys = ranked.map((r) => r.key);
    const list: GroupList = { sorted: topKeys, perPartition };
    const values = await this.groupValues(reg, aggregates, scans, window, list, topKeys, false);
    const result: TopResult = {
      pipeline: reg.name,
      version: reg.activeVersion,
      aggregate: query.aggregate,
      window,
      groupCount: accs.size,
      groups: ranked.map((r, i) => {
        const v = values.get(r.key)!;
        v[shape.name] = r.value;
        return { rank: i + 1, group: groupObject(reg.groupBy, r.key), value: r.value, values: v };
      }),
    };
    if (window.final) this.cache.set(cacheKey, result, 1 + ranked.length);
    return result;
  }

  /**
   * The (matching) groups of one window, sorted: one queryGroups call per partition, which sends
   * back only group keys (only candidates for the filter, when it can tell). Final windows' lists
   * are cached.
   */
  private async groupList(
    reg: PipelineRegistration,
    aggregates: Aggregates,
    scans: PartitionScan[],
    w: { start: number; final: boolean },
    filters: Map<string, string[]>,
    filterKey: string,
    matches: (group: string) => boolean,
  ): Promise<GroupList> {
    const cacheKey = `${reg.name}\n${reg.activeVersion}\n${w.start}\ngroups\n${filterKey}`;
    if (w.final) {
      const cached = this.cache.get(cacheKey) as GroupList | undefined;
      if (cached) return cached;
    }
    const probe = probeOf(aggregates.shapes);
    const texts = filterTexts(filters);
    const commands = queryCommands(this.redis);
    const present = scans.filter((scan) => scan.starts.has(w.start));
    const exact = exactGroupKeys(reg.groupBy, filters);
    const replies = await Promise.all(
      present.map((scan) =>
        exact
          ? this.partitionRead(scan, w.start, `exact\n${probe.mode}\n${probe.prefix}\n${filterKey}\n`, () =>
              this.presentGroups(keys.window(scan.prefix, w.start), probe, exact),
            )
          : this.partitionRead(scan, w.start, `groups\n${probe.mode}\n${probe.prefix}\n${texts}\n`, () =>
              commands.queryGroups(keys.window(scan.prefix, w.start), probe.mode, probe.prefix, texts, ''),
            ),
      ),
    );
    const perPartition = new Map<string, string[]>();
    const all = new Set<string>();
    present.forEach((scan, p) => {
      const reply = replies[p]! as string[];
      const groups = filters.size === 0 ? reply : reply.filter(matches);
      perPartition.set(scan.id, groups);
      for (const g of groups) all.add(g);
    });
    // Plain code-unit order, as Array.prototype.sort: the cursor compares group keys the same way.
    const list: GroupList = { sorted: [...all].sort(), perPartition };
    if (w.final) this.cache.set(cacheKey, list, 1 + all.size);
    return list;
  }

  /** Which of the given group keys the window holds: one HMGET (or SMISMEMBER of the sketch index). */
  private async presentGroups(
    hash: string,
    probe: { mode: 'h' | 's'; prefix: string },
    groups: readonly string[],
  ): Promise<string[]> {
    const members = groups.map((g) => `${probe.prefix}${g}`);
    const found =
      probe.mode === 'h'
        ? (await this.redis.hmget(hash, ...members)).map((v) => v !== null)
        : (await this.redis.smismember(`${hash}:keys`, ...members)).map((v) => v === 1);
    return groups.filter((_, i) => found[i]);
  }

  /**
   * Every aggregate of the given groups of one window: one queryRows call (hash fields, DDSketches,
   * topKs) and, with countDistinct aggregates, one queryHll call per partition, each holding only
   * the groups that partition has; then the distinct counts in one more call. Final windows' values
   * are cached per group.
   */
  private async groupValues(
    reg: PipelineRegistration,
    aggregates: Aggregates,
    scans: PartitionScan[],
    w: { start: number; final: boolean },
    list: GroupList,
    wanted: string[],
    useCache = true,
  ): Promise<Map<string, Record<string, AggregateValue>>> {
    const out = new Map<string, Record<string, AggregateValue>>();
    const cacheKey = (g: string) => `${reg.name}\n${reg.activeVersion}\n${w.start}\nvalues\n${g}`;
    let missing = wanted;
    if (w.final && useCache) {
      missing = [];
      for (const g of wanted) {
        const cached = this.cache.get(cacheKey(g)) as Record<string, AggregateValue> | undefined;
        if (cached) out.set(g, { ...cached });
        else missing.push(g);
      }
    }
    if (missing.length === 0) return out;
    const spec = rowSpecOf(aggregates.shapes);
    const commands = queryCommands(this.redis);
    const missingSet = new Set(missing);
    const groups = new Map<string, GroupAcc>(missing.map((g) => [g, aggregates.newGroup()]));
    const present = scans.filter((scan) => list.perPartition.has(scan.id));
    const reads = await Promise.all(
      present.map(async (scan) => {
        const mine = list.perPartition.get(scan.id)!.filter((g) => missingSet.has(g));
        if (mine.length === 0) return null;
        const hash = keys.window(scan.prefix, w.start);
        const calls: Promise<unknown>[] = [];
        // Slices keep each script call short (Redis runs one at a time).
        for (let i = 0; i < mine.length; i += ROW_SLICE) {
          const slice = mine.slice(i, i + ROW_SLICE);
          calls.push(commands.queryRows(hash, spec.json, ...slice));
          if (spec.hll.length > 0)
            calls.push(commands.queryHllBuffer(hash, JSON.stringify(spec.hll), ...slice));
        }
        return { mine, replies: await Promise.all(calls) };
      }),
    );
    const hllAccs: AggregateAcc[] = [];
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
              mergeHll(acc, raws[r * spec.hll.length + h] ?? null);
            });
          }
        });
      });
    }
    if (spec.hll.length > 0) {
      for (const group of groups.values())
        for (const name of spec.hll) hllAccs.push(group[aggregates.byName.get(name)!.index]!);
      const counts = await countDistinct(
        this.redis,
        hllAccs.map((a) => a.hll ?? []),
      );
      hllAccs.forEach((acc, i) => {
        acc.distinct = counts[i]!;
        acc.hll = undefined;
      });
    }
    for (const [g, group] of groups) {
      const values = valuesOf(aggregates, group);
      out.set(g, values);
      if (w.final) this.cache.set(cacheKey(g), { ...values }, 1);
    }
    return out;
  }

  /**
   * A rollup of one window: one queryRollup call per partition computes that partition's partial
   * inside Redis (over every group, or over the matching ones), then the partials merge here.
   */
  private async rollup(
    reg: PipelineRegistration,
    aggregates: Aggregates,
    scans: PartitionScan[],
    w: { start: number; final: boolean },
    filters: Map<string, string[]>,
    filterKey: string,
    matches: (group: string) => boolean,
  ): Promise<{ groupCount: number; values: Record<string, AggregateValue> }> {
    const cacheKey = `${reg.name}\n${reg.activeVersion}\n${w.start}\nrollup\n${filterKey}`;
    if (w.final) {
      const cached = this.cache.get(cacheKey) as
        | { groupCount: number; values: Record<string, AggregateValue> }
        | undefined;
      if (cached) return cached;
    }
    const spec = JSON.stringify(aggregates.shapes.map((s) => ({ k: s.kind, n: s.name })));
    const commands = queryCommands(this.redis);
    const nonce = randomBytes(6).toString('hex');
    const group = aggregates.newGroup();
    let groupCount: number;
    if (filters.size === 0) {
      const probe = probeOf(aggregates.shapes);
      const present = scans.filter((scan) => scan.starts.has(w.start));
      const replies = await Promise.all(
        present.map((scan) =>
          this.partitionRead(scan, w.start, `rollup\n${spec}`, () =>
            commands.queryRollupBuffer(
              keys.window(scan.prefix, w.start),
              spec,
              nonce,
              'all',
              probe.mode,
              probe.prefix,
            ),
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
      const list = await this.groupList(reg, aggregates, scans, w, filters, filterKey, matches);
      groupCount = list.sorted.length;
      const present = scans.filter((scan) => (list.perPartition.get(scan.id)?.length ?? 0) > 0);
      const replies = await Promise.all(
        present.map((scan) =>
          commands.queryRollupBuffer(
            keys.window(scan.prefix, w.start),
            spec,
            nonce,
            'list',
            ...list.perPartition.get(scan.id)!,
          ),
        ),
      );
      for (const reply of replies) mergeRollup(aggregates, group, reply);
    }
    const hll = group.filter((acc) => acc.hll !== undefined);
    const counts = await countDistinct(
      this.redis,
      hll.map((acc) => acc.hll!),
    );
    hll.forEach((acc, i) => {
      acc.distinct = counts[i]!;
      acc.hll = undefined;
    });
    const result = { groupCount, values: valuesOf(aggregates, groupCount > 0 ? group : undefined) };
    if (w.final) this.cache.set(cacheKey, result, 1);
    return result;
  }

  /**
   * Round trip 1, one pipeline per partition: the checkpoint, the window starts in range (or the
   * latest one) and the open windows with their ends.
   */
  private async scan(
    reg: PipelineRegistration,
    range: { from?: number; to?: number; latest?: boolean },
  ): Promise<PartitionScan[]> {
    return Promise.all(
      reg.partitions.map(async (id) => {
        const prefix = partitionPrefix(reg.name, reg.activeVersion, id);
        const pipeline = this.redis.pipeline();
        pipeline.hgetall(keys.checkpoint(prefix));
        if (range.latest) pipeline.zrange(keys.windows(prefix), -1, -1);
        else
          pipeline.zrangebyscore(
            keys.windows(prefix),
            range.from ?? '-inf',
            range.to === undefined ? '+inf' : `(${range.to}`,
          );
        pipeline.zrange(keys.open(prefix), 0, -1, 'WITHSCORES');
        // Session windows have their own ends: kept by the commit script once they close.
        if (reg.window.type === 'session') pipeline.hgetall(keys.ends(prefix));
        const [ckpt, starts, open, closedEnds] = unwrap(await pipeline.exec()) as [
          Record<string, string>,
          string[],
          string[],
          Record<string, string> | undefined,
        ];
        const ends = new Map<number, number>();
        for (const [start, end] of Object.entries(closedEnds ?? {})) ends.set(Number(start), Number(end));
        for (let i = 0; i + 1 < open.length; i += 2) ends.set(Number(open[i]), Number(open[i + 1]));
        return { id, prefix, status: statusOf(id, ckpt), starts: new Set(starts.map(Number)), ends };
      }),
    );
  }
}

function statusOf(id: string, ckpt: Record<string, string>): PartitionStatus {
  const committed = ckpt.offset !== undefined;
  const watermark = ckpt.watermark === undefined ? null : Number(ckpt.watermark);
  return {
    id,
    committed,
    offset: ckpt.offset ?? null,
    // A partition that has seen no event yet stores Number.MIN_SAFE_INTEGER: report it as none.
    watermark: watermark === null || watermark <= Number.MIN_SAFE_INTEGER ? null : watermark,
    updatedAt: ckpt.updatedAt === undefined ? null : Number(ckpt.updatedAt),
    records: ckpt.records === undefined ? 0 : Number(ckpt.records),
    late: ckpt.late === undefined ? 0 : Number(ckpt.late),
    deadLettered: ckpt.deadLettered === undefined ? 0 : Number(ckpt.deadLettered),
  };
}

function unionStarts(scans: PartitionScan[]): number[] {
  const all = new Set<number>();
  for (const scan of scans) for (const s of scan.starts) all.add(s);
  return [...all];
}

function endOf(reg: PipelineRegistration, scans: PartitionScan[], start: number): number {
  for (const scan of scans) {
    const end = scan.ends.get(start);
    if (end !== undefined) return end;
  }
  return start + (reg.window.type === 'session' ? reg.window.gapMs : reg.window.sizeMs);
}

/** Final: closed on every partition that has a checkpoint (its watermark is at or past end + grace). */
export function isFinal(reg: PipelineRegistration, scans: PartitionScan[], end: number): boolean {
  const committed = scans.filter((s) => s.status.committed);
  if (committed.length === 0) return false;
  return committed.every(
    (s) => s.status.watermark !== null && s.status.watermark >= end + reg.window.graceMs,
  );
}

function checkFilters(reg: PipelineRegistration, filters: Map<string, string[]>): Map<string, string[]> {
  for (const name of filters.keys()) {
    if (!reg.groupBy.includes(name)) {
      throw badRequest(
        'unknown_group_field',
        `${JSON.stringify(name)} is not a group field of ${reg.name}` +
          (reg.groupBy.length > 0
            ? ` (group fields: ${reg.groupBy.join(', ')})`
            : ' (it has no group fields)'),
      );
    }
  }
  return filters;
}

function unwrap(replies: [Error | null, unknown][] | null): unknown[] {
  if (!replies) throw new Error('Redis pipeline aborted');
  return replies.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
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

/** The filters as one cache-key string, independent of parameter order. */
function filterKeyOf(filters: Map<string, string[]>): string {
  return JSON.stringify(
    [...filters.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [k, [...new Set(v)].sort()]),
  );
}
