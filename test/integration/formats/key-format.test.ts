// spec.source.key.format through the real processor on real Kafka and Redis (and the real Schema
// Registry for Avro keys): records grouped by a field of the decoded key count exactly what an
// independent tally of the produced keys says, and keys that do not decode are on the
// dead-letter topic with reason key-decode, the rest of the batch unaffected.
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Message } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { readDeadLetters } from '../../../harness/dead-letters.ts';
import { compilePipeline, startInProcess } from '../../../harness/pipeline-fixture.ts';
import { avroProducer } from '../../../harness/registry-records.ts';
import { waitUntil } from '../../../harness/service.ts';
import { topicWith } from '../../../harness/topics.ts';
import { repartitionTopicOf } from '../../../processor/src/model/kafka-names.ts';
import type { RunningProcessor } from '../../../processor/src/runtime/processor.ts';
import { connectRedis } from '../../../processor/src/state/connection.ts';
import { fieldOf, groupKeyOf, keys, partitionPrefix } from '../../../processor/src/state/keys.ts';

const running: RunningProcessor[] = [];
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
});

const base = Date.UTC(2026, 5, 1, 12, 0, 0);
const USERS = ['u0', 'u1', 'u2', 'u3', 'u4'];

/**
 * Runs a one-partition pipeline grouping by `record.key.userId` over `messages` until every
 * record is committed; returns the per-user counts and sums in the (one) window and the dead letters.
 */
async function runKeyed(source: string, messages: Message[], deadLetters: number) {
  const id = randomUUID().slice(0, 8);
  const name = `key-${id}`;
  const topic = `key-${id}`;
  const pipeline = compilePipeline(`apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: ${name} }
spec:
  source: { topic: ${topic}, ${source}, eventTime: { field: ts } }
  groupBy: { user: record.key.userId }
  window: { type: tumbling, size: 1m, grace: 1h }
  aggregates:
    n: { count: {} }
    amount: { sum: event.amount }
  deadLetter: { topic: ${topic}.dlq }
`);
  const brokers = inject('kafkaBrokers');
  const redisUrl = inject('redisUrl');
  await topicWith(brokers, topic, messages);
  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
  const redis = connectRedis(redisUrl);
  const prefix = partitionPrefix(name, 1, 0);
  try {
    running.push(await startInProcess(pipeline, { brokers, redisUrl }));
    await waitUntil(
      'every record committed',
      async () => (await redis.hget(keys.checkpoint(prefix), 'offset')) === String(messages.length),
      { timeoutMs: 60_000 },
    );
    const window = await redis.hgetall(keys.window(prefix, base - (base % 60_000)));
    const byUser: Record<string, [number, number]> = {};
    for (const user of USERS) {
      const n = window[fieldOf('n', groupKeyOf([user]))];
      if (n !== undefined) byUser[user] = [Number(n), Number(window[fieldOf('amount', groupKeyOf([user]))])];
    }
    const letters = await readDeadLetters(kafka, `${topic}.dlq`, deadLetters);
    const checkpoint = await redis.hgetall(keys.checkpoint(prefix));
    return {
      byUser,
      letters,
      records: checkpoint.records,
      deadLettered: checkpoint.deadLettered,
    };
  } finally {
    redis.disconnect();
  }
}

/** `count` good records with keys made by `keyOf`, and the per-user [count, sum] they must give. */
async function goodRecords(count: number, keyOf: (userId: string) => Promise<Buffer> | Buffer) {
  const records: { userId: string; amount: number }[] = [];
  for (let i = 0; i < count; i++) {
    // A fixed but uneven spread, so a wrong grouping cannot give the same counts.
    records.push({ userId: USERS[(i * i + 3 * i) % USERS.length]!, amount: (i % 7) + 1 });
  }
  const expected: Record<string, [number, number]> = {};
  for (const r of records) {
    const [n, sum] = expected[r.userId] ?? [0, 0];
    expected[r.userId] = [n + 1, sum + r.amount];
  }
  const messages: Message[] = [];
  for (const [i, r] of records.entries()) {
    messages.push({
      key: await keyOf(r.userId),
      value: JSON.stringify({ ts: base + i * 10, amount: r.amount }),
    });
  }
  return { messages, expected };
}

describe('spec.source.key.format on real Kafka and Redis', () => {
  it('json: groups by a field of the key; keys that are not JSON are dead-lettered with key-decode', {
    timeout: 120_000,
  }, async () => {
    const { messages, expected } = await goodRecords(200, (userId) =>
      Buffer.from(JSON.stringify({ userId, region: 'eu' })),
    );
    const value = JSON.stringify({ ts: base, amount: 1000 });
    // Bad records between the good ones: what the pipeline must not count.
    messages.splice(10, 0, { key: 'user-1', value }); // 10: not JSON
    messages.splice(50, 0, { key: Buffer.from([0x7b, 0xff, 0x7d]), value }); // 50: not UTF-8
    messages.splice(120, 0, { key: null, value }); // 120: no key: record.key is null, groupBy fails
    const got = await runKeyed('format: json, key: { format: json }', messages, 3);
    expect(got.byUser).toEqual(expected);
    expect(got.letters.map((l) => [l.offset, l.reason])).toEqual([
      ['10', 'key-decode'],
      ['50', 'key-decode'],
      ['120', 'group-by'],
    ]);
    expect(got.letters[0]!.error).toMatch(/^key: the key is not JSON/);
    expect(got.letters[1]!.error).toBe('key: the key is not valid UTF-8');
    expect({ records: got.records, deadLettered: got.deadLettered }).toEqual({
      records: '200',
      deadLettered: '3',
    });
  });

  it('avro: keys decoded with their writer schema from the real registry; a key not in the wire format is dead-lettered', {
    timeout: 120_000,
  }, async () => {
    const registryUrl = inject('schemaRegistryUrl');
    const keyAvro = await avroProducer(registryUrl, `key-${randomUUID().slice(0, 8)}-key`, {
      type: 'record',
      name: 'UserKey',
      fields: [
        { name: 'userId', type: 'string' },
        { name: 'shard', type: 'int' },
      ],
    });
    const { messages, expected } = await goodRecords(120, (userId) => keyAvro.encode({ userId, shard: 1 }));
    const value = JSON.stringify({ ts: base, amount: 1000 });
    messages.splice(30, 0, { key: JSON.stringify({ userId: 'u1' }), value }); // 30: wrong magic byte
    const got = await runKeyed(
      `format: json, key: { format: avro }, schemaRegistry: { url: "${registryUrl}" }`,
      messages,
      1,
    );
    expect(got.byUser).toEqual(expected);
    expect(got.letters.map((l) => [l.offset, l.reason])).toEqual([['30', 'key-decode']]);
    expect(got.letters[0]!.error).toMatch(/^key: wrong magic byte 123/);
    expect({ records: got.records, deadLettered: got.deadLettered }).toEqual({
      records: '120',
      deadLettered: '1',
    });
  });

  it('json keys on a session window: the aggregating stage reads the source key through the repartition topic', {
    timeout: 120_000,
  }, async () => {
    const id = randomUUID().slice(0, 8);
    const name = `keys-${id}`;
    const topic = `keys-${id}`;
    const pipeline = compilePipeline(`apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: ${name} }
spec:
  source: { topic: ${topic}, key: { format: json }, eventTime: { field: ts } }
  groupBy: { user: record.key.userId }
  window: { type: session, gap: 1m, grace: 1h }
  aggregates:
    n: { count: {} }
  deadLetter: { topic: ${topic}.dlq }
`);
    const { messages, expected } = await goodRecords(150, (userId) =>
      Buffer.from(JSON.stringify({ userId })),
    );
    messages.splice(40, 0, { key: 'user-1', value: JSON.stringify({ ts: base, amount: 1 }) });
    const brokers = inject('kafkaBrokers');
    const redisUrl = inject('redisUrl');
    await topicWith(brokers, topic, messages);
    const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const redis = connectRedis(redisUrl);
    const repartition = repartitionTopicOf(name, 1);
    try {
      running.push(await startInProcess(pipeline, { brokers, redisUrl }));
      const partitions = async () => {
        try {
          return await admin.fetchTopicOffsets(repartition);
        } catch {
          return []; // not created yet
        }
      };
      await waitUntil(
        'every record through both stages',
        async () => {
          const offsets = await partitions();
          if (offsets.reduce((sum, o) => sum + Number(o.high), 0) < messages.length) return false;
          for (const { partition, high } of offsets) {
            if ((await redis.hget(keys.checkpoint(partitionPrefix(name, 1, partition)), 'offset')) !== high)
              return false;
          }
          return true;
        },
        { timeoutMs: 90_000, intervalMs: 500 },
      );
      // Every record of a user falls in one session (10 ms apart, gap 1m): its count is the tally.
      const counted: Record<string, number> = {};
      for (const user of USERS) {
        const group = groupKeyOf([user]);
        for (const { partition } of await partitions()) {
          const prefix = partitionPrefix(name, 1, partition);
          const sessions = await redis.zrange(keys.sessions(prefix, group), 0, -1);
          for (const start of sessions) {
            const n = Number(await redis.hget(keys.window(prefix, Number(start)), fieldOf('n', group)));
            counted[user] = (counted[user] ?? 0) + n;
          }
        }
      }
      expect(counted).toEqual(Object.fromEntries(Object.entries(expected).map(([user, [n]]) => [user, n])));
      const letters = await readDeadLetters(kafka, `${topic}.dlq`, 1);
      expect(letters.map((l) => [l.reason, l.error])).toEqual([
        ['key-decode', expect.stringMatching(/^key: the key is not JSON/)],
      ]);
    } finally {
      redis.disconnect();
      await admin.disconnect();
    }
  });
});
