/**
 * `npm run bench` (full) / `npm run bench -- --quick` (about a minute): kappaflow against its
 * baselines, side by side in one run on the same local Kafka and Redis as the tests.
 *
 * Options: --quick, --records <n per topic>, --freshness <seconds>, --skip-peer, --skip-scaling,
 * --skip-profile (the profile is of w1, or of the first of --workloads without w1), --skip-durability, --skip-sink, --skip-decode; --durability-only runs only the spec.redis.waitForReplicas case,
 * --sink-only only the spec.sink.delivery case;
 * --freshness-warmup <s> (default 5) produces at least that long, then until the replica has caught
 * up (at most --freshness-warmup-max, 60), before the first probe (0: probes from the first record);
 * --freshness-producer java|kafkajs (default java) produces the freshness load; --freshness-profile;
 * --freshness-rate <rec/s> runs only the freshness measurement of workload 1 (or of the first of
 * --workloads); --query-server: the freshness probes ask a query API process of its own (the
 * chart's query.server.enabled) instead of the replica's; --scaling <list> the
 * replica counts of the scaling runs (default 2,4); --repeat <n> measures each workload n times,
 * each right after its own ceiling, and reports the median pair by CPU ratio with every ratio; --write-costs writes the capacity model's cost table
 * (processor/src/capacity/costs.json, needs w1, w2, w3, w5 and freshness). Results: bench/results/<timestamp>.json and .md, and the generated section of
 * docs/benchmarks.md.
 *
 * The parts: options.ts (command line), data.ts (deterministic input), workloads.ts (the pipelines),
 * baselines.ts (what kappaflow is compared with), measure.ts and freshness.ts (the measurements),
 * profile.ts, report.ts (tables and files). This file runs them in order.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir } from '../harness/paths.ts';
import { waitUntil } from '../harness/service.ts';
import { startKafkaAndRedis } from '../harness/services.ts';
import { redisProbeUs, replicaProbeUs } from '../processor/src/capacity/probe.ts';
import { baseline, peerKafkaStreams } from './baselines.ts';
import { costTableFrom, writeCostTable } from './costs.ts';
import { produceTopic, type TopicSpec } from './data.ts';
import { measureDecodeFormats } from './decode-formats.ts';
import { measureDurability } from './durability.ts';
import { measureFreshness } from './freshness.ts';
import { measureProcessor, type ProcessorRun } from './measure.ts';
import {
  benchDir,
  type Context,
  FRESHNESS_S,
  flag,
  log,
  ONLY,
  option,
  PARTITIONS,
  QUICK,
  RECORDS,
  REDIS_CONFIG,
  REPEAT,
  SCALING,
} from './options.ts';
import { topFunctions } from './profile.ts';
import {
  type BenchResults,
  durabilityTable,
  machine,
  renderMarkdown,
  sinkDeliveryTable,
  writeResults,
} from './report.ts';
import { measureSinkDelivery } from './sink-delivery.ts';
import { ENRICH_HASH, uniform10k, uniform100k, workloads, zipf10k } from './workloads.ts';

/** Creates and fills the topics of the chosen workloads, and the enrichment hash of w2. */
async function prepareInput(ctx: Context): Promise<TopicSpec[]> {
  const only = ONLY;
  const topics = [uniform10k, uniform100k, zipf10k].filter(
    (t) => !only || workloads.some((w) => only.includes(w.id) && w.topic === t),
  );
  await ctx.admin.createTopics({
    topics: topics.map((t) => ({ topic: t.topic, numPartitions: PARTITIONS })),
    waitForLeaders: true,
  });
  let seed = 1;
  for (const t of topics) {
    const began = performance.now();
    await produceTopic(ctx.producer, t, RECORDS, seed++);
    log(`produced ${RECORDS} to ${t.topic} in ${Math.round(performance.now() - began)} ms`);
  }
  await seedRegions(ctx);
  return topics;
}

/** w2's lookup table: each key's region, in a Redis hash. */
async function seedRegions(ctx: Context): Promise<void> {
  const regions = ctx.redis.pipeline();
  for (let k = 0; k < 10_000; k++) regions.hset(ENRICH_HASH, `k${k}`, `r${k % 50}`);
  await regions.exec();
}

/**
 * Redis as a fresh deployment of the measured pipeline finds it: the throughput runs' state
 * deleted and the append-only file rewritten to what is left. Otherwise each workload's freshness
 * would depend on the ones measured before it: their state grows every AOF rewrite (a forked
 * child writing the whole data set while the commits wait for their fsyncs on the same disk).
 */
async function freshRedis(ctx: Context): Promise<void> {
  await ctx.redis.flushall();
  await seedRegions(ctx);
  const rewriting = async () => {
    const info = await ctx.redis.info('persistence');
    return /^aof_rewrite_(in_progress|scheduled):1/m.test(info);
  };
  // a rewrite already running makes BGREWRITEAOF schedule one after it
  await ctx.redis.bgrewriteaof();
  await waitUntil('the AOF rewrite to finish', async () => !(await rewriting()), {
    timeoutMs: 120_000,
    intervalMs: 100,
  });
}

/** Each workload on one replica, each right after its own ceiling, then the ceiling once more (drift). */
async function measureWorkloads(
  ctx: Context,
  topics: TopicSpec[],
  results: BenchResults,
): Promise<ProcessorRun[]> {
  const ceilings: Record<string, Awaited<ReturnType<typeof baseline>>> = {};
  for (const t of topics) ceilings[t.topic] = await baseline('ceiling', t.topic, ctx);
  results.ceilings = ceilings;
  const runs: ProcessorRun[] = [];
  for (const w of workloads.filter((x) => !ONLY || ONLY.includes(x.id))) {
    // The ceiling again right before each run, so each ratio compares neighbours in time; with
    // --repeat, several such pairs (a shared machine moves one ratio by ±15 %), the median reported.
    const pairs: ProcessorRun[] = [];
    for (let i = 0; i < REPEAT; i++) {
      const ceiling = await baseline('ceiling', w.topic.topic, ctx);
      pairs.push({ ...(await measureProcessor(w, 1, ctx)), ceiling });
    }
    const ratioOf = (r: ProcessorRun) => r.perCpuSecond / r.ceiling!.perCpuSecond;
    const median = [...pairs].sort((a, b) => ratioOf(a) - ratioOf(b))[Math.floor((pairs.length - 1) / 2)]!;
    runs.push(pairs.length > 1 ? { ...median, cpuRatios: pairs.map(ratioOf) } : median);
  }
  results.ceilingAfter = await baseline('ceiling', topics[0]!.topic, ctx);
  results.runs = runs;
  return runs;
}

/**
 * The slower extras of a full run (--quick keeps the table, the naive baseline, w1 freshness and
 * the profile): the peer library, scaling to 2 and 4 replicas, Redis with appendfsync everysec.
 */
async function measureExtras(ctx: Context, runs: ProcessorRun[], results: BenchResults): Promise<void> {
  results.naive = flag('skip-naive')
    ? { rate: Number.NaN, commandsPerRecord: Number.NaN, records: 0 }
    : await baseline('naive', uniform10k.topic, ctx, QUICK ? 5 : 30);
  if (QUICK) return;
  if (!flag('skip-peer')) results.kafkaStreams = await peerKafkaStreams(ctx, 45);
  const w1 = workloads[0]!;
  if (!flag('skip-scaling')) {
    const scaling: ProcessorRun[] = [runs[0]!];
    for (const replicas of SCALING) scaling.push(await measureProcessor(w1, replicas, ctx));
    results.scaling = scaling;
  }
  // Redis with appendfsync everysec instead of always (the tests' default): what durability costs.
  if (!flag('skip-everysec')) {
    await ctx.redis.config('SET', 'appendfsync', 'everysec');
    results.w1EverySec = await measureProcessor(w1, 1, ctx);
    await ctx.redis.config('SET', 'appendfsync', 'always');
  }
  if (!flag('skip-durability')) results.durability = await measureDurability(ctx);
  if (!flag('skip-sink')) results.sinkDelivery = await measureSinkDelivery(ctx);
}

/**
 * A CPU profile of one replica, summarised by self time: of w1, or of the first workload of a
 * `--workloads` list without w1 (only the chosen workloads' topics are filled).
 */
async function profileReplica(ctx: Context): Promise<BenchResults['profile']> {
  const id = !ONLY || ONLY.includes('w1') ? 'w1' : ONLY[0]!;
  const workload = workloads.find((w) => w.id === id);
  if (!workload) throw new Error(`--workloads: no workload ${id} to profile (w1..w5)`);
  const profileDir = ensureDir(join(benchDir, 'results'));
  const stamp = Date.now();
  const file = join(profileDir, `${id}-${stamp}.cpuprofile`);
  const profiled = await measureProcessor(workload, 1, ctx, { env: { KAPPAFLOW_BENCH_PROFILE: file } });
  await waitUntil('cpu profile', async () => existsSync(file), { timeoutMs: 30_000 });
  return { run: profiled, file: `bench/results/${id}-${stamp}.cpuprofile`, ...topFunctions(file, 10) };
}

/** Freshness at half of each measured rate (w1 only with --quick). */
async function measureAllFreshness(ctx: Context, runs: ProcessorRun[]) {
  const ids = FRESHNESS_S <= 0 ? [] : QUICK ? ['w1'] : ['w1', 'w2', 'w3', 'w4'];
  const freshness = [];
  for (const w of workloads.filter((x) => ids.includes(x.id) && runs.some((r) => r.workload === x.id))) {
    const measured = runs.find((r) => r.workload === w.id)!;
    await freshRedis(ctx);
    freshness.push(await measureFreshness(w, Math.round(measured.rate / 2), ctx));
  }
  return freshness;
}

async function main() {
  const startedAt = new Date();
  log(`records per topic: ${RECORDS}, freshness: ${FRESHNESS_S}s, quick: ${QUICK}`);
  const services = await startKafkaAndRedis();
  const ctx: Context = services;
  try {
    for (const [name, value] of REDIS_CONFIG) {
      await ctx.redis.config('SET', name, value);
      log(`Redis: CONFIG SET ${name} ${value}`);
    }
    if (option('freshness-rate', 0) > 0) {
      // Just the freshness of one workload at a given rate (for iterating on latency): workload 1,
      // or the first of --workloads.
      const id = ONLY?.[0] ?? 'w1';
      const workload = workloads.find((w) => w.id === id);
      if (!workload) throw new Error(`--workloads: no workload ${id} (w1..w5)`);
      await measureFreshness(workload, option('freshness-rate', 0), ctx);
      return;
    }
    // One extra case alone, on w1's topic.
    const only = flag('sink-only')
      ? async () => sinkDeliveryTable(await measureSinkDelivery(ctx))
      : flag('durability-only')
        ? async () => durabilityTable(await measureDurability(ctx))
        : undefined;
    if (only) {
      await ctx.admin.createTopics({
        topics: [{ topic: uniform10k.topic, numPartitions: PARTITIONS }],
        waitForLeaders: true,
      });
      await produceTopic(ctx.producer, uniform10k, RECORDS, 1);
      console.log(`\n${(await only()).join('\n')}\n`);
      return;
    }
    const results: BenchResults = { machine: machine(), startedAt, recordsPerTopic: RECORDS, quick: QUICK };
    const topics = await prepareInput(ctx);
    results.redisConfig = [
      ...((await ctx.redis.config('GET', 'append*')) as string[]),
      ...REDIS_CONFIG.flat(),
    ];
    // The machine probes `kappaflow plan --calibrate` compares with (capacity/probe.ts), before and
    // after the workloads (a shared machine drifts), with nothing else of the run going on.
    const probe = async () => ({
      replicaUsPerRecord: await replicaProbeUs(),
      redisUsPerField: await redisProbeUs(ctx.redis),
    });
    const probesBefore = await probe();
    log(`machine probes before the workloads: ${JSON.stringify(probesBefore)}`);
    const runs = await measureWorkloads(ctx, topics, results);
    const probesAfter = await probe();
    log(`machine probes after the workloads: ${JSON.stringify(probesAfter)}`);
    results.probes = {
      replicaUsPerRecord: (probesBefore.replicaUsPerRecord + probesAfter.replicaUsPerRecord) / 2,
      redisUsPerField: (probesBefore.redisUsPerField + probesAfter.redisUsPerField) / 2,
      before: probesBefore,
      after: probesAfter,
    };
    await measureExtras(ctx, runs, results);
    if (!flag('skip-profile')) results.profile = await profileReplica(ctx);
    // Decode cost of Avro and Protobuf against JSON on w1's shape (in-process, CPU only; --quick keeps it).
    if (!flag('skip-decode')) {
      results.decodeFormats = await measureDecodeFormats({
        records: QUICK ? 10_000 : 50_000,
        rounds: QUICK ? 5 : 15,
      });
    }
    results.freshness = await measureAllFreshness(ctx, runs);
    const markdown = renderMarkdown(results);
    console.log(`\n${markdown}\n`);
    const json = writeResults(results, markdown);
    if (flag('write-costs')) {
      writeCostTable(costTableFrom(results, json));
      log(`wrote the cost table from ${json}`);
    }
  } finally {
    await services.stop();
  }
}

await main();
process.exit(0);
