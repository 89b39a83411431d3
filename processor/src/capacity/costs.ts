// The measured per-record costs the capacity model starts from: one row per benchmark workload
// shape, written by `npm run bench -- --write-costs` into costs.json beside this file.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { PipelineShape } from './shape.ts';

const costRow = z.object({
  /** the benchmark workload the row was measured on, e.g. w1 */
  workload: z.string(),
  description: z.string(),
  replicaCpuUsPerRecord: z.number().nonnegative(),
  redisCpuUsPerRecord: z.number().nonnegative(),
  redisCommandsPerRecord: z.number().nonnegative(),
  /** distinct groups in the workload's input */
  groups: z.number().int().positive(),
});

export const costTableSchema = z.object({
  measuredAt: z.string(),
  /** the bench results file the numbers come from */
  source: z.string(),
  machine: z.string(),
  /** w1: count + sum, 10 s tumbling (2 field aggregates) */
  fields: costRow,
  /** w2: where + one lookup enrichment + count */
  enrich: costRow,
  /** w3: hopping 1 min / 10 s (sliced), countDistinct + percentile: the sketches of hopping windows */
  sketches: costRow,
  /**
   * w5: w3's aggregates in 1 min tumbling windows. A tumbling window packs its sketches as a slice
   * does, but a batch touches fewer (window, group) pairs, and it has no slices to roll up, so its
   * costs are not w3's.
   */
  tumblingSketches: costRow,
  /**
   * The machine probes (probe.ts) run beside the workloads when the table was measured: what
   * `kappaflow plan --calibrate` compares its own machine's probes with. Absent in tables written
   * before the probes existed (then plan cannot calibrate).
   */
  calibration: z
    .object({
      /** replicaProbeUs: CPU µs per record of the decode and fold probe */
      replicaUsPerRecord: z.number().positive(),
      /** redisProbeUs: Redis CPU µs per field of the HSET probe */
      redisUsPerField: z.number().positive(),
    })
    .optional(),
  /** a freshness run of the `fields` shape on one replica: what the latency floor is fitted to */
  freshness: z.object({
    workload: z.string(),
    rate: z.number().positive(),
    p99Ms: z.number().positive(),
  }),
});

export type CostRow = z.infer<typeof costRow>;
export type CostTable = z.infer<typeof costTableSchema>;

export const COSTS_FILE = new URL('./costs.json', import.meta.url);

/** The committed table; a broken file says how to rebuild it. */
export function loadCostTable(file: URL | string = COSTS_FILE): CostTable {
  const parsed = costTableSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success)
    throw new Error(
      `the cost table ${String(file)} is not valid (${parsed.error.issues[0]?.message}); rebuild it with npm run bench -- --write-costs`,
    );
  return parsed.data;
}

export interface RecordCosts {
  replicaCpuUs: number;
  redisCpuUs: number;
  redisCommands: number;
  /** the most groups the rows used here were measured with */
  measuredGroups: number;
}

const FIELD_AGGREGATES_MEASURED = 2; // w1's count + sum
const SKETCH_AGGREGATES_MEASURED = 2; // w3's and w5's countDistinct + percentile (and no field aggregate)
const ENRICH_FIELD_AGGREGATES = 1; // w2's count
const positive = (n: number) => Math.max(0, n);
type Measure = 'replicaCpuUsPerRecord' | 'redisCpuUsPerRecord' | 'redisCommandsPerRecord';

/**
 * The row that prices a pipeline's sketch aggregates: w3 for hopping (sliced) windows, w5 for
 * tumbling ones. Sessions were not measured and take the tumbling row.
 */
export function sketchRow(shape: PipelineShape, table: CostTable): CostRow {
  return shape.window === 'sliced' ? table.sketches : table.tumblingSketches;
}

/**
 * A linear model that gives back each measured row for its own shape. Replica CPU: the `fields`
 * row is the base (decode, fold, commit), each sketch aggregate adds half of what the sketch row
 * (sketchRow: w3 or w5) costs over w1, each enrichment what w2 costs over w1. Redis (CPU and
 * commands): each field aggregate costs half of w1's, each sketch aggregate half of the sketch
 * row's, each enrichment what w2 costs beyond its one field aggregate. Field aggregates cost the
 * same in every window type: a hopping window's record updates one slice, as a tumbling one's
 * updates one window; sessions were not measured and use the tumbling costs.
 */
export function recordCosts(shape: PipelineShape, table: CostTable): RecordCosts {
  const { fields, enrich } = table;
  const sketches = sketchRow(shape, table);
  const perField = (k: Measure) => fields[k] / FIELD_AGGREGATES_MEASURED;
  const replica = (k: Measure) =>
    fields[k] +
    (shape.sketchAggregates * positive(sketches[k] - fields[k])) / SKETCH_AGGREGATES_MEASURED +
    shape.enrichments * positive(enrich[k] - fields[k]);
  const redis = (k: Measure) =>
    shape.fieldAggregates * perField(k) +
    (shape.sketchAggregates * sketches[k]) / SKETCH_AGGREGATES_MEASURED +
    shape.enrichments * positive(enrich[k] - ENRICH_FIELD_AGGREGATES * perField(k));
  return {
    replicaCpuUs: replica('replicaCpuUsPerRecord'),
    redisCpuUs: redis('redisCpuUsPerRecord'),
    redisCommands: redis('redisCommandsPerRecord'),
    measuredGroups: Math.max(
      fields.groups,
      shape.sketchAggregates > 0 ? sketches.groups : 0,
      shape.enrichments > 0 ? enrich.groups : 0,
    ),
  };
}

/** How much slower (> 1) or faster (< 1) a machine runs than the one the table was measured on. */
export interface SpeedFactors {
  replica: number;
  redis: number;
}

/** Costs carried to another machine: CPU costs scale by its speed; commands per record do not change. */
export function scaleCosts(costs: RecordCosts, factors: SpeedFactors): RecordCosts {
  return {
    ...costs,
    replicaCpuUs: costs.replicaCpuUs * factors.replica,
    redisCpuUs: costs.redisCpuUs * factors.redis,
  };
}
