import { afterAll, describe, expect, inject, it } from 'vitest';
import { pipelineFixture } from '../../../harness/pipeline-fixture.ts';
import { freePort } from '../../../harness/ports.ts';
import { type ProcessorProcess, spawnProcessor } from '../../../harness/processor.ts';
import { waitUntil } from '../../../harness/service.ts';
import { connectRedis } from '../../../processor/src/state/connection.ts';
import { keys, partitionPrefix } from '../../../processor/src/state/keys.ts';
import { counterValue, metricsOf } from './scenario.ts';

const spawned: ProcessorProcess[] = [];
afterAll(async () => {
  await Promise.all(spawned.map((p) => p.kill()));
});

/**
 * When exactness is impossible the system says so. Redis goes back to an older copy of a
 * partition (what a failover to a lagging replica does), and Kafka's retention has meanwhile
 * deleted records the replay would need: the replica counts them (metric), logs them, records them
 * in the checkpoint, and the query API reports them; it then goes on from the log's start.
 */
describe('records lost for good', () => {
  it('are counted, logged and reported by the query API, and processing goes on', {
    timeout: 240_000,
  }, async () => {
    const brokers = inject('kafkaBrokers');
    const redisUrl = inject('redisUrl');
    const fixture = await pipelineFixture({
      brokers,
      redisUrl,
      prefix: 'gap',
      partitions: 1,
      yaml: (name, topic) => `apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: ${name} }
spec:
  source: { topic: ${topic}, format: json, eventTime: { field: ts }, startFrom: earliest }
  groupBy: { page: event.page }
  window: { type: tumbling, size: 1h, grace: 1h }
  aggregates: { views: { count: {} } }
`,
    });
    const { name, topic, dir, file, kafka, admin } = fixture;
    const base = Date.UTC(2026, 3, 1);
    const producer = kafka.producer();
    await producer.connect();
    const produce = (from: number, n: number) =>
      producer.send({
        topic,
        messages: Array.from({ length: n }, (_, i) => ({
          value: JSON.stringify({ ts: base + from + i, page: '/' }),
        })),
      });
    const redis = connectRedis(redisUrl);
    const prefix = partitionPrefix(name, 1, 0);
    const offset = () => redis.hget(keys.checkpoint(prefix), 'offset');
    const start = async () => {
      const p = await spawnProcessor({
        file,
        brokers,
        redisUrl,
        port: await freePort(),
        name: `${name}-${spawned.length}`,
        logDir: dir,
      });
      spawned.push(p);
      return p;
    };
    try {
      await produce(0, 50);
      let replica = await start();
      await waitUntil('offset 50 committed', async () => (await offset()) === '50', { timeoutMs: 60_000 });
      // The "replica": a copy of the partition's keys at offset 50.
      const copy = new Map<string, Buffer>();
      for (const key of await redis.keys(`${prefix}*`)) copy.set(key, (await redis.dumpBuffer(key))!);
      await produce(50, 50);
      await waitUntil('offset 100 committed', async () => (await offset()) === '100', { timeoutMs: 60_000 });
      await replica.stop();

      // The failover: Redis is back at offset 50; meanwhile Kafka deleted offsets 0-149.
      for (const key of await redis.keys(`${prefix}*`)) await redis.del(key);
      for (const [key, value] of copy) await redis.restore(key, 0, value, 'REPLACE');
      await produce(100, 100);
      await admin.fetchTopicMetadata({ topics: [topic] }); // deleteTopicRecords needs the leader known
      await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '150' }] });

      replica = await start();
      await waitUntil('offset 200 committed', async () => (await offset()) === '200', { timeoutMs: 90_000 });
      // 50 before the copy + 50 after the log's new start: the 100 in between are gone, and said so.
      const views = await redis.hvals(keys.window(prefix, base - (base % 3_600_000)));
      expect(views.reduce((sum, v) => sum + Number(v), 0)).toBe(100);
      expect(counterValue(await metricsOf(replica), 'kappaflow_unrecoverable_records_total')).toBe(100);
      const answer = (await (
        await fetch(`http://127.0.0.1:${replica.port}/api/v1/pipelines/${name}`)
      ).json()) as {
        unrecoverable: number;
        partitions: { unrecoverable: number }[];
      };
      expect(answer.unrecoverable).toBe(100);
      expect(answer.partitions[0]!.unrecoverable).toBe(100);
    } finally {
      redis.disconnect();
      await producer.disconnect();
      await admin.disconnect();
    }
  });
});
