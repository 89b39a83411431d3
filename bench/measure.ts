/** Running processor replicas over a produced topic and measuring their rate, CPU and Redis cost. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { repoRoot } from '../harness/paths.ts';
import { freePort } from '../harness/ports.ts';
import { startProcess, waitUntil } from '../harness/service.ts';
import { keys, partitionPrefix } from '../processor/src/state/keys.ts';
import type { baseline } from './baselines.ts';
import {
  benchDir,
  type Context,
  log,
  PARTITIONS,
  PIPELINE_VERSION,
  RECORDS,
  REPLICA_NODE_ARGS,
  workDir,
} from './options.ts';
import type { Workload } from './workloads.ts';

/** Calls per command, plus `@usec:<cmd>` (time inside Redis) and `@cpu` (Redis process CPU seconds). */
export async function commandStats(redis: Pick<Redis, 'info'>): Promise<Map<string, number>> {
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

export function statsDelta(before: Map<string, number>, after: Map<string, number>) {
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
  const usec: Record<string, number> = {};
  for (const cmd of Object.keys(delta)) usec[cmd] = d(`@usec:${cmd}`);
  return {
    total,
    byCommand: delta,
    /** µs inside Redis per command (a script's time includes its inner calls') */
    usecByCommand: usec,
    redisCpuSeconds: d('@cpu'),
    /** time Redis spent executing EVALSHA (the commit script, including the commands it calls) */
    evalshaSeconds: d('@usec:evalsha') / 1e6,
  };
}

export async function metricSum(port: number, metric: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${metric}{`) || line.startsWith(`${metric} `)) sum += Number(line.split(' ').pop());
  }
  return sum;
}

/**
 * The replica's V8 heap in use (MB) and its major (mark-compact) collections so far: how many,
 * their seconds in all, and how many took a second or more (prom-client's default metrics).
 */
export async function heapAndMajorGc(port: number) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  // a sample's line: its name, then labels in any order
  const value = (name: string, ...labels: string[]) => {
    const line = text
      .split('\n')
      .find(
        (l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && labels.every((x) => l.includes(x)),
      );
    return line === undefined ? Number.NaN : Number(line.split(' ').pop());
  };
  const major = 'kind="major"';
  const count = value('nodejs_gc_duration_seconds_count', major);
  return {
    heapUsedMB: Math.round(value('nodejs_heap_size_used_bytes') / 1e6),
    majorGcs: count,
    majorGcSeconds: Math.round(value('nodejs_gc_duration_seconds_sum', major) * 100) / 100,
    majorGcsOf1sOrMore: count - value('nodejs_gc_duration_seconds_bucket', major, 'le="1"'),
  };
}

/**
 * The bucket bound at or below which a share `q` of a histogram's observations fall, over every
 * label set (`le` of the first bucket whose cumulative count reaches q of the total; Infinity
 * past the last bound): an upper estimate of its q-quantile, in the metric's unit.
 */
export async function histogramQuantile(port: number, metric: string, q: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const buckets = new Map<number, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}_bucket{`)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(line.split(' ').pop()));
  }
  const sorted = [...buckets].sort(([a], [b]) => a - b);
  const total = sorted.at(-1)?.[1] ?? 0;
  for (const [bound, count] of sorted) if (count >= q * total) return bound;
  return Number.NaN;
}

export let nameCounter = 0;

export async function spawnReplicas(
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
          ...REPLICA_NODE_ARGS,
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
            KAPPAFLOW_PIPELINE_VERSION: String(PIPELINE_VERSION),
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
export function cpuSecondsOf(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime in clock ticks (USER_HZ = 100)
  } catch {
    return Number.NaN;
  }
}

/** The next offset of each partition's checkpoint (0 before its first commit), in one round trip. */
export async function checkpointOffsets(redis: Redis, name: string): Promise<number[]> {
  const pipe = redis.pipeline();
  for (let p = 0; p < PARTITIONS; p++)
    pipe.hget(keys.checkpoint(partitionPrefix(name, PIPELINE_VERSION, p)), 'offset');
  return ((await pipe.exec()) ?? []).map(([, value]) => Number(value ?? 0));
}

export async function checkpointSum(redis: Redis, name: string): Promise<number> {
  return (await checkpointOffsets(redis, name)).reduce((sum, offset) => sum + offset, 0);
}

export interface ProcessorRun {
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
  /** with --repeat: the CPU ratio (kappaflow / ceiling records per CPU second) of every pair, in run order */
  cpuRatios?: number[];
  redisCommits: number;
  commitsPerRecord: number;
  redisCommands: number;
  commandsPerRecord: number;
  byCommand: Record<string, number>;
  /** Redis process CPU seconds during the run, and the part spent in the commit script */
  redisCpuSeconds: number;
  evalshaSeconds: number;
}

export async function measureProcessor(
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
