/** The command line of `npm run bench` and what every part of the benchmark shares. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import type { Kafka, Producer } from 'kafkajs';
import { ensureDir, repoRoot, runDir } from '../harness/paths.ts';

export const run = promisify(execFile);
export const argv = process.argv.slice(2);
export const flag = (name: string) => argv.includes(`--${name}`);
export const option = (name: string, fallback: number) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(argv[i + 1]);
};
export const QUICK = flag('quick');
export const RECORDS = option('records', QUICK ? 200_000 : 1_000_000);
export const FRESHNESS_S = option('freshness', QUICK ? 10 : 60);
/**
 * --freshness-warmup S: at least S seconds of production at the same rate before the first probe,
 * and then until the replica has caught up (bench/freshness.ts warmUp), so the probes measure the
 * steady state, not the backlog of the replica's first batches (its partition claims, code not yet
 * compiled by V8), as a load test's warm-up phase does (OpenMessaging Benchmark's).
 * --freshness-warmup-max S: the longest warm-up (60 s); probes start then whatever the lag.
 */
export const FRESHNESS_WARMUP_S = option('freshness-warmup', 5);
export const FRESHNESS_WARMUP_MAX_S = option('freshness-warmup-max', 60);
/**
 * --freshness-producer java|kafkajs: what produces the freshness runs' load. Java by default
 * (bench/load-producer/): kafkajs' producer takes about 20 µs of CPU per record here, more than
 * the replica it measures, on a machine whose two cores also run Kafka, Redis and the replica;
 * a deployment's producers run elsewhere. The probes are sent with kafkajs either way.
 */
export const LOAD_PRODUCER: 'java' | 'kafkajs' = argv.includes('--freshness-producer')
  ? (argv[argv.indexOf('--freshness-producer') + 1] as 'java' | 'kafkajs')
  : 'java';
if (LOAD_PRODUCER !== 'java' && LOAD_PRODUCER !== 'kafkajs')
  throw new Error(`--freshness-producer: java or kafkajs, not ${LOAD_PRODUCER}`);
/**
 * --redis-config "<name> <value>[, <name> <value>...]": CONFIG SET on the run's Redis before anything
 * else (e.g. "auto-aof-rewrite-percentage 0": no automatic AOF rewrites), recorded in the results.
 */
export const REDIS_CONFIG: [string, string][] = argv.includes('--redis-config')
  ? argv[argv.indexOf('--redis-config') + 1]!.split(',').map((pair) => {
      const [name, value, ...rest] = pair.trim().split(/\s+/);
      if (!name || value === undefined || rest.length > 0)
        throw new Error(`--redis-config: "<name> <value>" pairs separated by commas, not "${pair}"`);
      return [name, value];
    })
  : [];
/** --repeat N: each workload's (ceiling, processor) pair N times, alternating; the median pair by CPU ratio is reported */
export const REPEAT = Math.max(1, Math.floor(option('repeat', 1)));
/**
 * --replica-node-args "<flags>": Node/V8 flags for every replica (e.g. --no-opt, with the bench
 * itself run as `node --no-opt --import tsx bench/run.ts`: a slower "machine" for JavaScript, to
 * check that the machine probes follow the replicas' costs; docs/capacity.md).
 */
export const REPLICA_NODE_ARGS = argv.includes('--replica-node-args')
  ? argv[argv.indexOf('--replica-node-args') + 1]!.split(' ').filter(Boolean)
  : [];
export const PARTITIONS = 12;
/** replica counts of the scaling runs of workload 1 (beside its one-replica run) */
export const SCALING = argv.includes('--scaling')
  ? argv[argv.indexOf('--scaling') + 1]!.split(',').map(Number)
  : [2, 4];
export const ONLY = argv.includes('--workloads')
  ? argv[argv.indexOf('--workloads') + 1]!.split(',')
  : undefined;
export const benchDir = join(repoRoot, 'bench');
export const workDir = ensureDir(join(runDir, `bench-${Date.now()}`));
export const log = (...args: unknown[]) =>
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...args);

/** The pipeline version the benchmark's processors run (their keys and the checkpoints polled here). */
export const PIPELINE_VERSION = 1;

/** The services of one run. */
export interface Context {
  brokers: string[];
  redisUrl: string;
  redis: Redis;
  admin: ReturnType<Kafka['admin']>;
  producer: Producer;
}
