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

// One instant, written the way producers in other languages send it; each valid record must land
// in the window 12:00-12:01, each value that does not match the declared format in the dead letters.
const T = Date.UTC(2026, 5, 1, 12, 0, 30, 250);
const WINDOW = Date.UTC(2026, 5, 1, 12, 0, 0);
const ISO = '2026-06-01T12:00:30.250Z';

const cases: Record<string, { valid: unknown[]; mismatched: unknown[] }> = {
  epochMillis: { valid: [T, String(T), ` ${T} `], mismatched: [ISO, T * 1000, true] },
  epochSeconds: { valid: [T / 1000, String(T / 1000), String(Math.floor(T / 1000))], mismatched: [T, ISO] },
  epochMicros: { valid: [T * 1000, `${T}000`, `${T}123`], mismatched: [ISO, 'soon'] },
  epochNanos: { valid: [`${T}000000`, `${T}999999`, T * 1e6], mismatched: [ISO, [T]] },
  iso8601: {
    valid: [ISO, '2026-06-01T14:00:30.250+02:00', '2026-06-01 12:00:59'],
    mismatched: [T, String(T), 'June 1, 2026 12:00'],
  },
  auto: { valid: [T, String(T), ISO], mismatched: ['June 1, 2026 12:00', {}] },
};

describe('spec.source.eventTime.format through the real processor', () => {
  it('puts each format in its window and each mismatch in the dead letters', {
    timeout: 180_000,
  }, async () => {
    const brokers = inject('kafkaBrokers');
    const redisUrl = inject('redisUrl');
    const id = randomUUID().slice(0, 8);
    const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const topicOf = (format: string) => `et-${format.toLowerCase()}-${id}`;
    const formats = Object.keys(cases);
    await admin.createTopics({
      topics: formats.flatMap((f) => [{ topic: topicOf(f) }, { topic: `${topicOf(f)}.dlq` }]),
      waitForLeaders: true,
    });
    const producer = kafka.producer();
    await producer.connect();
    const redis = connectRedis(redisUrl);
    const processors = [];
    try {
      for (const format of formats) {
        const { valid, mismatched } = cases[format]!;
        await producer.send({
          topic: topicOf(format),
          messages: [...valid, ...mismatched].map((at) => ({ value: JSON.stringify({ meta: { at } }) })),
        });
        const result = validateText(`apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: ${topicOf(format)} }
spec:
  source: { topic: ${topicOf(format)}, eventTime: { field: meta.at, format: ${format} } }
  window: { type: tumbling, size: 1m, grace: 1h }
  aggregates: { n: { count: {} } }
  deadLetter: { topic: ${topicOf(format)}.dlq }
`);
        expect(result.errors).toEqual([]);
        processors.push(
          await startProcessor({
            pipeline: toRuntimePipeline(result.pipelines[0]!, 1),
            brokers,
            redisUrl,
            replicaId: topicOf(format),
            http: { port: 0, host: '127.0.0.1' },
            logger: pino({ level: 'silent' }),
          }),
        );
      }
      for (const format of formats) {
        const { valid, mismatched } = cases[format]!;
        const prefix = partitionPrefix(topicOf(format), 1, 0);
        await waitUntil(
          `${format}: every record committed`,
          async () =>
            (await redis.hget(keys.checkpoint(prefix), 'offset')) ===
            String(valid.length + mismatched.length),
          { timeoutMs: 90_000 },
        );
        const counts = await redis.hgetall(keys.window(prefix, WINDOW));
        expect({ format, n: counts[fieldOf('n', groupKeyOf([]))] }).toEqual({
          format,
          n: String(valid.length),
        });
        expect({ format, watermark: Number(await redis.hget(keys.checkpoint(prefix), 'watermark')) }).toEqual(
          {
            format,
            // the newest valid time; sub-millisecond digits are dropped
            watermark: format === 'iso8601' ? Date.UTC(2026, 5, 1, 12, 0, 59) : T,
          },
        );
      }

      const letters: { topic: string; offset: number; reason: string }[] = [];
      const consumer = kafka.consumer({ groupId: `et-reader-${id}` });
      await consumer.connect();
      await consumer.subscribe({ topics: formats.map((f) => `${topicOf(f)}.dlq`), fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          letters.push({
            topic: String(message.headers?.['kf-source-topic']),
            offset: Number(String(message.headers?.['kf-source-offset'])),
            reason: String(message.headers?.['kf-reason']),
          });
        },
      });
      const expected = formats.flatMap((f) =>
        cases[f]!.mismatched.map((_, i) => ({
          topic: topicOf(f),
          offset: cases[f]!.valid.length + i,
          reason: 'event-time',
        })),
      );
      await waitUntil('every mismatch dead-lettered', async () => letters.length >= expected.length, {
        timeoutMs: 60_000,
      });
      await consumer.disconnect();
      const order = (a: { topic: string; offset: number }, b: { topic: string; offset: number }) =>
        a.topic.localeCompare(b.topic) || a.offset - b.offset;
      expect(letters.sort(order)).toEqual(expected.sort(order));
    } finally {
      await Promise.all(processors.map((p) => p.stop()));
      redis.disconnect();
      await producer.disconnect();
      await admin.disconnect();
    }
  });
});
