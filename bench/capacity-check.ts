/**
 * The capacity model's predictions against a benchmark run it was not fitted to:
 *
 *   node --import tsx bench/capacity-check.ts bench/results/<run>.json
 *
 * For every processor run (one or more replicas) the predicted most records per second
 * (capacity/plan.ts predictMaxRate, one Redis shard) against the measured rate, and for every
 * freshness run the predicted p99 (predictFreshnessMs) against the measured one, with the error.
 * The costs are the committed table (processor/src/capacity/costs.json).
 */
import { readFileSync } from 'node:fs';
import { loadCostTable, recordCosts } from '../processor/src/capacity/costs.ts';
import { freshnessFloorMs, predictFreshnessMs, predictMaxRate } from '../processor/src/capacity/plan.ts';
import type { PipelineShape } from '../processor/src/capacity/shape.ts';
import type { BenchResults } from './report.ts';

const file = process.argv[2];
if (!file) throw new Error('usage: node --import tsx bench/capacity-check.ts bench/results/<run>.json');
const results = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
const table = loadCostTable();

const base = { groupByFields: 1, filtered: false, fieldAggregates: 0, sketchAggregates: 0, enrichments: 0 };
const shapes: Record<string, PipelineShape> = {
  w1: { ...base, window: 'tumbling', fieldAggregates: 2 },
  w2: { ...base, window: 'tumbling', fieldAggregates: 1, enrichments: 1, filtered: true },
  w3: { ...base, window: 'sliced', slicesPerWindow: 6, sketchAggregates: 2 },
  w4: { ...base, window: 'tumbling', fieldAggregates: 2 },
  w5: { ...base, window: 'tumbling', sketchAggregates: 2 },
};
const error = (predicted: number, measured: number) =>
  `${Math.round(((predicted - measured) / measured) * 100)} %`;
const n = (x: number) => Math.round(x).toLocaleString('en-US');

console.log(
  `costs: ${table.source}; checked against: ${file}; load at its start: ${results.machine.loadAverage ?? '?'}`,
);
console.log('| run | replicas | predicted max rec/s | measured rec/s | error |');
console.log('| --- | ---: | ---: | ---: | ---: |');
const runs = [...(results.runs ?? []), ...(results.scaling ?? []).filter((r) => r.replicas > 1)];
for (const r of runs) {
  const shape = shapes[r.workload];
  if (!shape) continue;
  const predicted = predictMaxRate(r.replicas, 1, recordCosts(shape, table));
  console.log(
    `| ${r.workload} | ${r.replicas} | ${n(predicted)} | ${n(r.rate)} | ${error(predicted, r.rate)} |`,
  );
}
console.log('\n| freshness run | rate rec/s | predicted p99 ms | measured p99 ms | error |');
console.log('| --- | ---: | ---: | ---: | ---: |');
const floor = freshnessFloorMs(table);
for (const f of results.freshness ?? []) {
  const shape = shapes[f.workload];
  if (!shape) continue;
  const { p99Ms } = predictFreshnessMs(f.achievedRate, 1, 1, recordCosts(shape, table), floor);
  const shown = p99Ms === null ? 'unbounded' : n(p99Ms);
  console.log(
    `| ${f.workload} | ${n(f.achievedRate)} | ${shown} | ${n(f.p99Ms)} | ${p99Ms === null ? '—' : error(p99Ms, f.p99Ms)} |`,
  );
}
