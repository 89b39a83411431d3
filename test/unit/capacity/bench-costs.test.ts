// `npm run bench -- --write-costs`: how a benchmark run becomes the capacity model's cost table.
import { describe, expect, it } from 'vitest';
import { costTableFrom } from '../../../bench/costs.ts';
import type { ProcessorRun } from '../../../bench/measure.ts';
import type { BenchResults } from '../../../bench/report.ts';
import { costTableSchema } from '../../../processor/src/capacity/costs.ts';

const run = (
  workload: string,
  replicas: number,
  cpuSeconds: number,
  redisCpuSeconds: number,
): ProcessorRun => ({
  workload,
  replicas,
  records: 300_000,
  seconds: 10,
  rate: 25_000, // 250,000 records inside the measured interval
  cpuSeconds,
  perCpuSecond: 0,
  redisCommits: 24,
  commitsPerRecord: 0,
  redisCommands: 3_000,
  commandsPerRecord: 0.01,
  byCommand: {},
  redisCpuSeconds,
  evalshaSeconds: 0,
});

const results = (runs: ProcessorRun[], freshness = true): BenchResults =>
  ({
    machine: {
      nproc: 2,
      cpuModel: 'AMD EPYC',
      memoryGiB: 24,
      node: 'v20',
      platform: 'linux x64',
      loadAverage: [1, 1, 1],
      note: '',
    },
    startedAt: new Date('2026-11-28T03:20:46.635Z'),
    recordsPerTopic: 300_000,
    quick: false,
    runs,
    freshness: freshness
      ? [
          { workload: 'w1', achievedRate: 12_550.4, p99Ms: 784.8 } as NonNullable<
            BenchResults['freshness']
          >[number],
        ]
      : [],
  }) as BenchResults;

describe('the cost table a benchmark run writes (bench/costs.ts)', () => {
  it('turns the one-replica runs of w1, w2, w3, w5 into µs per record of the measured interval', () => {
    const table = costTableFrom(
      results([
        run('w1', 1, 2, 1),
        run('w1', 2, 9, 9),
        run('w2', 1, 2.5, 0.25),
        run('w3', 1, 3, 5),
        run('w5', 1, 3.5, 2),
      ]),
      'bench/results/x.json',
    );
    expect(costTableSchema.parse(table)).toEqual(table);
    expect(table.source).toBe('bench/results/x.json');
    expect(table.measuredAt).toBe('2026-11-28T03:20:46.635Z');
    // 2 CPU-s / 250,000 records = 8 µs; the two-replica run is not the row
    const row = (r: typeof table.fields) => [
      r.workload,
      r.replicaCpuUsPerRecord,
      r.redisCpuUsPerRecord,
      r.groups,
    ];
    expect([table.fields, table.enrich, table.sketches, table.tumblingSketches].map(row)).toEqual([
      ['w1', 8, 4, 10_000],
      ['w2', 10, 1, 10_000],
      ['w3', 12, 20, 100_000],
      ['w5', 14, 8, 100_000],
    ]);
    expect(table.freshness).toEqual({ workload: 'w1', rate: 12_550, p99Ms: 785 });
    // no machine probes in the run: a table plan cannot calibrate
    expect(table.calibration).toBeUndefined();
  });

  it('keeps the machine probes of the run, for plan --calibrate', () => {
    const runs = [run('w1', 1, 2, 1), run('w2', 1, 2.5, 0.25), run('w3', 1, 3, 5), run('w5', 1, 3.5, 2)];
    const probed = { ...results(runs), probes: { replicaUsPerRecord: 3.05312, redisUsPerField: 2.55982 } };
    expect(costTableFrom(probed, 'x').calibration).toEqual({
      replicaUsPerRecord: 3.053,
      redisUsPerField: 2.56,
    });
  });

  it('says which runs it is missing', () => {
    expect(() => costTableFrom(results([run('w1', 1, 2, 1), run('w3', 1, 3, 5)]), 'x')).toThrow(
      /needs a one-replica run of w2 \(--workloads w1,w2,w3,w5\)/,
    );
    const withoutW5 = [run('w1', 1, 2, 1), run('w2', 1, 2.5, 0.25), run('w3', 1, 3, 5)];
    expect(() => costTableFrom(results(withoutW5), 'x')).toThrow(/needs a one-replica run of w5/);
    expect(() => costTableFrom(results([run('w1', 1, 2, 1)], false), 'x')).toThrow(
      /needs the freshness of w1/,
    );
  });
});
