/**
 * Baselines for the benchmark, each in its own process like a processor replica:
 *   ceiling  raw kafkajs eachBatch consumption that only JSON-parses each value
 *   naive    one Redis HINCRBY per record (awaited), count per key per 10 s window, no checkpoint
 * Prints one JSON line: { records, seconds, rate, redisCalls }.
 *
 *   node --import tsx bench/baseline.ts <ceiling|naive> <topic> <records> [maxSeconds]
 */
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';

const [mode, topic, recordsArg, maxSecondsArg] = process.argv.slice(2);
const target = Number(recordsArg);
const maxSeconds = Number(maxSecondsArg ?? 1e9);
const kafka = new Kafka({ brokers: process.env.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING });
// The same consumer settings as the processor (processor/src/consumer/loop.ts).
const consumer = kafka.consumer({
  groupId: `bench-${mode}-${topic}-${Date.now()}`,
  maxBytesPerPartition: 1024 * 1024,
  maxBytes: 16 * 1024 * 1024,
  maxWaitTimeInMs: 200,
});
const redis = mode === 'naive' ? new Redis(process.env.REDIS_URL!) : undefined;
let seen = 0;
let first = 0;
let last = 0;
let cpuFirst = process.cpuUsage();
let cpuLast = cpuFirst;
let sink = 0;
let done: () => void;
const finished = new Promise<void>((r) => {
  done = r;
});
await consumer.connect();
await consumer.subscribe({ topic: topic!, fromBeginning: true });
await consumer.run({
  autoCommit: false,
  partitionsConsumedConcurrently: 4,
  eachBatch: async ({ batch, isRunning }) => {
    if (first === 0) {
      first = performance.now();
      cpuFirst = process.cpuUsage();
    }
    for (const message of batch.messages) {
      if (!isRunning()) return;
      const event = JSON.parse(message.value!.toString('utf8')) as { k: string; ts: number };
      if (redis) {
        const start = event.ts - (event.ts % 10_000);
        await redis.hincrby(`naive:${topic}:${start}`, event.k, 1);
      } else sink += event.ts & 1;
      seen++;
    }
    last = performance.now();
    cpuLast = process.cpuUsage();
    if (seen >= target || (last - first) / 1000 > maxSeconds) done();
  },
});
await finished;
const seconds = (last - first) / 1000;
const cpuSeconds = (cpuLast.user - cpuFirst.user + cpuLast.system - cpuFirst.system) / 1e6;
console.log(
  JSON.stringify({
    mode,
    records: seen,
    seconds,
    rate: seen / seconds,
    cpuSeconds,
    perCpuSecond: seen / cpuSeconds,
    sink,
  }),
);
await consumer.disconnect();
redis?.disconnect();
process.exit(0);
