import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import { describe, expect, inject, it } from 'vitest';
import { waitUntil } from '../../../harness/service.ts';
import { toRuntimePipeline } from '../../../processor/src/runtime/compile.ts';
import { startProcessor } from '../../../processor/src/runtime/processor.ts';
import { validateText } from '../../../processor/src/spec/validate.ts';
import { connectRedis } from '../../../processor/src/state/connection.ts';
import { fieldOf, groupKeyOf, keys, partitionPrefix } from '../../../processor/src/state/keys.ts';

describe('bad input never stops a pipeline', () => {
  it('sends malformed, failing and late records to the dead-letter topic with the reason and source offset', {
    timeout: 120_000,
  }, async () => {
    const brokers = inject('kafkaBrokers');
    const redisUrl = inject('redisUrl');
    const id = randomUUID().slice(0, 8);
    const name = `dlq-${id}`;
    const topic = `orders-${id}`;
    const result = validateText(`apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: ${name} }
spec:
  source: { topic: ${topic}, format: json, eventTime: { field: ts } }
  where: "event.state == 'paid'"
  groupBy: { merchant: event.merchant }
  window: { type: tumbling, size: 1m, grace: 1s }
  aggregates:
    orders: { count: {} }
    revenue: { sum: event.amount }
  deadLetter: { topic: ${topic}.dlq }
`);
    expect(result.errors).toEqual([]);
    const pipeline = toRuntimePipeline(result.pipelines[0]!, 1);

    const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    const base = Date.UTC(2026, 5, 1, 12, 0, 0);
    const records = [
      { value: JSON.stringify({ ts: base, state: 'paid', merchant: 'm1', amount: 10 }) }, // 0 ok
      { value: '{"ts": 1, "state": "paid", broken' }, // 1 parse
      { value: JSON.stringify({ ts: base + 1000, state: 'paid', merchant: 'm1', amount: 'ten' }) }, // 2 aggregate
      { value: JSON.stringify({ state: 'paid', merchant: 'm1', amount: 1 }) }, // 3 event time missing
      { value: JSON.stringify({ ts: base + 2000, state: 'refunded', merchant: 'm1', amount: 99 }) }, // 4 filtered
      { value: JSON.stringify({ ts: base + 180_000, state: 'paid', merchant: 'm2', amount: 5 }) }, // 5 ok, moves the watermark
      { value: JSON.stringify({ ts: base + 3000, state: 'paid', merchant: 'm1', amount: 7 }) }, // 6 late
      { value: JSON.stringify({ ts: base + 181_000, state: 'paid', amount: 5 }) }, // 7 group-by (no merchant)
      { value: JSON.stringify({ ts: base + 182_000, state: 'paid', merchant: 'm2', amount: 6 }) }, // 8 ok
    ];
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: records.map((r) => ({ ...r, headers: { trace: `t-${id}` } })) });

    const logger = pino({ level: 'silent' });
    const processor = await startProcessor({
      pipeline,
      brokers,
      redisUrl,
      replicaId: name,
      http: { port: 0, host: '127.0.0.1' },
      logger,
    });
    const redis = connectRedis(redisUrl);
    const prefix = partitionPrefix(name, 1, 0);
    try {
      await waitUntil(
        'all records committed',
        async () => (await redis.hget(keys.checkpoint(prefix), 'offset')) === '9',
        {
          timeoutMs: 60_000,
        },
      );
      const letters: { offset: string; reason: string; error: string; trace: string; value: string }[] = [];
      const consumer = kafka.consumer({ groupId: `dlq-reader-${id}` });
      await consumer.connect();
      await consumer.subscribe({ topic: `${topic}.dlq`, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          const header = (h: string) => String(message.headers?.[h] ?? '');
          letters.push({
            offset: header('kf-source-offset'),
            reason: header('kf-reason'),
            error: header('kf-error'),
            trace: header('trace'),
            value: String(message.value),
          });
        },
      });
      await waitUntil('five dead letters', async () => letters.length >= 5, { timeoutMs: 30_000 });
      await consumer.disconnect();
      letters.sort((a, b) => Number(a.offset) - Number(b.offset));
      expect(letters.map((l) => [l.offset, l.reason])).toEqual([
        ['1', 'parse'],
        ['2', 'aggregate'],
        ['3', 'event-time'],
        ['6', 'late'],
        ['7', 'group-by'],
      ]);
      for (const letter of letters) {
        expect(letter.trace).toBe(`t-${id}`); // original headers kept
        expect(letter.error.length).toBeGreaterThan(5);
        expect(letter.value).toBe(records[Number(letter.offset)]!.value); // original value kept
      }
      expect(letters.find((l) => l.reason === 'aggregate')!.error).toMatch(/revenue/);

      const windowStart = base - (base % 60_000);
      const m1 = await redis.hgetall(keys.window(prefix, windowStart));
      expect(m1[fieldOf('orders', groupKeyOf(['m1']))]).toBe('1');
      expect(m1[fieldOf('revenue', groupKeyOf(['m1']))]).toBe('10');
      const ckpt = await redis.hgetall(keys.checkpoint(prefix));
      expect({ records: ckpt.records, late: ckpt.late, deadLettered: ckpt.deadLettered }).toEqual({
        records: '3',
        late: '1',
        deadLettered: '5',
      });
      const ready = await fetch(`http://127.0.0.1:${processor.port}/readyz`);
      expect(ready.status).toBe(200);
      const metrics = await (await fetch(`http://127.0.0.1:${processor.port}/metrics`)).text();
      expect(metrics).toMatch(/kappaflow_records_dead_lettered_total\{[^}]*reason="parse"[^}]*\} 1/);
      expect(metrics).toMatch(/kappaflow_records_late_total\{[^}]*\} 1/);
    } finally {
      await processor.stop();
      redis.disconnect();
      await producer.disconnect();
      await admin.disconnect();
    }
  });
});
