import { readHeartbeats } from '../consumer/replica-status.ts';
import type { AggregateShape, WindowShape } from '../runtime/pipeline.ts';
import type { RedisClient } from '../state/connection.ts';
import { keys, partitionPrefix } from '../state/keys.ts';
import { type PipelineRegistration, readRegistration, readRegistrations } from '../state/registry.ts';
import { badRequest, notFound } from './errors.ts';
import { countDistinct } from './hll.ts';
import {
  type AggregateAcc,
  Aggregates,
  type AggregateValue,
  accOf,
  type GroupAcc,
  groupMatcher,
  groupObject,
  mergeBuckets,
  mergeHash,
  mergeHll,
  mergeMembers,
  parseSketchSuffix,
  RANKABLE,
  ROLLUP_KEY,
  valueOf,
  valuesOf,
} from './merge.ts';
import type { Cursor } from './params.ts';

/** The checkpoint of one partition, as the query API reports it. */
export interface PartitionStatus {
  id: string;
  /** false for a partition no replica has committed yet */
  committed: boolean;
  offset: string | null;
  watermark: number | null;
  updatedAt: number | null;
  records: number;
}

export interface PipelineSummary {
  name: string;
  activeVersion: number;
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

/** One window's raw state in one partition. */
interface RawWindow {
  start: number;
  partition: PartitionScan;
  hash: Record<string, string>;
  sketches: string[];
}

/** Windows read per step while filling a page (each one a hash per partition, in one pipeline per partition). */
const WINDOW_CHUNK = 8;

export class QueryStore {
  constructor(readonly redis: RedisClient) {}

  async registration(name: string): Promise<PipelineRegistration> {
    const registration = await readRegistration(this.redis, name);
    if (!registration) throw notFound('unknown_pipeline', `no pipeline named ${JSON.stringify(name)}`);
    return registration;
  }

  async listPipelines(): Promise<PipelineSummary[]> {
    const all = await readRegistrations(this.redis);
    return Promise.all(all.map((r) => this.summary(r)));
  }

  async pipeline(name: string): Promise<PipelineSummary> {
    return this.summary(await this.registration(name));
  }

  async summary(reg: PipelineRegistration): Promise<PipelineSummary> {
    const [statuses, beats] = await Promise.all([
      this.checkpoints(reg),
      readHeartbeats(this.redis, reg.name, reg.activeVersion),
    ]);
    const committed = statuses.filter((s) => s.committed && s.watermark !== null);
    let lag: number | null = null;
    let late: number | null = null;
    let deadLettered: number | null = null;
    for (const beat of beats) {
      for (const value of Object.values(beat.lag ?? {})) lag = (lag ?? 0) + Number(value);
      // Counters a processor may add to its heartbeat (see docs/query-api.md).
      const extra = beat as unknown as { late?: unknown; deadLettered?: unknown };
      if (typeof extra.late === 'number') late = (late ?? 0) + extra.late;
      if (typeof extra.deadLettered === 'number') deadLettered = (deadLettered ?? 0) + extra.deadLettered;
    }
    const updated = statuses.map((s) => s.updatedAt ?? 0);
    return {
      name: reg.name,
      activeVersion: reg.activeVersion,
      topics: reg.topics,
      window: reg.window,
      groupBy: reg.groupBy,
      aggregates: reg.aggregates,
      retentionMs: reg.retentionMs,
      watermark: committed.length > 0 ? Math.min(...committed.map((s) => s.watermark!)) : null,
      lag,
      replicas: beats.length,
      recordsPerSecond: beats.reduce((sum, b) => sum + (b.recordsPerSecond ?? 0), 0),
      records: statuses.reduce((sum, s) => sum + s.records, 0),
      late,
      deadLettered,
      updatedAt: updated.length > 0 && Math.max(...updated) > 0 ? Math.max(...updated) : null,
      partitions: statuses,
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
    const reg = await this.registration(name);
    const aggregates = new Aggregates(reg.aggregates);
    const matches = groupMatcher(reg.groupBy, checkFilters(reg, query.filters));
    const scans = await this.scan(reg, { from: query.from, to: query.to });
    const asc = query.order === 'asc';
    let starts = unionStarts(scans).sort((a, b) => (asc ? a - b : b - a));
    const cursor = query.cursor;
    if (cursor) {
      starts = starts.filter(
        (s) => (asc ? s > cursor.s : s < cursor.s) || (s === cursor.s && cursor.g !== null),
      );
    }

    interface Picked {
      start: number;
      groups: Map<string, GroupAcc>;
      raws: RawWindow[];
      keys: string[];
      groupCount: number;
    }
    const page: Picked[] = [];
    let remaining = query.limit;
    let nextCursor: Cursor | null = null;
    let lastIncluded = -1;
    outer: for (let i = 0; i < starts.length && remaining > 0; i += WINDOW_CHUNK) {
      const chunk = starts.slice(i, i + WINDOW_CHUNK);
      const contents = await this.readWindows(scans, chunk);
      for (const [k, start] of chunk.entries()) {
        if (remaining === 0) break outer;
        const raws = contents.get(start) ?? [];
        // Which groups the window has (a group with only sketches, e.g. just a countDistinct, has no hash field).
        const seen = new Set<string>();
        const matched = new Set<string>();
        const see = (g: string) => {
          if (seen.has(g)) return;
          seen.add(g);
          if (matches(g)) matched.add(g);
        };
        for (const raw of raws) {
          for (const field in raw.hash) see(field.slice(field.indexOf('|') + 1));
          for (const suffix of raw.sketches) {
            const parsed = parseSketchSuffix(suffix);
            if (parsed) see(parsed.group);
          }
        }
        if (matched.size === 0) continue;
        let groupKeys = query.rollup ? [ROLLUP_KEY] : [...matched].sort();
        if (cursor && start === cursor.s && cursor.g !== null && !query.rollup) {
          const after = cursor.g;
          groupKeys = groupKeys.filter((g) => g > after);
        } else if (cursor && start === cursor.s && query.rollup) {
          continue;
        }
        if (groupKeys.length === 0) continue;
        const take = groupKeys.slice(0, remaining);
        remaining -= take.length;
        const groups = new Map<string, GroupAcc>();
        const onPage = new Set(take);
        const mapGroup = query.rollup
          ? (g: string) => (matched.has(g) ? ROLLUP_KEY : null)
          : (g: string) => (onPage.has(g) ? g : null);
        for (const raw of raws) mergeHash(aggregates, groups, raw.hash, mapGroup);
        page.push({ start, groups, raws, keys: take, groupCount: matched.size });
        lastIncluded = i + k;
        if (take.length < groupKeys.length) {
          nextCursor = { s: start, g: take[take.length - 1]! };
          break outer;
        }
      }
    }
    if (!nextCursor && remaining === 0 && lastIncluded >= 0 && lastIncluded < starts.length - 1) {
      nextCursor = { s: page[page.length - 1]!.start, g: null };
    }

    // Sketches only for the groups on this page (all matching groups for a rollup).
    await this.mergeSketches(
      aggregates,
      page.map((p) => ({
        raws: p.raws,
        groups: p.groups,
        wanted: query.rollup
          ? matches
          : (
              (set) => (g: string) =>
                set.has(g)
            )(new Set(p.keys)),
        mapGroup: query.rollup ? () => ROLLUP_KEY : (g: string) => g,
      })),
    );

    const windows: WindowResult[] = page.map((p) => {
      const end = endOf(reg, scans, p.start);
      return {
        start: p.start,
        end,
        final: isFinal(reg, scans, end),
        groupCount: p.groupCount,
        groups: p.keys.map((key) => ({
          group: groupObject(reg.groupBy, key),
          values: valuesOf(aggregates, p.groups.get(key)),
        })),
      };
    });
    return {
      pipeline: reg.name,
      version: reg.activeVersion,
      windows,
      nextCursor: nextCursor ? Buffer.from(JSON.stringify(nextCursor)).toString('base64url') : null,
    };
  }

  async top(name: string, query: TopQuery): Promise<TopResult> {
    const reg = await this.registration(name);
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
    const matches = groupMatcher(reg.groupBy, checkFilters(reg, query.filters));
    const scans =
      query.window === 'latest'
        ? await this.scan(reg, { latest: true })
        : await this.scan(reg, { from: query.window, to: query.window + 1 });
    const starts = unionStarts(scans);
    const empty: TopResult = {
      pipeline: reg.name,
      version: reg.activeVersion,
      aggregate: query.aggregate,
      window: null,
      groupCount: 0,
      groups: [],
    };
    if (starts.length === 0) {
      if (query.window === 'latest') return empty;
      throw notFound(
        'unknown_window',
        `no window of ${reg.name} starts at ${query.window} (${new Date(query.window).toISOString()})`,
      );
    }
    const start = Math.max(...starts);
    const raws = (await this.readWindows(scans, [start])).get(start) ?? [];
    const groups = new Map<string, GroupAcc>();
    const all = new Set<string>();
    const seen = new Set<string>();
    const see = (g: string) => {
      if (seen.has(g)) return;
      seen.add(g);
      if (matches(g)) all.add(g);
    };
    for (const raw of raws) {
      for (const field in raw.hash) see(field.slice(field.indexOf('|') + 1));
      for (const suffix of raw.sketches) {
        const parsed = parseSketchSuffix(suffix);
        if (parsed) see(parsed.group);
      }
    }
    // Pass 1: only the ranking aggregate, for every matching group.
    for (const raw of raws)
      mergeHash(aggregates, groups, raw.hash, (g) => (all.has(g) ? g : null), query.aggregate);
    const index = known.index;
    const isSketch = known.shape.kind === 'countDistinct' || known.shape.kind === 'percentile';
    if (isSketch) {
      // Ranking by a sketch needs that sketch of every group, and only that one.
      await this.mergeSketches(aggregates, [
        { raws, groups, wanted: matches, mapGroup: (g) => g, only: query.aggregate },
      ]);
    }
    const ranked = [...all]
      .map((key) => ({ key, value: valueOf(known.shape, groups.get(key)?.[index]) as number | null }))
      .filter((r): r is { key: string; value: number } => typeof r.value === 'number')
      .sort((a, b) => b.value - a.value || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, query.limit);
    const topKeys = new Set(ranked.map((r) => r.key));
    // Pass 2: every other aggregate, for the top groups only.
    const rest = new Map<string, GroupAcc>();
    for (const raw of raws) mergeHash(aggregates, rest, raw.hash, (g) => (topKeys.has(g) ? g : null));
    for (const key of topKeys) {
      const ranking = groups.get(key)?.[index];
      const full = rest.get(key) ?? aggregates.newGroup();
      if (ranking) full[index] = ranking;
      groups.set(key, full);
    }
    await this.mergeSketches(aggregates, [
      {
        raws,
        groups,
        wanted: (g) => topKeys.has(g),
        mapGroup: (g) => g,
        except: isSketch ? query.aggregate : undefined,
      },
    ]);
    const end = endOf(reg, scans, start);
    return {
      pipeline: reg.name,
      version: reg.activeVersion,
      aggregate: query.aggregate,
      window: { start, end, final: isFinal(reg, scans, end) },
      groupCount: all.size,
      groups: ranked.map((r, i) => ({
        rank: i + 1,
        group: groupObject(reg.groupBy, r.key),
        value: r.value,
        values: valuesOf(aggregates, groups.get(r.key)),
      })),
    };
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
        const [ckpt, starts, open] = unwrap(await pipeline.exec()) as [
          Record<string, string>,
          string[],
          string[],
        ];
        const ends = new Map<number, number>();
        for (let i = 0; i + 1 < open.length; i += 2) ends.set(Number(open[i]), Number(open[i + 1]));
        return { id, prefix, status: statusOf(id, ckpt), starts: new Set(starts.map(Number)), ends };
      }),
    );
  }

  /** Round trip 2, one pipeline per partition: the hash and the sketch list of each window asked for. */
  private async readWindows(scans: PartitionScan[], starts: number[]): Promise<Map<number, RawWindow[]>> {
    const out = new Map<number, RawWindow[]>(starts.map((s) => [s, []]));
    await Promise.all(
      scans.map(async (scan) => {
        const mine = starts.filter((s) => scan.starts.has(s));
        if (mine.length === 0) return;
        const pipeline = this.redis.pipeline();
        for (const start of mine) {
          const hash = keys.window(scan.prefix, start);
          pipeline.hgetall(hash);
          pipeline.smembers(`${hash}:keys`);
        }
        const replies = unwrap(await pipeline.exec());
        mine.forEach((start, i) => {
          out.get(start)!.push({
            start,
            partition: scan,
            hash: replies[2 * i] as Record<string, string>,
            sketches: replies[2 * i + 1] as string[],
          });
        });
      }),
    );
    return out;
  }

  /**
   * Round trip 3, one pipeline per partition: the DDSketch, topK and HyperLogLog keys of the wanted
   * groups, merged into the groups; then one more for the distinct counts (see hll.ts).
   */
  private async mergeSketches(
    aggregates: Aggregates,
    windows: {
      raws: RawWindow[];
      groups: Map<string, GroupAcc>;
      wanted: (group: string) => boolean;
      mapGroup: (group: string) => string;
      only?: string;
      except?: string;
    }[],
  ): Promise<void> {
    interface Read {
      acc: AggregateAcc;
      type: 'hll' | 'dd' | 'top';
      key: string;
    }
    const perPartition = new Map<string, { scan: PartitionScan; reads: Read[] }>();
    const touched = new Set<AggregateAcc>();
    for (const w of windows) {
      for (const raw of w.raws) {
        for (const suffix of raw.sketches) {
          const parsed = parseSketchSuffix(suffix);
          if (!parsed) continue;
          if (w.only !== undefined && parsed.aggregate !== w.only) continue;
          if (w.except !== undefined && parsed.aggregate === w.except) continue;
          const known = aggregates.byName.get(parsed.aggregate);
          if (!known || !w.wanted(parsed.group)) continue;
          const acc = accOf(aggregates, w.groups, w.mapGroup(parsed.group), known.index);
          let entry = perPartition.get(raw.partition.id);
          if (!entry) {
            entry = { scan: raw.partition, reads: [] };
            perPartition.set(raw.partition.id, entry);
          }
          entry.reads.push({
            acc,
            type: parsed.type,
            key: `${keys.window(raw.partition.prefix, raw.start)}:${suffix}`,
          });
        }
      }
    }
    await Promise.all(
      [...perPartition.values()].map(async ({ reads }) => {
        const pipeline = this.redis.pipeline();
        for (const read of reads) {
          if (read.type === 'dd') pipeline.hgetall(read.key);
          else if (read.type === 'top') pipeline.zrange(read.key, 0, -1, 'WITHSCORES');
          else pipeline.getBuffer(read.key);
        }
        const replies = unwrap(await pipeline.exec());
        reads.forEach((read, i) => {
          const reply = replies[i];
          if (read.type === 'dd') mergeBuckets(read.acc, reply as Record<string, string>);
          else if (read.type === 'top') mergeMembers(read.acc, reply as string[]);
          else {
            mergeHll(read.acc, reply as Buffer | null);
            touched.add(read.acc);
          }
        });
      }),
    );
    const accs = [...touched];
    const counts = await countDistinct(
      this.redis,
      accs.map((a) => a.hll ?? []),
    );
    accs.forEach((acc, i) => {
      acc.distinct = counts[i]!;
      acc.hll = undefined;
    });
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
