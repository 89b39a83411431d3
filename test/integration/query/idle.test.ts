import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import { describe, expect, inject, it } from 'vitest';
import { waitUntil } from '../../../harness/service.ts';
import { toRuntimePipeline } from '../../../processor/src/runtime/compile.ts';
import { startProcessor } from '../../../processor/src/runtime/processor.ts';
import { validateText } from '../../../processor/src/spec/validate.ts';
import { connectRedis } from '../../../processor/src/state/connection.ts';
import { keys, partitionPrefix } from '../../../processor/src/state/keys.ts';
import { openStream } from './sse-events.ts';

const base = Date.UTC(2026, 5, 1, 12, 0, 0);

interface Window {
  start: number;
  final: boolean;
  groups: { values: { n: number } }[];
}

// Partition 0 gets one record and goes quiet; partition 1 keeps receiving records. Without
// spec.source.idleTimeout partition 0 would keep the 12:00 window open forever. (When every
// partition is idle, none is left out: nothing moves, as in Flink.)
describe('spec.source.idleTimeout', () => {
  it('an idle partition stops holding windows open, and its late records never change a final window', {
    timeout: 180_000,
  }, async () => {
    const brokers = inject('kafkaBrokers');
    const redisUrl = inject('redisUrl');
    const name = `idle-${randomUUID().slice(0, 8)}`;
    const result = validateText(`apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: ${name} }
spec:
  source: { topic: ${name}, eventTime: { field: ts }, idleTimeout: 3s }
  window: { type: tumbling, size: 1m, grace: 0s }
  aggregates: { n: { count: {} } }
  deadLetter: { topic: ${name}.dlq }
`);
    expect(result.errors).toEqual([]);
    const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: name, numPartitions: 2 }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    const send = (partition: number, ...offsetsMs: number[]) =>
      producer.send({
        topic: name,
        messages: offsetsMs.map((ms) => ({ partition, value: JSON.stringify({ ts: base + ms }) })),
      });
    const redis = connectRedis(redisUrl);
    const checkpoint = (p: string) => redis.hgetall(keys.checkpoint(partitionPrefix(name, 1, p)));
    const processor = await startProcessor({
      pipeline: toRuntimePipeline(result.pipelines[0]!, 1),
      brokers,
      redisUrl,
      replicaId: name,
      http: { port: 0, host: '127.0.0.1' },
      logger: pino({ level: 'silent' }),
    });
    const api = async <T>(path: string): Promise<T> =>
      (await (await fetch(`http://127.0.0.1:${processor.port}/api/v1/pipelines/${name}${path}`)).json()) as T;
    const firstWindow = async () =>
      (await api<{ windows: Window[] }>(`/windows?from=${base}&to=${base + 1}`)).windows[0];
    // the stream reads idle partitions as /windows and /pipelines do
    const stream = await openStream(`http://127.0.0.1:${processor.port}/api/v1/pipelines/${name}/stream`);
    await send(0, 10_000);
    await send(1, 10_000, 70_000);
    let feeding = true;
    const feed = (async () => {
      // Partition 1 stays active: a record every 500 ms, its time a second further each time.
      for (let i = 0; feeding; i++) {
        await send(1, 130_000 + i * 1000);
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    try {
      await waitUntil(
        'both partitions committed',
        async () => {
          const [a, b] = [await checkpoint('0'), await checkpoint('1')];
          return a.offset === '1' && Number(b.offset) >= 3;
        },
        { timeoutMs: 60_000 },
      );
      // Partition 0's watermark (12:00:10) is before the window's end: it holds it open for now.
      expect((await firstWindow())?.final).toBe(false);
      await waitUntil(
        '12:00 final once partition 0 is idle',
        async () => (await firstWindow())?.final === true,
        {
          timeoutMs: 30_000,
        },
      );
      // The pipeline's watermark is partition 1's now (past 12:02:10).
      expect((await api<{ watermark: number }>('')).watermark).toBeGreaterThanOrEqual(base + 130_000);
      expect((await firstWindow())?.groups[0]?.values.n).toBe(2);
      // With partition 0 idle, the stream's progress watermark is partition 1's, and a window
      // partition 1 closes now (12:02, once it passes 12:03:00) is final on the stream too.
      expect(
        await stream.waitFor(
          (events) => events.some((e) => e.event === 'progress' && e.data.watermark >= base + 130_000),
          30_000,
        ),
      ).toBe(true);
      expect(
        await stream.waitFor(
          (events) =>
            events.some((e) => e.event === 'window' && e.data.start === base + 120_000 && e.data.final),
          90_000,
        ),
      ).toBe(true);

      // Partition 0 wakes up with a record for the final window: late, the window keeps its count.
      await send(0, 20_000, 200_000);
      await waitUntil('partition 0 committed again', async () => (await checkpoint('0')).offset === '3', {
        timeoutMs: 60_000,
      });
      expect((await checkpoint('0')).late).toBe('1');
      const window = await firstWindow();
      expect({ final: window?.final, n: window?.groups[0]?.values.n }).toEqual({ final: true, n: 2 });
    } finally {
      await stream.close();
      feeding = false;
      await feed;
      await processor.stop();
      redis.disconnect();
      await producer.disconnect();
      await admin.disconnect();
    }
  });
});
