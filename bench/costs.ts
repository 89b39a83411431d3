/**
 * `npm run bench -- --write-costs`: the per-record costs of a run, as the capacity model's table
 * (processor/src/capacity/costs.json). Needs w1, w2, w3 and w5 in the run and w1's freshness.
 */
import { writeFileSync } from 'node:fs';
import {
  COSTS_FILE,
  type CostRow,
  type CostTable,
  costTableSchema,
} from '../processor/src/capacity/costs.ts';
import type { ProcessorRun } from './measure.ts';
import type { BenchResults } from './report.ts';
import { workloads } from './workloads.ts';

function row(runs: ProcessorRun[], id: string): CostRow {
  const run = runs.find((r) => r.workload === id && r.replicas === 1);
  const workload = workloads.find((w) => w.id === id);
  if (!run || !workload)
    throw new Error(`--write-costs needs a one-replica run of ${id} (--workloads w1,w2,w3,w5)`);
  // the measured interval starts at the first checkpoint, so a few records are outside it
  const records = run.rate * run.seconds;
  return {
    workload: id,
    description: workload.title,
    replicaCpuUsPerRecord: round((run.cpuSeconds / records) * 1e6),
    redisCpuUsPerRecord: round((run.redisCpuSeconds / records) * 1e6),
    redisCommandsPerRecord: round(run.commandsPerRecord, 4),
    groups: workload.topic.keys,
  };
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** The cost table of a run's results; `source` names its results file. */
export function costTableFrom(results: BenchResults, source: string): CostTable {
  const runs = results.runs ?? [];
  const fresh = results.freshness?.find((f) => f.workload === 'w1');
  if (!fresh) throw new Error('--write-costs needs the freshness of w1 (--freshness > 0)');
  return costTableSchema.parse({
    measuredAt: new Date(results.startedAt).toISOString(),
    source,
    machine: `${results.machine.nproc} CPUs ${results.machine.cpuModel}, shared by Kafka, Redis, the producer and the replicas`,
    fields: row(runs, 'w1'),
    enrich: row(runs, 'w2'),
    sketches: row(runs, 'w3'),
    tumblingSketches: row(runs, 'w5'),
    ...(results.probes
      ? {
          calibration: {
            replicaUsPerRecord: round(results.probes.replicaUsPerRecord, 3),
            redisUsPerField: round(results.probes.redisUsPerField, 3),
          },
        }
      : {}),
    freshness: { workload: 'w1', rate: round(fresh.achievedRate, 0), p99Ms: round(fresh.p99Ms, 0) },
  });
}

export function writeCostTable(table: CostTable): void {
  writeFileSync(COSTS_FILE, `${JSON.stringify(table, null, 2)}\n`);
}
