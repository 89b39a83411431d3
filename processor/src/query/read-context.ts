import type { RedisClient } from '../state/connection.ts';
import { keys, partitionPrefix } from '../state/keys.ts';
import type { PipelineRegistration } from '../state/registry.ts';
import { BoundedCache } from './cache.ts';
import { badRequest } from './errors.ts';
import type { Aggregates } from './merge.ts';
import { registrationOf } from './versions.ts';

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
  /** records Redis lost and Kafka no longer held when the owner came to replay them: not in the aggregates */
  unrecoverable: number;
}

/** The first reading of every partition: its checkpoint, the window starts asked for, and its open windows. */
export interface PartitionScan {
  id: string;
  prefix: string;
  status: PartitionStatus;
  starts: Set<number>;
  ends: Map<number, number>;
}

/**
 * One partial state of a window on one partition: the window's own hash, or (hopping windows kept
 * per slice) one of its slices. Parts hold disjoint records, so they merge as partitions do.
 */
export interface WindowPart {
  id: string;
  scan: PartitionScan;
  hash: string;
}

/** The parts of the window starting at `start`, on the partitions that have it. */
export function partsOf(reg: PipelineRegistration, scans: PartitionScan[], start: number): WindowPart[] {
  const window = reg.window;
  const sliceMs = window.type === 'hopping' ? window.sliceMs : undefined;
  const parts: WindowPart[] = [];
  for (const scan of scans) {
    if (!scan.starts.has(start)) continue;
    // Slices first: records in the window's own hash came later (late for an older window), and
    // first/last break ties of event time by arrival, so merging in this order keeps them exact.
    if (sliceMs && window.type === 'hopping')
      for (let t = start; t < start + window.sizeMs; t += sliceMs)
        parts.push({ id: `${scan.id}@${t}`, scan, hash: keys.slice(scan.prefix, t) });
    parts.push({ id: scan.id, scan, hash: keys.window(scan.prefix, start) });
  }
  return parts;
}

/** One query's selection of a pipeline's windows: what each per-window read of it needs. */
export interface WindowSelection {
  reg: PipelineRegistration;
  aggregates: Aggregates;
  scans: PartitionScan[];
  filters: Map<string, string[]>;
  /** the filters as one cache-key string (filterKeyOf) */
  filterKey: string;
  matches: (group: string) => boolean;
  /**
   * This query's per-part reads by Redis key and arguments (sharedRead): a slice of a hopping
   * window is a part of size/advance windows, and a query over several of them reads it once.
   */
  shared?: Map<string, Promise<unknown>>;
}

/**
 * One per-part read of a query, shared by every window of the query that has the part (the
 * partitions' offsets are those of the query's one scan, so the reply holds for all of them).
 */
export function sharedRead<T>(selection: WindowSelection, key: string, read: () => Promise<T>): Promise<T> {
  const shared = selection.shared;
  if (!shared) return read();
  let reply = shared.get(key) as Promise<T> | undefined;
  if (!reply) {
    reply = read();
    shared.set(key, reply);
  }
  return reply;
}

/** The groups of one window: all of them sorted, and each part's (by WindowPart id). */
export interface GroupList {
  sorted: string[];
  perPartition: Map<string, string[]>;
}

/** Merged results of final windows kept in memory, in group entries (a result counts its groups). */
const CACHE_WEIGHT = 200_000;

/**
 * What every query use case reads windows through (status summary, window pages, top-N, rollups):
 * the Redis client, the two caches, the per-partition scan and the cached per-part script reads.
 */
export class WindowReadContext {
  /** Answers for final windows (closed on every partition: they never change again). */
  readonly cache: BoundedCache;
  /**
   * One partition's script replies about one window, keyed by that partition's checkpoint offset:
   * every change to a partition's state comes with a new offset (commitBatch writes both in one
   * step), so a reply read at an offset holds for as long as the offset has not moved.
   */
  readonly partitionCache: BoundedCache;
  /** records behind the end of the topic (Kafka end offsets minus Redis checkpoints), when known */
  readonly lagOf: ((reg: PipelineRegistration) => Promise<number | null>) | undefined;
  private readonly idleOf: IdleLookup | undefined;

  constructor(
    readonly redis: RedisClient,
    options: {
      cache?: boolean;
      lag?: (reg: PipelineRegistration) => Promise<number | null>;
      /** spec.source.idleTimeout: partitions that stopped holding windows open (state/lag.ts) */
      idle?: IdleLookup;
    } = {},
  ) {
    this.lagOf = options.lag;
    this.idleOf = options.idle;
    const weight = options.cache === false ? 0 : CACHE_WEIGHT;
    this.cache = new BoundedCache(weight);
    this.partitionCache = new BoundedCache(weight);
  }

  /** Idle partitions (never all of them: then none is idle); empty without an idleTimeout or Kafka. */
  async idle(reg: PipelineRegistration, statuses: PartitionStatus[]): Promise<Set<string>> {
    return idlePartitions(this.idleOf, reg, statuses);
  }

  /** A per-partition read through partitionCache (not cached before the partition's first commit). */
  async partitionRead<T extends unknown[]>(
    part: WindowPart,
    args: string,
    read: () => Promise<T>,
  ): Promise<T> {
    const offset = part.scan.status.offset;
    if (offset === null) return read();
    const key = `${part.hash}\n${offset}\n${args}`;
    const cached = this.partitionCache.get(key) as T | undefined;
    if (cached) return cached;
    const value = await read();
    this.partitionCache.set(key, value, 1 + value.length);
    return value;
  }

  async registration(name: string, version?: number): Promise<PipelineRegistration> {
    return registrationOf(this.redis, name, version);
  }

  /**
   * Round trip 1, one pipeline per partition: the checkpoint, the window starts in range (or the
   * latest one) and the open windows with their ends.
   */
  async scan(
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

export function statusOf(id: string, ckpt: Record<string, string>): PartitionStatus {
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
    unrecoverable: ckpt.unrecoverable === undefined ? 0 : Number(ckpt.unrecoverable),
  };
}

export function unionStarts(scans: PartitionScan[]): number[] {
  const all = new Set<number>();
  for (const scan of scans) for (const s of scan.starts) all.add(s);
  return [...all];
}

export function endOf(reg: PipelineRegistration, scans: PartitionScan[], start: number): number {
  for (const scan of scans) {
    const end = scan.ends.get(start);
    if (end !== undefined) return end;
  }
  return start + (reg.window.type === 'session' ? reg.window.gapMs : reg.window.sizeMs);
}

/** spec.source.idleTimeout's idle partitions of a pipeline, from their last commits (state/lag.ts). */
export type IdleLookup = (
  reg: PipelineRegistration,
  lastCommits: Map<string, number | null>,
) => Promise<Set<string>>;

/**
 * The idle partitions (never all the committed ones: then none is idle); none without an idleTimeout,
 * a lookup (Kafka access) or when the lookup fails.
 */
export async function idlePartitions(
  lookup: IdleLookup | undefined,
  reg: PipelineRegistration,
  statuses: readonly { id: string; committed: boolean; updatedAt: number | null }[],
): Promise<Set<string>> {
  if (!lookup || reg.source?.idleTimeoutMs === undefined) return new Set();
  const idle = await lookup(reg, new Map(statuses.map((s) => [s.id, s.updatedAt]))).catch(
    () => new Set<string>(),
  );
  return statuses.filter((s) => s.committed).every((s) => idle.has(s.id)) ? new Set() : idle;
}

/**
 * Final: closed on every partition that has a checkpoint (its watermark is at or past end + grace),
 * leaving out `idle` ones (spec.source.idleTimeout).
 */
export function isFinal(
  reg: PipelineRegistration,
  scans: PartitionScan[],
  end: number,
  idle: ReadonlySet<string> = new Set(),
): boolean {
  const committed = scans.filter((s) => s.status.committed && !idle.has(s.id));
  if (committed.length === 0) return false;
  return committed.every(
    (s) => s.status.watermark !== null && s.status.watermark >= end + reg.window.graceMs,
  );
}

export function checkFilters(
  reg: PipelineRegistration,
  filters: Map<string, string[]>,
): Map<string, string[]> {
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

export function unwrap(replies: [Error | null, unknown][] | null): unknown[] {
  if (!replies) throw new Error('Redis pipeline aborted');
  return replies.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}

/** The filters as one cache-key string, independent of parameter order. */
export function filterKeyOf(filters: Map<string, string[]>): string {
  return JSON.stringify(
    [...filters.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [k, [...new Set(v)].sort()]),
  );
}
