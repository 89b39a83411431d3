import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RedisDeployment, startRedis } from '../../../harness/redis.ts';

describe('shared Kafka broker', () => {
  it('round-trips a record through a real broker with kafkajs', async () => {
    const kafka = new Kafka({ brokers: inject('kafkaBrokers'), logLevel: logLevel.NOTHING });
    const topic = `smoke-${randomUUID()}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    const value = `hello ${randomUUID()}`;
    await producer.send({ topic, messages: [{ key: 'k', value }] });
    const consumer = kafka.consumer({ groupId: `smoke-${randomUUID()}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = await new Promise<string>((resolve) => {
      void consumer.run({ eachMessage: async ({ message }) => resolve(String(message.value)) });
    });
    expect(received).toBe(value);
    await Promise.all([consumer.disconnect(), producer.disconnect()]);
    await admin.disconnect();
  });
});

describe('shared Redis', () => {
  it('answers with AOF enabled', async () => {
    const redis = new Redis(inject('redisUrl'));
    expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    await redis.set('smoke', '1');
    expect(await redis.incr('smoke')).toBe(2);
    redis.disconnect();
  });
});

describe('three-node Redis Cluster', () => {
  let deployment: RedisDeployment;
  beforeAll(async () => {
    deployment = await startRedis({ cluster: true });
  });
  afterAll(async () => {
    await deployment?.stop();
  });

  it('runs a MULTI on one hash slot through ioredis Cluster', async () => {
    const cluster = new Cluster(deployment.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
    const results = await cluster.multi().hincrby('{p}:a', 'x', 2).hincrby('{p}:b', 'x', 3).exec();
    expect(results?.map(([error, value]) => [error, value])).toEqual([
      [null, 2],
      [null, 3],
    ]);
    // Keys of different slots across nodes must be refused inside one transaction: proves it is a real cluster.
    await expect(cluster.multi().set('{a}x', '1').set('{b}y', '1').exec()).rejects.toThrow();
    await cluster.quit();
  });
});
