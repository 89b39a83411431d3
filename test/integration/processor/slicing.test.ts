// Stream slicing (hopping windows kept per slice of gcd(size, advance), a window being the merge of
// its slices) must answer exactly as the per-window path: the same records, folded by the real
// foldBatch, committed by the real script to a real Redis in batches, with late records, two
// partitions and a change of owner, then read back through the query API's store, every kind. So
// must slices whose HyperLogLogs and DDSketches the owner keeps and writes whole (packedSketches),
// and rollups read from the write-side totals (window.rollups) against the per-window path's scan.

import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { KafkaMessage } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { hoppingRankModes, rankedAggregates } from '../../../processor/src/aggregates/kinds.ts';
import { claimPartition } from '../../../processor/src/consumer/claims.ts';
import { noEnrichment } from '../../../processor/src/consumer/enrich.ts';
import { foldBatch } from '../../../processor/src/consumer/fold-batch.ts';
import type { AggregateShape, RuntimePipeline, WindowShape } from '../../../processor/src/model/pipeline.ts';
import { decodeCursor } from '../../../processor/src/query/params.ts';
import { QueryStore, type WindowsPage } from '../../../processor/src/query/store.ts';
import { commitBatch } from '../../../processor/src/state/commit.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';
import { groupKeyOf, keys, partitionPrefix } from '../../../processor/src/state/keys.ts';
import { registerPipeline } from '../../../processor/src/state/registry.ts';

const aggregates: AggregateShape[] = [
  { name: 'n', kind: 'count' },
  { name: 'total', kind: 'sum' },
  { name: 'lo', kind: 'min' },
  { name: 'hi', kind: 'max' },
  { name: 'mean', kind: 'avg' },
  { name: 'opened', kind: 'first' },
  { name: 'closed', kind: 'last' },
  { name: 'users', kind: 'countDistinct' },
  { name: 'p90', kind: 'percentile', q: 0.9, accuracy: 0.01 },
  { name: 'labels', kind: 'topK', k: 2 },
];
/** the shape of workload 3 of the benchmark: sketches only (groups are listed from the sketches) */
const sketchesOnly = aggregates.filter((a) => a.kind === 'countDistinct' || a.kind === 'percentile');
const PARTITIONS = ['0', '1'];

interface Rec {
  time: number;
  value: number;
  group: string;
  label: string;
  partition: number;
}

const shape = fc
  .record({
    advance: fc.constantFrom(1000, 2000, 3000, 4000),
    // the spec requires advance to divide size (so slices are as long as the advance)
    times: fc.integer({ min: 2, max: 5 }),
    grace: fc.constantFrom(0, 1000, 5000),
    // spec.window.rankWholeWindows: the window-level ranking sets beside the slices' indexes
    rankWholeWindows: fc.boolean(),
  })
  .map(({ advance, times, grace, rankWholeWindows }) => ({
    sizeMs: advance * times,
    advanceMs: advance,
    graceMs: grace,
    rankWholeWindows,
  }));

const record = fc.record({
  // times go up and back (late records, some later than the grace), with repeats (first/last ties)
  time: fc.oneof(fc.constantFrom(0, 999, 1000, 5000), fc.integer({ min: 0, max: 30_000 })),
  value: fc.integer({ min: -50, max: 5000 }),
  group: fc.constantFrom('a', 'b', 'c'),
  label: fc.constantFrom('x', 'y', 'z'),
  partition: fc.integer({ min: 0, max: PARTITIONS.length - 1 }),
});

const history = fc.record({
  window: shape,
  batches: fc.array(fc.array(record, { minLength: 1, maxLength: 25 }), { minLength: 1, maxLength: 6 }),
  handoverAfter: fc.integer({ min: 0, max: 6 }),
  onlySketches: fc.boolean(),
  // a filtered read of every window (as the freshness probe asks), in pages of `pageLimit` groups
  asked: fc.subarray(['a', 'b', 'c', 'd'], { minLength: 1 }),
  pageLimit: fc.constantFrom(1, 2, 1000),
});

function pipelineOf(name: string, window: WindowShape, onlySketches = false): RuntimePipeline {
  return {
    name,
    version: 1,
    source: {
      topics: ['t'],
      format: 'json',
      eventTime: { field: 'time', format: 'auto' },
      startFrom: 'earliest',
    },
    window,
    groupNames: ['group'],
    aggregates: onlySketches ? sketchesOnly : aggregates,
    retentionMs: 3_600_000,
    durability: { replicas: 0, timeoutMs: 0 },
    enrich: [],
    groupBy: (ctx) => [(ctx.event as Rec).group],
    aggregateArgs: (ctx) => {
      const e = ctx.event as Rec;
      if (onlySketches) return [e.label, e.value];
      return [undefined, e.value, e.value, e.value, e.value, e.label, e.label, e.label, e.value, e.label];
    },
  };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Runs the batches through foldBatch and commitBatch as the consumer loop does, per partition. */
async function run(
  redis: RedisClient,
  pipeline: RuntimePipeline,
  batches: Rec[][],
  handoverAfter: number,
  /** the owner after the handover packs sketches while the one before did not (a rolling upgrade) */
  packsFromHandover = false,
) {
  const window = pipeline.window as Extract<WindowShape, { type: 'hopping' }>;
  let packed = window.packedSketches === true && !packsFromHandover;
  // write-side rollups start with the packing owner too: the slices before it have no totals
  let rollups = window.rollups === true && !packsFromHandover;
  for (const [p, id] of PARTITIONS.entries()) {
    const prefix = partitionPrefix(pipeline.name, 1, id);
    const claimOf = (generation: number) =>
      claimPartition(redis, prefix, generation, undefined, packed, rollups ? pipeline.aggregates : undefined);
    let claim = await claimOf(1);
    let offset = 0;
    let watermark = Number.MIN_SAFE_INTEGER;
    for (const [b, batch] of batches.entries()) {
      if (b === handoverAfter) {
        packed ||= packsFromHandover;
        rollups ||= packsFromHandover && window.rollups === true;
        claim = await claimOf(2 + b);
      }
      const mine = batch.filter((r) => r.partition === p);
      if (mine.length === 0) continue;
      const messages = mine.map(
        (r, i) =>
          ({
            offset: String(offset + i),
            value: Buffer.from(JSON.stringify(r)),
            key: null,
            timestamp: '0',
            headers: {},
            attributes: 0,
          }) as unknown as KafkaMessage,
      );
      const folded = await foldBatch(pipeline, 't', p, messages, watermark, noEnrichment);
      await claim.windows.load(redis, prefix, folded.fold);
      const absolute = claim.windows.stage(folded.fold);
      const result = await commitBatch(redis, {
        prefix,
        epoch: claim.epoch,
        firstOffset: String(offset),
        nextOffset: String(offset + mine.length),
        watermark: folded.watermark,
        graceMs: window.graceMs,
        retentionMs: pipeline.retentionMs,
        fold: folded.fold,
        late: folded.late,
        absolute,
        packedSketches: packed,
        rollups,
        ...(rollups ? { ownedTotals: claim.windows.stageTotals(folded.fold) } : {}),
        ...(rollups && window.ranks ? { ranked: rankedAggregates(pipeline.aggregates) } : {}),
        // and the window-level sets of hopping windows (query/global-top.ts), as the processor
        // writes them with spec.window.rankWholeWindows
        ...(rollups && window.ranks && window.rankWholeWindows
          ? {
              hoppingRanks: {
                base: keys.groupSets(pipeline.name, 1),
                aggregates: hoppingRankModes(pipeline.aggregates, rankedAggregates(pipeline.aggregates)),
              },
            }
          : {}),
        ...(window.sliceMs
          ? { slicing: { sizeMs: window.sizeMs, advanceMs: window.advanceMs, sliceMs: window.sliceMs } }
          : {}),
        // and the window-level group sets, each slice's groups new to its windows (the loop writes
        // them with rankWholeWindows; here always, so every run checks them)
        ...(rollups && window.sliceMs
          ? {
              windowGroups: keys.groupSets(pipeline.name, 1),
              sliceGroups: claim.windows.stageSliceGroups(folded.fold, window.sizeMs, window.sliceMs),
            }
          : {}),
      });
      expect(result.status).toBe('applied');
      if (result.status === 'applied') claim.windows.applied(result.closedWindows);
      offset += mine.length;
      watermark = folded.watermark;
    }
  }
  await registerPipeline(redis, {
    name: pipeline.name,
    activeVersion: 1,
    topics: ['t'],
    partitions: PARTITIONS,
    window: pipeline.window,
    groupBy: pipeline.groupNames,
    aggregates: pipeline.aggregates,
    retentionMs: pipeline.retentionMs,
    updatedAt: 0,
  });
}

/** Pages of one read as one list of windows (a window split over pages has its groups joined). */
function joinPages(pages: WindowsPage['windows'][]): WindowsPage['windows'] {
  const out: WindowsPage['windows'] = [];
  for (const w of pages.flat()) {
    const last = out[out.length - 1];
    if (last && last.start === w.start) last.groups.push(...w.groups);
    else out.push({ ...w, groups: [...w.groups] });
  }
  return out;
}

/** Packed: every slice holds its sketches as fields and none has sketch keys; else no packed fields. */
async function expectSketchLayout(redis: RedisClient, pipeline: string, packed: boolean) {
  for (const id of PARTITIONS) {
    const slices = await redis.keys(`${partitionPrefix(pipeline, 1, id)}:sl:*`);
    const hashes = slices.filter((key) => /:sl:-?\d+$/.test(key));
    if (packed) expect(slices.filter((key) => /:sl:-?\d+:(hll|dd):/.test(key))).toEqual([]);
    for (const hash of hashes) {
      const fields = await redis.hkeys(hash);
      expect(fields.some((f) => f.startsWith('users#h|'))).toBe(packed);
      expect(fields.some((f) => f.startsWith('p90#d|'))).toBe(packed);
    }
  }
}

describe('stream slicing of hopping windows', () => {
  let redis: RedisClient;
  beforeAll(() => {
    redis = connectRedis(inject('redisUrl'));
  });
  afterAll(async () => {
    await redis.quit();
  });

  it.each([
    ['sketch keys', false, false],
    ['sketches the owner packs into the slice hashes', true, false],
    ['sketch keys until a handover, packed sketches after it (both in a slice)', true, true],
  ])(
    'answers every window, rollup and ranking exactly as the per-window path, %s (property)',
    async (_, packedSketches, upgrade) => {
      const store = new QueryStore(redis, { cache: false });
      const page = { filters: new Map(), limit: 10_000, order: 'asc' as const };
      await fc.assert(
        fc.asyncProperty(
          history,
          async ({ window, batches, handoverAfter, onlySketches, asked, pageLimit }) => {
            const id = randomUUID().slice(0, 8);
            const plain = pipelineOf(`slice-plain-${id}`, { type: 'hopping', ...window }, onlySketches);
            const sliced = pipelineOf(
              `slice-sliced-${id}`,
              {
                type: 'hopping',
                ...window,
                sliceMs: gcd(window.sizeMs, window.advanceMs),
                ...(packedSketches ? { packedSketches } : {}),
                // the rollups below then read write-side totals (or scan the slices without them), and
                // top the top-N index (or the scan, for slices written before the totals)
                rollups: true,
                ranks: true,
              },
              onlySketches,
            );
            await run(redis, plain, batches, handoverAfter);
            await run(redis, sliced, batches, handoverAfter, upgrade);
            if (!upgrade) await expectSketchLayout(redis, sliced.name, packedSketches);
            const expected = await store.windows(plain.name, { ...page, rollup: false });
            const actual = await store.windows(sliced.name, { ...page, rollup: false });
            expect(actual.windows).toEqual(expected.windows);
            // Every window's group set holds exactly its groups (the rollups below count them from it).
            // Slices add none when their groups cannot be told from their fields (only sketch
            // aggregates, as keys of their own), and slices written before an upgrade none of theirs:
            // those windows' sets hold some of their groups, and their counts come from the union.
            for (const w of expected.windows) {
              const set = await redis.smembers(keys.windowGroups(keys.groupSets(sliced.name, 1), w.start));
              const groups = w.groups.map((g) => groupKeyOf([g.group.group]));
              if ((packedSketches || !onlySketches) && !upgrade) expect(set.sort()).toEqual(groups.sort());
              else expect(groups).toEqual(expect.arrayContaining(set));
            }
            // Filtered reads (group keys looked up part by part, slices shared by the windows of one
            // read): every window's asked groups as the unfiltered read has them, page by page.
            const filters = new Map([['group', asked]]);
            const wanted = expected.windows.flatMap((w) => {
              const groups = w.groups.filter((g) => asked.includes(String(g.group.group)));
              return groups.length === 0 ? [] : [{ ...w, groupCount: groups.length, groups }];
            });
            for (const p of [sliced, plain]) {
              const pages: WindowsPage['windows'][] = [];
              let cursor: string | null = null;
              do {
                const next: WindowsPage = await store.windows(p.name, {
                  ...page,
                  filters,
                  limit: pageLimit,
                  rollup: false,
                  ...(cursor ? { cursor: decodeCursor(cursor) } : {}),
                });
                pages.push(next.windows);
                cursor = next.nextCursor;
              } while (cursor !== null);
              expect(joinPages(pages)).toEqual(wanted);
            }
            // A rollup's first/last across groups breaks ties of event time by the order Redis scans
            // the groups in, in both paths: compared without them.
            const withoutTimed = (page: WindowsPage) =>
              page.windows.map((w) => ({
                ...w,
                groups: w.groups.map((g) => ({
                  ...g,
                  values: onlySketches ? g.values : { ...g.values, opened: null, closed: null },
                })),
              }));
            const rollups = await Promise.all(
              [plain, sliced].map((p) => store.windows(p.name, { ...page, rollup: true })),
            );
            expect(withoutTimed(rollups[1]!)).toEqual(withoutTimed(rollups[0]!));
            expect((await store.pipeline(sliced.name)).late).toBe((await store.pipeline(plain.name)).late);
            const ranked = ['n', 'total', 'lo', 'hi', 'mean', 'users', 'p90'];
            for (const aggregate of onlySketches ? ['users', 'p90'] : ranked) {
              const expected = await store.top(plain.name, {
                aggregate,
                window: 'latest',
                limit: 3,
                filters: new Map(),
              });
              const actual = await store.top(sliced.name, {
                aggregate,
                window: 'latest',
                limit: 3,
                filters: new Map(),
              });
              expect({ ...actual, pipeline: '' }).toEqual({ ...expected, pipeline: '' });
            }
          },
        ),
        { numRuns: 25 },
      );
    },
  );
});
