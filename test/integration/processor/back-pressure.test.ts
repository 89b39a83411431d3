import { afterAll, describe, expect, inject, it } from 'vitest';
import { pipelineFixture } from '../../../harness/pipeline-fixture.ts';
import type { ProcessorProcess } from '../../../harness/processor.ts';
import { waitUntil } from '../../../harness/service.ts';
import { connectRedis } from '../../../processor/src/state/connection.ts';
import { keys, partitionPrefix } from '../../../processor/src/state/keys.ts';

const BURST = Number(process.env.KAPPAFLOW_BURST_RECORDS ?? 1_000_000);
const HOT_SHARE = 0.9; // of the burst, all on partition 0
const PARTITIONS = 4;
const HEAP_LIMIT_MIB = 160;

let replica: ProcessorProcess | undefined;
afterAll(async () => {
  await replica?.kill();
});

describe('back-pressure', () => {
  it(`keeps memory bounded under a burst of ${BURST} records, and a hot partition does not stall the others`, {
    timeout: 600_000,
  }, async () => {
    const brokers = inject('kafkaBrokers');
    const redisUrl = inject('redisUrl');
    const fixture = await pipelineFixture({
      brokers,
      redisUrl,
      prefix: 'burst',
      partitions: PARTITIONS,
      yaml: (name, topic) => `apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: ${name} }
spec:
  source: { topic: ${topic}, format: json, eventTime: { field: ts } }
  groupBy: { key: event.k }
  window: { type: tumbling, size: 10s, grace: 1h }
  aggregates:
    n: { count: {} }
    total: { sum: event.v }
`,
    });
    const { name, topic, dir, kafka, admin } = fixture;

    // The whole burst is in Kafka before the replica starts: nothing but the replica limits its intake.
    const producer = kafka.producer();
    await producer.connect();
    const base = Date.UTC(2026, 7, 1);
    const hot = Math.floor(BURST * HOT_SHARE);
    const perCold = Math.floor((BURST - hot) / (PARTITIONS - 1));
    const counts = [hot, perCold, perCold, perCold];
    for (let p = 0; p < PARTITIONS; p++) {
      for (let i = 0; i < counts[p]!; i += 10_000) {
        const n = Math.min(10_000, counts[p]! - i);
        await producer.send({
          topic,
          messages: Array.from({ length: n }, (_, j) => ({
            partition: p,
            value: `{"ts":${base + (i + j) * 10},"k":"k${(i + j) % 1000}","v":1}`,
          })),
        });
      }
    }
    await producer.disconnect();

    // A small old-space limit turns unbounded buffering into a crash (the process would exit) instead
    // of a number that depends on when V8 chose to collect.
    replica = await fixture.spawn(name, { NODE_OPTIONS: `--max-old-space-size=${HEAP_LIMIT_MIB}` });
    const redis = connectRedis(redisUrl);
    const offsetOf = async (p: number) =>
      Number((await redis.hget(keys.checkpoint(partitionPrefix(name, 1, p)), 'offset')) ?? 0);
    let peakRss = 0;
    let coldDoneWhileHotBehind = false;
    try {
      await waitUntil(
        'the burst is processed',
        async () => {
          if (replica!.child.exitCode !== null)
            throw new Error(`the replica died (exit ${replica!.child.exitCode}); see ${dir}`);
          const metrics = await (await fetch(`http://127.0.0.1:${replica!.port}/metrics`)).text();
          const rss = Number(/^process_resident_memory_bytes(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1] ?? 0);
          peakRss = Math.max(peakRss, rss);
          const offsets = await Promise.all(counts.map((_, p) => offsetOf(p)));
          const coldDone = offsets.slice(1).every((o, i) => o === counts[i + 1]);
          if (coldDone && offsets[0]! < hot * 0.9) coldDoneWhileHotBehind = true;
          return offsets.every((o, p) => o === counts[p]);
        },
        { timeoutMs: 480_000, intervalMs: 500, service: replica },
      );
    } finally {
      redis.disconnect();
      await admin.disconnect();
    }
    console.log(`burst of ${BURST}: peak RSS ${Math.round(peakRss / 2 ** 20)} MiB`);
    // Fetches are bounded per partition (1 MiB) and a batch is folded and committed before the next
    // fetch, so memory stays flat however large the backlog is.
    expect(replica.child.exitCode).toBeNull();
    expect(peakRss).toBeGreaterThan(0);
    expect(peakRss).toBeLessThan(HEAP_LIMIT_MIB * 2 ** 20 + 250 * 2 ** 20);
    expect(coldDoneWhileHotBehind).toBe(true);
  });
});
