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
 * Writes the fields and values it is given into one hash `rounds` times (one variadic HSET each),
 * as a commit script writes a batch's absolute values into a window's hash, and returns the
 * microseconds that took by Redis' own clock, with the hash's encoding; the hash is deleted in the
 * same script. Timed inside one script, nothing else runs on the server meanwhile: other clients
 * of a Redis in use do not count, nor does the network. A fixed script, so its cost is the
 * server's speed, not our scripts' (which the cost table prices).
 */
const REDIS_PROBE_SCRIPT = `
local rounds = tonumber(ARGV[1])
local fieldValues = {}
for i = 2, #ARGV do fieldValues[i - 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fieldValues))
local encoding = redis.call('OBJECT', 'ENCODING', KEYS[1])
local t0 = redis.call('TIME')
for r = 1, rounds do redis.call('HSET', KEYS[1], unpack(fieldValues)) end
local t1 = redis.call('TIME')
redis.call('DEL', KEYS[1])
return { (t1[1] - t0[1]) * 1000000 + (t1[2] - t0[2]), encoding }`;

/** Beyond the usual listpack limits (128 by default, 512 in some configs): a hash table, as a window's hash. */
const PROBE_FIELDS = 1000;
const PROBE_ROUNDS = 20;

/**
 * Redis µs per field written by the probe script (median of `calls` scripts of PROBE_ROUNDS ×
 * PROBE_FIELDS writes), against the Redis at hand. Needs EVAL on one key; leaves nothing behind.
 * Fails after `timeoutMs` when Redis cannot be reached rather than waiting for it.
 */
export async function redisProbeUs(
  redis: Redis,
  options: { calls?: number; timeoutMs?: number } = {},
): Promise<number> {
  const calls = options.calls ?? 9;
  const key = `kf:probe:${process.pid}:${Date.now().toString(36)}`;
  const pairs = Array.from({ length: PROBE_FIELDS }, (_, i) => [`f${i}`, String(i * 7)]).flat();
  const probe = async () => {
    const samples: number[] = [];
    for (let i = 0; i < calls; i++) {
      const [us] = (await redis.eval(REDIS_PROBE_SCRIPT, 1, key, PROBE_ROUNDS, ...pairs)) as [number, string];
      samples.push(us / (PROBE_ROUNDS * PROBE_FIELDS));
    }
    return median(samples);
  };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer from Redis within ${(options.timeoutMs ?? 30_000) / 1000} s`)),
      options.timeoutMs ?? 30_000,
    );
  });
  try {
    return await Promise.race([probe(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
