// The three example pipelines, each run three times from the same events: as JSON (the example
// unchanged but for names), from an Avro topic and from a Protobuf topic (Confluent wire format,
// schemas in the real registry). Every window of every group must come out identical.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ensureDir, repoRoot, runDir } from '../../../harness/paths.ts';
import { freePort } from '../../../harness/ports.ts';
import { type ProcessorProcess, spawnProcessor } from '../../../harness/processor.ts';
import { avroDecimalBytes, avroProducer, protobufProducer } from '../../../harness/registry-records.ts';
import { waitUntil } from '../../../harness/service.ts';

type Event = Record<string, unknown>;

interface Case {
  file: string;
  countName: string;
  expectedCount: number;
  events: Event[];
  key?: (i: number) => string;
  avroSchema: object;
  toAvro: (e: Event) => Event;
  proto: string;
  protoMessage: string;
  toProto: (e: Event) => Event;
  setup?: (redis: Redis) => Promise<void>;
}

const base = Date.UTC(2026, 9, 1, 8, 0, 0);

const cases: Case[] = [
  {
    file: 'page-views.yaml',
    countName: 'views',
    expectedCount: 300 - Math.ceil(300 / 7),
    events: Array.from({ length: 300 }, (_, i) => ({
      ts: base + i * 1000,
      path: `/p${i % 5}`,
      ...(i % 2 ? { country: 'de' } : {}),
      status: i % 7 === 0 ? 503 : 200,
      bytes: i,
      latency_ms: i % 300,
      user_id: `u${i % 40}`,
      referrer: `r${i % 3}`,
    })),
    avroSchema: {
      type: 'record',
      name: 'PageView',
      namespace: 'examples',
      fields: [
        { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } },
        { name: 'path', type: 'string' },
        { name: 'country', type: ['null', 'string'], default: null },
        { name: 'status', type: 'int' },
        { name: 'bytes', type: 'long' },
        { name: 'latency_ms', type: 'int' },
        { name: 'user_id', type: 'string' },
        { name: 'referrer', type: 'string' },
      ],
    },
    toAvro: (e) => ({ ...e, country: e.country ?? null }),
    proto: `syntax = "proto3";
package examples;
message PageView {
  int64 ts = 1;
  string path = 2;
  optional string country = 3;
  int32 status = 4;
  int64 bytes = 5;
  int32 latency_ms = 6;
  string user_id = 7;
  string referrer = 8;
}`,
    protoMessage: 'examples.PageView',
    toProto: (e) => e,
  },
  {
    file: 'orders-hopping.yaml',
    countName: 'orders',
    expectedCount: 80 * 15,
    setup: async (redis) => {
      await redis.hset('merchants:region', 'm0', 'eu', 'm1', 'us', 'm2', 'apac');
    },
    events: Array.from({ length: 100 }, (_, i) => ({
      created_at: new Date(base + i * 5000).toISOString(),
      state: i % 5 === 0 ? 'pending' : 'paid',
      merchant_id: `m${i % 3}`,
      amount: 10 + (i % 7) + (i % 4) * 0.25,
    })),
    // created_at as timestamp-micros, state as an enum, amount as a decimal: all read back as JSON has them
    avroSchema: {
      type: 'record',
      name: 'Order',
      namespace: 'examples',
      fields: [
        { name: 'created_at', type: { type: 'long', logicalType: 'timestamp-micros' } },
        { name: 'state', type: { type: 'enum', name: 'State', symbols: ['pending', 'paid'] } },
        { name: 'merchant_id', type: 'string' },
        { name: 'amount', type: { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 } },
      ],
    },
    toAvro: (e) => ({
      ...e,
      created_at: Date.parse(e.created_at as string) * 1000,
      amount: avroDecimalBytes(e.amount as number, 2),
    }),
    // created_at as a google.protobuf.Timestamp, nested in an Order with a Merchant message beside it
    proto: `syntax = "proto3";
package examples.v1;
import "google/protobuf/timestamp.proto";
message Merchant { string id = 1; }
message Order {
  google.protobuf.Timestamp created_at = 1;
  string state = 2;
  string merchant_id = 3;
  double amount = 4;
}`,
    protoMessage: 'examples.v1.Order',
    toProto: (e) => {
      const ms = Date.parse(e.created_at as string);
      return { ...e, created_at: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 } };
    },
  },
  {
    file: 'sessions.yaml',
    countName: 'clicks',
    expectedCount: 120,
    key: (i) => `k${i % 11}`,
    events: Array.from({ length: 120 }, (_, i) => ({
      ts: base + i * 20_000,
      user_id: `u${i % 4}`,
      path: `/p${i % 6}`,
    })),
    avroSchema: {
      type: 'record',
      name: 'Click',
      namespace: 'examples',
      fields: [
        { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } },
        { name: 'user_id', type: 'string' },
        { name: 'path', type: 'string' },
      ],
    },
    toAvro: (e) => e,
    proto: `syntax = "proto3";
package examples;
message Click { int64 ts = 1; string user_id = 2; string path = 3; }`,
    protoMessage: 'examples.Click',
    toProto: (e) => e,
  },
];

const processes: ProcessorProcess[] = [];
afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
});

type Format = 'json' | 'avro' | 'protobuf';

/** The example with its own names (pipeline, topics) and the source format. */
function variant(file: string, suffix: string, format: Format, registryUrl: string) {
  const doc = parse(readFileSync(join(repoRoot, 'examples', file), 'utf8')) as {
    metadata: { name: string };
    spec: { source: Record<string, unknown>; sink?: { topic: string }; deadLetter?: { topic: string } };
  };
  const name = `${doc.metadata.name}-${format}-${suffix}`;
  const topic = `${doc.spec.source.topic as string}-${format}-${suffix}`;
  doc.metadata.name = name;
  doc.spec.source.topic = topic;
  doc.spec.source.format = format;
  if (format !== 'json') doc.spec.source.schemaRegistry = { url: registryUrl };
  if (doc.spec.sink) doc.spec.sink.topic = `${doc.spec.sink.topic}-${format}-${suffix}`;
  if (doc.spec.deadLetter) doc.spec.deadLetter.topic = `${doc.spec.deadLetter.topic}-${format}-${suffix}`;
  const path = join(ensureDir(join(runDir, 'examples-formats')), `${name}.yaml`);
  writeFileSync(path, stringify(doc));
  const outputs = [doc.spec.sink?.topic, doc.spec.deadLetter?.topic].filter((t): t is string => !!t);
  return { name, topic, path, outputs };
}

async function windowsOf(port: number, pipeline: string): Promise<unknown[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/pipelines/${pipeline}/windows?limit=10000`);
  if (!res.ok) throw new Error(`windows of ${pipeline}: ${res.status}`);
  return ((await res.json()) as { windows: unknown[] }).windows;
}

async function countOf(port: number, pipeline: string, countName: string): Promise<number> {
  const res = await fetch(
    `http://127.0.0.1:${port}/api/v1/pipelines/${pipeline}/windows?rollup=true&limit=1000`,
  );
  if (!res.ok) return -1;
  const body = (await res.json()) as { windows: { groups: { values: Record<string, number> }[] }[] };
  return body.windows.flatMap((w) => w.groups).reduce((sum, g) => sum + (g.values[countName] ?? 0), 0);
}

describe('the example pipelines give the same windows from JSON, Avro and Protobuf topics', () => {
  for (const example of cases) {
    it(`examples/${example.file}`, { timeout: 300_000 }, async () => {
      const brokers = inject('kafkaBrokers');
      const redisUrl = inject('redisUrl');
      const registryUrl = inject('schemaRegistryUrl');
      const suffix = randomUUID().slice(0, 6);
      const redis = new Redis(redisUrl);
      await example.setup?.(redis);
      redis.disconnect();
      const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
      const admin = kafka.admin();
      const producer = kafka.producer();
      await Promise.all([admin.connect(), producer.connect()]);

      const runs = (['json', 'avro', 'protobuf'] as const).map((format) => ({
        format,
        ...variant(example.file, suffix, format, registryUrl),
      }));
      // Output topics too: three processors creating theirs at once sometimes meet a metadata race.
      await admin.createTopics({
        topics: runs.flatMap((r) => [
          { topic: r.topic, numPartitions: 3 },
          ...r.outputs.map((topic) => ({ topic, numPartitions: 1 })),
        ]),
        waitForLeaders: true,
      });
      const avro = await avroProducer(registryUrl, `${runs[1]!.topic}-value`, example.avroSchema);
      const proto = await protobufProducer(
        registryUrl,
        `${runs[2]!.topic}-value`,
        example.proto,
        example.protoMessage,
      );
      for (const run of runs) {
        const messages = await Promise.all(
          example.events.map(async (event, i) => ({
            // the same partition for the same event in every run, so the three runs see the same order
            partition: i % 3,
            ...(example.key ? { key: example.key(i) } : {}),
            value:
              run.format === 'json'
                ? JSON.stringify(event)
                : run.format === 'avro'
                  ? await avro.encode(example.toAvro(event))
                  : proto.encode(example.toProto(event)),
          })),
        );
        await producer.send({ topic: run.topic, messages });
      }
      await Promise.all([producer.disconnect(), admin.disconnect()]);

      const spawn = async (run: (typeof runs)[number]) => {
        const port = await freePort();
        const processor = await spawnProcessor({
          file: run.path,
          brokers,
          redisUrl,
          port,
          name: `${run.name}-${Date.now()}`,
          logDir: ensureDir(join(runDir, 'examples-formats')),
        });
        processes.push(processor);
        return { port, processor };
      };
      const started = await Promise.all(runs.map(async (run) => ({ ...run, ...(await spawn(run)) })));
      for (const run of started) {
        let last: number | undefined;
        try {
          await waitUntil(
            `${run.name}: ${example.expectedCount} counted`,
            async () => {
              // Like a supervisor: a replica that exited (a start-up race creating its internal topics,
              // independent of the format) is started again and resumes from its checkpoints.
              if (run.processor.child.exitCode !== null) Object.assign(run, await spawn(run));
              last = await countOf(run.port, run.name, example.countName);
              return last === example.expectedCount;
            },
            { timeoutMs: 150_000, intervalMs: 500 },
          );
        } catch (error) {
          // what the pipeline says of itself: records, dead letters, partitions (for the failure report)
          const status = await fetch(`http://127.0.0.1:${run.port}/api/v1/pipelines/${run.name}`)
            .then(async (r) => `${r.status} ${(await r.text()).slice(0, 1500)}`)
            .catch((e) => String(e));
          throw new Error(`${(error as Error).message}; last count ${last}; pipeline: ${status}`);
        }
      }
      const [json, ...others] = await Promise.all(started.map((r) => windowsOf(r.port, r.name)));
      expect(json!.length).toBeGreaterThan(0);
      for (const [i, windows] of others.entries()) {
        expect(windows, started[i + 1]!.format).toEqual(json);
      }
      await Promise.all(started.map((r) => r.processor.stop()));
    });
  }
});
