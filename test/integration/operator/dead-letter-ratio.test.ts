// spec.reprocessing.maxDeadLetterRatio reads the counts a real processor's commits keep in its
// Redis checkpoints: what the operator's gate sees must be what was sent, split by what failed.
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { writeCountPipeline } from '../../../harness/count-pipeline.ts';
import { freePort } from '../../../harness/ports.ts';
import { type ProcessorProcess, spawnProcessor } from '../../../harness/processor.ts';
import { waitUntil } from '../../../harness/service.ts';
import { deadLetterExcess, totalCounts } from '../../../operator/src/reconcile/dead-letter-ratio.ts';
import { promotionGate } from '../../../operator/src/reconcile/promotion.ts';
import { connectRedis } from '../../../processor/src/state/connection.ts';
import { lagSourceOf, readLag } from '../../../processor/src/state/lag.ts';

describe('the dead-letter ratio of a version', () => {
  it('comes from its checkpoints: applied and dead-lettered records as sent, and holds the gate above the limit', {
    timeout: 180_000,
  }, async () => {
    const brokers = inject('kafkaBrokers');
    const redisUrl = inject('redisUrl');
    const name = `dlr-${randomUUID().slice(0, 8)}`;
    const dlq = `${name}.dlq`;
    const { dir, file } = writeCountPipeline(name, `  deadLetter: { topic: ${dlq} }\n`);
    const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [
        { topic: name, numPartitions: 2 },
        { topic: dlq, numPartitions: 1 },
      ],
      waitForLeaders: true,
    });
    const producer = kafka.producer();
    await producer.connect();
    // 170 good records and 30 unparseable ones, spread unevenly over the two partitions.
    const sent = Array.from({ length: 200 }, (_, i) => ({
      partition: i % 3 === 0 ? 0 : 1,
      value: i % 20 < 3 ? `{not json ${i}` : JSON.stringify({ i }),
    }));
    const bad = sent.filter((m) => m.value.startsWith('{not')).length;
    expect(bad).toBe(30);
    await producer.send({ topic: name, messages: sent });
    const redis = connectRedis(redisUrl);
    const source = lagSourceOf({ name, version: 1, topics: [name], startFrom: 'earliest', session: false });
    let processor: ProcessorProcess | undefined;
    try {
      processor = await spawnProcessor({
        file,
        brokers,
        redisUrl,
        port: await freePort(),
        name: `${name}-r1`,
        logDir: dir,
      });
      await waitUntil(
        'every record committed',
        async () => (await readLag(admin, redis, source)).totalLag === 0,
        {
          timeoutMs: 90_000,
          service: processor,
        },
      );
      const reading = await readLag(admin, redis, source);
      expect(totalCounts(reading.partitions)).toEqual({ records: 200 - bad, deadLettered: bad });
      // per partition too: partition 0 got i % 3 === 0
      const badIn0 = sent.filter((m) => m.partition === 0 && m.value.startsWith('{not')).length;
      expect(reading.partitions.find((p) => p.id === '0')).toMatchObject({ deadLettered: badIn0 });

      const counts = totalCounts(reading.partitions);
      expect(deadLetterExcess(counts, 0.1)).toBe(
        'dead-lettered 30 of 200 records (15%, more than reprocessing.maxDeadLetterRatio 0.1 = 10%)',
      );
      expect(deadLetterExcess(counts, 0.15)).toBeUndefined();
      const policy = { promotion: 'auto' as const, maxRestarts: 3, maxDeadLetterRatio: 0.1 };
      expect(promotionGate(policy, 1, { restarts: 0, counts }, undefined)).toMatchObject({
        allow: false,
        failing: true,
      });
      expect(
        promotionGate({ ...policy, maxDeadLetterRatio: 0.2 }, 1, { restarts: 0, counts }, undefined),
      ).toMatchObject({ allow: true });
    } finally {
      await processor?.stop();
      redis.disconnect();
      await producer.disconnect();
      await admin.disconnect();
    }
  });
});
