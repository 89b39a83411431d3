// `kappaflow plan <file> --rate N`: replicas, Redis shards and p99 freshness for a pipeline at a
// rate, from the benchmark's per-record costs (capacity/, docs/capacity.md).
import { Command, InvalidArgumentError } from 'commander';
import type { Redis } from 'ioredis';
import {
  type CostTable,
  loadCostTable,
  recordCosts,
  type SpeedFactors,
  scaleCosts,
} from '../capacity/costs.ts';
import {
  type CapacityPlan,
  DEFAULT_TARGET_UTILIZATION,
  freshnessFloorMs,
  planCapacity,
} from '../capacity/plan.ts';
import { redisProbeUs, replicaProbeUs } from '../capacity/probe.ts';
import { classifyPipeline, type PipelineShape } from '../capacity/shape.ts';
import { formatSpecError } from '../spec/errors.ts';
import { connectRedis, type RedisClient, redactUrl } from '../state/connection.ts';
import { parseRedisUrl } from '../state/redis-url.ts';
import { validatePaths } from './validate.ts';

const number =
  (what: string, ok: (n: number) => boolean) =>
  (raw: string): number => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || !ok(n))
      throw new InvalidArgumentError(`expected ${what}`);
    return n;
  };

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function describeShape(s: PipelineShape): string {
  const window =
    s.window === 'sliced'
      ? `hopping window (sliced, ${s.slicesPerWindow} slices per window)`
      : `${s.window} window`;
  const parts = [
    window,
    `${s.fieldAggregates} field aggregate${s.fieldAggregates === 1 ? '' : 's'}`,
    `${s.sketchAggregates} sketch aggregate${s.sketchAggregates === 1 ? '' : 's'}`,
    `${s.enrichments} enrichment${s.enrichments === 1 ? '' : 's'}`,
    `${s.groupByFields} groupBy field${s.groupByFields === 1 ? '' : 's'}`,
  ];
  return `${parts.join(', ')}${s.filtered ? ', filtered' : ''}`;
}

/** What --calibrate measured here, against the probes stored with the cost table. */
export interface Calibration {
  factors: SpeedFactors;
  replicaProbeUs: number;
  /** null: no --redis, Redis costs scale like the replicas' */
  redisProbeUs: number | null;
  redisUrl: string | null;
  reference: NonNullable<CostTable['calibration']>;
}

function describeCalibration(c: Calibration): string {
  const redis =
    c.redisProbeUs === null
      ? `Redis scaled alike (a Redis on the same kind of machine; --redis <url> measures yours)`
      : `Redis ${fmt(c.redisProbeUs, 2)} vs ${fmt(c.reference.redisUsPerField, 2)} µs per field written (×${fmt(c.factors.redis, 2)}, ${c.redisUrl})`;
  return `  calibrated to this machine: fold ${fmt(c.replicaProbeUs, 2)} vs ${fmt(c.reference.replicaUsPerRecord, 2)} µs per record (×${fmt(c.factors.replica, 2)}); ${redis}`;
}

export function formatPlan(
  name: string,
  file: string,
  plan: CapacityPlan,
  table: CostTable,
  calibration?: Calibration,
): string[] {
  const { replicas, redis, freshness, costs } = plan;
  const partitions =
    replicas.partitions === null
      ? 'partitions not given (--partitions): not checked'
      : `${replicas.partitions} partitions allow up to ${fmt(replicas.maxRate ?? 0)} rec/s`;
  const p99 =
    freshness.p99Ms === null
      ? 'unbounded (lag grows)'
      : `~${fmt(freshness.p99Ms)} ms (floor ${fmt(freshness.floorMs)} ms / (1 − ${fmt(freshness.utilization, 2)}))`;
  return [
    `${name} (${file}) at ${fmt(plan.rate)} rec/s`,
    `  shape: ${describeShape(plan.shape)}`,
    `  per record: replica ${fmt(costs.replicaCpuUs, 1)} µs CPU, Redis ${fmt(costs.redisCpuUs, 1)} µs CPU, ${fmt(costs.redisCommands, 3)} Redis commands (costs of ${table.measuredAt.slice(0, 10)}, ${table.source}${calibration ? ', calibrated' : ''})`,
    ...(calibration ? [describeCalibration(calibration)] : []),
    `  replicas: ${replicas.planned}${replicas.limitedByPartitions ? ` (${replicas.needed} needed)` : ''}, ${fmt(replicas.utilization, 2)} CPU each; ${partitions}`,
    `  Redis shards: ${redis.shards}, ${fmt(redis.utilization, 2)} of a core each; ${fmt(redis.commandsPerSecond)} commands/s`,
    `  p99 produce→queryable: ${p99}`,
    ...plan.warnings.map((w) => `  warning: ${w}`),
  ];
}

interface PlanOptions {
  rate: number;
  partitions?: number;
  groups?: number;
  targetUtilization: number;
  costs?: string;
  calibrate?: boolean;
  redis?: string;
  json?: boolean;
}

/** Runs the probes here (and against --redis) and compares them with the table's. */
async function calibrate(table: CostTable, redisUrl: string | undefined): Promise<Calibration> {
  const reference = table.calibration;
  if (!reference) {
    throw new Error(
      `the cost table (${table.source}) was written without machine probes, so it cannot be calibrated; rebuild it with npm run bench -- --write-costs`,
    );
  }
  const replicaProbe = await replicaProbeUs();
  let redisProbe: number | null = null;
  if (redisUrl) {
    if (parseRedisUrl(redisUrl).kind === 'cluster') {
      throw new Error(
        `--redis ${redactUrl(redisUrl)}: the probe does not run on a Redis Cluster (its key may live on another node); probe a standalone Redis on the same kind of machine as the shards`,
      );
    }
    const redis = connectRedis(redisUrl, {
      ...(process.env.REDIS_PASSWORD ? { password: process.env.REDIS_PASSWORD } : {}),
    }) as Extract<RedisClient, Redis>;
    redis.on('error', () => {});
    try {
      redisProbe = await redisProbeUs(redis);
    } catch (e) {
      throw new Error(`--redis ${redactUrl(redisUrl)}: ${(e as Error).message}`);
    } finally {
      redis.disconnect();
    }
  }
  const replica = replicaProbe / reference.replicaUsPerRecord;
  return {
    factors: { replica, redis: redisProbe === null ? replica : redisProbe / reference.redisUsPerField },
    replicaProbeUs: replicaProbe,
    redisProbeUs: redisProbe,
    redisUrl: redisUrl ? redactUrl(redisUrl) : null,
    reference,
  };
}

export function planCommand(): Command {
  return new Command('plan')
    .description(
      'Replicas, Redis shards and p99 produce→queryable freshness a pipeline needs at a rate, from the benchmark’s per-record costs (docs/capacity.md). Exits 1 if the file is invalid.',
    )
    .argument('<file...>', 'pipeline YAML files (every pipeline in them is planned) or folders of them')
    .requiredOption(
      '--rate <records/s>',
      'records per second into the pipeline',
      number('a positive number', (n) => n > 0),
    )
    .option(
      '--partitions <n>',
      "the source topic's partitions: replicas beyond them get no work",
      number('a positive whole number', (n) => Number.isInteger(n) && n > 0),
    )
    .option(
      '--groups <n>',
      'distinct groups per window you expect; warns when it is beyond what the benchmark measured',
      number('a positive whole number', (n) => Number.isInteger(n) && n > 0),
    )
    .option(
      '--target-utilization <fraction>',
      'share of a replica’s CPU and of a Redis shard’s core to plan for',
      number('a fraction in (0, 1]', (n) => n > 0 && n <= 1),
      DEFAULT_TARGET_UTILIZATION,
    )
    .option(
      '--costs <file>',
      'a cost table of your own machine (npm run bench -- --write-costs) instead of the committed one',
    )
    .option(
      '--calibrate',
      'carry the costs to this machine: run a short probe of the decode and fold here and scale the replica (and, without --redis, the Redis) CPU costs by its ratio to the probe stored with the cost table; run plan on a machine like your nodes',
    )
    .option(
      '--redis <url>',
      'with --calibrate (implied): probe this Redis (standalone or Sentinel, not Cluster; REDIS_PASSWORD if it needs one; a few 20 ms scripts that write and delete one key) and scale the Redis CPU costs by its own ratio',
    )
    .option('--json', 'print the plans as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ kappaflow plan examples/page-views.yaml --rate 20000 --partitions 12
  $ kappaflow plan examples/orders-hopping.yaml --rate 5000 --json
  $ kappaflow plan examples/page-views.yaml --rate 20000 --calibrate --redis redis://redis.internal:6379`,
    )
    .action(async (files: string[], opts: PlanOptions) => {
      let table: CostTable;
      try {
        table = loadCostTable(opts.costs);
      } catch (e) {
        console.error(`kappaflow plan: ${(e as Error).message}`);
        process.exitCode = 1;
        return;
      }
      const results = await validatePaths(files);
      const errors = results.flatMap((r) => r.errors);
      if (errors.length > 0) {
        if (opts.json) console.log(JSON.stringify({ ok: false, plans: [], errors }, null, 2));
        else for (const e of errors) console.error(formatSpecError(e));
        process.exitCode = 1;
        return;
      }
      let calibration: Calibration | undefined;
      if (opts.calibrate || opts.redis) {
        try {
          calibration = await calibrate(table, opts.redis);
        } catch (e) {
          console.error(`kappaflow plan: ${(e as Error).message}`);
          process.exitCode = 1;
          return;
        }
      }
      const floorMs = freshnessFloorMs(table);
      const plans = results
        .flatMap((r) => r.pipelines)
        .map((p) => {
          const shape = classifyPipeline(p.normalized);
          const plan = planCapacity({
            rate: opts.rate,
            shape,
            costs: calibration
              ? scaleCosts(recordCosts(shape, table), calibration.factors)
              : recordCosts(shape, table),
            ...(opts.partitions === undefined ? {} : { partitions: opts.partitions }),
            ...(opts.groups === undefined ? {} : { groups: opts.groups }),
            maxReplicas: p.normalized.scaling.maxReplicas,
            targetUtilization: opts.targetUtilization,
            floorMs,
          });
          return { file: p.file, name: p.normalized.name, plan };
        });
      if (opts.json)
        console.log(
          JSON.stringify(
            {
              ok: true,
              costs: { measuredAt: table.measuredAt, source: table.source },
              ...(calibration
                ? {
                    calibration: {
                      factors: calibration.factors,
                      replicaProbeUs: calibration.replicaProbeUs,
                      redisProbeUs: calibration.redisProbeUs,
                      redis: calibration.redisUrl,
                      reference: calibration.reference,
                    },
                  }
                : {}),
              plans: plans.map((p) => ({ file: p.file, name: p.name, ...p.plan })),
              errors: [],
            },
            null,
            2,
          ),
        );
      else
        console.log(
          plans.map((p) => formatPlan(p.name, p.file, p.plan, table, calibration).join('\n')).join('\n\n'),
        );
      process.exitCode = 0;
    });
}
