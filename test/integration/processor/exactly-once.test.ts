import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { type KafkaCluster, startKafka } from '../../../harness/kafka.ts';
import { type RedisDeployment, startRedis } from '../../../harness/redis.ts';
import { avroProducer } from '../../../harness/registry-records.ts';
import { killScenarioProcesses, runScenario } from './scenario.ts';

const RECORDS = Number(process.env.KAPPAFLOW_EOS_RECORDS ?? 200_000);
/** The failure variants prove the same property with fewer records, to keep the suite's time sane. */
const VARIANT_RECORDS = Math.min(RECORDS, Number(process.env.KAPPAFLOW_EOS_VARIANT_RECORDS ?? 60_000));

afterAll(killScenarioProcesses);

describe('exactly-once effect on the aggregates', () => {
  it(`holds for ${RECORDS} records while replicas are SIGKILLed and restarted at random`, {
    timeout: 900_000,
  }, async () => {
    await runScenario({
      records: RECORDS,
      brokers: inject('kafkaBrokers'),
      redisUrl: inject('redisUrl'),
      minKills: 5,
    });
  });

  it('holds on an Avro topic whose writer schema changes mid-stream', { timeout: 900_000 }, async () => {
    const registryUrl = inject('schemaRegistryUrl');
    const subject = `eos-avro-${randomUUID().slice(0, 8)}-value`;
    const fields = [
      { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } },
      { name: 'page', type: 'string' },
      { name: 'user', type: 'string' },
      { name: 'bytes', type: 'long' },
      { name: 'latency', type: 'int' },
    ];
    // v1 has an optional field that v2 removes; v2 adds one with a default.
    const v1 = await avroProducer(registryUrl, subject, {
      type: 'record',
      name: 'View',
      fields: [...fields, { name: 'country', type: ['null', 'string'], default: null }],
    });
    const v2 = await avroProducer(registryUrl, subject, {
      type: 'record',
      name: 'View',
      fields: [...fields, { name: 'referrer', type: 'string', default: '' }],
    });
    expect(v2.id).not.toBe(v1.id);
    await runScenario({
      records: VARIANT_RECORDS,
      brokers: inject('kafkaBrokers'),
      redisUrl: inject('redisUrl'),
      minKills: 5,
      format: {
        source: `format: avro\n    schemaRegistry: { url: "${registryUrl}" }`,
        encode: (views) =>
          Promise.all(
            views.map((v, i) =>
              i < views.length / 2
                ? v1.encode({ ...v, country: i % 2 ? 'de' : null })
                : v2.encode({ ...v, referrer: 'r' }),
            ),
          ),
      },
    });
  });

  it('holds on a sliced hopping window whose sketches the partition owner packs', {
    timeout: 900_000,
  }, async () => {
    await runScenario({
      records: VARIANT_RECORDS,
      brokers: inject('kafkaBrokers'),
      redisUrl: inject('redisUrl'),
      minKills: 5,
      window: 'hopping',
    });
  });

  it('holds through a rebalance storm (replicas added and removed)', { timeout: 900_000 }, async () => {
    await runScenario({
      records: VARIANT_RECORDS,
      brokers: inject('kafkaBrokers'),
      redisUrl: inject('redisUrl'),
      minKills: 6,
      storm: true,
    });
  });

  it('holds on a three-node Redis Cluster with SIGKILLs', { timeout: 900_000 }, async () => {
    const cluster = await startRedis({ cluster: true });
    try {
      await runScenario({
        records: VARIANT_RECORDS,
        brokers: inject('kafkaBrokers'),
        redisUrl: `redis-cluster://${cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
        minKills: 5,
      });
    } finally {
      await cluster.stop();
    }
  });

  it('holds when Redis is SIGKILLed mid-run and restarts from its AOF', { timeout: 900_000 }, async () => {
    const redis: RedisDeployment = await startRedis();
    try {
      await runScenario({
        records: VARIANT_RECORDS,
        brokers: inject('kafkaBrokers'),
        redisUrl: redis.url,
        minKills: 2,
        disrupt: () => redis.restart({ kill: true, downMs: 2000 }),
      });
    } finally {
      await redis.stop();
    }
  });

  it('holds when the Kafka broker restarts mid-run', { timeout: 900_000 }, async () => {
    const kafka: KafkaCluster = await startKafka();
    try {
      await runScenario({
        records: VARIANT_RECORDS,
        brokers: kafka.brokers,
        redisUrl: inject('redisUrl'),
        minKills: 2,
        disrupt: () => kafka.restartBroker(0, { kill: true, downMs: 2000 }),
      });
    } finally {
      await kafka.stop();
    }
  });
});
