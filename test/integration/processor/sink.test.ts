import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { compilePipeline, startInProcess } from '../../../harness/pipeline-fixture.ts';
import { waitUntil } from '../../../harness/service.ts';

describe('sink topic', () => {
  it('publishes each closed window once the watermark passes it, as per-partition partials that add up', {
    timeout: 120_000,
  }, async () => {
    const brokers = inject('kafkaBrokers');
    const id = randomUUID().slice(0, 8);
    const name = `sink-${id}`;
    const topic = `orders-${id}`;
    const pipeline = compilePipeline(`apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: ${name} }
spec:
  source: { topic: ${topic}, format: json, eventTime: { field: ts } }
  groupBy: { merchant: event.merchant }
  window: { type: tumbling, size: 1m, grace: 1s }
  aggregates:
    orders: { count: {} }
    revenue: { sum: event.amount }
    biggest: { max: event.amount }
  sink: { topic: ${topic}.1m }
`);
    const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    const base = Date.UTC(2026, 6, 1, 10, 0, 0);
    const orders = Array.from({ length: 40 }, (_, i) => ({
      ts: base + i * 1000,
      merchant: i % 3 === 0 ? 'm1' : 'm2',
      amount: i,
    }));
    // A later order on each partition moves both watermarks past the first window's end + grace.
    const closers = [0, 1].map((p) => ({
      partition: p,
      value: JSON.stringify({ ts: base + 180_000, merchant: 'm3', amount: 1 }),
    }));
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: [...orders.map((o, i) => ({ partition: i % 2, value: JSON.stringify(o) })), ...closers],
    });

    const processor = await startInProcess(pipeline, { brokers, redisUrl: inject('redisUrl') });
    const received: {
      window: { start: number; end: number };
      group: { merchant: string };
      values: Record<string, number>;
    }[] = [];
    const consumer = kafka.consumer({ groupId: `sink-reader-${id}` });
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: `${topic}.1m`, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => void received.push(JSON.parse(String(message.value))),
      });
      // Two groups on each of two partitions.
      await waitUntil('four partials of the closed window', async () => received.length >= 4, {
        timeoutMs: 60_000,
      });
      const merged = new Map<string, { orders: number; revenue: number; biggest: number }>();
      for (const r of received) {
        expect(r.window).toEqual({ start: base, end: base + 60_000 });
        const m = merged.get(r.group.merchant) ?? { orders: 0, revenue: 0, biggest: 0 };
        m.orders += r.values.orders!;
        m.revenue += r.values.revenue!;
        m.biggest = Math.max(m.biggest, r.values.biggest!);
        merged.set(r.group.merchant, m);
      }
      for (const merchant of ['m1', 'm2']) {
        const mine = orders.filter((o) => o.merchant === merchant);
        expect(merged.get(merchant)).toEqual({
          orders: mine.length,
          revenue: mine.reduce((s, o) => s + o.amount, 0),
          biggest: Math.max(...mine.map((o) => o.amount)),
        });
      }
      expect(merged.has('m3')).toBe(false); // its window is still open
    } finally {
      await consumer.disconnect();
      await processor.stop();
      await producer.disconnect();
      await admin.disconnect();
    }
  });
});
