// The capacity model: replicas and Redis shards for a rate, and the p99 freshness they give.
// docs/capacity.md states the model, its inputs and its limits.
import type { CostTable, RecordCosts } from './costs.ts';
import type { PipelineShape } from './shape.ts';

/** The share of a replica's CPU and of a Redis shard's core a plan fills, unless told otherwise. */
export const DEFAULT_TARGET_UTILIZATION = 0.7;

export interface PlanInput {
  /** records per second into the pipeline (all partitions) */
  rate: number;
  shape: PipelineShape;
  costs: RecordCosts;
  /** the source's partitions: the most replicas that get work; undefined: not checked */
  partitions?: number;
  /** spec.scaling.maxReplicas */
  maxReplicas?: number;
  /** distinct groups per window the user expects; only checked against the measured range */
  groups?: number;
  targetUtilization: number;
  /** produce→queryable p99 with idle CPUs (see freshnessFloorMs) */
  floorMs: number;
}

export interface CapacityPlan {
  rate: number;
  shape: PipelineShape;
  costs: RecordCosts;
  targetUtilization: number;
  replicas: {
    /** what the rate needs at the target utilization */
    needed: number;
    /** needed, bounded by the partitions */
    planned: number;
    partitions: number | null;
    limitedByPartitions: boolean;
    /** the CPU share each planned replica uses */
    utilization: number;
    /** the most this pipeline's partitions can take at the target utilization (null: unknown) */
    maxRate: number | null;
  };
  redis: {
    shards: number;
    utilization: number;
    commandsPerSecond: number;
  };
  freshness: {
    /** null: a replica or shard is past 100 %, the lag grows without bound */
    p99Ms: number | null;
    floorMs: number;
    /** the busier of a replica and a Redis shard */
    utilization: number;
  };
  warnings: string[];
}

/**
 * Freshness of a deployment: a record waits for the batch in progress and then for its own. A
 * batch's cycle is a fixed part (fetch, commit round trip, fsync, query) plus the work of the
 * records that arrived during the previous cycle, T = floor + ρ·T, so T = floor / (1 − ρ), with ρ
 * the utilization of the busier of a replica and a Redis shard. Non-decreasing in the rate.
 */
export function predictFreshnessMs(
  rate: number,
  replicas: number,
  shards: number,
  costs: RecordCosts,
  floorMs: number,
): { p99Ms: number | null; utilization: number } {
  const utilization = Math.max(
    (rate * costs.replicaCpuUs) / 1e6 / replicas,
    (rate * costs.redisCpuUs) / 1e6 / shards,
  );
  return { p99Ms: utilization >= 1 ? null : floorMs / (1 - utilization), utilization };
}

/**
 * The most records per second a deployment keeps up with: each replica and each Redis shard at
 * 100 % of its CPU (one CPU per replica and one core per shard, not shared with anything else).
 */
export function predictMaxRate(replicas: number, shards: number, costs: RecordCosts): number {
  return Math.min((replicas * 1e6) / costs.replicaCpuUs, (shards * 1e6) / costs.redisCpuUs);
}

/**
 * The floor fitted to the table's freshness run (the `fields` shape on one replica and one shard):
 * floor = measured p99 × (1 − ρ at the measured rate).
 */
export function freshnessFloorMs(table: CostTable): number {
  const f = table.fields;
  const utilization = Math.max(f.replicaCpuUsPerRecord, f.redisCpuUsPerRecord) * (table.freshness.rate / 1e6);
  return table.freshness.p99Ms * Math.max(0.05, 1 - utilization);
}

const needed = (rate: number, usPerRecord: number, target: number) =>
  Math.max(1, Math.ceil((rate * usPerRecord) / 1e6 / target - 1e-9));

export function planCapacity(input: PlanInput): CapacityPlan {
  const { rate, costs, shape, partitions, targetUtilization: target } = input;
  const replicasNeeded = needed(rate, costs.replicaCpuUs, target);
  const limited = partitions !== undefined && replicasNeeded > partitions;
  const planned = limited ? partitions : replicasNeeded;
  const shards = needed(rate, costs.redisCpuUs, target);
  const freshness = predictFreshnessMs(rate, planned, shards, costs, input.floorMs);
  const warnings: string[] = [];
  if (limited)
    warnings.push(
      `partitions are the limit: ${replicasNeeded} replicas needed but only ${partitions} partitions to share; add partitions to the source topic (at least ${replicasNeeded})`,
    );
  if (input.maxReplicas !== undefined && planned > input.maxReplicas)
    warnings.push(
      `spec.scaling.maxReplicas is ${input.maxReplicas}: raise it to at least ${planned} or the autoscaler stops short`,
    );
  if (shape.window === 'session')
    warnings.push('session windows were not benchmarked: the costs of tumbling windows are used');
  if (input.groups !== undefined && input.groups > costs.measuredGroups)
    warnings.push(
      `${input.groups} groups is more than the benchmark measured (${costs.measuredGroups}): Redis costs per record may be higher`,
    );
  if (freshness.p99Ms === null)
    warnings.push('a replica or Redis shard would be past 100 % busy: the lag grows without bound');
  return {
    rate,
    shape,
    costs,
    targetUtilization: target,
    replicas: {
      needed: replicasNeeded,
      planned,
      partitions: partitions ?? null,
      limitedByPartitions: limited,
      utilization: (rate * costs.replicaCpuUs) / 1e6 / planned,
      maxRate:
        partitions === undefined || costs.replicaCpuUs === 0
          ? null
          : Math.floor((partitions * target * 1e6) / costs.replicaCpuUs),
    },
    redis: {
      shards,
      utilization: (rate * costs.redisCpuUs) / 1e6 / shards,
      commandsPerSecond: rate * costs.redisCommands,
    },
    freshness: { ...freshness, floorMs: input.floorMs },
    warnings,
  };
}
