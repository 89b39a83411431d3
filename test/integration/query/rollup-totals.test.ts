// Write-side rollups (window.rollups, state/rollup-totals.ts): a rollup read from the totals the
// commit script keeps must answer as the scan of every group does, for random data over several
// tumbling windows and partitions, also for windows written partly before the pipeline kept totals
// (readers then scan them), and the totals keys must start their retention with their window.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Event, PipelineWriter, rng } from '../../../harness/query-fixture.ts';
import { QueryStore, type WindowsPage } from '../../../processor/src/query/store.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';

const BASE = Date.UTC(2024, 5, 1, 0, 0, 0);
const page = { filters: new Map(), limit: 10_000, order: 'asc' as const, rollup: true };

let redis: RedisClient;
beforeAll(() => {
  redis = connectRedis(inject('redisUrl'));
});
afterAll(async () => {
  await redis.quit();
});

/** Random events with distinct event times (first/last across groups then have one answer). */
function eventsOf(seed: number, count: number, windows: number): Omit<Event, 'partition'>[] {
  const next = rng(seed);
  const times = new Set<number>();
  while (times.size < count) times.add(BASE + Math.floor(next() * windows * 60_000));
  return [...times].map((time) => ({
    time,
    country: ['DE', 'FR', 'US'][Math.floor(next() * 3)]!,
    device: ['ios', 'web'][Math.floor(next() * 2)]!,
    amount: Math.round(next() * 10_000) / 100 - 20,
    user: `u${Math.floor(next() * 40)}`,
    item: ['apple', 'pear', 'plum', 'kiwi'][Math.floor(next() ** 2 * 4)]!,
  }));
}

/** Sums add in another order on each path: numbers compare to 1e-9 of their size. */
function expectClose(actual: unknown, expected: unknown, path = ''): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    expect(Math.abs(actual - expected), path).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
  } else if (expected !== null && typeof expected === 'object') {
    expect(typeof actual, path).toBe('object');
    expect(Object.keys(actual as object).sort(), path).toEqual(Object.keys(expected).sort());
    for (const [k, v] of Object.entries(expected))
      expectClose((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
  } else expect(actual, path).toEqual(expected);
}

const rollupsOf = (page: WindowsPage) => page.windows;

describe('write-side rollups', () => {
  it('answer every window as the scan of its groups, also when rollups start mid-window (property)', async () => {
    const store = new QueryStore(redis, { cache: false });
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          seed: fc.integer({ min: 1, max: 1_000_000 }),
          count: fc.integer({ min: 1, max: 300 }),
          windows: fc.integer({ min: 1, max: 3 }),
          batch: fc.integer({ min: 1, max: 80 }),
          // batches written before the pipeline kept totals (a processor upgrade)
          before: fc.integer({ min: 0, max: 3 }),
          // written by the partition's owner (absolute values, owner-kept merged sketches) or as deltas
          owner: fc.boolean(),
        }),
        async ({ seed, count, windows, batch, before, owner }) => {
          const events = eventsOf(seed, count, windows);
          const tumbling = { type: 'tumbling', sizeMs: 60_000, graceMs: 5_000 } as const;
          const scanned = new PipelineWriter(redis, { partitions: 2, window: { ...tumbling } });
          const indexed = new PipelineWriter(redis, { partitions: 2, window: { ...tumbling }, owner });
          const window = indexed.registration.window;
          if (before === 0 && window.type === 'tumbling') window.rollups = true;
          await scanned.register();
          await indexed.register();
          let batches = 0;
          for (let i = 0; i < events.length; i += batch) {
            const chunk = events.slice(i, i + batch);
            const partition = String(i % 2);
            if (batches++ === before && window.type === 'tumbling') {
              window.rollups = true;
              await indexed.register();
            }
            await scanned.commit(partition, chunk);
            await indexed.commit(partition, chunk);
          }
          if (window.type === 'tumbling') window.rollups = true;
          await indexed.register();
          const expected = await store.windows(scanned.name, page);
          const actual = await store.windows(indexed.name, page);
          expect(actual.windows.length).toBe(expected.windows.length);
          expectClose(rollupsOf(actual), rollupsOf(expected));
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);

  it('reads totals (not the groups) and their keys expire with the closed window', async () => {
    const writer = new PipelineWriter(redis, {
      partitions: 1,
      window: { type: 'tumbling', sizeMs: 60_000, graceMs: 1000, rollups: true },
      retentionMs: 3_600_000,
    });
    await writer.register();
    await writer.commit('0', eventsOf(7, 50, 1));
    const prefix = writer.prefix('0');
    const totals = await redis.keys(`${prefix}:w:${BASE}:tot*`);
    expect(totals.sort()).toEqual(
      ['tot', 'tot:g', 'tot:keys', 'tot:wg', 'tot:hll:users', 'tot:dd:p90', 'tot:top:topItems']
        .map((s) => `${prefix}:w:${BASE}:${s}`)
        .sort(),
    );
    // the scan would find these groups in the window hash: without it, only the totals answer
    const store = new QueryStore(redis, { cache: false });
    const before = await store.windows(writer.name, page);
    await redis.del(`${prefix}:w:${BASE}`);
    const after = await store.windows(writer.name, page);
    expect(after.windows[0]?.groups).toEqual(before.windows[0]?.groups);
    expect(before.windows[0]?.groups[0]?.values.orders).toBe(50);
    // an event past the window's end + grace closes it: every totals key gets the retention
    await writer.commit('0', [{ ...eventsOf(8, 1, 1)[0]!, time: BASE + 120_000 }]);
    for (const key of totals) {
      const ttl = await redis.pttl(key);
      expect(ttl, key).toBeGreaterThan(0);
      expect(ttl, key).toBeLessThanOrEqual(3_600_000);
    }
  });
});
