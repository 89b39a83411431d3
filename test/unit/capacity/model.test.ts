import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CostTable,
  loadCostTable,
  recordCosts,
  sketchRow,
} from '../../../processor/src/capacity/costs.ts';
import {
  freshnessFloorMs,
  planCapacity,
  predictFreshnessMs,
  predictMaxRate,
} from '../../../processor/src/capacity/plan.ts';
import { classifyPipeline, type PipelineShape } from '../../../processor/src/capacity/shape.ts';
import { validateFile } from '../../../processor/src/spec/validate.ts';

async function shapeOf(file: string): Promise<PipelineShape> {
  const result = await validateFile(file);
  expect(result.errors).toEqual([]);
  return classifyPipeline(result.pipelines[0]!.normalized);
}

const row = (workload: string, replica: number, redis: number, commands: number, groups: number) => ({
  workload,
  description: workload,
  replicaCpuUsPerRecord: replica,
  redisCpuUsPerRecord: redis,
  redisCommandsPerRecord: commands,
  groups,
});

const table: CostTable = {
  measuredAt: '2026-01-01T00:00:00.000Z',
  source: 'test',
  machine: 'test',
  fields: row('w1', 6, 2, 0.02, 10_000),
  enrich: row('w2', 8, 1.5, 0.03, 10_000),
  sketches: row('w3', 10, 14, 2, 100_000),
  tumblingSketches: row('w5', 12, 9, 0.03, 100_000),
  freshness: { workload: 'w1', rate: 50_000, p99Ms: 700 },
};

describe('the pipeline shape the capacity model reads (capacity/shape.ts)', () => {
  it('classifies the three examples', async () => {
    expect(await shapeOf('examples/page-views.yaml')).toEqual({
      window: 'tumbling',
      fieldAggregates: 3,
      sketchAggregates: 3,
      enrichments: 0,
      groupByFields: 2,
      filtered: true,
    });
    expect(await shapeOf('examples/orders-hopping.yaml')).toEqual({
      window: 'sliced',
      slicesPerWindow: 15,
      fieldAggregates: 3,
      sketchAggregates: 0,
      enrichments: 1,
      groupByFields: 2,
      filtered: true,
    });
    expect(await shapeOf('examples/sessions.yaml')).toEqual({
      window: 'session',
      fieldAggregates: 3,
      sketchAggregates: 0,
      enrichments: 0,
      groupByFields: 1,
      filtered: false,
    });
  });
});

describe('per-record costs from the cost table (capacity/costs.ts)', () => {
  const shape = (s: Partial<PipelineShape>): PipelineShape => ({
    window: 'tumbling',
    fieldAggregates: 0,
    sketchAggregates: 0,
    enrichments: 0,
    groupByFields: 1,
    filtered: false,
    ...s,
  });

  it('gives back each measured row for the shape of its own workload', () => {
    const w1 = recordCosts(shape({ fieldAggregates: 2 }), table);
    expect([w1.replicaCpuUs, w1.redisCpuUs, w1.redisCommands]).toEqual([6, 2, 0.02]);
    const w2 = recordCosts(shape({ fieldAggregates: 1, enrichments: 1, filtered: true }), table);
    expect(w2.replicaCpuUs).toBeCloseTo(8);
    expect(w2.redisCpuUs).toBeCloseTo(1.5);
    expect(w2.redisCommands).toBeCloseTo(0.03);
    const w3 = recordCosts(shape({ window: 'sliced', slicesPerWindow: 6, sketchAggregates: 2 }), table);
    expect(w3.replicaCpuUs).toBeCloseTo(10);
    expect(w3.redisCpuUs).toBeCloseTo(14);
    expect(w3.redisCommands).toBeCloseTo(2);
    expect(w3.measuredGroups).toBe(100_000);
    const w5 = recordCosts(shape({ sketchAggregates: 2 }), table);
    expect(w5.replicaCpuUs).toBeCloseTo(12);
    expect(w5.redisCpuUs).toBeCloseTo(9);
    expect(w5.redisCommands).toBeCloseTo(0.03);
    expect(w5.measuredGroups).toBe(100_000);
  });

  it('prices sketches by the window they are in: hopping by w3, tumbling and sessions by w5', () => {
    const sketchy = { fieldAggregates: 3, sketchAggregates: 3 };
    expect(sketchRow(shape({ ...sketchy, window: 'sliced', slicesPerWindow: 6 }), table).workload).toBe('w3');
    expect(sketchRow(shape(sketchy), table).workload).toBe('w5');
    expect(sketchRow(shape({ ...sketchy, window: 'session' }), table).workload).toBe('w5');
    // field aggregates cost the same in every window: only the sketch row differs
    const fieldsOnly = (window: PipelineShape['window']) =>
      recordCosts(shape({ fieldAggregates: 3, enrichments: 1, window }), table);
    expect(fieldsOnly('sliced')).toEqual(fieldsOnly('tumbling'));
  });

  it('never decreases when a pipeline gets another aggregate or enrichment', () => {
    const arb = fc.record({ f: fc.nat(8), s: fc.nat(8), e: fc.nat(4) });
    fc.assert(
      fc.property(arb, fc.constantFrom('f', 's', 'e'), ({ f, s, e }, add) => {
        const before = recordCosts(shape({ fieldAggregates: f, sketchAggregates: s, enrichments: e }), table);
        const after = recordCosts(
          shape({
            fieldAggregates: f + (add === 'f' ? 1 : 0),
            sketchAggregates: s + (add === 's' ? 1 : 0),
            enrichments: e + (add === 'e' ? 1 : 0),
          }),
          table,
        );
        expect(after.replicaCpuUs).toBeGreaterThanOrEqual(before.replicaCpuUs);
        expect(after.redisCpuUs).toBeGreaterThanOrEqual(before.redisCpuUs);
        expect(after.redisCommands).toBeGreaterThanOrEqual(before.redisCommands);
      }),
    );
  });

  it('loads the committed table, and says how to rebuild a broken one', () => {
    const committed = loadCostTable();
    expect(committed.fields.workload).toBe('w1');
    expect(committed.sketches.replicaCpuUsPerRecord).toBeGreaterThan(0);
    expect(committed.tumblingSketches.workload).toBe('w5');
    const dir = mkdtempSync(join(tmpdir(), 'kf-costs-'));
    const file = join(dir, 'costs.json');
    writeFileSync(file, JSON.stringify({ ...table, fields: { ...table.fields, redisCpuUsPerRecord: -1 } }));
    expect(() => loadCostTable(file)).toThrow(/not valid .*npm run bench -- --write-costs/);
  });
});

describe('the capacity model (capacity/plan.ts)', () => {
  const costsArb = fc.record({
    replicaCpuUs: fc.double({ min: 0.1, max: 500, noNaN: true }),
    redisCpuUs: fc.double({ min: 0.01, max: 500, noNaN: true }),
    redisCommands: fc.double({ min: 0, max: 20, noNaN: true }),
    measuredGroups: fc.integer({ min: 1, max: 1_000_000 }),
  });
  const shape: PipelineShape = {
    window: 'tumbling',
    fieldAggregates: 2,
    sketchAggregates: 0,
    enrichments: 0,
    groupByFields: 1,
    filtered: false,
  };
  const input = fc.record({
    costs: costsArb,
    rate: fc.double({ min: 1, max: 5_000_000, noNaN: true }),
    more: fc.double({ min: 0, max: 5_000_000, noNaN: true }),
    partitions: fc.option(fc.integer({ min: 1, max: 256 }), { nil: undefined }),
    target: fc.double({ min: 0.05, max: 1, noNaN: true }),
    floorMs: fc.double({ min: 1, max: 5_000, noNaN: true }),
  });
  type Input = typeof input extends fc.Arbitrary<infer T> ? T : never;
  const plan = (i: Input) =>
    planCapacity({
      rate: i.rate,
      shape,
      costs: i.costs,
      ...(i.partitions === undefined ? {} : { partitions: i.partitions }),
      targetUtilization: i.target,
      floorMs: i.floorMs,
    });

  it('needs at least one replica and one shard, plans no more replicas than partitions, and fills them no more than the target', () => {
    fc.assert(
      fc.property(input, (i) => {
        const p = plan(i);
        expect(p.replicas.planned).toBeGreaterThanOrEqual(1);
        expect(p.redis.shards).toBeGreaterThanOrEqual(1);
        if (i.partitions !== undefined) expect(p.replicas.planned).toBeLessThanOrEqual(i.partitions);
        expect(p.replicas.limitedByPartitions).toBe(
          i.partitions !== undefined && p.replicas.needed > i.partitions,
        );
        if (!p.replicas.limitedByPartitions)
          expect(p.replicas.utilization).toBeLessThanOrEqual(i.target + 1e-9);
        expect(p.redis.utilization).toBeLessThanOrEqual(i.target + 1e-9);
        // one replica fewer (or one shard fewer) would be past the target
        if (p.replicas.needed > 1)
          expect((i.rate * i.costs.replicaCpuUs) / 1e6 / (p.replicas.needed - 1)).toBeGreaterThan(
            i.target - 1e-9,
          );
        if (p.redis.shards > 1)
          expect((i.rate * i.costs.redisCpuUs) / 1e6 / (p.redis.shards - 1)).toBeGreaterThan(i.target - 1e-9);
        if (p.freshness.p99Ms !== null) expect(p.freshness.p99Ms).toBeGreaterThanOrEqual(i.floorMs);
        else expect(p.freshness.utilization).toBeGreaterThanOrEqual(1);
      }),
    );
  });

  it('is monotonic in the rate: more records never need fewer replicas or shards', () => {
    fc.assert(
      fc.property(input, (i) => {
        const low = plan(i);
        const high = plan({ ...i, rate: i.rate + i.more });
        expect(high.replicas.needed).toBeGreaterThanOrEqual(low.replicas.needed);
        expect(high.replicas.planned).toBeGreaterThanOrEqual(low.replicas.planned);
        expect(high.redis.shards).toBeGreaterThanOrEqual(low.redis.shards);
        expect(high.redis.commandsPerSecond).toBeGreaterThanOrEqual(low.redis.commandsPerSecond);
      }),
    );
  });

  it('predicts a freshness that never improves with the rate on a fixed deployment and grows without bound at 100 %', () => {
    fc.assert(
      fc.property(
        input,
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 16 }),
        (i, replicas, shards) => {
          const low = predictFreshnessMs(i.rate, replicas, shards, i.costs, i.floorMs);
          const high = predictFreshnessMs(i.rate + i.more, replicas, shards, i.costs, i.floorMs);
          if (low.p99Ms === null) expect(high.p99Ms).toBeNull();
          else if (high.p99Ms !== null) expect(high.p99Ms).toBeGreaterThanOrEqual(low.p99Ms);
          expect(high.utilization).toBeGreaterThanOrEqual(low.utilization);
          expect((low.p99Ms === null) === low.utilization >= 1).toBe(true);
        },
      ),
    );
  });

  it('says when partitions are the limit, and when maxReplicas, sessions or many groups make the plan doubtful', () => {
    const costs = { replicaCpuUs: 10, redisCpuUs: 1, redisCommands: 0.01, measuredGroups: 10_000 };
    const base = { rate: 500_000, shape, costs, targetUtilization: 0.5, floorMs: 100 };
    // 500k x 10 µs = 5 CPUs; at 50 %: 10 replicas
    const free = planCapacity(base);
    expect([free.replicas.needed, free.replicas.planned, free.warnings]).toEqual([10, 10, []]);
    const limited = planCapacity({ ...base, partitions: 4, maxReplicas: 3 });
    expect(limited.replicas).toMatchObject({
      needed: 10,
      planned: 4,
      limitedByPartitions: true,
      maxRate: 200_000,
    });
    expect(limited.freshness.p99Ms).toBeNull(); // 5 CPUs of work on 4 replicas
    expect(limited.warnings.join('\n')).toMatch(
      /partitions are the limit: 10 replicas needed but only 4 partitions/,
    );
    expect(limited.warnings.join('\n')).toMatch(/maxReplicas is 3: raise it to at least 4/);
    expect(limited.warnings.join('\n')).toMatch(/lag grows without bound/);
    const session = planCapacity({ ...base, shape: { ...shape, window: 'session' }, groups: 20_000 });
    expect(session.warnings.join('\n')).toMatch(/session windows were not benchmarked/);
    expect(session.warnings.join('\n')).toMatch(/20000 groups is more than the benchmark measured \(10000\)/);
  });

  it('fits the freshness floor to the measured run: predicting that run gives back its p99', () => {
    const floor = freshnessFloorMs(table);
    const w1 = recordCosts({ ...shape }, table);
    expect(predictFreshnessMs(table.freshness.rate, 1, 1, w1, floor).p99Ms).toBeCloseTo(
      table.freshness.p99Ms,
      6,
    );
  });
});

describe('the most a deployment keeps up with (predictMaxRate)', () => {
  it('is bounded by replicas and by shards, and never falls when either grows', () => {
    const costs = fc.record({
      replicaCpuUs: fc.double({ min: 0.1, max: 500, noNaN: true }),
      redisCpuUs: fc.double({ min: 0.1, max: 500, noNaN: true }),
      redisCommands: fc.constant(1),
      measuredGroups: fc.constant(1),
    });
    fc.assert(
      fc.property(
        costs,
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 16 }),
        (c, replicas, shards) => {
          const rate = predictMaxRate(replicas, shards, c);
          expect(rate).toBeLessThanOrEqual((replicas * 1e6) / c.replicaCpuUs + 1e-6);
          expect(rate).toBeLessThanOrEqual((shards * 1e6) / c.redisCpuUs + 1e-6);
          expect(predictMaxRate(replicas + 1, shards, c)).toBeGreaterThanOrEqual(rate);
          expect(predictMaxRate(replicas, shards + 1, c)).toBeGreaterThanOrEqual(rate);
          // at that rate the busier of a replica and a shard is exactly full
          expect(predictFreshnessMs(rate, replicas, shards, c, 100).utilization).toBeCloseTo(1, 9);
        },
      ),
    );
  });
});
