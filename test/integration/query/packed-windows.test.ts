// Tumbling windows whose HyperLogLogs and DDSketches the partition owner keeps and writes whole, as
// fields of the window hash (state/owned-windows.ts with packedSketches), must answer every query
// exactly as windows with per-group sketch keys do: the same events committed by the real script in
// batches by owners of three partitions, read back through the query API's store. So must windows
// written with sketch keys until an owner change and packed after it (a rolling upgrade: both forms
// in one window).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Event, PipelineWriter, randomEvents } from '../../../harness/query-fixture.ts';
import type { WindowShape } from '../../../processor/src/model/pipeline.ts';
import { QueryStore } from '../../../processor/src/query/store.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';

const BASE = Date.UTC(2026, 0, 1);
const tumbling = (packedSketches: boolean): WindowShape => ({
  type: 'tumbling',
  sizeMs: 60_000,
  graceMs: 5_000,
  rollups: true,
  ranks: true,
  ...(packedSketches ? { packedSketches } : {}),
});

/** Commits the events in batches; `packFrom`: the batch from which owners pack (a new claim then). */
async function write(
  redis: RedisClient,
  events: Omit<Event, 'partition'>[],
  batch: number,
  packFrom: number | 'never',
) {
  const writer = new PipelineWriter(redis, { owner: true, window: tumbling(packFrom === 0) });
  await writer.register();
  for (let i = 0, b = 0; i < events.length; i += batch, b++) {
    if (b === packFrom && b > 0) {
      writer.registration.window = tumbling(true);
      await writer.register();
    }
    await writer.commitSpread(events.slice(i, i + batch));
  }
  return writer.name;
}

/** Keys of per-group sketches (`…:w:<start>:hll:<agg>|<group>`) and packed fields of the window hashes. */
async function sketchLayout(redis: RedisClient, name: string) {
  const all = await redis.keys(`kf:{${name}:1:*}:w:*`);
  // not the rollup totals' merged sketches (`…:w:<start>:tot:hll:<agg>`), which every layout has
  const sketchKeys = all.filter((k) => /:w:-?\d+:(hll|dd):/.test(k)).length;
  const hashes = all.filter((k) => /:w:-?\d+$/.test(k));
  let packed = 0;
  for (const hash of hashes)
    packed += (await redis.hkeys(hash)).filter((f) => /^(users#h|p90#d)\|/.test(f)).length;
  return { sketchKeys, packed };
}

describe('tumbling windows with owner-packed sketches', () => {
  let redis: RedisClient;
  beforeAll(() => {
    redis = connectRedis(inject('redisUrl'));
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('answer windows, filtered reads, rollups and every top as sketch keys do, also across an upgrade (property)', async () => {
    const store = new QueryStore(redis, { cache: false });
    const page = { filters: new Map(), limit: 10_000, order: 'asc' as const };
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 20, max: 300 }),
        fc.integer({ min: 5, max: 80 }),
        fc.integer({ min: 1, max: 4 }),
        async (seed, count, batch, packFrom) => {
          const events = randomEvents(seed, { base: BASE, windows: 2, count });
          const keysOnly = await write(redis, events, batch, 'never');
          const packed = await write(redis, events, batch, 0);
          const upgraded = await write(redis, events, batch, packFrom);
          // the layouts are what they claim: no sketch key beside packed windows, none packed without
          const layouts = await Promise.all([keysOnly, packed].map((n) => sketchLayout(redis, n)));
          expect(layouts[0]!.packed).toBe(0);
          expect(layouts[0]!.sketchKeys).toBeGreaterThan(0);
          expect(layouts[1]!.sketchKeys).toBe(0);
          expect(layouts[1]!.packed).toBeGreaterThan(0);

          const expected = await store.windows(keysOnly, { ...page, rollup: false });
          const rollup = await store.windows(keysOnly, { ...page, rollup: true });
          const filters = new Map([
            ['country', ['DE', 'US']],
            ['device', ['ios']],
          ]);
          const filtered = await store.windows(keysOnly, { ...page, filters, rollup: false });
          for (const name of [packed, upgraded]) {
            expect((await store.windows(name, { ...page, rollup: false })).windows).toEqual(expected.windows);
            expect((await store.windows(name, { ...page, filters, rollup: false })).windows).toEqual(
              filtered.windows,
            );
            // first/last of a rollup break event-time ties by scan order in any layout: left out
            const timeless = (w: typeof rollup.windows) =>
              w.map((x) => ({
                ...x,
                groups: x.groups.map((g) => ({
                  ...g,
                  values: { ...g.values, firstItem: null, lastItem: null },
                })),
              }));
            expect(timeless((await store.windows(name, { ...page, rollup: true })).windows)).toEqual(
              timeless(rollup.windows),
            );
            for (const aggregate of ['orders', 'revenue', 'users', 'p90']) {
              const query = { aggregate, window: 'latest' as const, limit: 3, filters: new Map() };
              const want = await store.top(keysOnly, query);
              expect({ ...(await store.top(name, query)), pipeline: '' }).toEqual({ ...want, pipeline: '' });
            }
          }
        },
      ),
      { numRuns: 15 },
    );
  });
});
