import type { AggregateShape, WindowShape } from '../model/pipeline.ts';
import { keys, partitionPrefix } from '../state/keys.ts';
import type { PipelineRegistration } from '../state/registry.ts';
import { readHeartbeats } from '../state/replica-status.ts';
import { pendingRegistration } from '../state/versions.ts';
import { type PartitionStatus, statusOf, type WindowReadContext } from './read-context.ts';
import { type LiveVersion, liveVersions } from './versions.ts';

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
  /** records not applied yet: Kafka end offsets minus checkpoints, summed (null: no Kafka access) */
  lag: number | null;
  replicas: number;
  recordsPerSecond: number;
  /** records folded into the active version since it started */
  records: number;
  /** counted by the commit script in the partitions' checkpoints (null until a partition is committed) */
  late: number | null;
  deadLettered: number | null;
  /** records the aggregates miss for good (Redis lost them, Kafka retention had deleted them): 0 when exact */
  unrecoverable: number;
  updatedAt: number | null;
  partitions: PartitionStatus[];
  versions: LiveVersion[];
}

export async function summary(ctx: WindowReadContext, reg: PipelineRegistration): Promise<PipelineSummary> {
  const [statuses, beats, pending] = await Promise.all([
    checkpoints(ctx, reg),
    readHeartbeats(ctx.redis, reg.name, reg.activeVersion),
    pendingRegistration(ctx.redis, reg.name),
  ]);
  const idle = await ctx.idle(reg, statuses);
  const committed = statuses.filter((s) => s.committed && s.watermark !== null && !idle.has(s.id));
  // Kafka end offsets minus Redis checkpoints (state/lag.ts); null without Kafka access or on error.
  const lag = ctx.lagOf ? await ctx.lagOf(reg).catch(() => null) : null;
  // Counted by the commit script in each partition's checkpoint: exact, and they survive restarts.
  // null only until some partition is committed (one whose records were all dead-lettered has no
  // watermark, yet its counters are real)
  const anyCommitted = statuses.some((s) => s.committed);
  const late = anyCommitted ? statuses.reduce((sum, s) => sum + s.late, 0) : null;
  const deadLettered = anyCommitted ? statuses.reduce((sum, s) => sum + s.deadLettered, 0) : null;
  const updated = statuses.map((s) => s.updatedAt ?? 0);
  const watermark = committed.length > 0 ? Math.min(...committed.map((s) => s.watermark!)) : null;
  const records = statuses.reduce((sum, s) => sum + s.records, 0);
  const replaying =
    pending && pending.activeVersion > reg.activeVersion
      ? { version: pending.activeVersion, statuses: await checkpoints(ctx, pending) }
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
    unrecoverable: statuses.reduce((sum, s) => sum + s.unrecoverable, 0),
    updatedAt: updated.length > 0 && Math.max(...updated) > 0 ? Math.max(...updated) : null,
    partitions: statuses,
    versions: liveVersions({ version: reg.activeVersion, records, watermark }, replaying),
  };
}

/** Every partition's checkpoint: one HGETALL each, sent together. */
export async function checkpoints(
  ctx: WindowReadContext,
  reg: PipelineRegistration,
): Promise<PartitionStatus[]> {
  return Promise.all(
    reg.partitions.map(async (id) => {
      const prefix = partitionPrefix(reg.name, reg.activeVersion, id);
      return statusOf(id, await ctx.redis.hgetall(keys.checkpoint(prefix)));
    }),
  );
}
