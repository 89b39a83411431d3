import fc from 'fast-check';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { pipelineFixture } from '../../../harness/pipeline-fixture.ts';
import { freePort } from '../../../harness/ports.ts';
import { type ProcessorProcess, spawnProcessor } from '../../../harness/processor.ts';
import { waitUntil } from '../../../harness/service.ts';
import { consumerGroupOf } from '../../../processor/src/model/kafka-names.ts';
import { connectRedis } from '../../../processor/src/state/connection.ts';
import { fieldOf, groupKeyOf, keys, partitionPrefix } from '../../../processor/src/state/keys.ts';

const BASE = Date.UTC(2026, 2, 1);
const REASONS = new Set(['parse', 'where', 'enrich', 'event-time', 'group-by', 'aggregate', 'late']);

/** Hostile record values, each a kind of input users' producers really send by mistake. */
const hostile: fc.Arbitrary<{ kind: string; value: Buffer }> = fc.oneof(
  fc
    .uint8Array({ minLength: 1, maxLength: 300 })
    .map((b) => ({ kind: 'random bytes', value: Buffer.from(b) })),
  fc.tuple(fc.nat(1000), fc.integer({ min: 1, max: 40 })).map(([bytes, cut]) => {
    const text = JSON.stringify({ ts: BASE, page: '/p', bytes });
    return { kind: 'truncated JSON', value: Buffer.from(text.slice(0, Math.max(1, text.length - cut))) };
  }),
  fc.integer({ min: 5000, max: 200_000 }).map((depth) => ({
    kind: 'deeply nested JSON',
    value: Buffer.from(`{"ts":${BASE},"page":${'['.repeat(depth)}${']'.repeat(depth)},"bytes":1}`),
  })),
  fc.constantFrom('1e400', '-1e400', '1e999999').chain((big) =>
    fc.constantFrom(
      { kind: 'out-of-range number (ts)', value: Buffer.from(`{"ts":${big},"page":"/p","bytes":1}`) },
      {
        kind: 'out-of-range number (sum)',
        value: Buffer.from(`{"ts":${BASE},"page":"/p","bytes":${big}}`),
      },
    ),
  ),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((tail) => ({
    kind: 'invalid UTF-8',
    // A lone continuation byte and an overlong form: never valid UTF-8, whatever follows.
    value: Buffer.concat([
      Buffer.from(`{"ts":${BASE},"page":"/p`),
      Buffer.from([0x80, 0xc0, 0xaf]),
      Buffer.from(tail),
      Buffer.from('","bytes":1}'),
    ]),
  })),
);

let processor: ProcessorProcess | undefined;
afterAll(async () => {
  await processor?.kill();
});

/**
 * Fuzzed input against a real replica: every hostile record goes to the dead-letter topic with a
 * reason, the good records beside them are counted exactly, and the replica neither exits nor stalls.
 */
describe('fuzzed records', () => {
  it('dead-letters every hostile record with a reason and keeps counting the good ones', {
    timeout: 300_000,
  }, async () => {
    const brokers = inject('kafkaBrokers');
    const redisUrl = inject('redisUrl');
    const fixture = await pipelineFixture({
      brokers,
      redisUrl,
      prefix: 'fuzz',
      partitions: 2,
      topicConfig: { configEntries: [{ name: 'max.message.bytes', value: String(16 * 2 ** 20) }] },
      yaml: (name, topic) => `apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: ${name} }
spec:
  source: { topic: ${topic}, format: json, eventTime: { field: ts }, startFrom: earliest }
  groupBy: { page: event.page }
  window: { type: tumbling, size: 1m, grace: 1h }
  aggregates:
    views: { count: {} }
    bytes: { sum: event.bytes }
  deadLetter: { topic: ${topic}.dlq }
`,
    });
    const { name, topic, dir, file, kafka, admin } = fixture;
    const bad = fc.sample(hostile, { numRuns: 120, seed: 20261128 });
    // One more that sampling would make rare: a 10 MB value.
    bad.push({
      kind: '10 MB value',
      value: Buffer.from(`{"ts":${BASE},"page":"${'x'.repeat(10 * 2 ** 20)}"}`),
    });

    const producer = kafka.producer();
    await producer.connect();
    // Partition 0: good records only (the exact counts); partition 1: the hostile ones, with good
    // records between them, so a stuck batch would show as a missing count.
    const good = Array.from({ length: 300 }, (_, i) => ({
      ts: BASE + i * 100,
      page: `/g${i % 7}`,
      bytes: i,
    }));
    await producer.send({
      topic,
      messages: good.map((g) => ({ partition: 0, value: JSON.stringify(g) })),
    });
    const interleaved: { value: Buffer; bad: boolean }[] = [];
    for (const [i, b] of bad.entries()) {
      interleaved.push({ value: b.value, bad: true });
      if (i % 10 === 0) interleaved.push({ value: Buffer.from(JSON.stringify(good[i]!)), bad: false });
    }
    for (const r of interleaved) await producer.send({ topic, messages: [{ partition: 1, value: r.value }] });

    // A fresh broker may still be loading the group coordinator: the replica would exit (by design,
    // for its supervisor to restart it), which is not what this test is about.
    await waitUntil(
      'the group coordinator',
      async () => (await admin.describeGroups([consumerGroupOf(name, 1)])).groups.length === 1,
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    processor = await spawnProcessor({ file, brokers, redisUrl, port: await freePort(), name, logDir: dir });
    const redis = connectRedis(redisUrl);
    const letters = new Map<string, { reason: string; error: string; truncated: string; bytes: number }>();
    const consumer = kafka.consumer({ groupId: `${name}-reader`, maxBytesPerPartition: 32 * 2 ** 20 });
    try {
      await waitUntil(
        'both partitions committed to their end',
        async () =>
          (await redis.hget(keys.checkpoint(partitionPrefix(name, 1, 0)), 'offset')) ===
            String(good.length) &&
          (await redis.hget(keys.checkpoint(partitionPrefix(name, 1, 1)), 'offset')) ===
            String(interleaved.length),
        { timeoutMs: 180_000, service: processor },
      );
      await consumer.connect();
      await consumer.subscribe({ topic: `${topic}.dlq`, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          const header = (h: string) => String(message.headers?.[h] ?? '');
          letters.set(header('kf-source-offset'), {
            reason: header('kf-reason'),
            error: header('kf-error'),
            truncated: header('kf-value-truncated'),
            bytes: message.value?.length ?? 0,
          });
        },
      });
      const expectedBad = interleaved.flatMap((r, offset) => (r.bad ? [String(offset)] : []));
      await waitUntil('every hostile record dead-lettered', async () => letters.size >= expectedBad.length, {
        timeoutMs: 60_000,
      }).catch(() => {});
      const missing = expectedBad.flatMap((o, i) => (letters.has(o) ? [] : [bad[i]!.kind]));
      expect(missing).toEqual([]);
      const kinds = new Map<string, Set<string>>();
      let b = 0;
      for (const [offset, r] of interleaved.entries()) {
        if (!r.bad) continue;
        const letter = letters.get(String(offset))!;
        expect(REASONS.has(letter.reason), `${bad[b]!.kind}: reason ${letter.reason}`).toBe(true);
        expect(letter.error.length).toBeGreaterThan(5);
        // Values too big for a dead-letter record are cut, saying how big the original was.
        expect(letter.truncated).toBe(r.value.length > 256 * 1024 ? String(r.value.length) : '');
        expect(letter.bytes).toBe(Math.min(r.value.length, 256 * 1024));
        const set = kinds.get(bad[b]!.kind) ?? new Set();
        set.add(letter.reason);
        kinds.set(bad[b]!.kind, set);
        b++;
      }
      expect(letters.size).toBe(expectedBad.length); // nothing good was dead-lettered
      // The good records of both partitions, exactly.
      const expected = new Map<string, number>();
      const goodOnOne = interleaved.filter((r) => !r.bad).map((r) => JSON.parse(String(r.value)));
      for (const g of [...good, ...goodOnOne]) expected.set(g.page, (expected.get(g.page) ?? 0) + 1);
      for (const [page, count] of expected) {
        let total = 0;
        for (const p of [0, 1]) {
          const prefix = partitionPrefix(name, 1, p);
          total += Number(
            (await redis.hget(keys.window(prefix, BASE), fieldOf('views', groupKeyOf([page])))) ?? 0,
          );
        }
        expect({ page, total }).toEqual({ page, total: count });
      }
      expect(processor.child.exitCode).toBeNull();
      expect((await fetch(`http://127.0.0.1:${processor.port}/readyz`)).status).toBe(200);
      console.log(
        '[drill] fuzz-records',
        JSON.stringify(Object.fromEntries([...kinds].map(([k, v]) => [k, [...v]]))),
      );
    } finally {
      await consumer.disconnect();
      redis.disconnect();
      await producer.disconnect();
      await admin.disconnect();
    }
  });
});
