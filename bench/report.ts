/** The results of a run as Markdown tables, written to bench/results and docs/benchmarks.md. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { ensureDir, repoRoot } from '../harness/paths.ts';
import type { baseline } from './baselines.ts';
import { type DecodeRow, decodeFormatsTable } from './decode-formats.ts';
import type { DurabilityRun } from './durability.ts';
import type { measureFreshness } from './freshness.ts';
import type { ProcessorRun } from './measure.ts';
import { benchDir, ONLY, PARTITIONS, QUICK, RECORDS } from './options.ts';
import type { topFunctions } from './profile.ts';
import type { SinkDeliveryRun } from './sink-delivery.ts';
import { uniform10k, workloads } from './workloads.ts';

type Baseline = Awaited<ReturnType<typeof baseline>>;
type Freshness = Awaited<ReturnType<typeof measureFreshness>>;

/** Everything one run measured (also written as JSON). */
export interface BenchResults {
  machine: ReturnType<typeof machine>;
  startedAt: Date;
  recordsPerTopic: number;
  quick: boolean;
  redisConfig?: unknown;
  ceilings?: Record<string, Baseline>;
  ceilingAfter?: Baseline;
  runs?: ProcessorRun[];
  naive?: { rate: number; commandsPerRecord: number; records: number; perCpuSecond?: number };
  kafkaStreams?: { rate: number; records: number; why: string; errors: string[] };
  scaling?: ProcessorRun[];
  w1EverySec?: ProcessorRun;
  durability?: DurabilityRun;
  sinkDelivery?: SinkDeliveryRun;
  profile?: ReturnType<typeof topFunctions> & { file: string; run: ProcessorRun };
  freshness?: Freshness[];
  decodeFormats?: DecodeRow[];
  /** capacity/probe.ts on this machine and its Redis: the mean of before and after the workloads */
  probes?: {
    replicaUsPerRecord: number;
    redisUsPerField: number;
    before?: { replicaUsPerRecord: number; redisUsPerField: number };
    after?: { replicaUsPerRecord: number; redisUsPerField: number };
  };
}

export function machine() {
  const cpu = cpus();
  return {
    nproc: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    /** load average (1, 5, 15 min) when the run started */
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
    note: 'shared with other work at the time of the run; Kafka, Redis, the producer, the processors and the baselines share these cores',
  };
}

const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');

/** The main table: each workload against the ceiling measured just before it, then the baselines. */
function throughputTable(results: BenchResults): string[] {
  const runs = results.runs ?? [];
  const freshness = results.freshness ?? [];
  const rows: string[] = [
    '| workload | kappaflow rec/s | ceiling rec/s | ratio | Redis cmds/rec | p50/p99 produce→queryable | rec per CPU-s: kappaflow / ceiling (ratio) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of runs) {
    const w = workloads.find((x) => x.id === r.workload)!;
    const ceiling = r.ceiling!.rate;
    const cpuRatio = `${fmt(r.perCpuSecond)} / ${fmt(r.ceiling!.perCpuSecond)} (${(r.perCpuSecond / r.ceiling!.perCpuSecond).toFixed(2)})`;
    const f = freshness.find((x) => x.workload === r.workload);
    rows.push(
      `| ${w.title} | ${fmt(r.rate)} | ${fmt(ceiling)} | ${(r.rate / ceiling).toFixed(2)} | ${r.commandsPerRecord.toFixed(4)} (${r.commitsPerRecord.toFixed(5)} round trips) | ${f ? `${fmt(f.p50Ms)} / ${fmt(f.p99Ms)} ms` : '—'} | ${cpuRatio} |`,
    );
  }
  // The baselines are measured beside w1: a partial run (--workloads, --skip-naive) may lack them.
  const w1Ceiling = results.ceilings?.[uniform10k.topic]?.rate;
  if (w1Ceiling === undefined) return rows;
  const naive = results.naive;
  if (naive)
    rows.push(
      `| baseline: naive HINCRBY per record (w1 shape, count only) | ${fmt(naive.rate)} | ${fmt(w1Ceiling)} | ${(naive.rate / w1Ceiling).toFixed(2)} | ${naive.commandsPerRecord.toFixed(4)} (1 round trip) | — | ${fmt(naive.perCpuSecond ?? Number.NaN)} / — |`,
    );
  const peer = results.kafkaStreams;
  if (peer) {
    rows.push(
      `| baseline: npm kafka-streams (count per key) | ${peer.records > 0 ? fmt(peer.rate) : `0 (${peer.why}: ${(peer.errors[0] ?? 'consumed nothing').replace(/\|/g, '/').slice(0, 120)})`} | ${fmt(w1Ceiling)} | ${peer.records > 0 ? (peer.rate / w1Ceiling).toFixed(2) : '—'} | — | — | — |`,
    );
  }
  const everySec = results.w1EverySec;
  if (everySec)
    rows.push(
      `| w1 with Redis appendfsync everysec | ${fmt(everySec.rate)} | ${fmt(w1Ceiling)} | ${(everySec.rate / w1Ceiling).toFixed(2)} | ${everySec.commandsPerRecord.toFixed(4)} (${everySec.commitsPerRecord.toFixed(5)} round trips) | — | ${fmt(everySec.perCpuSecond)} / — |`,
    );
  return rows;
}

/** With --repeat: every pair's ratio by CPU, of which the table shows the median pair. */
function repeatedPairs(runs: ProcessorRun[]): string[] {
  return runs.flatMap((r) =>
    r.cpuRatios
      ? [
          '',
          `${r.workload} by CPU over ${r.cpuRatios.length} alternating (ceiling, processor) pairs: ${r.cpuRatios.map((x) => x.toFixed(2)).join(', ')} (the table's row is the median pair).`,
        ]
      : [],
  );
}

function scalingTable(scaling: ProcessorRun[]): string[] {
  return [
    '',
    '| replicas (w1) | rec/s | CPU-s used (all replicas) | rec per CPU-s | Redis round trips/rec |',
    '| ---: | ---: | ---: | ---: | ---: |',
    ...scaling.map(
      (s) =>
        `| ${s.replicas} | ${fmt(s.rate)} | ${s.cpuSeconds.toFixed(1)} | ${fmt(s.perCpuSecond)} | ${s.commitsPerRecord.toFixed(5)} |`,
    ),
    '',
    `nproc = ${cpus().length}`,
  ];
}

function freshnessTable(freshness: Freshness[]): string[] {
  return [
    '',
    '| freshness at 50% load | target rec/s | achieved rec/s | probes | queryable p50 / p99 / max ms | committed p50 / p99 ms | commits/s | records/commit | cores: replica / Redis / producer / others / idle (query server) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...freshness.map(
      (f) =>
        `| ${f.workload} | ${fmt(f.targetRate)} | ${fmt(f.achievedRate)} | ${f.probes} | ${fmt(f.p50Ms)} / ${fmt(f.p99Ms)} / ${fmt(f.maxMs)} | ${fmt(f.committedP50Ms)} / ${fmt(f.committedP99Ms)} | ${f.commitsPerSecond.toFixed(1)} | ${fmt(f.recordsPerCommit)} | ${coresOf(f.coresWhileProducing)} |`,
    ),
  ];
}

function coresOf(c: Freshness['coresWhileProducing'] | undefined): string {
  if (!c) return '—';
  const producer = 'probes' in c ? `${c.producer} (+${c.probes} probes)` : String(c.producer);
  const cores = `${c.replica} / ${c.redis} / ${producer} / ${c.others} / ${c.idle}`;
  return 'query' in c ? `${cores} (${c.query})` : cores;
}

function profileSection(p: NonNullable<BenchResults['profile']>): string[] {
  return [
    '',
    `Profile of one ${p.run.workload} replica (${p.file}): busy ${p.busyMs} ms, idle ${p.idlePct}% of wall, GC ${p.gcPct}% and (program) ${p.programPct}% of busy. Top ${p.top.length} by self time:`,
    '',
    ...p.top.map((t, i) => `${i + 1}. \`${t.fn}\` ${t.selfPct}%`),
  ];
}

export function durabilityTable(d: DurabilityRun): string[] {
  return [
    '',
    '| w1, one Redis replica attached | rec/s | rec per CPU-s | commits | ratio to no wait |',
    '| --- | ---: | ---: | ---: | ---: |',
    `| no wait (default) | ${fmt(d.noWait.rate)} | ${fmt(d.noWait.perCpuSecond)} | ${d.noWait.redisCommits} | 1.00 |`,
    `| spec.redis.waitForReplicas: 1 | ${fmt(d.wait.rate)} | ${fmt(d.wait.perCpuSecond)} | ${d.wait.redisCommits} | ${d.ratio.toFixed(2)} |`,
  ];
}

export function sinkDeliveryTable(d: SinkDeliveryRun): string[] {
  return [
    '',
    '| w1 with grace 1s and a sink topic | rec/s | rec per CPU-s | ratio to atLeastOnce |',
    '| --- | ---: | ---: | ---: |',
    `| sink.delivery: atLeastOnce (default) | ${fmt(d.atLeastOnce.rate)} | ${fmt(d.atLeastOnce.perCpuSecond)} | 1.00 |`,
    `| sink.delivery: exactlyOnce | ${fmt(d.exactlyOnce.rate)} | ${fmt(d.exactlyOnce.perCpuSecond)} | ${d.ratio.toFixed(2)} |`,
  ];
}

/** The whole report as Markdown. */
export function renderMarkdown(results: BenchResults): string {
  const lines = [
    `Run ${results.startedAt.toISOString()}${QUICK ? ' (--quick)' : ''}: ${RECORDS.toLocaleString('en-US')} records per topic, ${PARTITIONS} partitions; machine: ${results.machine && JSON.stringify(results.machine)}; Redis ${JSON.stringify(results.redisConfig)} unless noted.`,
    '',
    ...throughputTable(results),
    '',
    `Ceiling re-measured after the processor runs: ${fmt(results.ceilingAfter!.rate)} rec/s (drift on a shared machine).`,
    ...repeatedPairs(results.runs ?? []),
  ];
  if (results.durability) lines.push(...durabilityTable(results.durability));
  if (results.sinkDelivery) lines.push(...sinkDeliveryTable(results.sinkDelivery));
  if (results.scaling) lines.push(...scalingTable(results.scaling));
  lines.push(...freshnessTable(results.freshness ?? []));
  if (results.decodeFormats) lines.push('', ...decodeFormatsTable(results.decodeFormats));
  if (results.profile) lines.push(...profileSection(results.profile));
  return lines.join('\n');
}

/** bench/results/<stamp>.json and .md; the generated section of docs/benchmarks.md after a full run. */
/** Writes the run's files (and the generated section of the docs); returns the JSON's repository path. */
export function writeResults(results: BenchResults, markdown: string): string {
  const resultsDir = ensureDir(join(benchDir, 'results'));
  const stamp = results.startedAt.toISOString().replace(/[:.]/g, '-');
  const json = `bench/results/${stamp}${QUICK ? '-quick' : ''}.json`;
  writeFileSync(join(repoRoot, json), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(resultsDir, `${stamp}${QUICK ? '-quick' : ''}.md`), `${markdown}\n`);
  const doc = join(repoRoot, 'docs', 'benchmarks.md');
  if (!existsSync(doc) || QUICK || ONLY) return json;
  const text = readFileSync(doc, 'utf8');
  const begin = '<!-- bench:begin -->';
  const end = '<!-- bench:end -->';
  if (text.includes(begin) && text.includes(end)) {
    writeFileSync(
      doc,
      `${text.slice(0, text.indexOf(begin) + begin.length)}\n${markdown}\n${text.slice(text.indexOf(end))}`,
    );
  }
  return json;
}
