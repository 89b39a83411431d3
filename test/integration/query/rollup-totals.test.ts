// Write-side rollups (window.rollups, state/rollup-totals.ts): a rollup read from the totals the
// commit script keeps must answer as the scan of every group does, for random data over several
// tumbling or sliced hopping windows and partitions, also for windows written partly before the
// pipeline kept totals (readers then scan them), and the totals keys must start their retention
// with their window. On one Redis node every part's totals are read in one call that counts the
// distinct values in Redis; that must answer exactly as the per-part reads a Cluster uses.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Event, PipelineWriter, rng } from '../../../harness/query-fixture.ts';
import type { WindowShape } from '../../../processor/src/model/pipeline.ts';
import { countDistinct } from '../../../processor/src/query/hll.ts';
import { Aggregates, valuesOf } from '../../../processor/src/query/merge.ts';
import { decodeCursor } from '../../../processor/src/query/params.ts';
import { partsOf, unionStarts, WindowReadContext } from '../../../processor/src/query/read-context.ts';
import { mergeTotals, readTotals, specOf } from '../../../processor/src/query/rollups.ts';
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

/** Tumbling, or hopping kept per slice as the processor compiles it (advance = slice). */
function shapeOf(hopping: number): Exclude<WindowShape, { type: 'session' }> {
  if (hopping === 0) return { type: 'tumbling', sizeMs: 60_000, graceMs: 5_000 };
  const advanceMs = 60_000 / hopping;
  return { type: 'hopping', sizeMs: 60_000, advanceMs, sliceMs: advanceMs, graceMs: 5_000 };
}

/** Every window's rollup values read from the totals, in one call or one call per part. */
async function totalsRollups(writer: PipelineWriter, oneCall: boolean) {
  const ctx = new WindowReadContext(redis, { cache: false });
  const reg = await ctx.registration(writer.name);
  const aggregates = new Aggregates(reg.aggregates);
  const scans = await ctx.scan(reg, {});
  const out = new Map<number, unknown>();
  for (const start of unionStarts(scans).sort((a, b) => a - b)) {
    const totals = await readTotals(ctx, partsOf(reg, scans, start), specOf(aggregates), oneCall);
    if (!totals) throw new Error(`window ${start}: no totals`);
    const group = aggregates.newGroup();
    mergeTotals(aggregates, group, totals);
    for (const acc of group) {
      if (!acc.hll) continue;
      acc.distinct = (await countDistinct(redis, [acc.hll]))[0];
      acc.hll = undefined;
    }
    out.set(start, valuesOf(aggregates, group));
  }
  return out;
}

/** Random data and how it is written. */
const data = {
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  count: fc.integer({ min: 1, max: 300 }),
  windows: fc.integer({ min: 1, max: 3 }),
  batch: fc.integer({ min: 1, max: 80 }),
  // written by the partition's owner (absolute values, owner-kept merged sketches) or as deltas
  owner: fc.boolean(),
  // 0: tumbling; else hopping 1 min every 60/n s, kept in slices
  hopping: fc.constantFrom(0, 0, 2, 3, 6),
};

describe('write-side rollups', () => {
  it('answer every window as the scan of its groups, also when rollups start mid-window (property)', async () => {
    const store = new QueryStore(redis, { cache: false });
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          ...data,
          // batches written before the pipeline kept totals (a processor upgrade)
          before: fc.integer({ min: 0, max: 3 }),
        }),
        async ({ seed, count, windows, batch, before, owner, hopping }) => {
          const events = eventsOf(seed, count, windows);
          const scanned = new PipelineWriter(redis, { partitions: 2, window: shapeOf(hopping) });
          const indexed = new PipelineWriter(redis, { partitions: 2, window: shapeOf(hopping), owner });
          const window = indexed.registration.window;
          if (before === 0 && window.type !== 'session') window.rollups = true;
          await scanned.register();
          await indexed.register();
          let batches = 0;
          for (let i = 0; i < events.length; i += batch) {
            const chunk = events.slice(i, i + batch);
            const partition = String(i % 2);
            if (batches++ === before && window.type !== 'session') {
              window.rollups = true;
              await indexed.register();
            }
            await scanned.commit(partition, chunk);
            await indexed.commit(partition, chunk);
          }
          if (window.type !== 'session') window.rollups = true;
          await indexed.register();
          const expected = await store.windows(scanned.name, page);
          const actual = await store.windows(indexed.name, page);
          expect(actual.windows.length).toBe(expected.windows.length);
          expectClose(rollupsOf(actual), rollupsOf(expected));
          // pages of groups list a part's groups from its group set where it keeps one (from its
          // first batch), else from its fields: the same groups either way, unfiltered or filtered
          // on one of the two group fields (the set's members are then matched in the script)
          for (const filters of [new Map(), new Map([['device', ['web', 'ios']]])])
            for (let cursor: string | null = null, pages = 0; pages === 0 || cursor !== null; pages++) {
              const groups = { ...page, filters, rollup: false, limit: 7 };
              const at = cursor ? { ...groups, cursor: decodeCursor(cursor) } : groups;
              const want = await store.windows(scanned.name, at);
              const got = await store.windows(indexed.name, at);
              // (values as the rollups above: the owner's sums are added in another order than HINCRBYFLOAT's)
              const listed = (p: WindowsPage) =>
                p.windows.map((w) => ({
                  start: w.start,
                  count: w.groupCount,
                  groups: w.groups.map((g) => g.group),
                }));
              expect(listed(got)).toEqual(listed(want));
              expect(got.nextCursor).toEqual(want.nextCursor);
              cursor = want.nextCursor;
            }
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);

  it('read in one call, answer exactly as read part by part (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ ...data, partitions: fc.integer({ min: 1, max: 3 }) }),
        async ({ seed, count, windows, batch, partitions, owner, hopping }) => {
          const writer = new PipelineWriter(redis, {
            partitions,
            window: { ...shapeOf(hopping), rollups: true },
            owner,
          });
          await writer.register();
          const events = eventsOf(seed, count, windows);
          for (let i = 0; i < events.length; i += batch)
            await writer.commit(String((i / batch) % partitions), events.slice(i, i + batch));
          const one = await totalsRollups(writer, true);
          expect(one.size).toBeGreaterThan(0);
          expect(one).toEqual(await totalsRollups(writer, false));
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
