// Registry formats on real Kafka, Redis and a real Schema Registry: schema evolution mid-stream,
// every kind of bad record to the dead-letter topic with its reason, and a registry outage that
// holds the batch (no commit past it, no dead letters) until the registry is back.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { readDeadLetters } from '../../../harness/dead-letters.ts';
import { avroProducer } from '../../../harness/registry-records.ts';
import { registerSchema, startSchemaRegistry } from '../../../harness/schema-registry.ts';
import { run, waitUntil } from '../../../harness/service.ts';
import { createTopic } from '../../../harness/topics.ts';
import { headerFor } from '../../../processor/src/consumer/formats/wire.ts';
import { toRuntimePipeline } from '../../../processor/src/runtime/compile.ts';
import { type RunningProcessor, startProcessor } from '../../../processor/src/runtime/processor.ts';
import { validateText } from '../../../processor/src/spec/validate.ts';
import { connectRedis } from '../../../processor/src/state/connection.ts';
import { fieldOf, groupKeyOf, keys, partitionPrefix } from '../../../processor/src/state/keys.ts';

const running: RunningProcessor[] = [];
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
});

const base = Date.UTC(2026, 5, 1, 12, 0, 0);

/** A one-partition pipeline over a fresh topic, run in this process; returns what a test needs. */
async function setUp(source: string, registryUrl: string, aggregates: string, registryExtra = '') {
  const id = randomUUID().slice(0, 8);
  const name = `sr-${id}`;
  const topic = `sr-${id}`;
  const result = validateText(`apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: ${name} }
spec:
  source: { topic: ${topic}, ${source}, schemaRegistry: { url: "${registryUrl}"${registryExtra} }, eventTime: { field: ts } }
  groupBy: { merchant: event.merchant }
  window: { type: tumbling, size: 1m, grace: 1h }
  aggregates:
${aggregates}
  deadLetter: { topic: ${topic}.dlq }
`);
  expect(result.errors).toEqual([]);
  const pipeline = toRuntimePipeline(result.pipelines[0]!, 1);
  const brokers = inject('kafkaBrokers');
  const redisUrl = inject('redisUrl');
  await createTopic(brokers, topic);
  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  const redis = connectRedis(redisUrl);
  const prefix = partitionPrefix(name, 1, 0);
  const start = async () => {
    const processor = await startProcessor({
      pipeline,
      brokers,
      redisUrl,
      replicaId: name,
      http: { port: 0, host: '127.0.0.1' },
      logger: pino({ level: process.env.KAPPAFLOW_DEBUG ? 'info' : 'silent' }),
    });
    running.push(processor);
    return processor;
  };
  const checkpoint = () => redis.hgetall(keys.checkpoint(prefix));
  const windowOf = async (merchant: string, field: string) =>
    (await redis.hgetall(keys.window(prefix, base - (base % 60_000))))[
      fieldOf(field, groupKeyOf([merchant]))
    ];
  const deadLetters = (count: number) => readDeadLetters(kafka, `${topic}.dlq`, count);
  const close = async () => {
    redis.disconnect();
    await producer.disconnect();
  };
  return { topic, producer, start, checkpoint, windowOf, deadLetters, close };
}

const orderFields = [
  { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } },
  { name: 'merchant', type: 'string' },
  { name: 'amount', type: 'int' },
];

describe('Avro, Protobuf and JSON Schema topics through a real Schema Registry', () => {
  it('follows a schema change mid-stream and dead-letters bad records with the reason', {
    timeout: 120_000,
  }, async () => {
    const registryUrl = inject('schemaRegistryUrl');
    const t = await setUp(
      'format: avro',
      registryUrl,
      `    orders: { count: {} }
    revenue: { sum: event.amount }
    coupons: { sum: "has(event.coupon) && event.coupon != 'none' ? 1 : 0" }`,
    );
    const subject = `${t.topic}-value`;
    // v2 removes the optional `note` and adds `coupon` with a default
    const v1 = await avroProducer(registryUrl, subject, {
      type: 'record',
      name: 'Order',
      fields: [...orderFields, { name: 'note', type: ['null', 'string'], default: null }],
    });
    const v2 = await avroProducer(registryUrl, subject, {
      type: 'record',
      name: 'Order',
      fields: [...orderFields, { name: 'coupon', type: 'string', default: 'none' }],
    });
    const protoId = await registerSchema(
      registryUrl,
      `${t.topic}-other-value`,
      'syntax = "proto3"; message X { int32 a = 1; }',
      'PROTOBUF',
    );
    const values = [
      await v1.encode({ ts: base, merchant: 'm1', amount: 10, note: 'x' }), // 0 ok
      Buffer.from(JSON.stringify({ ts: base, merchant: 'm1', amount: 1 })), // 1 wrong magic byte
      Buffer.concat([headerFor(987_654), Buffer.from([2, 4])]), // 2 unknown schema id
      Buffer.concat([headerFor(v1.id), Buffer.from([0xff, 0xff, 0xff])]), // 3 payload not matching
      await v2.encode({ ts: base + 1000, merchant: 'm1', amount: 5, coupon: 'c1' }), // 4 ok (v2)
      Buffer.concat([headerFor(protoId), Buffer.from([0, 8, 1])]), // 5 a Protobuf schema
      await v1.encode({ ts: base + 2000, merchant: 'm2', amount: 7, note: null }), // 6 ok (v1 again)
      Buffer.from([0, 0]), // 7 shorter than the header
      await v2.encode({ ts: base + 3000, merchant: 'm2', amount: 1, coupon: 'none' }), // 8 ok
    ];
    await t.producer.send({ topic: t.topic, messages: values.map((value) => ({ value })) });
    await t.start();
    try {
      await waitUntil('all records committed', async () => (await t.checkpoint()).offset === '9', {
        timeoutMs: 60_000,
      });
      const letters = await t.deadLetters(5);
      expect(letters.map((l) => [l.offset, l.reason])).toEqual([
        ['1', 'parse'],
        ['2', 'parse'],
        ['3', 'parse'],
        ['5', 'parse'],
        ['7', 'parse'],
      ]);
      expect(letters[0]!.error).toMatch(/wrong magic byte 123/);
      expect(letters[1]!.error).toMatch(/unknown schema id 987654/);
      expect(letters[2]!.error).toMatch(/Avro payload does not match its writer schema/);
      expect(letters[3]!.error).toMatch(/is PROTOBUF, but the pipeline reads format avro/);
      expect(letters[4]!.error).toMatch(/shorter than the 5-byte Schema Registry header/);
      expect({
        m1: [
          await t.windowOf('m1', 'orders'),
          await t.windowOf('m1', 'revenue'),
          await t.windowOf('m1', 'coupons'),
        ],
        m2: [
          await t.windowOf('m2', 'orders'),
          await t.windowOf('m2', 'revenue'),
          await t.windowOf('m2', 'coupons'),
        ],
      }).toEqual({ m1: ['2', '15', '1'], m2: ['2', '8', '0'] });
      const ckpt = await t.checkpoint();
      expect({ records: ckpt.records, deadLettered: ckpt.deadLettered }).toEqual({
        records: '4',
        deadLettered: '5',
      });
    } finally {
      await t.close();
    }
  });

  it('reads JSON Schema records and dead-letters a value that does not match its schema', {
    timeout: 120_000,
  }, async () => {
    const registryUrl = inject('schemaRegistryUrl');
    const t = await setUp(
      'format: jsonSchema',
      registryUrl,
      '    orders: { count: {} }\n    revenue: { sum: event.amount }',
    );
    const id = await registerSchema(
      registryUrl,
      `${t.topic}-value`,
      JSON.stringify({
        type: 'object',
        properties: { ts: { type: 'integer' }, merchant: { type: 'string' }, amount: { type: 'number' } },
        required: ['ts', 'merchant', 'amount'],
      }),
      'JSON',
    );
    const frame = (v: unknown) => Buffer.concat([headerFor(id), Buffer.from(JSON.stringify(v))]);
    await t.producer.send({
      topic: t.topic,
      messages: [
        { value: frame({ ts: base, merchant: 'm1', amount: 2.5 }) },
        { value: frame({ ts: base, merchant: 'm1' }) }, // amount missing
        { value: frame({ ts: base + 1, merchant: 'm1', amount: 4 }) },
      ],
    });
    await t.start();
    try {
      await waitUntil('all records committed', async () => (await t.checkpoint()).offset === '3', {
        timeoutMs: 60_000,
      });
      const letters = await t.deadLetters(1);
      expect(letters.map((l) => [l.offset, l.reason])).toEqual([['1', 'parse']]);
      expect(letters[0]!.error).toMatch(
        /does not match its JSON Schema: \/ must have required property 'amount'/,
      );
      expect([await t.windowOf('m1', 'orders'), await t.windowOf('m1', 'revenue')]).toEqual(['2', '6.5']);
    } finally {
      await t.close();
    }
  });

  it('reaches the registry over TLS (caFile) with a bearer token from a file', {
    timeout: 120_000,
  }, async () => {
    // The real registry behind an HTTPS gateway that demands the token, as registries are often exposed.
    const registryUrl = inject('schemaRegistryUrl');
    const dir = mkdtempSync(join(tmpdir(), 'kf-tls-'));
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    writeFileSync(join(dir, 'token'), 'tok-42\n');
    const seen: string[] = [];
    const gateway = createServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      async (req, res) => {
        seen.push(String(req.headers.authorization));
        if (req.headers.authorization !== 'Bearer tok-42') {
          res.writeHead(401).end('{"error_code":401,"message":"unauthorized"}');
          return;
        }
        const upstream = await fetch(`${registryUrl}${req.url}`);
        res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(await upstream.text());
      },
    );
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
    const port = (gateway.address() as AddressInfo).port;
    const t = await setUp(
      'format: avro',
      `https://127.0.0.1:${port}`,
      '    orders: { count: {} }',
      `, auth: { type: bearer, file: "${join(dir, 'token')}" }, tls: { caFile: "${join(dir, 'cert.pem')}" }`,
    );
    try {
      const producer = await avroProducer(registryUrl, `${t.topic}-value`, {
        type: 'record',
        name: 'Order',
        fields: orderFields,
      });
      const values = await Promise.all(
        [1, 2, 3].map((i) => producer.encode({ ts: base + i, merchant: 'm1', amount: i })),
      );
      await t.producer.send({ topic: t.topic, messages: values.map((value) => ({ value })) });
      await t.start();
      await waitUntil('3 committed', async () => (await t.checkpoint()).offset === '3', {
        timeoutMs: 60_000,
      });
      expect(await t.windowOf('m1', 'orders')).toBe('3');
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.every((h) => h === 'Bearer tok-42')).toBe(true);
    } finally {
      await t.close();
      gateway.close();
    }
  });

  it('holds a batch while the registry is down for 10 s (no commit past it, no dead letters), then counts exactly', {
    timeout: 180_000,
  }, async () => {
    // Its own registry: this test stops it.
    const registry = await startSchemaRegistry();
    const t = await setUp(
      'format: avro',
      registry.url,
      '    orders: { count: {} }\n    revenue: { sum: event.amount }',
    );
    try {
      const subject = `${t.topic}-value`;
      const v1Schema = { type: 'record', name: 'Order', fields: orderFields };
      const v2Schema = {
        type: 'record',
        name: 'Order',
        fields: [...orderFields, { name: 'coupon', type: 'string', default: '' }],
      };
      const v1 = await avroProducer(registry.url, subject, v1Schema);
      const first = await Promise.all(
        Array.from({ length: 100 }, (_, i) => v1.encode({ ts: base + i, merchant: 'm1', amount: i })),
      );
      await t.producer.send({ topic: t.topic, messages: first.map((value) => ({ value })) });
      await t.start();
      await waitUntil('the first 100 committed', async () => (await t.checkpoint()).offset === '100', {
        timeoutMs: 60_000,
      });
      // A new writer schema the processor has not seen yet, then the registry goes away.
      const v2 = await avroProducer(registry.url, subject, v2Schema);
      const second = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          v2.encode({ ts: base + 100 + i, merchant: 'm1', amount: 1000 + i, coupon: 'c' }),
        ),
      );
      await registry.stop({ kill: true });
      await t.producer.send({ topic: t.topic, messages: second.map((value) => ({ value })) });

      // For the whole outage the checkpoint stays where it was and nothing is dead-lettered.
      const until = Date.now() + 10_000;
      let samples = 0;
      while (Date.now() < until) {
        const ckpt = await t.checkpoint();
        expect({ offset: ckpt.offset, deadLettered: ckpt.deadLettered ?? '0' }).toEqual({
          offset: '100',
          deadLettered: '0',
        });
        samples++;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(samples).toBeGreaterThan(10);

      // Back with its schemas (in-memory storage: registered again in the same order, same ids).
      await registry.start();
      expect(await registerSchema(registry.url, subject, JSON.stringify(v1Schema))).toBe(v1.id);
      expect(await registerSchema(registry.url, subject, JSON.stringify(v2Schema))).toBe(v2.id);
      await waitUntil('all 200 committed', async () => (await t.checkpoint()).offset === '200', {
        timeoutMs: 60_000,
      });
      const ckpt = await t.checkpoint();
      expect({ records: ckpt.records, deadLettered: ckpt.deadLettered ?? '0' }).toEqual({
        records: '200',
        deadLettered: '0',
      });
      const revenue = Array.from({ length: 100 }, (_, i) => i + 1000 + i).reduce((a, b) => a + b, 0);
      expect([await t.windowOf('m1', 'orders'), await t.windowOf('m1', 'revenue')]).toEqual([
        '200',
        String(revenue),
      ]);
    } finally {
      await t.close();
      await registry.close();
    }
  });
});
