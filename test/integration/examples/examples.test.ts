import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ensureDir, repoRoot, runDir } from '../../../harness/paths.ts';
import { freePort } from '../../../harness/ports.ts';
import { type ProcessorProcess, spawnProcessor } from '../../../harness/processor.ts';
import { waitUntil } from '../../../harness/service.ts';
import { topicWith } from '../../../harness/topics.ts';

// The example files users start from, run unchanged by the real `kappaflow run`, each fed records
// shaped as the example expects; the answer comes back through the query API.
interface Case {
  file: string;
  pipeline: string;
  topic: string;
  records: () => { key?: string; value: string }[];
  /** the expected sum over all windows of the `count` aggregate named `countName` */
  expectedCount: number;
  countName: string;
  setup?: (redis: Redis) => Promise<void>;
}

const base = Date.UTC(2026, 9, 1, 8, 0, 0);
const cases: Case[] = [
  {
    file: 'page-views.yaml',
    pipeline: 'page-views',
    topic: 'page-views',
    countName: 'views',
    // 300 views, every 7th a 5xx (filtered out by `where`)
    expectedCount: 300 - Math.ceil(300 / 7),
    records: () =>
      Array.from({ length: 300 }, (_, i) => ({
        value: JSON.stringify({
          ts: base + i * 1000,
          path: `/p${i % 5}`,
          ...(i % 2 ? { country: 'de' } : {}),
          status: i % 7 === 0 ? 503 : 200,
          bytes: i,
          latency_ms: i % 300,
          user_id: `u${i % 40}`,
          referrer: `r${i % 3}`,
        }),
      })),
  },
  {
    file: 'orders-hopping.yaml',
    pipeline: 'merchant-revenue',
    topic: 'orders',
    countName: 'orders',
    // 100 orders, 80 paid; each paid order is in 15 hopping windows (15m every 1m)
    expectedCount: 80 * 15,
    setup: async (redis) => {
      await redis.hset('merchants:region', 'm0', 'eu', 'm1', 'us', 'm2', 'apac');
    },
    records: () =>
      Array.from({ length: 100 }, (_, i) => ({
        value: JSON.stringify({
          created_at: new Date(base + i * 5000).toISOString(),
          state: i % 5 === 0 ? 'pending' : 'paid',
          merchant_id: `m${i % 3}`,
          amount: 10 + (i % 7),
        }),
      })),
  },
  {
    file: 'sessions.yaml',
    pipeline: 'user-sessions',
    topic: 'clicks',
    countName: 'clicks',
    expectedCount: 120,
    records: () =>
      Array.from({ length: 120 }, (_, i) => ({
        key: `k${i % 11}`,
        value: JSON.stringify({ ts: base + i * 20_000, user_id: `u${i % 4}`, path: `/p${i % 6}` }),
      })),
  },
];

const processes: ProcessorProcess[] = [];
afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
});

describe('the example pipelines run unchanged', () => {
  for (const example of cases) {
    it(`examples/${example.file}`, { timeout: 180_000 }, async () => {
      const brokers = inject('kafkaBrokers');
      const redisUrl = inject('redisUrl');
      const redis = new Redis(redisUrl);
      await example.setup?.(redis);
      await topicWith(brokers, example.topic, example.records(), 3);

      const port = await freePort();
      const processor = await spawnProcessor({
        file: join(repoRoot, 'examples', example.file),
        brokers,
        redisUrl,
        port,
        name: `${example.pipeline}-${randomUUID().slice(0, 6)}`,
        logDir: ensureDir(join(runDir, 'examples')),
      });
      processes.push(processor);
      let total = 0;
      try {
        await waitUntil(
          `${example.expectedCount} counted through the query API`,
          async () => {
            const res = await fetch(
              `http://127.0.0.1:${port}/api/v1/pipelines/${example.pipeline}/windows?rollup=true&limit=1000`,
            );
            if (!res.ok) return false;
            const body = (await res.json()) as {
              windows: { groups: { values: Record<string, number> }[] }[];
            };
            total = body.windows
              .flatMap((w) => w.groups)
              .reduce((sum, g) => sum + (g.values[example.countName] ?? 0), 0);
            return total >= example.expectedCount;
          },
          { timeoutMs: 90_000, intervalMs: 500, service: processor },
        );
      } finally {
        redis.disconnect();
      }
      expect(total).toBe(example.expectedCount);
    });
  }
});
