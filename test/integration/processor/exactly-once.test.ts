import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { connectRedis } from '../../../processor/src/state/connection.ts';
import { keys, partitionPrefix } from '../../../processor/src/state/keys.ts';
import { ensureDir, runDir } from '../../infra/paths.ts';
import { freePort } from '../../infra/ports.ts';
import { type ProcessorProcess, spawnProcessor } from '../../infra/processor.ts';
import { waitUntil } from '../../infra/service.ts';
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
const REPLICAS = 3;
const MIN_KILLS = 5;

describe('exactly-once through SIGKILLs', () => {
  const running: ProcessorProcess[] = [];
  afterAll(async () => {
    await Promise.all(running.map((p) => p.kill()));
  });

  it(`counts ${RECORDS} records exactly once while replicas are killed with SIGKILL and restarted`, { timeout: 900_000 }, async () => {
    const brokers = inject('kafkaBrokers');
    const redisUrl = inject('redisUrl');
    const id = randomUUID().slice(0, 8);
    const name = `eos-${id}`;
    const topic = `eos-views-${id}`;
    const dir = ensureDir(join(runDir, name));
    const file = join(dir, 'pipeline.yaml');
    writeFileSync(file, pipelineYaml(name, topic));

    const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
    const views = generateViews(RECORDS, 42, Date.UTC(2026, 0, 1));

    const replicas: (ProcessorProcess | undefined)[] = [];
    const start = async (slot: number) => {
      const replica = await spawnProcessor({ file, brokers, redisUrl, port: await freePort(), name: `${name}-r${slot}-${Date.now()}`, logDir: dir });
      replicas[slot] = replica;
      running.push(replica);
    };
    for (let slot = 0; slot < REPLICAS; slot++) await start(slot);

    // Produce in chunks while the chaos loop kills replicas, so kills land mid-stream.
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    let produced = 0;
    const production = (async () => {
      const chunk = 2000;
      for (let i = 0; i < views.length; i += chunk) {
        await producer.send({
          topic,
          acks: -1,
          messages: views.slice(i, i + chunk).map((v, j) => ({ partition: (i + j) % PARTITIONS, key: v.user, value: JSON.stringify(v) })),
        });
        produced = Math.min(views.length, i + chunk);
        if (process.env.KAPPAFLOW_DEBUG) console.log("produced", produced);
        // Spread production over ~30 s so the kills land while records still flow.
        await new Promise((r) => setTimeout(r, Math.max(20, (30_000 * chunk) / views.length)));
      }
    })();

    let kills = 0;
    let seed = 7;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const caughtUp = async () => {
      if (produced < views.length) return false;
      const redis = connectRedis(redisUrl);
      try {
        if (process.env.KAPPAFLOW_DEBUG) console.log("checking offsets");
        const offsets = await admin.fetchTopicOffsets(topic);
        if (process.env.KAPPAFLOW_DEBUG) console.log("offsets", JSON.stringify(offsets));
        for (const { partition, high } of offsets) {
          const next = await redis.hget(keys.checkpoint(partitionPrefix(name, 1, partition)), 'offset');
          if (next !== high) return false;
        }
        return true;
      } finally {
        redis.disconnect();
      }
    };
    while (kills < MIN_KILLS || !(await caughtUp())) {
      await new Promise((r) => setTimeout(r, 1500 + random() * 2500));
      if (kills < MIN_KILLS || (kills < MIN_KILLS + 3 && !(await caughtUp()))) {
        const slot = Math.floor(random() * REPLICAS);
        if (process.env.KAPPAFLOW_DEBUG) console.log("killing", slot);
        await replicas[slot]?.kill();
        kills++;
        await new Promise((r) => setTimeout(r, random() * 1000));
        await start(slot);
      }
    }
    await production;
    await producer.disconnect();
    expect(kills).toBeGreaterThanOrEqual(MIN_KILLS);

    const redis = connectRedis(redisUrl);
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
      // Sketches: within the stated error, since exactness there is not what a sketch promises.
      const median = quantile(actual.sketch, 0.5)!;
      expect(Math.abs(median - exactMedianRank(expected.latencies))).toBeLessThanOrEqual(exactMedianRank(expected.latencies) * 0.01 + 1e-9);
      const distinct = await mergedDistinct(redis, actual.hllKeys);
      expect(Math.abs(distinct - expected.users.size)).toBeLessThanOrEqual(Math.ceil(expected.users.size * 0.03));
    }
    expect(total).toBe(RECORDS);
    redis.disconnect();
    await admin.disconnect();
  });
});
