// The top-N index (window.ranks, query/top-index.ts): `top` read from the per-part ranking sets the
// commit script keeps must answer exactly as the scan of every group does (same groups, order, ties,
// values and group count), for random data over tumbling and sliced hopping windows, several
// partitions and batch sizes, every aggregate it indexes; and it must really be read (a wrong index
// gives a wrong answer) and expire with its window.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { argsOf, type Event, PipelineWriter, rng } from '../../../harness/query-fixture.ts';
import { BatchFold } from '../../../processor/src/aggregates/fold.ts';
import type { WindowShape } from '../../../processor/src/model/pipeline.ts';
import { QueryStore, type TopResult } from '../../../processor/src/query/store.ts';
import { commitBatch } from '../../../processor/src/state/commit.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';
import { groupKeyOf, keys } from '../../../processor/src/state/keys.ts';
import { windowStarts } from '../../../processor/src/windows/assign.ts';

const BASE = Date.UTC(2024, 5, 1, 0, 0, 0);

let redis: RedisClient;
beforeAll(() => {
  redis = connectRedis(inject('redisUrl'));
});
afterAll(async () => {
  await redis.quit();
});

/** How amounts are drawn: half small whole numbers, half cents, whole numbers or tenths. */
type Amounts = 'cents' | 'whole' | 'tenths';

/**
 * Few users and small amounts: many groups tie on every aggregate. Tenths (0.1, 0.2, 0.3, ...)
 * make sums that are equal in decimal but not in binary floating point (0.1 + 0.2 > 0.3), whose
 * order depends on the order of the additions: the hardest case for a window-level sum.
 */
function eventsOf(
  seed: number,
  count: number,
  users: number,
  span: number,
  amounts: Amounts = 'cents',
): Omit<Event, 'partition'>[] {
  const next = rng(seed);
  const fraction = () =>
    amounts === 'whole'
      ? Math.round(next() * 100)
      : amounts === 'tenths'
        ? [0.1, 0.2, 0.3, 0.7, 1.1][Math.floor(next() * 5)]!
        : Math.round(next() * 10_000) / 100;
  return Array.from({ length: count }, () => ({
    time: BASE + Math.floor(next() * span),
    country: 'DE',
    device: 'web',
    amount: next() < 0.5 ? Math.floor(next() * 4) - 1 : fraction(),
    user: `u${Math.floor(next() * users)}`,
    item: 'apple',
  }));
}

const shapes: Record<string, WindowShape> = {
  tumbling: { type: 'tumbling', sizeMs: 60_000, graceMs: 5_000 },
  hopping: { type: 'hopping', sizeMs: 60_000, advanceMs: 20_000, sliceMs: 20_000, graceMs: 5_000 },
  // spec.window.rankWholeWindows: the window-level ranking sets beside the slices' indexes
  hoppingWhole: {
    type: 'hopping',
    sizeMs: 60_000,
    advanceMs: 20_000,
    sliceMs: 20_000,
    graceMs: 5_000,
    rankWholeWindows: true,
  },
};

const strip = ({ pipeline: _, ...rest }: TopResult) => rest;

/** `top` of every window the events touch, by each aggregate: the indexed pipeline answers as the scanned one. */
async function expectSameTops(
  store: QueryStore,
  scanned: PipelineWriter,
  indexed: PipelineWriter,
  events: Omit<Event, 'partition'>[],
  limit: number,
  aggregates: string[],
): Promise<void> {
  const starts = new Set(events.map((e) => e.time - (e.time % 20_000)));
  for (const start of [...starts].filter((s) => s >= BASE))
    for (const aggregate of aggregates) {
      const query = { aggregate, window: start, limit, filters: new Map() };
      const failed = (name: string) => (e: Error) => e.message.replace(name, '<name>');
      const expected = await store.top(scanned.name, query).catch(failed(scanned.name));
      const actual = await store.top(indexed.name, query).catch(failed(indexed.name));
      if (typeof expected === 'string') expect(actual).toBe(expected);
      else expect(strip(actual as TopResult)).toEqual(strip(expected));
    }
}

/** The random cases of the properties: events, partitions, batches, window shape, k, amounts. */
const topCase = {
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  count: fc.integer({ min: 1, max: 400 }),
  users: fc.integer({ min: 1, max: 120 }),
  partitions: fc.integer({ min: 1, max: 3 }),
  batch: fc.integer({ min: 1, max: 100 }),
  shape: fc.constantFrom('tumbling', 'hopping', 'hoppingWhole'),
  limit: fc.integer({ min: 1, max: 12 }),
  amounts: fc.constantFrom<Amounts>('cents', 'whole', 'tenths'),
};

/**
 * Two registered pipelines over 3 partitions with the hopping window of `rankWholeWindows`: one
 * with rollups and rankings (`writer`), one that `top` answers by scanning every group (`scanned`).
 */
async function hoppingWholePair() {
  const options = { partitions: 3, groupBy: ['user'], retentionMs: 3_600_000 };
  const window = shapes.hoppingWhole!;
  const writer = new PipelineWriter(redis, {
    ...options,
    window: { ...window, rollups: true, ranks: true } as WindowShape,
  });
  const scanned = new PipelineWriter(redis, { ...options, window: { ...window } });
  await writer.register();
  await scanned.register();
  return { writer, scanned };
}

describe('top-N index', () => {
  it('answers top as the scan of every group does, ties and group count included (property)', async () => {
    const store = new QueryStore(redis, { cache: false });
    await fc.assert(
      fc.asyncProperty(
        fc.record(topCase),
        async ({ seed, count, users, partitions, batch, shape, limit, amounts }) => {
          const events = eventsOf(seed, count, users, 100_000, amounts);
          const window = shapes[shape]!;
          const options = { partitions, groupBy: ['user'] };
          const scanned = new PipelineWriter(redis, { ...options, window: { ...window } });
          const indexed = new PipelineWriter(redis, {
            ...options,
            window: { ...window, rollups: true, ranks: true } as WindowShape,
          });
          await scanned.register();
          await indexed.register();
          await scanned.commitSpread(events, batch);
          await indexed.commitSpread(events, batch);
          await expectSameTops(store, scanned, indexed, events, limit, [
            'orders',
            'revenue',
            'minAmount',
            'maxAmount',
          ]);
        },
      ),
      { numRuns: 30 },
    );
  }, 240_000);

  it("ranks by a percentile from its parts' upper bounds exactly as the scan, across owner changes (property)", async () => {
    const store = new QueryStore(redis, { cache: false });
    await fc.assert(
      fc.asyncProperty(
        fc.record({ ...topCase, ownerChange: fc.boolean() }),
        async ({ seed, count, users, partitions, batch, shape, limit, amounts, ownerChange }) => {
          const events = eventsOf(seed, count, users, 100_000, amounts);
          const window = shapes[shape]!;
          const options = { partitions, groupBy: ['user'] };
          // both written by owners packing sketches (the consumer loop's path: sums added in the
          // same order); only `indexed` keeps the index, whose bounds its owner works out
          const scanned = new PipelineWriter(redis, {
            ...options,
            owner: true,
            window: { ...window, packedSketches: true } as WindowShape,
          });
          const indexed = new PipelineWriter(redis, {
            ...options,
            owner: true,
            rankBy: ['orders', 'p90'],
            window: { ...window, packedSketches: true, rollups: true, ranks: true } as WindowShape,
          });
          await scanned.register();
          await indexed.register();
          const half = ownerChange ? Math.floor(events.length / 2) : events.length;
          // a new owner of every partition halfway: an empty cache, its parts read back from Redis
          for (const writer of [scanned, indexed]) {
            await writer.commitSpread(events.slice(0, half), batch);
            if (half < events.length) {
              await writer.register();
              await writer.commitSpread(events.slice(half), batch);
            }
          }
          await expectSameTops(store, scanned, indexed, events, limit, ['p90']);
        },
      ),
      { numRuns: 30 },
    );
  }, 240_000);

  it("is what top by a percentile reads, and a part's index is dropped when a batch brings no bounds", async () => {
    const writer = new PipelineWriter(redis, {
      partitions: 2,
      groupBy: ['user'],
      owner: true,
      rankBy: ['p90'],
      window: {
        type: 'tumbling',
        sizeMs: 60_000,
        graceMs: 1000,
        packedSketches: true,
        rollups: true,
        ranks: true,
      },
      retentionMs: 3_600_000,
    });
    await writer.register();
    // 30 users, amounts by user so the ranking is clear: p90 of user i is about i * 10
    const events = eventsOf(5, 300, 30, 60_000).map((e) => ({
      ...e,
      amount: Number(e.user.slice(1)) * 10 + 1,
    }));
    await writer.commitSpread(events, 50);
    const store = new QueryStore(redis, { cache: false });
    const query = { aggregate: 'p90', window: BASE, limit: 1, filters: new Map() };
    const before = await store.top(writer.name, query);
    expect(before.groups[0]?.group).toEqual({ user: 'u29' });
    const hash = (p: string) => `${writer.prefix(p)}:w:${BASE}`;
    expect(await redis.exists(`${hash('0')}:tot:rq:p90`, `${hash('1')}:tot:rq:p90`)).toBe(2);
    // the top group's bounds pushed below every other group's: top must follow the index (and be wrong)
    const top = groupKeyOf(['u29']);
    for (const p of ['0', '1']) await redis.zadd(`${hash(p)}:tot:rk:p90`, 1_000_000, top);
    const misled = await store.top(writer.name, query);
    expect(misled.groups[0]?.group).not.toEqual({ user: 'u29' });
    // batches of partition 0 committed without bounds (a processor that does not pack): one that
    // leaves the window alone keeps the mark; one that writes it removes it, so top scans that part
    // and is right again
    const prefix = writer.prefix('0');
    const epoch = Number(await redis.hget(keys.checkpoint(prefix), 'epoch'));
    const commitUnbounded = async (fold: BatchFold, offset: number) => {
      const result = await commitBatch(redis, {
        prefix,
        epoch,
        firstOffset: String(offset),
        nextOffset: String(offset + 1),
        watermark: BASE + 1,
        graceMs: 1000,
        retentionMs: 3_600_000,
        windowSizeMs: 60_000,
        fold,
        rollups: true,
        rankedBounds: { aggregates: ['p90'], perPartial: new Map() },
      });
      expect(result.status).toBe('applied');
    };
    await commitUnbounded(new BatchFold(writer.registration.aggregates), 1000);
    expect(await redis.exists(`${hash('0')}:tot:rq:p90`)).toBe(1);
    const fold = new BatchFold(writer.registration.aggregates);
    const e = events[0]!;
    fold.add(
      fold.window(BASE, BASE + 60_000),
      groupKeyOf([e.user]),
      e.time,
      fold.prepare(argsOf({ ...e, partition: '0' })),
    );
    fold.records = 1;
    await commitUnbounded(fold, 1001);
    expect(await redis.exists(`${hash('0')}:tot:rq:p90`)).toBe(0);
    const after = await store.top(writer.name, query);
    expect(after.groups[0]?.group).toEqual({ user: 'u29' });
  });

  it('is what top reads, and it expires with its window', async () => {
    const writer = new PipelineWriter(redis, {
      partitions: 2,
      groupBy: ['user'],
      window: { type: 'tumbling', sizeMs: 60_000, graceMs: 1000, rollups: true, ranks: true },
      retentionMs: 3_600_000,
    });
    await writer.register();
    await writer.commitSpread(eventsOf(3, 200, 30, 60_000));
    const store = new QueryStore(redis, { cache: false });
    const query = { aggregate: 'orders', window: BASE, limit: 3, filters: new Map() };
    const before = await store.top(writer.name, query);
    expect(before.groups).toHaveLength(3);
    expect(before.groupCount).toBe(30);
    // a group moved to the top of one partition's index only: top must follow the index
    const last = writer.prefix('0');
    const rank = `${last}:w:${BASE}:tot:rk:orders`;
    const bottom = (await redis.zrange(rank, -1, -1))[0]!;
    await redis.zadd(rank, -1_000_000, bottom);
    const after = await store.top(writer.name, query);
    expect(after.groups[0]?.group).toEqual({ user: JSON.parse(bottom)[0] });
    // an event past the window's end + grace closes it: the index gets the retention
    await writer.commit('0', [{ ...eventsOf(4, 1, 1, 1)[0]!, time: BASE + 120_000 }]);
    const ttl = await redis.pttl(rank);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3_600_000);
  });

  it('counts groups from the window-level set, and from the parts when that set may be incomplete', async () => {
    const writer = new PipelineWriter(redis, {
      partitions: 3,
      groupBy: ['user'],
      window: { type: 'tumbling', sizeMs: 60_000, graceMs: 1000, rollups: true, ranks: true },
      retentionMs: 3_600_000,
    });
    await writer.register();
    // 40 users over 3 partitions: most users are in several partitions
    await writer.commitSpread(eventsOf(5, 300, 40, 60_000), 50);
    const store = new QueryStore(redis, { cache: false });
    const page = { filters: new Map(), limit: 10, order: 'asc' as const, rollup: true };
    const counted = async () => (await store.windows(writer.name, page)).windows[0]?.groupCount;
    expect(await counted()).toBe(40);
    const set = keys.windowGroups(keys.groupSets(writer.name, 1), BASE);
    expect(await redis.scard(set)).toBe(40);
    // the parts' own group sets are not read while the window-level set is whole ...
    const partSet = `${writer.prefix('1')}:w:${BASE}:tot:g`;
    const kept = await redis.smembers(partSet);
    await redis.srem(set, '["u0"]', '["u1"]');
    expect(await counted()).toBe(38);
    await redis.sadd(set, '["u0"]', '["u1"]');
    // ... and are when a part lacks the mark (written before the sets were kept): exact either way
    await redis.del(`${writer.prefix('2')}:w:${BASE}:tot:wg`);
    await redis.srem(set, '["u0"]');
    expect(await counted()).toBe(40);
    await redis.set(`${writer.prefix('2')}:w:${BASE}:tot:wg`, '1');
    expect(await counted()).toBe(39);
    await redis.sadd(set, '["u0"]');
    // past the window's start + retention readers no longer trust the set (counted from the parts
    // even when it lacks a group) ...
    await writer.commit('0', [{ ...eventsOf(6, 1, 1, 1)[0]!, time: BASE + 3_600_000 + 1 }]);
    expect(await redis.exists(set)).toBe(1);
    await redis.srem(set, '["u0"]');
    expect(await counted()).toBe(40);
    // ... and past its end + retention a commit drops it, as the window leaves the index
    await writer.commit('0', [{ ...eventsOf(6, 1, 1, 1)[0]!, time: BASE + 60_000 + 3_600_000 + 1 }]);
    expect(await redis.exists(set)).toBe(0);
    expect(kept.length).toBeGreaterThan(0);
  });

  it("keeps a sliced hopping window's group set equal to its groups written per window: late records, partitions, owner changes (property)", async () => {
    const store = new QueryStore(redis, { cache: false });
    // slices of 10 s, windows of 4 slices every slice: a slice is in 4 windows
    const sliced: WindowShape = {
      type: 'hopping',
      sizeMs: 40_000,
      advanceMs: 10_000,
      sliceMs: 10_000,
      graceMs: 30_000,
      rollups: true,
      rankWholeWindows: true,
    };
    // the same windows written per window (no slices, no window-level set): the truth
    const { sliceMs: _, rankWholeWindows: __, ...perWindow } = sliced;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          seed: fc.integer({ min: 1, max: 1_000_000 }),
          count: fc.integer({ min: 1, max: 300 }),
          users: fc.integer({ min: 1, max: 80 }),
          partitions: fc.integer({ min: 1, max: 3 }),
          batch: fc.integer({ min: 1, max: 60 }),
          // after which batches every partition is claimed anew (a new owner restores its state)
          handovers: fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 3 }),
        }),
        async ({ seed, count, users, partitions, batch, handovers }) => {
          // times in random order over 150 s: many records are late, into older slices and windows
          const events = eventsOf(seed, count, users, 150_000);
          // as the consumer loop commits: as the partition's owner, which works out the new groups
          const options = { partitions, groupBy: ['user'], owner: true };
          const writer = new PipelineWriter(redis, { ...options, window: sliced });
          const truth = new PipelineWriter(redis, { ...options, window: perWindow as WindowShape });
          for (const w of [writer, truth]) {
            await w.register();
            for (let i = 0, n = 0; i < events.length; i += batch, n++) {
              await w.commitSpread(events.slice(i, i + batch));
              if (handovers.includes(n)) await w.register();
            }
          }
          const ids = Array.from({ length: partitions }, (_, p) => String(p));
          const page = { filters: new Map(), limit: 1000, order: 'asc' as const, rollup: true };
          const counts = async (w: PipelineWriter) =>
            new Map((await store.windows(w.name, page)).windows.map((x) => [x.start, x.groupCount]));
          expect(await counts(writer)).toEqual(await counts(truth));
          for (const start of new Set(events.flatMap((e) => windowStarts(sliced, e.time)))) {
            const groups = new Set<string>();
            for (const id of ids)
              for (const g of await redis.smembers(`${truth.prefix(id)}:w:${start}:tot:g`)) groups.add(g);
            const set = keys.windowGroups(keys.groupSets(writer.name, 1), start);
            expect(new Set(await redis.smembers(set))).toEqual(groups);
          }
          // every slice wrote the window-level sets from its first batch on: the counts read them
          for (const id of ids)
            for (const key of await redis.keys(`${writer.prefix(id)}:sl:*:tot:g`))
              expect(await redis.exists(key.replace(/:tot:g$/, ':tot:wg'))).toBe(1);
        },
      ),
      { numRuns: 25 },
    );
  }, 240_000);

  it('reads a ranked sum of a tumbling window from its window-level index, and the parts when it may not be whole', async () => {
    // 12 partitions: ids 10 and 11 merge after 2 (number order, not the prefixes' byte order)
    const writer = new PipelineWriter(redis, {
      partitions: 12,
      groupBy: ['user'],
      window: { type: 'tumbling', sizeMs: 60_000, graceMs: 1000, rollups: true, ranks: true },
      retentionMs: 3_600_000,
    });
    const scanned = new PipelineWriter(redis, {
      partitions: 12,
      groupBy: ['user'],
      window: { type: 'tumbling', sizeMs: 60_000, graceMs: 1000 },
      retentionMs: 3_600_000,
    });
    await writer.register();
    await scanned.register();
    const events = eventsOf(7, 600, 80, 60_000);
    await writer.commitSpread(events, 40);
    await scanned.commitSpread(events, 40);
    const store = new QueryStore(redis, { cache: false });
    const query = { aggregate: 'revenue', window: BASE, limit: 5, filters: new Map() };
    const expected = strip(await store.top(scanned.name, query));
    expect(strip(await store.top(writer.name, query))).toEqual(expected);
    const index = `${keys.groupSets(writer.name, 1)}:rk:${BASE}:revenue`;
    expect(await redis.zcard(index)).toBe(expected.groupCount);
    // the window-level index is what top reads: the leader moved to its bottom drops out of the answer
    const leader = JSON.stringify([expected.groups[0]!.group.user]);
    const score = (await redis.zscore(index, leader))!;
    await redis.zadd(index, 1e12, leader);
    const tampered = await store.top(writer.name, query);
    expect(tampered.groups.map((g) => g.group.user)).not.toContain(expected.groups[0]!.group.user);
    // ... unless a part lacks its mark (written before the index was kept): then the parts answer
    const mark = `${writer.prefix('1')}:w:${BASE}:tot:gr`;
    await redis.del(mark);
    expect(strip(await store.top(writer.name, query))).toEqual(expected);
    await redis.set(mark, '1');
    await redis.zadd(index, score, leader);
    expect(strip(await store.top(writer.name, query))).toEqual(expected);
    // past the window's start + retention the parts answer (the index, tampered again, is not read) ...
    const late = [{ ...eventsOf(8, 1, 1, 1)[0]!, time: BASE + 3_600_000 + 1 }];
    await writer.commit('0', late);
    await scanned.commit('0', late);
    await redis.zadd(index, 1e12, leader);
    expect(strip(await store.top(writer.name, query))).toEqual(strip(await store.top(scanned.name, query)));
    // ... and past its end + retention a commit drops it, with the group sets
    const later = [{ ...eventsOf(8, 1, 1, 1)[0]!, time: BASE + 60_000 + 3_600_000 + 1 }];
    await writer.commit('0', later);
    await scanned.commit('0', later);
    expect(await redis.exists(index)).toBe(0);
  });

  it('reads counts, sums of whole numbers, min and max of a hopping window from its window-level set across partitions and slices', async () => {
    const { writer, scanned } = await hoppingWholePair();
    const events = eventsOf(9, 600, 80, 100_000, 'whole');
    await writer.commitSpread(events, 30);
    await scanned.commitSpread(events, 30);
    const store = new QueryStore(redis, { cache: false });
    for (const aggregate of ['orders', 'revenue', 'maxAmount', 'minAmount']) {
      const query = { aggregate, window: BASE, limit: 5, filters: new Map() };
      const expected = strip(await store.top(scanned.name, query));
      expect(strip(await store.top(writer.name, query))).toEqual(expected);
      const index = `${keys.groupSets(writer.name, 1)}:rh:${BASE}:${aggregate}`;
      expect(await redis.zcard(index)).toBe(expected.groupCount);
      // it is what top reads: the leader moved to the bottom drops out of the answer ...
      const leader = JSON.stringify([expected.groups[0]!.group.user]);
      const score = (await redis.zscore(index, leader))!;
      await redis.zadd(index, 1e12, leader);
      const tampered = await store.top(writer.name, query);
      expect(tampered.groups.map((g) => g.group.user)).not.toContain(expected.groups[0]!.group.user);
      // ... unless a slice lacks its mark: then the parts answer
      const mark = `${writer.prefix('2')}:sl:${BASE + 20_000}:tot:${aggregate === 'revenue' ? 'hs' : 'hr'}`;
      expect(await redis.exists(mark)).toBe(1);
      await redis.del(mark);
      expect(strip(await store.top(writer.name, query))).toEqual(expected);
      await redis.set(mark, '1');
      await redis.zadd(index, score, leader);
      expect(strip(await store.top(writer.name, query))).toEqual(expected);
    }
  });

  it("ranks a hopping window's sum with fractions from its window-level set, within the rounding bound", async () => {
    const { writer, scanned } = await hoppingWholePair();
    const store = new QueryStore(redis, { cache: false });
    const sets = keys.groupSets(writer.name, 1);
    const index = `${sets}:rh:${BASE}:revenue`;
    const query = { aggregate: 'revenue', window: BASE, limit: 1, filters: new Map() };
    const commit = async (time: number, user: string, amount: number, partition: string) => {
      for (const w of [writer, scanned]) await w.commit(partition, [{ ...template, time, user, amount }]);
    };
    const template = eventsOf(21, 1, 1, 1)[0]!;
    // whole numbers (in later windows): the scores are exact, no rounding bound is kept
    const later = BASE + 600_000;
    for (const [i, partition] of ['0', '1', '2'].entries())
      await commit(later + i * 20_000, 'w', 7, partition);
    expect(await redis.exists(`${sets}:rh:${later}:revenue`)).toBe(1);
    expect(await redis.hget(`${sets}:re:${later}`, 'revenue')).toBeNull();
    // 'x' gets 0.3, 0.2 and 0.1 in three partitions and slices, committed in that order: the set
    // adds (0.3 + 0.2) + 0.1 = 0.6, while the scan merges the parts in its own order, which gives
    // 0.6000000000000001; 'a1' and 'a2' have 0.6 and keys before 'x'. So top 1 is 'x', which a
    // reader deciding the tie at 0.6 by key, without reading 'x', would miss.
    await commit(BASE + 45_000, 'x', 0.3, '2');
    await commit(BASE + 25_000, 'x', 0.2, '1');
    await commit(BASE + 5_000, 'x', 0.1, '0');
    await commit(BASE + 6_000, 'a1', 0.6, '0');
    await commit(BASE + 7_000, 'a2', 0.6, '1');
    expect(Number(await redis.zscore(index, JSON.stringify(['x'])))).toBe(-0.6);
    expect(Number(await redis.hget(`${sets}:re:${BASE}`, 'revenue'))).toBeGreaterThan(0);
    const expected = strip(await store.top(scanned.name, query));
    expect(expected.groups.map((g) => [g.group.user, g.values.revenue])).toEqual([['x', 0.1 + 0.2 + 0.3]]);
    expect(strip(await store.top(writer.name, query))).toEqual(expected);
    for (const limit of [2, 3, 5]) {
      const wider = { ...query, limit };
      expect(strip(await store.top(writer.name, wider))).toEqual(strip(await store.top(scanned.name, wider)));
    }
    // it is what top reads: the leader taken out of the set is out of the answer ...
    const leader = JSON.stringify(['x']);
    const score = (await redis.zscore(index, leader))!;
    await redis.zrem(index, leader);
    expect((await store.top(writer.name, query)).groups.map((g) => g.group.user)).toEqual(['a1']);
    // ... and a score further from the parts' value than the bound makes the parts answer
    await redis.zadd(index, -0.61, leader);
    expect(strip(await store.top(writer.name, query))).toEqual(expected);
    await redis.zadd(index, score, leader);
    expect(strip(await store.top(writer.name, query))).toEqual(expected);
    // more fractions from every partition: still the scan's answers, top 1 to 12
    const more = eventsOf(22, 300, 60, 60_000, 'tenths');
    await writer.commitSpread(more, 25);
    await scanned.commitSpread(more, 25);
    for (const limit of [1, 3, 12]) {
      const wider = { ...query, limit };
      expect(strip(await store.top(writer.name, wider))).toEqual(strip(await store.top(scanned.name, wider)));
    }
  });
});
