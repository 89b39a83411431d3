// The operator's own connections against a secured Kafka (SASL/PLAIN listener) and a Redis with a
// password: lag, heartbeats and the delete-policy cleanup must work with the same settings file and
// REDIS_PASSWORD the processors get, and a Pipeline's own Redis password must win.
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type KafkaCluster, startKafka } from '../../../harness/kafka.ts';
import { ensureDir, runDir } from '../../../harness/paths.ts';
import { type RedisDeployment, startRedis } from '../../../harness/redis.ts';
import { deleteConsumerGroups, deleteRedisState } from '../../../operator/src/cleanup.ts';
import { KafkaAdmins, RedisClients, readReplicas, withTimeout } from '../../../operator/src/inputs.ts';
import { consumerGroupOf, repartitionGroupOf } from '../../../processor/src/model/kafka-names.ts';
import { connectRedis } from '../../../processor/src/state/connection.ts';
import { keys, partitionPrefix } from '../../../processor/src/state/keys.ts';
import { type LagSource, readLag } from '../../../processor/src/state/lag.ts';
import { publishHeartbeat, type ReplicaHeartbeat } from '../../../processor/src/state/replica-status.ts';

const USER = 'kappaflow';
const KAFKA_PASSWORD = `k-${randomBytes(6).toString('hex')}`;
const REDIS_PASSWORD = `r-${randomBytes(6).toString('hex')}`;

describe('operator inputs against a SASL/PLAIN Kafka listener', () => {
  let kafka: KafkaCluster;
  const dir = ensureDir(join(runDir, `secured-inputs-${randomBytes(3).toString('hex')}`));
  const settings = join(dir, 'kafka.yaml');
  const wrongSettings = join(dir, 'kafka-wrong.yaml');
  const pipeline = `sec-${randomBytes(3).toString('hex')}`;
  const topic = `${pipeline}-in`;

  beforeAll(async () => {
    kafka = await startKafka({ sasl: { username: USER, password: KAFKA_PASSWORD } });
    writeFileSync(
      settings,
      `sasl:\n  mechanism: plain\n  username: ${USER}\n  password: ${KAFKA_PASSWORD}\n`,
    );
    writeFileSync(wrongSettings, `sasl:\n  mechanism: plain\n  username: ${USER}\n  password: not-it\n`);

    // The fixture goes through the broker's PLAINTEXT listener: 2 partitions with 30 and 20 records,
    // the pipeline's Redis checkpoint at 10 on partition 0 and none on partition 1 (its Kafka group
    // offsets, which only follow Redis, say otherwise: the lag must not read them).
    const setup = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING });
    const admin = setup.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    const producer = setup.producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: [
        ...Array.from({ length: 30 }, (_, i) => ({ partition: 0, value: `a${i}` })),
        ...Array.from({ length: 20 }, (_, i) => ({ partition: 1, value: `b${i}` })),
      ],
    });
    await producer.disconnect();
    await admin.setOffsets({
      groupId: consumerGroupOf(pipeline, 1),
      topic,
      partitions: [
        { partition: 0, offset: '25' },
        { partition: 1, offset: '20' },
      ],
    });
    // A session-window version also has its repartitioner's group: the delete policy removes it too.
    await admin.setOffsets({
      groupId: repartitionGroupOf(pipeline, 1),
      topic,
      partitions: [{ partition: 0, offset: '5' }],
    });
    await admin.disconnect();
    const redis = connectRedis(inject('redisUrl'));
    await redis.hset(keys.checkpoint(partitionPrefix(pipeline, 1, '0')), 'offset', '10');
    redis.disconnect();
  }, 180_000);

  afterAll(async () => {
    await kafka?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('reads the lag and deletes the consumer groups with the settings file', async () => {
    const admins = new KafkaAdmins({ configFile: settings });
    try {
      const brokers = kafka.saslBrokers.join(',');
      const admin = await withTimeout(admins.admin(brokers), 20_000, 'connecting over SASL');
      const redis = connectRedis(inject('redisUrl'));
      const source: LagSource = { pipeline, version: 1, topics: [topic], startFrom: 'earliest' };
      const lag = await readLag(admin, redis, source);
      expect(lag.partitions.map((p) => [p.id, p.end, p.checkpoint, p.lag])).toEqual([
        ['0', 30, 10, 20],
        ['1', 20, null, 20],
      ]);
      expect(lag.totalLag).toBe(40);
      expect((await readLag(admin, redis, { ...source, startFrom: 'latest' })).totalLag).toBe(20);
      redis.disconnect();

      const ours = [consumerGroupOf(pipeline, 1), repartitionGroupOf(pipeline, 1)];
      expect((await deleteConsumerGroups(admin, pipeline)).sort()).toEqual(ours.sort());
      const { groups } = await admin.listGroups();
      for (const id of ours) expect(groups.map((g) => g.groupId)).not.toContain(id);
    } finally {
      await admins.close();
    }
  });

  it('is refused by the SASL listener without the settings file or with a wrong password', async () => {
    const cases: [{ configFile?: string }, RegExp][] = [
      // The listener closes a connection that sends requests before authenticating.
      [{}, /Closed connection/],
      [{ configFile: wrongSettings }, /SASL PLAIN authentication failed/],
    ];
    for (const [options, refusal] of cases) {
      const admins = new KafkaAdmins(options);
      try {
        const brokers = kafka.saslBrokers.join(',');
        const attempt = admins.admin(brokers).then((admin) => admin.fetchTopicOffsets(topic));
        await expect(withTimeout(attempt, 30_000, 'the refused connection')).rejects.toThrow(refusal);
      } finally {
        await admins.close();
      }
    }
  });
});

describe('operator inputs against a Redis with a password', () => {
  let redis: RedisDeployment;
  const pipeline = `sec-${randomBytes(3).toString('hex')}`;
  const beat: ReplicaHeartbeat = {
    replica: 'kappaflow-sec-0',
    at: 0,
    partitions: ['0', '1'],
    recordsPerSecond: 1234.5,
    lag: { '0': 7, '1': 0 },
    watermarks: { '0': 1_700_000_000_000, '1': 1_700_000_000_500 },
  };

  beforeAll(async () => {
    redis = await startRedis({ password: REDIS_PASSWORD });
    const fixture = connectRedis(redis.url, { password: REDIS_PASSWORD });
    await publishHeartbeat(fixture, pipeline, 1, { ...beat, at: Date.now() });
    await fixture.set(`kf:{${pipeline}:1}:other`, 'x');
    await fixture.hset(keys.pipelines(), pipeline, '{}');
    await fixture.quit();
  }, 60_000);

  afterAll(async () => {
    await redis?.stop();
  }, 60_000);

  it('the server really requires the password', async () => {
    const anonymous = new Redis(redis.url, {
      maxRetriesPerRequest: 0,
      lazyConnect: true,
      enableReadyCheck: false,
    });
    anonymous.on('error', () => {});
    try {
      await anonymous.connect();
      await expect(anonymous.hgetall(keys.replicas(pipeline, 1))).rejects.toThrow(/NOAUTH/);
    } finally {
      anonymous.disconnect();
    }
  });

  it("reads heartbeats with the operator's REDIS_PASSWORD", async () => {
    const clients = new RedisClients({ password: REDIS_PASSWORD });
    try {
      const beats = await readReplicas(clients.get(redis.url), pipeline, 1);
      expect(beats.map(({ at: _, ...rest }) => rest)).toEqual([
        {
          replica: beat.replica,
          partitions: beat.partitions,
          recordsPerSecond: beat.recordsPerSecond,
          lag: beat.lag,
          watermarks: beat.watermarks,
        },
      ]);
    } finally {
      await clients.close();
    }
    const without = new RedisClients();
    try {
      await expect(readReplicas(without.get(redis.url), pipeline, 1)).rejects.toThrow(/NOAUTH/);
    } finally {
      await without.close();
    }
  });

  it("a Pipeline's own password (spec.redis.secretRef) wins over REDIS_PASSWORD", async () => {
    // Right pipeline password, wrong operator-wide one: works.
    const wins = new RedisClients({ password: 'operator-wide-but-wrong' });
    try {
      expect(await readReplicas(wins.get(redis.url, REDIS_PASSWORD), pipeline, 1)).toHaveLength(1);
    } finally {
      await wins.close();
    }
    // Wrong pipeline password, right operator-wide one: the pipeline's is used, so it fails.
    const used = new RedisClients({ password: REDIS_PASSWORD });
    try {
      await expect(readReplicas(used.get(redis.url, 'pipeline-but-wrong'), pipeline, 1)).rejects.toThrow();
    } finally {
      await used.close();
    }
  });

  it("the delete policy's key cleanup runs with REDIS_PASSWORD", async () => {
    const clients = new RedisClients({ password: REDIS_PASSWORD });
    try {
      const client = clients.get(redis.url);
      expect(await deleteRedisState(client, pipeline)).toBe(2);
      expect(await client.keys(`kf:{${pipeline}:*`)).toEqual([]);
      expect(await client.hexists(keys.pipelines(), pipeline)).toBe(0);
    } finally {
      await clients.close();
    }
  });
});
