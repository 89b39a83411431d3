import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { countPipelineYaml } from '../../../harness/count-pipeline.ts';
import { type KafkaCluster, startKafka } from '../../../harness/kafka.ts';
import { waitUntil } from '../../../harness/service.ts';
import { ConsumerLoop } from '../../../processor/src/consumer/loop.ts';
import { createProcessorMetrics } from '../../../processor/src/observability/metrics.ts';
import { toRuntimePipeline } from '../../../processor/src/runtime/compile.ts';
import { validateText } from '../../../processor/src/spec/validate.ts';
import { connectRedis } from '../../../processor/src/state/connection.ts';
import { keys, partitionPrefix } from '../../../processor/src/state/keys.ts';

// Its own broker, because the test kills it. While it is down, the consumer's retries run out
// (a small retry budget makes that take seconds, not minutes): kafkajs's crash handler stops the
// consumer (STOP), reports CRASH { restart: true } and restarts it, again and again until the
// broker is back. Nothing here is a mock: real broker, real kafkajs, real Redis.
let kafka: KafkaCluster | undefined;
afterAll(async () => {
  await kafka?.stop();
});

describe('a replica rides out the crashes kafkajs retries', () => {
  it('keeps consuming through a broker outage that crashes kafkajs retriably', {
    timeout: 300_000,
  }, async () => {
    kafka = await startKafka();
    const redisUrl = inject('redisUrl');
    const name = `crash-${randomUUID().slice(0, 8)}`;
    const result = validateText(countPipelineYaml(name));
    expect(result.errors).toEqual([]);
    const pipeline = toRuntimePipeline(result.pipelines[0]!, 1);
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const client = new Kafka({
      brokers: kafka.brokers,
      logLevel: logLevel.NOTHING,
      retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 500 },
    });
    const admin = client.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: name, numPartitions: 2 }], waitForLeaders: true });
    await admin.disconnect();

    const stalls: string[] = [];
    const redis = connectRedis(redisUrl);
    const loop = new ConsumerLoop({
      pipeline,
      kafka: client,
      redis,
      metrics: createProcessorMetrics(name),
      logger,
      replicaId: name,
      onStall: (reason) => stalls.push(reason),
    });
    const committed = async () => {
      let total = 0;
      for (const partition of [0, 1]) {
        total += Number(
          (await redis.hget(keys.checkpoint(partitionPrefix(name, 1, partition)), 'offset')) ?? 0,
        );
      }
      return total;
    };
    const send = async (count: number) => {
      const producer = new Kafka({
        brokers: kafka!.brokers,
        logLevel: logLevel.NOTHING,
        retry: { retries: 40, initialRetryTime: 300, maxRetryTime: 2000 },
      }).producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      await producer.send({
        topic: name,
        acks: -1,
        messages: Array.from({ length: count }, (_, i) => ({
          partition: i % 2,
          value: JSON.stringify({ i }),
        })),
      });
      await producer.disconnect();
    };
    const crashes = () => lines.filter((line) => line.includes('"msg":"consumer crashed"'));
    try {
      await loop.start();
      await send(100);
      await waitUntil('the first 100 records committed', async () => (await committed()) === 100, {
        timeoutMs: 90_000,
      });
      await kafka.restartBroker(0, { kill: true, downMs: 8000 });
      await send(100);
      await waitUntil('all 200 records committed', async () => (await committed()) === 200, {
        timeoutMs: 180_000,
      });
      // The point of the test: kafkajs really crashed, said it would restart, and did.
      expect(crashes().length).toBeGreaterThan(0);
      expect(crashes().every((line) => line.includes('"restart":true'))).toBe(true);
      expect(stalls).toEqual([]);
      await waitUntil('ready again after the restart', async () => loop.ready, { timeoutMs: 30_000 });
    } finally {
      await loop.stop().catch(() => {});
      redis.disconnect();
    }
  });
});
