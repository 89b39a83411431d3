/** Produce-to-queryable latency under a steady load. */
import { cpus } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../harness/paths.ts';
import { freePort } from '../harness/ports.ts';
import { startProcess, waitUntil } from '../harness/service.ts';
import { generator } from './data.ts';
import { startLoadProducer } from './load-producer.ts';
import {
  checkpointOffsets,
  commandStats,
  cpuSecondsOf,
  heapAndMajorGc,
  histogramQuantile,
  metricSum,
  spawnReplicas,
} from './measure.ts';
import {
  benchDir,
  type Context,
  FRESHNESS_S,
  FRESHNESS_WARMUP_MAX_S,
  FRESHNESS_WARMUP_S,
  flag,
  LOAD_PRODUCER,
  log,
  PARTITIONS,
  workDir,
} from './options.ts';
import { topFunctions } from './profile.ts';
import { ENRICH_HASH, type Workload } from './workloads.ts';

export function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

interface Probe {
  group: string;
  sentAt: number;
  partition: number;
  offset: number;
  committedMs?: number;
  queryableMs?: number;
}

/** The probes of one measurement and whether records are still being produced. */
interface ProbeState {
  probes: Probe[];
  producing: boolean;
  /** how long each polling query took (the read side's share of the queryable clock) */
  queryMs: number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const givenUp = (probes: Probe[], clock: 'committedMs' | 'queryableMs') =>
  probes.some((p) => performance.now() - p.sentAt > 60_000 && p[clock] === undefined);

/** Clock (1): the partition's Redis checkpoint passed the probe's offset (every 10 ms, one round trip). */
async function pollCommitted(state: ProbeState, ctx: Context, name: string): Promise<void> {
  while (state.producing || state.probes.some((p) => p.committedMs === undefined)) {
    const pending = state.probes.filter((p) => p.committedMs === undefined && p.offset >= 0);
    if (pending.length > 0) {
      const offsets = await checkpointOffsets(ctx.redis, name);
      const now = performance.now();
      for (const probe of pending)
        if (offsets[probe.partition]! > probe.offset) probe.committedMs = now - probe.sentAt;
    }
    if (givenUp(state.probes, 'committedMs')) break;
    await sleep(10);
  }
}

/** Clock (2): the HTTP query API returns the probe's group (any-of all outstanding probes, every 50 ms). */
async function pollQueryable(state: ProbeState, workload: Workload, queryPort: number, name: string) {
  const field = workload.probe.field;
  while (state.producing || state.probes.some((p) => p.queryableMs === undefined)) {
    const pending = state.probes.filter((p) => p.queryableMs === undefined).slice(0, 50);
    if (pending.length > 0) {
      const qs = pending.map((p) => `${field}=${encodeURIComponent(p.group)}`).join('&');
      const asked = performance.now();
      const body = (await (
        await fetch(`http://127.0.0.1:${queryPort}/api/v1/pipelines/${name}/windows?${qs}&limit=1000`)
      ).json()) as { windows?: { groups: { group: Record<string, unknown> }[] }[] };
      const now = performance.now();
      state.queryMs.push(now - asked);
      const seen = new Set<string>();
      for (const w of body.windows ?? []) for (const g of w.groups) seen.add(String(g.group[field]));
      for (const probe of pending) if (seen.has(probe.group)) probe.queryableMs = now - probe.sentAt;
    }
    if (givenUp(state.probes, 'queryableMs')) break;
    await sleep(50);
  }
}

/**
 * Produces at `rate` for `seconds` in 100 ms ticks, a probe every fifth tick when `probing`
 * (without, the warm-up); returns records sent.
 */
async function produceWithProbes(
  state: ProbeState,
  workload: Workload,
  rate: number,
  topic: string,
  ctx: Context,
  next: (now: number) => string,
  { seconds, probing }: { seconds: number; probing: boolean },
) {
  const tickMs = 100;
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
  const started = Date.now();
  let tick = 0;
  let sent = 0;
  while (Date.now() - started < seconds * 1000) {
    const now = Date.now();
    const messages = Array.from({ length: perTick }, (_, j) => ({
      partition: (sent + j) % PARTITIONS,
      value: next(now),
    }));
    let probe: Probe | undefined;
    if (probing && tick % 5 === 0) {
      const key = `probe-${tick}`;
      const event = JSON.parse(messages[0]!.value) as { k: string; st: number };
      event.k = key;
      event.st = 200;
      messages[0]!.value = JSON.stringify(event);
      if (workload.id === 'w2') await ctx.redis.hset(ENRICH_HASH, key, workload.probe.groupOf(key));
      probe = {
        group: workload.probe.groupOf(key),
        sentAt: 0,
        partition: messages[0]!.partition,
        offset: -1,
      };
    }
    const sentAt = performance.now();
    if (probe) {
      probe.sentAt = sentAt;
      state.probes.push(probe);
    }
    const meta = await ctx.producer.send({ topic, acks: 1, messages });
    if (probe) probe.offset = Number(meta.find((m) => m.partition === probe!.partition)!.baseOffset);
    sent += perTick;
    tick++;
    const wait = started + tick * tickMs - Date.now();
    if (wait > 0) await sleep(wait);
  }
  return { sent, seconds: (Date.now() - started) / 1000 };
}

/**
 * The probes alone, two per second for `seconds`, while the Java load producer sends the load
 * (bench/load-producer.ts): one record each, to the partitions in turn.
 */
async function sendProbes(
  state: ProbeState,
  workload: Workload,
  topic: string,
  ctx: Context,
  seconds: number,
) {
  const started = Date.now();
  const next = generator(workload.topic, 5);
  for (let i = 0; Date.now() - started < seconds * 1000; i++) {
    const key = `probe-${i}`;
    const event = JSON.parse(next(Date.now())) as { k: string; st: number };
    event.k = key;
    event.st = 200;
    if (workload.id === 'w2') await ctx.redis.hset(ENRICH_HASH, key, workload.probe.groupOf(key));
    const probe: Probe = {
      group: workload.probe.groupOf(key),
      sentAt: performance.now(),
      partition: i % PARTITIONS,
      offset: -1,
    };
    state.probes.push(probe);
    const meta = await ctx.producer.send({
      topic,
      acks: 1,
      messages: [{ partition: probe.partition, value: JSON.stringify(event) }],
    });
    probe.offset = Number(meta.find((m) => m.partition === probe.partition)!.baseOffset);
    const wait = started + (i + 1) * 500 - Date.now();
    if (wait > 0) await sleep(wait);
  }
}

/** Records the replica has not committed yet: the topic's end offsets minus its checkpoints. */
async function lagOf(ctx: Context, topic: string, name: string): Promise<number> {
  const [ends, checkpoints] = await Promise.all([
    ctx.admin.fetchTopicOffsets(topic),
    checkpointOffsets(ctx.redis, name),
  ]);
  return ends.reduce((sum, { partition, high }) => sum + Number(high) - checkpoints[partition]!, 0);
}

/** Caught up: the lag is at most this many seconds of records, at three checks a second apart. */
const CAUGHT_UP_S = 0.5;

/**
 * The warm-up: `produceFor` (the load goes on) for at least FRESHNESS_WARMUP_S, then until the
 * replica has caught up, FRESHNESS_WARMUP_MAX_S at most. A replica's first seconds (partition
 * claims, code V8 has not compiled yet) leave a backlog that a replica running near its capacity
 * drains slowly; probes sent before then measure that start, not the steady state at this rate.
 */
async function warmUp(
  ctx: Context,
  topic: string,
  name: string,
  rate: number,
  produceFor: (seconds: number) => Promise<unknown>,
) {
  // --freshness-warmup 0: probes from the first record on (the replica's start measured too)
  if (FRESHNESS_WARMUP_S <= 0) return { seconds: 0, caughtUp: null, lagAtLastCheck: null };
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  await produceFor(FRESHNESS_WARMUP_S);
  let streak = 0;
  let lag = Number.NaN;
  while (elapsed() < FRESHNESS_WARMUP_MAX_S) {
    lag = await lagOf(ctx, topic, name);
    streak = lag <= rate * CAUGHT_UP_S ? streak + 1 : 0;
    if (streak >= 3) break;
    await produceFor(1);
  }
  return { seconds: Math.round(elapsed() * 10) / 10, caughtUp: streak >= 3, lagAtLastCheck: lag };
}

/** Busy and total CPU seconds of the whole machine so far (every core; os.cpus() times are in ms). */
function machineCpuSeconds(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const { times } of cpus()) {
    const all = times.user + times.nice + times.sys + times.idle + times.irq;
    total += all / 1000;
    busy += (all - times.idle) / 1000;
  }
  return { busy, total };
}

/**
 * Where the machine's CPU went while records were produced, in cores (CPU-s per second): the
 * replica, Redis, the load's producer (the Java process, or this one with kafkajs), this process'
 * probes and pollers (apart with the Java producer), everything else (mostly the Kafka broker), and
 * how many of the machine's cores were idle. A machine without idle cores queues
 * every step, which is what a p99 measured beside its own producer then shows.
 */
async function cpuSplit(
  replicaPid: number | undefined,
  queryPid: number | undefined,
  ctx: Context,
  loadPid?: number,
) {
  const redisCpu = async () => (await commandStats(ctx.redis)).get('@cpu') ?? Number.NaN;
  const own = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  };
  const before = {
    at: performance.now(),
    machine: machineCpuSeconds(),
    replica: cpuSecondsOf(replicaPid),
    query: queryPid === undefined ? 0 : cpuSecondsOf(queryPid),
    redis: await redisCpu(),
    own: own(),
    load: loadPid === undefined ? 0 : cpuSecondsOf(loadPid),
  };
  return async () => {
    const seconds = (performance.now() - before.at) / 1000;
    const machine = machineCpuSeconds();
    const cores = (used: number) => Math.round((used / seconds) * 100) / 100;
    const replica = cores(cpuSecondsOf(replicaPid) - before.replica);
    const query = queryPid === undefined ? 0 : cores(cpuSecondsOf(queryPid) - before.query);
    const redis = cores((await redisCpu()) - before.redis);
    // the load's producer; with the Java one, this process (probes and pollers) apart
    const bench = cores(own() - before.own);
    const producer = loadPid === undefined ? bench : cores(cpuSecondsOf(loadPid) - before.load);
    const busy = cores(machine.busy - before.machine.busy);
    return {
      replica,
      ...(queryPid === undefined ? {} : { query }),
      redis,
      producer,
      ...(loadPid === undefined ? {} : { probes: bench }),
      others:
        Math.round((busy - replica - query - redis - producer - (loadPid === undefined ? 0 : bench)) * 100) /
        100,
      idle: cores(machine.total - machine.busy - (before.machine.total - before.machine.busy)),
    };
  };
}

/**
 * Produces live events at `rate` records/s into a fresh topic (with the Java load producer, or
 * with kafkajs: --freshness-producer): a warm-up until the replica has caught up (warmUp), then
 * FRESHNESS_S seconds with two probe records per second whose group is unique (sent with kafkajs
 * either way).
 * Two clocks per probe, both from just before the produce call: (1) committed: the partition's Redis checkpoint passed the probe's offset (polled
 * every 10 ms, one pipelined HGET per partition); (2) queryable: the HTTP query API (windows,
 * filtered by the probe's group, any-of all outstanding probes in one request every 50 ms) returns
 * the probe's group; each polling request is timed (probeQuery p50/p99: the read side's share of
 * the queryable clock). Polling the API per probe every few ms would itself load Redis with window
 * scans and slow the commits being measured.
 */
export async function measureFreshness(workload: Workload, rate: number, ctx: Context) {
  const topic = `bench-fresh-${workload.id}-${Date.now().toString(36)}`;
  await ctx.admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  // --freshness-profile: a V8 CPU profile of the replica (its top functions in the result)
  const profileFile = flag('freshness-profile') ? join(workDir, `${topic}.cpuprofile`) : undefined;
  const { name, processes } = await spawnReplicas(
    workload,
    topic,
    1,
    ctx,
    profileFile ? { KAPPAFLOW_BENCH_PROFILE: profileFile } : {},
  );
  const { port } = processes[0]!;
  await waitUntil(`${name} ready`, async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, {
    timeoutMs: 60_000,
  });
  // --query-server: the probes ask a query API of its own (the chart's query.server.enabled);
  // by default the replica's own, as the chart's default serves queries from the processor pods.
  const server = flag('query-server') ? await startQueryServer(name, ctx) : undefined;
  const queryPort = server?.port ?? processes[0]!.queryPort;
  const state: ProbeState = { probes: [], producing: true, queryMs: [] };
  const pollers = [pollCommitted(state, ctx, name), pollQueryable(state, workload, queryPort, name)];
  const replicaPid = processes[0]!.child.child.pid;
  const queryPid = server?.child.child.pid;
  const topicEnd = async () =>
    (await ctx.admin.fetchTopicOffsets(topic)).reduce((sum, { high }) => sum + Number(high), 0);
  // The probed phase, with where the machine's CPU went, Redis' append-only file rewrites (a
  // rewrite forks a child whose disk and CPU the commits, appendfsync always, compete with), and
  // the records produced, commits and records aggregated over it.
  const probed = async (run: () => Promise<void>, loadPid?: number) => {
    const cpuUntilNow = await cpuSplit(replicaPid, queryPid, ctx, loadPid);
    const aofBefore = await aofRewrites(ctx);
    const at = performance.now();
    const end = await topicEnd();
    const commits = await metricSum(port, 'kappaflow_redis_commits_total');
    const aggregated = await metricSum(port, 'kappaflow_records_aggregated_total');
    // when (s into probing) Redis was seen rewriting its AOF, sampled every 250 ms
    const rewritingAtS: number[] = [];
    let running = true;
    const sampling = (async () => {
      while (running) {
        if ((await aofRewrites(ctx)).running > 0)
          rewritingAtS.push(Math.round((performance.now() - at) / 100) / 10);
        await sleep(250);
      }
    })();
    await run();
    running = false;
    await sampling;
    const seconds = (performance.now() - at) / 1000;
    const records = (await topicEnd()) - end;
    const commitsIn = (await metricSum(port, 'kappaflow_redis_commits_total')) - commits;
    const aggregatedIn = (await metricSum(port, 'kappaflow_records_aggregated_total')) - aggregated;
    const aofAfter = await aofRewrites(ctx);
    const cores = await cpuUntilNow();
    const rewrites = aofAfter.done + aofAfter.running - aofBefore.done;
    return {
      cores,
      aofBefore,
      aofAfter,
      rewrites,
      rewritingAtS,
      seconds,
      records,
      commits: commitsIn,
      aggregated: aggregatedIn,
    };
  };
  let phase: Awaited<ReturnType<typeof probed>>;
  let warm: Awaited<ReturnType<typeof warmUp>>;
  let load: { sent: number; failed: number; seconds: number } | undefined;
  try {
    if (LOAD_PRODUCER === 'java') {
      // Its longest run outlasts the longest warm-up and the probes, so that its CPU is read while
      // it still produces; it is stopped right after.
      const producer = await startLoadProducer(
        ctx.brokers,
        topic,
        workload.topic,
        Math.round(rate),
        Math.max(FRESHNESS_WARMUP_S, FRESHNESS_WARMUP_MAX_S) + FRESHNESS_S + 60,
      );
      try {
        warm = await warmUp(ctx, topic, name, rate, (s) => sleep(s * 1000));
        phase = await probed(() => sendProbes(state, workload, topic, ctx, FRESHNESS_S), producer.pid);
      } catch (error) {
        await producer.stop().catch(() => undefined);
        throw error;
      }
      load = await producer.stop();
    } else {
      const next = generator(workload.topic, 99);
      const produce = (seconds: number, probing: boolean) =>
        produceWithProbes(state, workload, rate, topic, ctx, next, { seconds, probing });
      warm = await warmUp(ctx, topic, name, rate, (s) => produce(s, false));
      phase = await probed(async () => {
        await produce(FRESHNESS_S, true);
      });
    }
    state.producing = false;
    await Promise.all(pollers);
  } catch (error) {
    state.producing = false;
    await Promise.all([...processes.map((p) => p.child.stop(20_000)), server?.child.stop(20_000)]);
    throw error;
  }
  const { rewrites, aofBefore, aofAfter: rewritesAfter, cores: coresWhileProducing, seconds } = phase;
  const gc = await heapAndMajorGc(port);
  // the replica's own share of the committed clock: a batch from fetch to commit, and its commit
  const batchP99Ms = (await histogramQuantile(port, 'kappaflow_batch_duration_seconds', 0.99)) * 1000;
  const commitP99Ms = (await histogramQuantile(port, 'kappaflow_redis_commit_duration_seconds', 0.99)) * 1000;
  const batchP50Ms = (await histogramQuantile(port, 'kappaflow_batch_duration_seconds', 0.5)) * 1000;
  const commitP50Ms = (await histogramQuantile(port, 'kappaflow_redis_commit_duration_seconds', 0.5)) * 1000;
  await Promise.all(processes.map((p) => p.child.stop(20_000)));
  await server?.child.stop(20_000);
  const { probes } = state;
  const committed = probes.flatMap((p) => (p.committedMs === undefined ? [] : [p.committedMs]));
  const queryable = probes.flatMap((p) => (p.queryableMs === undefined ? [] : [p.queryableMs]));
  const result = {
    workload: workload.id,
    queryApi: server ? 'query server' : 'in the replica',
    loadProducer: LOAD_PRODUCER,
    targetRate: rate,
    /** the warm-up: how long, whether the replica caught up, its lag (records) at the last check */
    warmup: warm,
    /** records produced while probing (probes included), per second */
    achievedRate: phase.records / seconds,
    /** the probing phase's length; commits and the rates below are over it */
    seconds,
    /** the Java load producer's whole run (warm-up included): records acknowledged, sends failed */
    ...(load ? { loadProducerRun: load } : {}),
    probes: probes.length,
    missed: probes.length - queryable.length,
    p50Ms: percentile(queryable, 0.5),
    p99Ms: percentile(queryable, 0.99),
    maxMs: Math.max(...queryable),
    committedP50Ms: percentile(committed, 0.5),
    committedP99Ms: percentile(committed, 0.99),
    probeQueryP50Ms: percentile(state.queryMs, 0.5),
    probeQueryP99Ms: percentile(state.queryMs, 0.99),
    commits: phase.commits,
    /** upper bounds from the replica's histograms (bucket bounds) */
    batchP50AtMostMs: batchP50Ms,
    batchP99AtMostMs: batchP99Ms,
    commitP50AtMostMs: commitP50Ms,
    commitP99AtMostMs: commitP99Ms,
    commitsPerSecond: phase.commits / seconds,
    recordsPerCommit: phase.aggregated / phase.commits,
    coresWhileProducing,
    aofRewritesWhileProducing: rewrites,
    /** when a rewrite was running (s into probing, sampled every 250 ms) */
    aofRewritingAtS: phase.rewritingAtS,
    /** the replica's heap at the end and its major GCs over the whole run (warm-up included) */
    gc,
    /** what the commits appended to the AOF (MB/s; a rewrite in between makes it unknown: null) */
    aofMBPerSecond:
      rewrites === 0 ? Math.round(((rewritesAfter.size - aofBefore.size) / seconds / 1e6) * 10) / 10 : null,
    /** the ten slowest probes: when they were sent (s into the run), their partition, both clocks */
    slowestProbes: slowest(probes, 10),
    ...(profileFile ? { profile: topFunctions(profileFile, 25) } : {}),
  };
  log(`freshness ${workload.id}: ${JSON.stringify(result)}`);
  return result;
}

/** Append-only file rewrites Redis finished so far, whether one is running, the file's size (INFO persistence). */
async function aofRewrites(ctx: Context): Promise<{ done: number; running: number; size: number }> {
  const info = await ctx.redis.info('persistence');
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return {
    done: field('aof_rewrites'),
    running: field('aof_rewrite_in_progress'),
    size: field('aof_current_size'),
  };
}

function slowest(probes: Probe[], n: number) {
  const first = probes[0]?.sentAt ?? 0;
  return [...probes]
    .sort((a, b) => (b.queryableMs ?? Infinity) - (a.queryableMs ?? Infinity))
    .slice(0, n)
    .map((p) => ({
      atS: Math.round((p.sentAt - first) / 100) / 10,
      partition: p.partition,
      committedMs: p.committedMs === undefined ? null : Math.round(p.committedMs),
      queryableMs: p.queryableMs === undefined ? null : Math.round(p.queryableMs),
    }));
}

/** A query API process of its own (bench/query-entry.ts), ready to answer. */
async function startQueryServer(name: string, ctx: Context) {
  const port = await freePort();
  const child = startProcess(
    `${name}-query`,
    process.execPath,
    ['--import', 'tsx', join(benchDir, 'query-entry.ts'), String(port)],
    {
      logFile: join(workDir, `${name}-query.log`),
      cwd: repoRoot,
      env: { REDIS_URL: ctx.redisUrl, LOG_LEVEL: 'warn' },
    },
  );
  await waitUntil(`${name} query server`, async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, {
    timeoutMs: 60_000,
    service: child,
  });
  return { child, port };
}
