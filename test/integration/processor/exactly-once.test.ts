import { afterAll, describe, expect, inject, it } from 'vitest';
import { type KafkaCluster, startKafka } from '../../../harness/kafka.ts';
import { pipelineFixture } from '../../../harness/pipeline-fixture.ts';
import type { ProcessorProcess } from '../../../harness/processor.ts';
import { type RedisDeployment, startRedis } from '../../../harness/redis.ts';
import { connectRedis } from '../../../processor/src/state/connection.ts';
import { keys, partitionPrefix } from '../../../processor/src/state/keys.ts';
import {
  exactMedianRank,
  generateViews,
  groundTruth,
  mergedDistinct,
  pipelineYaml,
  quantile,
  readObserved,
} from './ground-truth.ts';

const PARTITIONS = 6;
const RECORDS = Number(process.env.KAPPAFLOW_EOS_RECORDS ?? 200_000);
/** The failure variants prove the same property with fewer records, to keep the suite's time sane. */
const VARIANT_RECORDS = Math.min(RECORDS, Number(process.env.KAPPAFLOW_EOS_VARIANT_RECORDS ?? 60_000));
const debug = (...args: unknown[]) => process.env.KAPPAFLOW_DEBUG && console.log(...args);

interface Scenario {
  records: number;
  brokers: string[];
  redisUrl: string;
  minKills: number;
  /** extra disruption, called once while records flow */
  disrupt?: (ctx: { replicas: ReplicaSet }) => Promise<void>;
  /** replicas added and removed instead of only killed */
  storm?: boolean;
}

interface ReplicaSet {
  start(slot: number): Promise<void>;
  replicas: (ProcessorProcess | undefined)[];
}

const everyProcess: ProcessorProcess[] = [];
afterAll(async () => {
  await Promise.all(everyProcess.map((p) => p.kill()));
});

async function runScenario(scenario: Scenario): Promise<void> {
  const { brokers, redisUrl } = scenario;
  const fixture = await pipelineFixture({
    brokers,
    redisUrl,
    prefix: 'eos',
    topicPrefix: 'eos-views',
    partitions: PARTITIONS,
    yaml: pipelineYaml,
    // Generous retries: one scenario restarts the broker while this client produces and polls.
    kafka: { retry: { retries: 40, initialRetryTime: 300, maxRetryTime: 2000 } },
  });
  const { name, topic, dir, kafka, admin } = fixture;
  const views = generateViews(scenario.records, 42, Date.UTC(2026, 0, 1));

  const set: ReplicaSet = {
    replicas: [],
    async start(slot) {
      const replica = await fixture.spawn(slot);
      set.replicas[slot] = replica;
      everyProcess.push(replica);
    },
  };
  for (let slot = 0; slot < 3; slot++) await set.start(slot);

  // Produce in chunks over ~30 s while the chaos loop runs, so every failure lands mid-stream.
  // The idempotent producer retries through a broker restart without duplicating records; re-sending
  // a failed chunk by hand could duplicate it, so the retries are generous instead.
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    retry: { retries: 40, initialRetryTime: 300, maxRetryTime: 2000 },
  });
  await producer.connect();
  let produced = 0;
  const chunk = 2000;
  const production = (async () => {
    for (let i = 0; i < views.length; i += chunk) {
      await producer.send({
        topic,
        acks: -1,
        messages: views
          .slice(i, i + chunk)
          .map((v, j) => ({ partition: (i + j) % PARTITIONS, key: v.user, value: JSON.stringify(v) })),
      });
      produced = Math.min(views.length, i + chunk);
      await new Promise((r) => setTimeout(r, Math.max(20, (30_000 * chunk) / views.length)));
    }
  })();
  let productionError: unknown;
  production.catch((error) => {
    productionError = error;
  });

  let seed = 7;
  const random = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const checker = connectRedis(redisUrl);
  const caughtUp = async () => {
    if (produced < views.length) return false;
    const offsets = await admin.fetchTopicOffsets(topic).catch(() => null);
    if (offsets === null) return false;
    for (const { partition, high } of offsets) {
      const next = await checker.hget(keys.checkpoint(partitionPrefix(name, 1, partition)), 'offset');
      if (next !== high) return false;
    }
    return true;
  };

  let kills = 0;
  let disrupted = scenario.disrupt === undefined;
  const deadline = Date.now() + 600_000;
  while (kills < scenario.minKills || !disrupted || !(await caughtUp())) {
    if (productionError) throw productionError;
    if (Date.now() > deadline) throw new Error(`no catch-up after 10 minutes; logs in ${dir}`);
    await new Promise((r) => setTimeout(r, 1500 + random() * 2500));
    // Like Kubernetes' restart policy: a replica that exited by itself (e.g. its consumer gave up
    // during a broker outage) is started again.
    for (const [slot, replica] of set.replicas.entries()) {
      if (replica && replica.child.exitCode !== null) {
        debug('restarting exited replica', slot, replica.child.exitCode);
        await set.start(slot);
      }
    }
    if (!disrupted && produced > views.length / 3) {
      debug('disrupting');
      await scenario.disrupt!({ replicas: set });
      disrupted = true;
      continue;
    }
    if (kills < scenario.minKills) {
      if (scenario.storm) {
        // Scale out to five, then back in with a graceful stop of two: every step is a rebalance.
        const slot = 3 + (kills % 2);
        if (set.replicas[slot]) {
          debug('stopping', slot);
          await set.replicas[slot]!.stop();
          set.replicas[slot] = undefined;
        } else {
          debug('adding', slot);
          await set.start(slot);
        }
        kills++;
        continue;
      }
      const slot = Math.floor(random() * 3);
      debug('killing', slot, 'produced', produced);
      await set.replicas[slot]?.kill();
      kills++;
      await new Promise((r) => setTimeout(r, random() * 1000));
      await set.start(slot);
    }
  }
  await production;
  await producer.disconnect();
  checker.disconnect();

  const redis = connectRedis(redisUrl);
  try {
    const truth = groundTruth(views);
    const observed = await readObserved(redis, name, PARTITIONS);
    expect([...observed.keys()].sort()).toEqual([...truth.keys()].sort());
    let total = 0;
    for (const [key, expected] of truth) {
      const actual = observed.get(key)!;
      expect({ key, count: actual.count, bytes: actual.bytes, max: actual.maxLatency }).toEqual({
        key,
        count: expected.count,
        bytes: expected.bytes,
        max: expected.maxLatency,
      });
      total += actual.count;
      // Sketches: within their stated error, since exactness is not what a sketch promises.
      const median = quantile(actual.sketch, 0.5)!;
      const exact = exactMedianRank(expected.latencies);
      expect(Math.abs(median - exact)).toBeLessThanOrEqual(exact * 0.01 + 1e-9);
      const distinct = await mergedDistinct(redis, actual.hllKeys);
      expect(Math.abs(distinct - expected.users.size)).toBeLessThanOrEqual(
        Math.ceil(expected.users.size * 0.03),
      );
    }
    expect(total).toBe(views.length);
  } finally {
    redis.disconnect();
    await admin.disconnect();
    await Promise.all(set.replicas.map((r) => r?.kill()));
  }
}

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
