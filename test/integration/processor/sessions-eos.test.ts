import { afterAll, describe, expect, inject, it } from 'vitest';
import { headerOf, readRecords } from '../../../harness/dead-letters.ts';
import { pipelineFixture } from '../../../harness/pipeline-fixture.ts';
import type { ProcessorProcess } from '../../../harness/processor.ts';
import { waitUntil } from '../../../harness/service.ts';
import { repartitionTopicOf } from '../../../processor/src/model/kafka-names.ts';
import { connectRedis } from '../../../processor/src/state/connection.ts';
import { fieldOf, groupKeyOf, keys, partitionPrefix } from '../../../processor/src/state/keys.ts';

const PARTITIONS = 3;
const USERS = 40;
const GAP_MS = 30_000;
const processes: ProcessorProcess[] = [];
afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill()));
});

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/** Reference sessions: sort each user's clicks and cut where two neighbours are more than the gap apart. */
function referenceSessions(clicks: { user: string; ts: number }[]): string[] {
  const byUser = new Map<string, number[]>();
  for (const c of clicks) byUser.set(c.user, [...(byUser.get(c.user) ?? []), c.ts]);
  const out: string[] = [];
  for (const [user, times] of byUser) {
    times.sort((a, b) => a - b);
    let start = times[0]!;
    let end = start;
    let count = 0;
    for (const t of times) {
      if (t - end > GAP_MS) {
        out.push(`${user}:${start}-${end}:${count}`);
        start = t;
        count = 0;
      }
      end = t;
      count++;
    }
    out.push(`${user}:${start}-${end}:${count}`);
  }
  return out.sort();
}

describe('session windows through the repartition topic', () => {
  it('finds exactly the reference sessions when records are not keyed by user and replicas are SIGKILLed', {
    timeout: 600_000,
  }, async () => {
    const brokers = inject('kafkaBrokers');
    const redisUrl = inject('redisUrl');
    const fixture = await pipelineFixture({
      brokers,
      redisUrl,
      prefix: 'sess',
      topicPrefix: 'clicks',
      partitions: PARTITIONS,
      yaml: (name, topic) => `apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: ${name} }
spec:
  source: { topic: ${topic}, format: json, eventTime: { field: ts } }
  groupBy: { user: event.user_id }
  window: { type: session, gap: 30s, grace: 1h }
  aggregates:
    clicks: { count: {} }
    first_page: { first: event.path }
    last_page: { last: event.path }
`,
    });
    const { name, topic, kafka, admin } = fixture;
    // Each user clicks in bursts; bursts are minutes apart, clicks within a burst seconds apart.
    let seed = 11;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const base = Date.UTC(2026, 8, 1);
    const clicks: { user: string; ts: number; path: string }[] = [];
    for (let u = 0; u < USERS; u++) {
      let t = base + Math.floor(random() * 60_000);
      for (let burst = 0; burst < 5; burst++) {
        const n = 1 + Math.floor(random() * 40);
        for (let i = 0; i < n; i++) {
          clicks.push({ user: `u${u}`, ts: t, path: `/p${Math.floor(random() * 9)}` });
          t += Math.floor(random() * 25_000);
        }
        t += GAP_MS + 1 + Math.floor(random() * 300_000);
      }
    }
    // Mostly in time order, slightly shuffled, and keyed at random: a user's clicks land on every partition.
    clicks.sort((a, b) => a.ts + random() * 20_000 - (b.ts + random() * 20_000));

    const producer = kafka.producer();
    await producer.connect();
    const start = async (slot: number) => {
      const p = await fixture.spawn(slot);
      processes.push(p);
      return p;
    };
    const replicas = [await start(0), await start(1)];
    const chunk = Math.ceil(clicks.length / 10);
    for (let i = 0; i < clicks.length; i += chunk) {
      await producer.send({
        topic,
        messages: clicks.slice(i, i + chunk).map((c) => ({
          key: `k${Math.floor(random() * 1000)}`,
          value: JSON.stringify({ ts: c.ts, user_id: c.user, path: c.path }),
        })),
      });
      if (i / chunk === 3 || i / chunk === 6) {
        await new Promise((r) => setTimeout(r, 1500));
        await replicas[0]!.kill();
        replicas[0] = await start(0);
      }
    }
    await producer.disconnect();

    const redis = connectRedis(redisUrl);
    const repartition = repartitionTopicOf(name, 1);
    try {
      await waitUntil(
        'every click aggregated',
        async () => {
          const offsets = await admin.fetchTopicOffsets(repartition);
          const total = offsets.reduce((sum, o) => sum + Number(o.high), 0);
          if (total < clicks.length) return false;
          for (const { partition, high } of offsets) {
            if ((await redis.hget(keys.checkpoint(partitionPrefix(name, 1, partition)), 'offset')) !== high)
              return false;
          }
          return true;
        },
        { timeoutMs: 300_000, intervalMs: 1000 },
      );
      // Exactly once through the transactional hop: no click duplicated in the repartition topic.
      const offsets = await admin.fetchTopicOffsets(repartition);
      const committedRecords = await Promise.all(
        offsets.map(async (o) =>
          Number(await redis.hget(keys.checkpoint(partitionPrefix(name, 1, o.partition)), 'records')),
        ),
      );
      // Each source record once in the repartition topic (read_committed): a failure names the
      // source offsets published twice, e.g. by a new owner starting from a stale committed offset.
      const published = await readRecords(
        kafka,
        repartition,
        sum(committedRecords),
        (m) => `${headerOf(m, 'kf-source-partition')}:${headerOf(m, 'kf-source-offset')}`,
      );
      const seen = new Set<string>();
      expect(published.filter((place) => seen.has(place) || !seen.add(place))).toEqual([]);
      expect(sum(committedRecords)).toBe(clicks.length);

      const observed: string[] = [];
      for (let u = 0; u < USERS; u++) {
        const group = groupKeyOf([`u${u}`]);
        for (let p = 0; p < PARTITIONS; p++) {
          const prefix = partitionPrefix(name, 1, p);
          const sessions = await redis.zrange(keys.sessions(prefix, group), 0, -1, 'WITHSCORES');
          for (let i = 0; i < sessions.length; i += 2) {
            const count = await redis.hget(
              keys.window(prefix, Number(sessions[i])),
              fieldOf('clicks', group),
            );
            observed.push(`u${u}:${sessions[i]}-${sessions[i + 1]}:${count}`);
          }
        }
      }
      expect(observed.sort()).toEqual(referenceSessions(clicks));
    } finally {
      redis.disconnect();
      await admin.disconnect();
    }
  });
});
