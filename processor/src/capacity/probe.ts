// Machine probes: how fast this machine (and a given Redis) runs a fixed piece of the processor's
// work, against the same probes run on the machine the cost table was measured on. Costs measured
// on one machine only describe it (this repository's benchmark host ran 2.3–2.6× slower one day
// than the day before); a ratio of probes carries them to another.
import type { Redis } from 'ioredis';
import type { KafkaMessage } from 'kafkajs';
import { noEnrichment } from '../consumer/enrich.ts';
import { foldBatch } from '../consumer/fold-batch.ts';
import { toRuntimePipeline } from '../runtime/compile.ts';
import { validateText } from '../spec/validate.ts';

/** The benchmark's workload 1 (count + sum per key, 10 s tumbling): the `fields` row's shape. */
export const PROBE_PIPELINE = `apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata:
  name: probe
spec:
  source:
    topic: probe
    format: json
    eventTime: { field: ts }
  groupBy:
    key: event.k
  window: { type: tumbling, size: 10s, grace: 1h }
  aggregates:
    n: { count: {} }
    total: { sum: event.v }
`;

/**
 * Events of the benchmark's record shape over 10,000 keys, 5 ms of event time apart, from a fixed
 * seed: the same work every run (also the in-process benchmarks' input: bench/decode-formats.ts).
 */
export function probeEvents(count: number) {
  let state = 1;
  const random = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const start = Date.UTC(2026, 0, 1);
  return Array.from({ length: count }, (_, i) => ({
    ts: start + i * 5,
    k: `k${Math.floor(random() * 10_000)}`,
    v: Math.floor(random() * 1000),
    u: `u${Math.floor(random() * 50_000)}`,
    lat: 1 + Math.floor(random() * 2000),
    st: 200,
  }));
}

function probeMessages(records: number): KafkaMessage[] {
  return probeEvents(records).map((event, i) => ({
    key: null,
    value: Buffer.from(JSON.stringify(event)),
    offset: String(i),
    timestamp: String(event.ts),
    attributes: 0,
    headers: {},
    size: 0,
  })) as unknown as KafkaMessage[];
}

const median = (samples: number[]) => [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;

/**
 * CPU µs per record of the processor's decode and fold (`foldBatch`, JSON, workload 1's pipeline),
 * in this process: the median of `rounds` batches, after one to warm up the JIT. Process CPU time,
 * as the benchmark prices replicas, so a busy neighbour changes it less than wall time.
 */
export async function replicaProbeUs(options: { records?: number; rounds?: number } = {}): Promise<number> {
  const records = options.records ?? 10_000;
  const rounds = options.rounds ?? 15;
  const valid = validateText(PROBE_PIPELINE);
  if (!valid.ok) throw new Error('the probe pipeline does not validate');
  const pipeline = toRuntimePipeline(valid.pipelines[0]!, 1);
  const messages = probeMessages(records);
  await foldBatch(pipeline, 'probe', 0, messages, 0, noEnrichment);
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const before = process.cpuUsage();
    await foldBatch(pipeline, 'probe', 0, messages, 0, noEnrichment);
    const used = process.cpuUsage(before);
    samples.push((used.user + used.system) / records);
  }
  return median(samples);
}

/**
 * Writes the fields and values it is given into one hash (one variadic HSET), as a commit script
 * writes a batch's absolute values into a window's hash. A fixed script, so its cost is the
 * server's speed, not our scripts' (which the cost table prices).
 */
const REDIS_PROBE_SCRIPT = "return redis.call('HSET', KEYS[1], unpack(ARGV))";

/**
 * Redis CPU µs per field written by the probe script (INFO commandstats of its calls), against the
 * Redis at hand; the key is deleted after. Server time only: the network between here and Redis
 * does not count.
 */
export async function redisProbeUs(
  redis: Redis,
  options: { calls?: number; fields?: number } = {},
): Promise<number> {
  const calls = options.calls ?? 500;
  // under Lua's unpack limit, and beyond Redis' listpack size: a hash table, as a window's hash
  const fields = options.fields ?? 200;
  const args = (round: number) =>
    Array.from({ length: fields }, (_, i) => [`f${i}`, String(i * 7 + round)]).flat();
  const key = `kf:probe:${process.pid}:${Date.now().toString(36)}`;
  const sha = (await redis.script('LOAD', REDIS_PROBE_SCRIPT)) as string;
  const stats = async () => {
    const line = /^cmdstat_evalsha:calls=(\d+),usec=(\d+)/m.exec(await redis.info('commandstats'));
    return { calls: Number(line?.[1] ?? 0), usec: Number(line?.[2] ?? 0) };
  };
  try {
    await redis.evalsha(sha, 1, key, ...args(0)); // the first call creates the hash
    const before = await stats();
    for (let i = 1; i <= calls; i++) await redis.evalsha(sha, 1, key, ...args(i % 10));
    const after = await stats();
    if (after.calls - before.calls < calls) {
      throw new Error(
        'Redis did not count the probe in INFO commandstats (another client reset it?); run it again',
      );
    }
    return (after.usec - before.usec) / (after.calls - before.calls) / fields;
  } finally {
    await redis.del(key);
  }
}
