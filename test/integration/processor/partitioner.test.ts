import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { writeCountPipeline } from '../../../harness/count-pipeline.ts';
import { javaPartitionsFor } from '../../../harness/java-partitioner.ts';
import { freePort } from '../../../harness/ports.ts';
import { spawnProcessor } from '../../../harness/processor.ts';
import { waitUntil } from '../../../harness/service.ts';
import { createProducer } from '../../../processor/src/kafka/client.ts';

describe('keyed records land where the Java client puts them', () => {
  it('routes every key to the partition Kafka’s own BuiltInPartitioner picks', {
    timeout: 120_000,
  }, async () => {
    const brokers = inject('kafkaBrokers');
    const topic = `keys-${randomUUID().slice(0, 8)}`;
    const partitions = 7;
    const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    const keys = [
      ...Array.from({ length: 200 }, (_, i) => `user-${i}`),
      'a',
      'ß',
      'página/ñ',
      '日本語のキー',
      '🙂 emoji',
      'x'.repeat(1000),
    ];
    const producer = createProducer(kafka);
    await producer.connect();
    try {
      const landed: number[] = [];
      for (const key of keys) {
        const [meta] = await producer.send({ topic, messages: [{ key, value: key }] });
        landed.push(meta!.partition);
      }
      const java = await javaPartitionsFor(keys, partitions);
      expect(landed).toEqual(java);
      // Not a constant answer: the keys spread over every partition.
      expect(new Set(java).size).toBe(partitions);
    } finally {
      await producer.disconnect();
      await admin.disconnect();
    }
  });

  it('a replica starts without kafkajs’s partitioner warning', { timeout: 120_000 }, async () => {
    const brokers = inject('kafkaBrokers');
    const redisUrl = inject('redisUrl');
    const id = randomUUID().slice(0, 8);
    const { dir, file } = writeCountPipeline(
      `partitioner-${id}`,
      `  deadLetter: { topic: partitioner-${id}.dlq }
`,
    );
    const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: `partitioner-${id}` }], waitForLeaders: true });
    await admin.disconnect();
    const replica = await spawnProcessor({
      file,
      brokers,
      redisUrl,
      port: await freePort(),
      name: `partitioner-${id}`,
      logDir: dir,
    });
    try {
      await waitUntil(
        'the replica joined its consumer group',
        async () => readFileSync(replica.logFile, 'utf8').includes('joined the consumer group'),
        { timeoutMs: 60_000, service: replica },
      );
      expect(readFileSync(replica.logFile, 'utf8')).not.toMatch(
        /switched default partitioner|createPartitioner/,
      );
    } finally {
      await replica.stop();
    }
  });
});
