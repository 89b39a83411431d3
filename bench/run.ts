/**
 * `npm run bench` (full) / `npm run bench -- --quick` (about a minute): kappaflow against its
 * baselines, side by side in one run on the same local Kafka and Redis as the tests.
 *
 * Options: --quick, --records <n per topic>, --freshness <seconds>, --skip-peer, --skip-scaling,
 * --skip-profile, --skip-decode; --freshness-rate <rec/s> runs only the freshness measurement of workload 1. Results: bench/results/<timestamp>.json and .md, and the generated section of
 * docs/benchmarks.md.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { startKafka } from '../harness/kafka.ts';
import { ensureDir, repoRoot, runDir } from '../harness/paths.ts';
import { freePort } from '../harness/ports.ts';
import { startRedis } from '../harness/redis.ts';
import { startProcess, waitUntil } from '../harness/service.ts';
import { type DecodeRow, decodeFormatsTable, measureDecodeFormats } from './decode-formats.ts';

const run = promisify(execFile);
const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const option = (name: string, fallback: number) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(argv[i + 1]);
};
const QUICK = flag('quick');
const RECORDS = option('records', QUICK ? 200_000 : 1_000_000);
const FRESHNESS_S = option('freshness', QUICK ? 10 : 60);
const PARTITIONS = 12;
const ONLY = argv.includes('--workloads') ? argv[argv.indexOf('--workloads') + 1]!.split(',') : undefined;
const benchDir = join(repoRoot, 'bench');
const workDir = ensureDir(join(runDir, `bench-${Date.now()}`));
const log = (...args: unknown[]) =>
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...args);

// ---------------------------------------------------------------- data (deterministic)

function lcg(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Zipf(s) over n ranks by inverse CDF (binary search). */
function zipf(n: number, s: number, random: () => number) {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) cdf[i] = total += 1 / (i + 1) ** s;
  for (let i = 0; i < n; i++) cdf[i]! /= total;
  return () => {
    const u = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

interface TopicSpec {
  topic: string;
  keys: number;
  skew?: number;
}

/** The i-th event of a stream: key, value, user, latency, status; event time from `timeOf`. */
function generator(spec: TopicSpec, seed: number) {
  const random = lcg(seed);
  const pick = spec.skew ? zipf(spec.keys, spec.skew, random) : () => Math.floor(random() * spec.keys);
  return (ts: number) => {
    const k = pick();
    return JSON.stringify({
      ts,
      k: `k${k}`,
      v: Math.floor(random() * 1000),
      u: `u${Math.floor(random() * 50_000)}`,
      lat: 1 + Math.floor(random() * 2000),
      st: random() < 0.9 ? 200 : 503,
    });
  };
}

const EVENT_START = Date.UTC(2026, 0, 1);
/** Ten minutes of event time per topic (60 tumbling windows of 10 s). */
const EVENT_SPAN_MS = 600_000;

async function produceTopic(producer: Producer, spec: TopicSpec, count: number, seed: number) {
  const next = generator(spec, seed);
  const chunk = 10_000;
  const inflight: Promise<unknown>[] = [];
  for (let i = 0; i < count; i += chunk) {
    const n = Math.min(chunk, count - i);
    const messages = Array.from({ length: n }, (_, j) => ({
      partition: (i + j) % PARTITIONS,
      value: next(EVENT_START + Math.floor(((i + j) / count) * EVENT_SPAN_MS)),
    }));
    inflight.push(producer.send({ topic: spec.topic, acks: 1, messages }));
    if (inflight.length >= 4) await inflight.shift();
  }
  await Promise.all(inflight);
}

// ---------------------------------------------------------------- workloads

interface Workload {
  id: string;
  title: string;
  topic: TopicSpec;
  /** the group name to filter a freshness probe by, and the probe's value of it */
  probe: { field: string; groupOf: (probeKey: string) => string };
  yaml: (name: string, topic: string) => string;
}

const header = (name: string, topic: string) => `apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata:
  name: ${name}
spec:
  source:
    topic: ${topic}
    format: json
    eventTime: { field: ts }
    startFrom: earliest
`;

const uniform10k: TopicSpec = { topic: 'bench-uniform-10k', keys: 10_000 };
const uniform100k: TopicSpec = { topic: 'bench-uniform-100k', keys: 100_000 };
const zipf10k: TopicSpec = { topic: 'bench-zipf-10k', keys: 10_000, skew: 1.2 };
const ENRICH_HASH = 'bench:region';

const workloads: Workload[] = [
  {
    id: 'w1',
    title: '1 count+sum, 10 s tumbling, 10k keys',
    topic: uniform10k,
    probe: { field: 'key', groupOf: (k) => k },
    yaml: (name, topic) => `${header(name, topic)}  groupBy:
    key: event.k
  window: { type: tumbling, size: 10s, grace: 1h }
  aggregates:
    n: { count: {} }
    total: { sum: event.v }
  retention: 1d
`,
  },
  {
    id: 'w2',
    title: '2 filter+enrich+count, 10 s tumbling',
    topic: uniform10k,
    probe: { field: 'region', groupOf: (k) => `region-${k}` },
    yaml: (name, topic) => `${header(name, topic)}  where: "event.st < 500"
  enrich:
    - lookup:
        redisHash: ${ENRICH_HASH}
        key: event.k
        as: region
  groupBy:
    region: enriched.region
  window: { type: tumbling, size: 10s, grace: 1h }
  aggregates:
    n: { count: {} }
  retention: 1d
`,
  },
  {
    id: 'w3',
    title: '3 hopping 1m/10s distinct+p95, 100k keys',
    topic: uniform100k,
    probe: { field: 'key', groupOf: (k) => k },
    yaml: (name, topic) => `${header(name, topic)}  groupBy:
    key: event.k
  window: { type: hopping, size: 1m, advance: 10s, grace: 1h }
  aggregates:
    users: { countDistinct: event.u }
    p95: { percentile: event.lat, q: 0.95 }
  retention: 1d
`,
  },
  {
    id: 'w4',
    title: '4 Zipf s=1.2 count+sum, 10k keys',
    topic: zipf10k,
    probe: { field: 'key', groupOf: (k) => k },
    yaml: (name, topic) => `${header(name, topic)}  groupBy:
    key: event.k
  window: { type: tumbling, size: 10s, grace: 1h }
  aggregates:
    n: { count: {} }
    total: { sum: event.v }
  retention: 1d
`,
  },
];

// ---------------------------------------------------------------- measuring

/** Calls per command, plus `@usec:<cmd>` (time inside Redis) and `@cpu` (Redis process CPU seconds). */
async function commandStats(redis: Redis): Promise<Map<string, number>> {
  const stats = new Map<string, number>();
  for (const line of (await redis.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (m) {
      stats.set(m[1]!, Number(m[2]));
      stats.set(`@usec:${m[1]}`, Number(m[3]));
    }
  }
  const cpu = await redis.info('cpu');
  const user = Number(/used_cpu_user:([\d.]+)/.exec(cpu)?.[1]);
  const sys = Number(/used_cpu_sys:([\d.]+)/.exec(cpu)?.[1]);
  stats.set('@cpu', user + sys);
  return stats;
}

function statsDelta(before: Map<string, number>, after: Map<string, number>) {
  const delta: Record<string, number> = {};
  let total = 0;
  for (const [cmd, calls] of after) {
    if (cmd.startsWith('@')) continue;
    const d = calls - (before.get(cmd) ?? 0);
    if (d > 0 && cmd !== 'info') {
      delta[cmd] = d;
      total += d;
    }
  }
  const d = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
  return {
    total,
    byCommand: delta,
    redisCpuSeconds: d('@cpu'),
    /** time Redis spent executing EVALSHA (the commit script, including the commands it calls) */
    evalshaSeconds: d('@usec:evalsha') / 1e6,
  };
}

async function metricSum(port: number, metric: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${metric}{`) || line.startsWith(`${metric} `)) sum += Number(line.split(' ').pop());
  }
  return sum;
}

let nameCounter = 0;

async function spawnReplicas(
  workload: Workload,
  topic: string,
  replicas: number,
  ctx: Context,
  extraEnv: NodeJS.ProcessEnv = {},
  nodeArgs: string[] = [],
) {
  const name = `${workload.id}-${++nameCounter}-${Date.now().toString(36)}`;
  const file = join(workDir, `${name}.yaml`);
  writeFileSync(file, workload.yaml(name, topic));
  const processes = await Promise.all(
    Array.from({ length: replicas }, async (_, r) => {
      const port = await freePort();
      const queryPort = await freePort();
      const child = startProcess(
        `${name}-r${r}`,
        process.execPath,
        [
          ...nodeArgs,
          '--import',
          'tsx',
          join(benchDir, 'processor-entry.ts'),
          file,
          String(port),
          String(queryPort),
        ],
        {
          logFile: join(workDir, `${name}-r${r}.log`),
          cwd: repoRoot,
          env: {
            KAFKA_BROKERS: ctx.brokers.join(','),
            REDIS_URL: ctx.redisUrl,
            KAPPAFLOW_REPLICA_ID: `${name}-r${r}`,
            LOG_LEVEL: 'warn',
            ...extraEnv,
          },
        },
      );
      await waitUntil(`${name} r${r}`, async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, {
        timeoutMs: 60_000,
        service: child,
      });
      return { child, port, queryPort };
    }),
  );
  return { name, processes };
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuSecondsOf(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime in clock ticks (USER_HZ = 100)
  } catch {
    return Number.NaN;
  }
}

async function checkpointSum(redis: Redis, name: string): Promise<number> {
  const pipe = redis.pipeline();
  for (let p = 0; p < PARTITIONS; p++) pipe.hget(`kf:{${name}:1:${p}}:ckpt`, 'offset');
  const replies = (await pipe.exec()) ?? [];
  return replies.reduce((sum, [, value]) => sum + Number(value ?? 0), 0);
}

interface ProcessorRun {
  workload: string;
  replicas: number;
  records: number;
  seconds: number;
  rate: number;
  /** CPU seconds the replicas used between first progress and the end, and records per CPU second */
  cpuSeconds: number;
  perCpuSecond: number;
  /** the raw kafkajs ceiling measured just before this run, on the same topic */
  ceiling?: Awaited<ReturnType<typeof baseline>>;
  redisCommits: number;
  commitsPerRecord: number;
  redisCommands: number;
  commandsPerRecord: number;
  byCommand: Record<string, number>;
  /** Redis process CPU seconds during the run, and the part spent in the commit script */
  redisCpuSeconds: number;
  evalshaSeconds: number;
}

async function measureProcessor(
  workload: Workload,
  replicas: number,
  ctx: Context,
  options: { env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {},
): Promise<ProcessorRun> {
  const total = RECORDS;
  const before = await commandStats(ctx.redis);
  const { name, processes } = await spawnReplicas(
    workload,
    workload.topic.topic,
    replicas,
    ctx,
    options.env,
    options.nodeArgs,
  );
  let t0 = 0;
  let base = 0;
  let t1 = 0;
  const cpu = () => processes.reduce((sum, p) => sum + cpuSecondsOf(p.child.child.pid), 0);
  let cpu0 = 0;
  let cpu1 = 0;
  const deadline = Date.now() + 30 * 60_000;
  while (Date.now() < deadline) {
    const done = await checkpointSum(ctx.redis, name);
    const now = performance.now();
    if (t0 === 0 && done > 0) {
      t0 = now;
      base = done;
      cpu0 = cpu();
    }
    if (done >= total) {
      t1 = now;
      cpu1 = cpu();
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  if (t1 === 0) throw new Error(`${name} did not finish`);
  let commits = 0;
  for (const p of processes) commits += await metricSum(p.port, 'kappaflow_redis_commits_total');
  const after = await commandStats(ctx.redis);
  await Promise.all(processes.map((p) => p.child.stop(20_000)));
  const delta = statsDelta(before, after);
  const seconds = (t1 - t0) / 1000;
  const result: ProcessorRun = {
    workload: workload.id,
    replicas,
    records: total,
    seconds,
    rate: (total - base) / seconds,
    cpuSeconds: cpu1 - cpu0,
    perCpuSecond: (total - base) / (cpu1 - cpu0),
    redisCommits: commits,
    commitsPerRecord: commits / total,
    redisCommands: delta.total,
    commandsPerRecord: delta.total / total,
    byCommand: delta.byCommand,
    redisCpuSeconds: delta.redisCpuSeconds,
    evalshaSeconds: delta.evalshaSeconds,
  };
  log(
    `${workload.id} x${replicas}: ${Math.round(result.rate)} rec/s in ${seconds.toFixed(1)} s, processor CPU ${result.cpuSeconds.toFixed(1)} s, Redis CPU ${result.redisCpuSeconds.toFixed(1)} s (script ${result.evalshaSeconds.toFixed(1)} s), ${commits} commits`,
  );
  return result;
}

async function baseline(mode: 'ceiling' | 'naive', topic: string, ctx: Context, maxSeconds?: number) {
  const before = await commandStats(ctx.redis);
  const { stdout } = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      join(benchDir, 'baseline.ts'),
      mode,
      topic,
      String(RECORDS),
      ...(maxSeconds ? [String(maxSeconds)] : []),
    ],
    {
      cwd: repoRoot,
      env: { ...process.env, KAFKA_BROKERS: ctx.brokers.join(','), REDIS_URL: ctx.redisUrl },
      maxBuffer: 1 << 20,
    },
  );
  const result = JSON.parse(stdout.trim().split('\n').pop()!) as {
    records: number;
    seconds: number;
    rate: number;
    cpuSeconds: number;
    perCpuSecond: number;
  };
  const delta = statsDelta(before, await commandStats(ctx.redis));
  log(`${mode} ${topic}: ${Math.round(result.rate)} rec/s, ${Math.round(result.perCpuSecond)} rec/CPU-s`);
  return { ...result, redisCommands: delta.total, commandsPerRecord: delta.total / result.records };
}

async function peerKafkaStreams(ctx: Context, maxSeconds: number) {
  const peerDir = join(benchDir, '.peer');
  try {
    if (!existsSync(join(peerDir, 'node_modules', 'kafka-streams'))) {
      log('installing the npm kafka-streams peer into bench/.peer (not a project dependency)');
      await run('npm', ['install', '--prefix', peerDir, '--no-audit', '--no-fund', 'kafka-streams@5'], {
        cwd: repoRoot,
        timeout: 180_000,
      });
    }
    const { stdout } = await run(
      process.execPath,
      [
        join(benchDir, 'peer-kafka-streams.cjs'),
        peerDir,
        ctx.brokers[0]!,
        uniform10k.topic,
        String(RECORDS),
        String(maxSeconds),
      ],
      { cwd: repoRoot, timeout: (maxSeconds + 30) * 1000, maxBuffer: 1 << 20 },
    );
    const result = JSON.parse(stdout.trim().split('\n').pop()!);
    log(`kafka-streams: ${JSON.stringify(result)}`);
    return result as { records: number; rate: number; why: string; errors: string[] };
  } catch (error) {
    return { records: 0, rate: 0, why: 'failed', errors: [String((error as Error).message).slice(0, 300)] };
  }
}

function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/**
 * Produces live events at `rate` records/s for FRESHNESS_S seconds into a fresh topic, with two
 * probe records per second whose group is unique. Two clocks per probe, both from just before the
 * produce call: (1) committed: the partition's Redis checkpoint passed the probe's offset (polled
 * every 10 ms, one pipelined HGET per partition); (2) queryable: the HTTP query API (windows,
 * filtered by the probe's group, any-of all outstanding probes in one request every 50 ms) returns
 * the probe's group. Polling the API per probe every few ms would itself load Redis with window
 * scans and slow the commits being measured.
 */
async function measureFreshness(workload: Workload, rate: number, ctx: Context) {
  const topic = `bench-fresh-${workload.id}-${Date.now().toString(36)}`;
  await ctx.admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  const { name, processes } = await spawnReplicas(workload, topic, 1, ctx);
  const { port, queryPort } = processes[0]!;
  await waitUntil(`${name} ready`, async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, {
    timeoutMs: 60_000,
  });
  const next = generator(workload.topic, 99);
  interface Probe {
    group: string;
    sentAt: number;
    partition: number;
    offset: number;
    committedMs?: number;
    queryableMs?: number;
  }
  const probes: Probe[] = [];
  let producing = true;
  const tickMs = 100;
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
  // (1) checkpoints
  const committedPoller = (async () => {
    while (producing || probes.some((p) => p.committedMs === undefined)) {
      const pending = probes.filter((p) => p.committedMs === undefined && p.offset >= 0);
      if (pending.length > 0) {
        const pipe = ctx.redis.pipeline();
        for (let p = 0; p < PARTITIONS; p++) pipe.hget(`kf:{${name}:1:${p}}:ckpt`, 'offset');
        const offsets = ((await pipe.exec()) ?? []).map(([, v]) => Number(v ?? 0));
        const now = performance.now();
        for (const probe of pending)
          if (offsets[probe.partition]! > probe.offset) probe.committedMs = now - probe.sentAt;
      }
      if (probes.some((p) => performance.now() - p.sentAt > 60_000 && p.committedMs === undefined)) break;
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  // (2) the HTTP query API
  const queryPoller = (async () => {
    while (producing || probes.some((p) => p.queryableMs === undefined)) {
      const pending = probes.filter((p) => p.queryableMs === undefined).slice(0, 50);
      if (pending.length > 0) {
        const field = workload.probe.field;
        const qs = pending.map((p) => `${field}=${encodeURIComponent(p.group)}`).join('&');
        const body = (await (
          await fetch(`http://127.0.0.1:${queryPort}/api/v1/pipelines/${name}/windows?${qs}&limit=1000`)
        ).json()) as { windows?: { groups: { group: Record<string, unknown> }[] }[] };
        const now = performance.now();
        const seen = new Set<string>();
        for (const w of body.windows ?? []) for (const g of w.groups) seen.add(String(g.group[field]));
        for (const probe of pending) if (seen.has(probe.group)) probe.queryableMs = now - probe.sentAt;
      }
      if (probes.some((p) => performance.now() - p.sentAt > 60_000 && p.queryableMs === undefined)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const started = Date.now();
  let tick = 0;
  let sent = 0;
  while (Date.now() - started < FRESHNESS_S * 1000) {
    const now = Date.now();
    const messages = Array.from({ length: perTick }, (_, j) => ({
      partition: (sent + j) % PARTITIONS,
      value: next(now),
    }));
    let probe: Probe | undefined;
    if (tick % 5 === 0) {
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
      probes.push(probe);
    }
    const meta = await ctx.producer.send({ topic, acks: 1, messages });
    if (probe) probe.offset = Number(meta.find((m) => m.partition === probe!.partition)!.baseOffset);
    sent += perTick;
    tick++;
    const wait = started + tick * tickMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const seconds = (Date.now() - started) / 1000;
  producing = false;
  await Promise.all([committedPoller, queryPoller]);
  const commits = await metricSum(port, 'kappaflow_redis_commits_total');
  const aggregated = await metricSum(port, 'kappaflow_records_aggregated_total');
  await Promise.all(processes.map((p) => p.child.stop(20_000)));
  const committed = probes.flatMap((p) => (p.committedMs === undefined ? [] : [p.committedMs]));
  const queryable = probes.flatMap((p) => (p.queryableMs === undefined ? [] : [p.queryableMs]));
  const result = {
    workload: workload.id,
    targetRate: rate,
    achievedRate: sent / seconds,
    seconds,
    probes: probes.length,
    missed: probes.length - queryable.length,
    p50Ms: percentile(queryable, 0.5),
    p99Ms: percentile(queryable, 0.99),
    maxMs: Math.max(...queryable),
    committedP50Ms: percentile(committed, 0.5),
    committedP99Ms: percentile(committed, 0.99),
    commits,
    commitsPerSecond: commits / seconds,
    recordsPerCommit: aggregated / commits,
  };
  log(`freshness ${workload.id}: ${JSON.stringify(result)}`);
  return result;
}

/** Self time per function from a V8 .cpuprofile, top `n` (idle, program and GC reported apart). */
function topFunctions(file: string, n = 5) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)!.callFrame;
    const url = frame.url.replace(`file://${repoRoot}/`, '').replace(/.*node_modules\//, '');
    const key = `${frame.functionName || '(anonymous)'} ${url}${url ? `:${frame.lineNumber + 1}` : ''}`;
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  const special = ['(idle)', '(program)', '(garbage collector)'];
  const busy = total - (self.get('(idle) ') ?? 0);
  const pct = (us: number) => Math.round((1000 * us) / busy) / 10;
  return {
    busyMs: Math.round(busy / 1000),
    idlePct: Math.round((1000 * (self.get('(idle) ') ?? 0)) / total) / 10,
    gcPct: pct(self.get('(garbage collector) ') ?? 0),
    programPct: pct(self.get('(program) ') ?? 0),
    top: [...self.entries()]
      .filter(([k]) => !special.some((s) => k.startsWith(s)))
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([fn, us]) => ({ fn, selfPct: pct(us) })),
  };
}

// ---------------------------------------------------------------- main

interface Context {
  brokers: string[];
  redisUrl: string;
  redis: Redis;
  admin: ReturnType<Kafka['admin']>;
  producer: Producer;
}

function machine() {
  const cpu = cpus();
  return {
    nproc: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    note: 'shared with other work at the time of the run; Kafka, Redis, the producer, the processors and the baselines share these cores',
  };
}

const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');

async function main() {
  const startedAt = new Date();
  log(`records per topic: ${RECORDS}, freshness: ${FRESHNESS_S}s, quick: ${QUICK}`);
  const kafkaCluster = await startKafka();
  const redisDeployment = await startRedis();
  const redis = new Redis(redisDeployment.url);
  const kafka = new Kafka({ brokers: kafkaCluster.brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const ctx: Context = {
    brokers: kafkaCluster.brokers,
    redisUrl: redisDeployment.url,
    redis,
    admin,
    producer,
  };
  const results: Record<string, unknown> = {
    machine: machine(),
    startedAt,
    recordsPerTopic: RECORDS,
    quick: QUICK,
  };
  try {
    if (option('freshness-rate', 0) > 0) {
      // Just the freshness of workload 1 at a given rate (for iterating on latency).
      await measureFreshness(workloads[0]!, option('freshness-rate', 0), ctx);
      return;
    }
    // Prepare the topics once.
    const topics = [uniform10k, uniform100k, zipf10k].filter(
      (t) => !ONLY || workloads.some((w) => ONLY.includes(w.id) && w.topic === t),
    );
    await admin.createTopics({
      topics: topics.map((t) => ({ topic: t.topic, numPartitions: PARTITIONS })),
      waitForLeaders: true,
    });
    let seed = 1;
    for (const t of topics) {
      const began = performance.now();
      await produceTopic(producer, t, RECORDS, seed++);
      log(`produced ${RECORDS} to ${t.topic} in ${Math.round(performance.now() - began)} ms`);
    }
    const regions = redis.pipeline();
    for (let k = 0; k < 10_000; k++) regions.hset(ENRICH_HASH, `k${k}`, `r${k % 50}`);
    await regions.exec();
    const redisConfig = await redis.config('GET', 'append*');
    results.redisConfig = redisConfig;

    const ceilings: Record<string, Awaited<ReturnType<typeof baseline>>> = {};
    for (const t of topics) ceilings[t.topic] = await baseline('ceiling', t.topic, ctx);
    results.ceilings = ceilings;

    const runs: ProcessorRun[] = [];
    for (const w of workloads.filter((x) => !ONLY || ONLY.includes(x.id))) {
      // The ceiling again right before each run, so each ratio compares neighbours in time.
      const ceiling = await baseline('ceiling', w.topic.topic, ctx);
      runs.push({ ...(await measureProcessor(w, 1, ctx)), ceiling });
    }
    // The ceiling once more after the processors, to show drift on a shared machine.
    const ceilingAfter = await baseline('ceiling', topics[0]!.topic, ctx);
    results.ceilingAfter = ceilingAfter;
    results.runs = runs;

    results.naive = flag('skip-naive')
      ? { rate: Number.NaN, commandsPerRecord: Number.NaN, records: 0 }
      : await baseline('naive', uniform10k.topic, ctx, QUICK ? 5 : 30);
    // --quick keeps the table (every workload, the ceiling, the naive baseline, w1 freshness) and the
    // profile, and leaves the slower extras (peer, scaling, everysec) to the full run.
    if (!flag('skip-peer') && !QUICK) results.kafkaStreams = await peerKafkaStreams(ctx, QUICK ? 10 : 45);

    const w1 = workloads[0]!;
    if (!flag('skip-scaling') && !QUICK) {
      const scaling: ProcessorRun[] = [runs[0]!];
      for (const replicas of [2, 4]) scaling.push(await measureProcessor(w1, replicas, ctx));
      results.scaling = scaling;
    }

    // Redis with appendfsync everysec instead of always (the tests' default): what durability costs.
    if (!flag('skip-everysec') && !QUICK) {
      await redis.config('SET', 'appendfsync', 'everysec');
      results.w1EverySec = await measureProcessor(w1, 1, ctx);
      await redis.config('SET', 'appendfsync', 'always');
    }

    if (!flag('skip-profile')) {
      const profileDir = ensureDir(join(benchDir, 'results'));
      const stamp = Date.now();
      const profiled = await measureProcessor(w1, 1, ctx, {
        env: { KAPPAFLOW_BENCH_PROFILE: join(profileDir, `w1-${stamp}.cpuprofile`) },
      });
      const file = join(profileDir, `w1-${stamp}.cpuprofile`);
      await waitUntil('cpu profile', async () => existsSync(file), { timeoutMs: 30_000 });
      results.profile = {
        run: profiled,
        file: `bench/results/w1-${stamp}.cpuprofile`,
        ...topFunctions(file),
      };
    }

    // Decode cost of Avro and Protobuf against JSON on w1's shape (in-process, CPU only; fast, so --quick keeps it).
    if (!flag('skip-decode')) {
      results.decodeFormats = await measureDecodeFormats({
        records: QUICK ? 10_000 : 50_000,
        rounds: QUICK ? 5 : 15,
      });
    }

    const freshness: Record<string, unknown>[] = [];
    const freshnessIds = FRESHNESS_S <= 0 ? [] : QUICK ? ['w1'] : ['w1', 'w2', 'w3', 'w4'];
    for (const w of workloads.filter(
      (x) => freshnessIds.includes(x.id) && runs.some((r) => r.workload === x.id),
    )) {
      const measured = runs.find((r) => r.workload === w.id)!;
      freshness.push(await measureFreshness(w, Math.round(measured.rate / 2), ctx));
    }
    results.freshness = freshness;

    // ------------------------------------------------------------ report
    const rows: string[] = [
      '| workload | kappaflow rec/s | ceiling rec/s | ratio | Redis cmds/rec | p50/p99 produce→queryable | rec per CPU-s: kappaflow / ceiling (ratio) |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ];
    for (const r of runs) {
      const w = workloads.find((x) => x.id === r.workload)!;
      const ceiling = r.ceiling!.rate;
      const cpuRatio = `${fmt(r.perCpuSecond)} / ${fmt(r.ceiling!.perCpuSecond)} (${(r.perCpuSecond / r.ceiling!.perCpuSecond).toFixed(2)})`;
      const f = freshness.find((x) => x.workload === r.workload) as
        | { p50Ms: number; p99Ms: number }
        | undefined;
      rows.push(
        `| ${w.title} | ${fmt(r.rate)} | ${fmt(ceiling)} | ${(r.rate / ceiling).toFixed(2)} | ${r.commandsPerRecord.toFixed(4)} (${r.commitsPerRecord.toFixed(5)} round trips) | ${f ? `${fmt(f.p50Ms)} / ${fmt(f.p99Ms)} ms` : '—'} | ${cpuRatio} |`,
      );
    }
    const naive = results.naive as { rate: number; commandsPerRecord: number; records: number };
    rows.push(
      `| baseline: naive HINCRBY per record (w1 shape, count only) | ${fmt(naive.rate)} | ${fmt(ceilings[uniform10k.topic]!.rate)} | ${(naive.rate / ceilings[uniform10k.topic]!.rate).toFixed(2)} | ${naive.commandsPerRecord.toFixed(4)} (1 round trip) | — | ${fmt((naive as unknown as { perCpuSecond: number }).perCpuSecond)} / — |`,
    );
    const peer = results.kafkaStreams as
      | { rate: number; records: number; why: string; errors: string[] }
      | undefined;
    if (peer) {
      rows.push(
        `| baseline: npm kafka-streams (count per key) | ${peer.records > 0 ? fmt(peer.rate) : `0 (${peer.why}: ${(peer.errors[0] ?? 'consumed nothing').replace(/\|/g, '/').slice(0, 120)})`} | ${fmt(ceilings[uniform10k.topic]!.rate)} | ${peer.records > 0 ? (peer.rate / ceilings[uniform10k.topic]!.rate).toFixed(2) : '—'} | — | — | — |`,
      );
    }
    const everySec = results.w1EverySec as ProcessorRun | undefined;
    if (everySec)
      rows.push(
        `| w1 with Redis appendfsync everysec | ${fmt(everySec.rate)} | ${fmt(ceilings[uniform10k.topic]!.rate)} | ${(everySec.rate / ceilings[uniform10k.topic]!.rate).toFixed(2)} | ${everySec.commandsPerRecord.toFixed(4)} (${everySec.commitsPerRecord.toFixed(5)} round trips) | — | ${fmt(everySec.perCpuSecond)} / — |`,
      );
    const lines = [
      `Run ${startedAt.toISOString()}${QUICK ? ' (--quick)' : ''}: ${RECORDS.toLocaleString('en-US')} records per topic, ${PARTITIONS} partitions; machine: ${results.machine && JSON.stringify(results.machine)}; Redis ${JSON.stringify(redisConfig)} unless noted.`,
      '',
      ...rows,
      '',
      `Ceiling re-measured after the processor runs: ${fmt(ceilingAfter.rate)} rec/s (drift on a shared machine).`,
    ];
    if (results.scaling) {
      lines.push(
        '',
        '| replicas (w1) | rec/s | CPU-s used (all replicas) | rec per CPU-s | Redis round trips/rec |',
        '| ---: | ---: | ---: | ---: | ---: |',
      );
      for (const s of results.scaling as ProcessorRun[])
        lines.push(
          `| ${s.replicas} | ${fmt(s.rate)} | ${s.cpuSeconds.toFixed(1)} | ${fmt(s.perCpuSecond)} | ${s.commitsPerRecord.toFixed(5)} |`,
        );
      lines.push('', `nproc = ${cpus().length}`);
    }
    lines.push(
      '',
      '| freshness at 50% load | target rec/s | achieved rec/s | probes | queryable p50 / p99 / max ms | committed p50 / p99 ms | commits/s | records/commit |',
    );
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const f of freshness as {
      workload: string;
      targetRate: number;
      achievedRate: number;
      probes: number;
      p50Ms: number;
      p99Ms: number;
      maxMs: number;
      committedP50Ms: number;
      committedP99Ms: number;
      commitsPerSecond: number;
      recordsPerCommit: number;
    }[])
      lines.push(
        `| ${f.workload} | ${fmt(f.targetRate)} | ${fmt(f.achievedRate)} | ${f.probes} | ${fmt(f.p50Ms)} / ${fmt(f.p99Ms)} / ${fmt(f.maxMs)} | ${fmt(f.committedP50Ms)} / ${fmt(f.committedP99Ms)} | ${f.commitsPerSecond.toFixed(1)} | ${fmt(f.recordsPerCommit)} |`,
      );
    if (results.decodeFormats) {
      lines.push('', ...decodeFormatsTable(results.decodeFormats as DecodeRow[]));
    }
    if (results.profile) {
      const p = results.profile as ReturnType<typeof topFunctions> & { file: string };
      lines.push(
        '',
        `Profile of one w1 replica (${p.file}): busy ${p.busyMs} ms, idle ${p.idlePct}% of wall, GC ${p.gcPct}% and (program) ${p.programPct}% of busy. Top five by self time:`,
        '',
      );
      for (const [i, t] of p.top.entries()) lines.push(`${i + 1}. \`${t.fn}\` ${t.selfPct}%`);
    }
    const markdown = lines.join('\n');
    console.log(`\n${markdown}\n`);

    const resultsDir = ensureDir(join(benchDir, 'results'));
    const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
    writeFileSync(
      join(resultsDir, `${stamp}${QUICK ? '-quick' : ''}.json`),
      `${JSON.stringify(results, null, 2)}\n`,
    );
    writeFileSync(join(resultsDir, `${stamp}${QUICK ? '-quick' : ''}.md`), `${markdown}\n`);
    const doc = join(repoRoot, 'docs', 'benchmarks.md');
    if (existsSync(doc) && !QUICK && !ONLY) {
      const text = readFileSync(doc, 'utf8');
      const begin = '<!-- bench:begin -->';
      const end = '<!-- bench:end -->';
      if (text.includes(begin) && text.includes(end)) {
        writeFileSync(
          doc,
          `${text.slice(0, text.indexOf(begin) + begin.length)}\n${markdown}\n${text.slice(text.indexOf(end))}`,
        );
      }
    }
  } finally {
    await producer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
    redis.disconnect();
    await redisDeployment.stop();
    await kafkaCluster.stop();
  }
}

await main();
process.exit(0);
