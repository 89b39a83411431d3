// spec.sink.format avro: the same pipeline with a JSON and an Avro sink, on real Kafka, Redis and
// Schema Registry; a consumer decoding the Avro topic with the registry's own deserializer gets
// exactly the JSON sink's records.
import { randomUUID } from 'node:crypto';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import { describe, expect, inject, it } from 'vitest';
import { compilePipeline, startInProcess } from '../../../harness/pipeline-fixture.ts';
import { freePort } from '../../../harness/ports.ts';
import { registerSchema, setCompatibility, startSchemaRegistry } from '../../../harness/schema-registry.ts';
import { waitUntil } from '../../../harness/service.ts';

type SinkRecord = { partition: string; window: { start: number }; group: { merchant: string } };

/** A one-partition count pipeline over a fresh topic with an Avro sink on `registryUrl`, and an admin client. */
async function countingPipeline(prefix: string, id: string, topic: string, registryUrl: string) {
  const pipeline = compilePipeline(`apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: ${prefix}-${id} }
spec:
  source: { topic: ${topic}, format: json }
  window: { type: tumbling, size: 1m }
  aggregates: { orders: { count: {} } }
  sink: { topic: ${topic}.avro, format: avro, schemaRegistry: { url: "${registryUrl}" } }
`);
  const admin = new Kafka({ brokers: inject('kafkaBrokers'), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  return { pipeline, admin };
}

describe('Avro sink topic', () => {
  it('writes the JSON sink records as Avro records a registry deserializer reads back', {
    timeout: 150_000,
  }, async () => {
    const brokers = inject('kafkaBrokers');
    const registryUrl = inject('schemaRegistryUrl');
    const id = randomUUID().slice(0, 8);
    const topic = `orders-${id}`;
    const spec = (name: string, sink: string) => {
      return compilePipeline(`apiVersion: kappaflow.io/v1alpha1
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
    basket: { avg: event.amount }
    firstCoupon: { first: event.coupon }
    buyers: { countDistinct: event.buyer }
  sink: ${sink}
`);
    };
    const jsonTopic = `${topic}.json`;
    const avroTopic = `${topic}.avro`;
    const pipelines = [
      spec(`sinkjson-${id}`, `{ topic: ${jsonTopic} }`),
      spec(
        `sinkavro-${id}`,
        `{ topic: ${avroTopic}, format: avro, schemaRegistry: { url: "${registryUrl}" } }`,
      ),
    ];
    const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    const base = Date.UTC(2026, 6, 1, 10, 0, 0);
    const orders = Array.from({ length: 90 }, (_, i) => ({
      ts: base + (i % 60) * 1000 + (i >= 60 ? 60_000 : 0),
      merchant: i % 3 === 0 ? 'm1' : 'm2',
      amount: i + 0.5,
      coupon: `c${i}`,
      buyer: `b${i % 7}`,
    }));
    const closers = [0, 1].map((p) => ({
      partition: p,
      value: JSON.stringify({ ts: base + 300_000, merchant: 'm3', amount: 1, coupon: 'x', buyer: 'y' }),
    }));
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: [...orders.map((o, i) => ({ partition: i % 2, value: JSON.stringify(o) })), ...closers],
    });

    const processors = await Promise.all(
      pipelines.map((pipeline) => startInProcess(pipeline, { brokers, redisUrl: inject('redisUrl') })),
    );
    const registry = new SchemaRegistry({ host: registryUrl });
    const received = new Map<string, SinkRecord[]>([
      [jsonTopic, []],
      [avroTopic, []],
    ]);
    const consumer = kafka.consumer({ groupId: `sink-avro-reader-${id}` });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [jsonTopic, avroTopic], fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ topic: from, message }) => {
          const value =
            from === avroTopic
              ? // a plain object, as JSON.parse gives (avsc decodes records into classes)
                JSON.parse(JSON.stringify(await registry.decode(message.value!)))
              : JSON.parse(String(message.value));
          received.get(from)!.push(value);
        },
      });
      // Two groups on each of two partitions, for each of two closed windows.
      await waitUntil(
        'eight partials of the closed windows on both sink topics',
        async () => received.get(jsonTopic)!.length >= 8 && received.get(avroTopic)!.length >= 8,
        { timeoutMs: 90_000 },
      );
      const sorted = (records: SinkRecord[]) =>
        records
          .map((r) => ({ ...r, pipeline: 'same' }))
          .sort((a, b) =>
            `${a.window.start}/${a.partition}/${a.group.merchant}`.localeCompare(
              `${b.window.start}/${b.partition}/${b.group.merchant}`,
            ),
          );
      const json = sorted(received.get(jsonTopic)!);
      expect(json).toHaveLength(8);
      expect(new Set(json.map((r) => r.window.start))).toEqual(new Set([base, base + 60_000]));
      expect(sorted(received.get(avroTopic)!)).toEqual(json);
      // The schema is registered under TopicNameStrategy's subject.
      const latest = await registry.getLatestSchemaId(`${avroTopic}-value`);
      expect(latest).toBeGreaterThan(0);
    } finally {
      await consumer.disconnect();
      await Promise.all(processors.map((p) => p.stop()));
      await producer.disconnect();
      await admin.disconnect();
    }
  });

  it('waits for a registry that is down at start: alive, not ready, no exit; registers once it is up', {
    timeout: 150_000,
  }, async () => {
    const brokers = inject('kafkaBrokers');
    const id = randomUUID().slice(0, 8);
    const topic = `orders-${id}`;
    // Its own registry: this test stops it.
    const registry = await startSchemaRegistry();
    await registry.stop({ kill: true });
    const { pipeline, admin } = await countingPipeline('sinkwait', id, topic, registry.url);
    const port = await freePort();
    let exited: unknown;
    const starting = startInProcess(pipeline, {
      brokers,
      redisUrl: inject('redisUrl'),
      replicaId: `sinkwait-${id}`,
      port,
    }).catch((error) => {
      exited = error;
      throw error;
    });
    const status = async (path: string) =>
      (await fetch(`http://127.0.0.1:${port}${path}`).catch(() => undefined))?.status;
    try {
      await waitUntil(
        'the replica answers /healthz while the registry is down',
        async () => (await status('/healthz')) === 200,
        {
          timeoutMs: 60_000,
        },
      );
      // Several back-off rounds (0.4 s doubling) without the registry: still alive, never ready.
      for (let i = 0; i < 10; i++) {
        expect(await status('/readyz')).not.toBe(200);
        expect(exited).toBeUndefined();
        await new Promise((r) => setTimeout(r, 300));
      }
      await registry.start();
      const processor = await starting;
      try {
        await waitUntil('the replica is ready', async () => (await status('/readyz')) === 200, {
          timeoutMs: 60_000,
        });
        const subjects = (await (await fetch(`${registry.url}/subjects`)).json()) as string[];
        expect(subjects).toContain(`${topic}.avro-value`);
      } finally {
        await processor.stop();
      }
    } finally {
      await starting.then(
        () => undefined,
        () => undefined,
      );
      await registry.close();
      await admin.disconnect();
    }
  });

  it('a registry refusing the sink schema (incompatible subject): not ready, the log says what to change; registers once the subject allows it', {
    timeout: 150_000,
  }, async () => {
    const brokers = inject('kafkaBrokers');
    const id = randomUUID().slice(0, 8);
    const topic = `orders-${id}`;
    const subject = `${topic}.avro-value`;
    const registry = await startSchemaRegistry();
    // Someone else's schema already under the sink's subject, and a level that refuses ours.
    await registerSchema(
      registry.url,
      subject,
      JSON.stringify({ type: 'record', name: 'Other', fields: [{ name: 'x', type: 'int' }] }),
    );
    await setCompatibility(registry.url, subject, 'BACKWARD');
    const { pipeline, admin } = await countingPipeline('sinkrefused', id, topic, registry.url);
    const lines: { level: number; msg: string; status?: number }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const port = await freePort();
    const starting = startInProcess(pipeline, {
      brokers,
      redisUrl: inject('redisUrl'),
      replicaId: `sinkrefused-${id}`,
      port,
      logger,
    });
    const status = async (path: string) =>
      (await fetch(`http://127.0.0.1:${port}${path}`).catch(() => undefined))?.status;
    try {
      await waitUntil(
        'the refusal logged as an error naming the subject and the fixes',
        async () => lines.some((l) => l.status === 409),
        { timeoutMs: 60_000 },
      );
      const refusal = lines.find((l) => l.status === 409)!;
      expect(refusal.level).toBe(50);
      expect(refusal.msg).toContain(subject);
      expect(refusal.msg).toMatch(/new sink\.topic.*compatibility \(PUT \/config/);
      expect(await status('/healthz')).toBe(200);
      expect(await status('/readyz')).toBe(503);
      // The fix made while the replica waits: no restart needed.
      await setCompatibility(registry.url, subject, 'NONE');
      const processor = await starting;
      try {
        await waitUntil('the replica is ready', async () => (await status('/readyz')) === 200, {
          timeoutMs: 60_000,
        });
        expect(lines.some((l) => l.msg === 'sink schema registered')).toBe(true);
      } finally {
        await processor.stop();
      }
    } finally {
      await starting.then(
        () => undefined,
        () => undefined,
      );
      await registry.close();
      await admin.disconnect();
    }
  });
});
