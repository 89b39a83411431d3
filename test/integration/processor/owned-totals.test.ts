// The owner-kept write-side totals (state/owned-totals.ts: each window's merged HyperLogLog, DDSketch
// and topK over all groups, written whole by the partition's owner) must leave the totals keys as
// the script's own delta arithmetic (PFADD, HINCRBY, ZINCRBY) does, across batches, across a change
// of owner (a fresh claim reads what is in Redis) and after a refused commit (whose staged sketches
// are dropped).
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BatchFold } from '../../../processor/src/aggregates/fold.ts';
import { decodeHll } from '../../../processor/src/aggregates/redis-hll.ts';
import { type Claim, claimPartition } from '../../../processor/src/consumer/claims.ts';
import type { AggregateShape } from '../../../processor/src/model/pipeline.ts';
import { type CommitRequest, commitBatch } from '../../../processor/src/state/commit.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';
import { groupKeyOf, keys, partitionPrefix } from '../../../processor/src/state/keys.ts';
import { commitBothWays } from './owner-vs-deltas.ts';

const aggregates: AggregateShape[] = [
  { name: 'n', kind: 'count' },
  { name: 'users', kind: 'countDistinct' },
  { name: 'others', kind: 'countDistinct' },
  { name: 'p90', kind: 'percentile', q: 0.9, accuracy: 0.01 },
  { name: 'labels', kind: 'topK', k: 2 },
];
const WINDOW = 10_000;

interface Rec {
  time: number;
  value: number;
  group: string;
  user: string;
}
const record = fc.record({
  time: fc.integer({ min: 0, max: 2 * WINDOW - 1 }),
  value: fc.integer({ min: -500, max: 100_000 }),
  group: fc.constantFrom('a', 'b', 'c', 'd'),
  // enough distinct members for a merged sketch to go dense in some runs
  user: fc.oneof(fc.constantFrom('u1', 'u2', 'u3'), fc.integer({ min: 0, max: 1_000_000 }).map(String)),
});
const history = fc.record({
  batches: fc.array(fc.array(record, { minLength: 1, maxLength: 400 }), { minLength: 1, maxLength: 5 }),
  handoverAfter: fc.integer({ min: 0, max: 5 }),
  // a small bound on the owner's cache evicts windows (their sketches weigh 256 fields each), which
  // are read back from Redis when touched again
  maxCachedFields: fc.constantFrom(undefined, 600, 3000),
});

function foldOf(records: Rec[]): BatchFold {
  const fold = new BatchFold(aggregates);
  for (const r of records) {
    const start = r.time - (r.time % WINDOW);
    const prepared = fold.prepare([undefined, r.user, `${r.user}!`, r.value, r.user.slice(-1)]);
    fold.add(fold.window(start, start + WINDOW), groupKeyOf([r.group]), r.time, prepared);
    fold.records++;
  }
  return fold;
}

/** What a window's totals keys hold, in a form both paths must agree on (HLLs as their registers). */
async function totalsOf(redis: RedisClient, prefix: string, start: number) {
  const hash = keys.window(prefix, start);
  const hll = async (agg: string) => [...decodeHll(await redis.getBuffer(`${hash}:tot:hll:${agg}`))].sort();
  return {
    fields: await redis.hgetall(`${hash}:tot`),
    users: await hll('users'),
    others: await hll('others'),
    p90: await redis.hgetall(`${hash}:tot:dd:p90`),
    labels: await redis.zrange(`${hash}:tot:top:labels`, 0, -1, 'WITHSCORES'),
    groups: (await redis.smembers(`${hash}:tot:g`)).sort(),
    suffixes: (await redis.smembers(`${hash}:tot:keys`)).sort(),
  };
}

const claimOf = (redis: RedisClient, prefix: string, generation: number, maxCachedFields?: number) =>
  claimPartition(redis, prefix, generation, maxCachedFields, false, aggregates);

/** Commits whose HyperLogLogs went as raised registers to merge into a dense sketch (StagedTotals.M). */
let mergedCommits = 0;

async function commitAsOwner(redis: RedisClient, owner: Claim, request: Omit<CommitRequest, 'epoch'>) {
  await owner.windows.load(redis, request.prefix, request.fold);
  const absolute = owner.windows.stage(request.fold);
  const ownedTotals = owner.windows.stageTotals(request.fold);
  expect(ownedTotals).toBeDefined();
  if ([...(ownedTotals?.values() ?? [])].some((staged) => staged.M.length > 0)) mergedCommits++;
  return commitBatch(redis, { ...request, epoch: owner.epoch, absolute, ownedTotals, rollups: true });
}

/** Commits the batches through the delta path and as the owner; both leave the same totals keys. */
async function ownerMatchesDeltas(
  redis: RedisClient,
  run: { batches: Rec[][]; handoverAfter: number; maxCachedFields?: number },
): Promise<void> {
  const { deltaPrefix, ownerPrefix } = await commitBothWays(redis, {
    name: 'tot',
    batches: run.batches,
    handoverAfter: run.handoverAfter,
    foldOf,
    claimOwner: (prefix, generation) => claimOf(redis, prefix, generation, run.maxCachedFields),
    commitAsOwner: (owner, request) => commitAsOwner(redis, owner, request),
    deltaOptions: { rollups: true },
  });
  for (const start of [0, WINDOW]) {
    expect(await totalsOf(redis, ownerPrefix, start)).toEqual(await totalsOf(redis, deltaPrefix, start));
  }
}

describe('owner-kept totals sketches', () => {
  let redis: RedisClient;
  beforeAll(() => {
    redis = connectRedis(inject('redisUrl'));
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('leave the same totals keys as the delta path, across batches, a change of owner and evictions (property)', async () => {
    await fc.assert(
      fc.asyncProperty(history, (run) => ownerMatchesDeltas(redis, run)),
      { numRuns: 30 },
    );
  });

  it('merge the raised registers into a dense HyperLogLog as the delta path adds members, also after a change of owner', async () => {
    let n = 0;
    const batch = () =>
      Array.from({ length: 3000 }, (_, i) => ({
        time: i % WINDOW,
        value: i,
        group: 'abcd'[i % 4]!,
        user: `m${n++}`,
      }));
    const before = mergedCommits;
    await ownerMatchesDeltas(redis, { batches: [batch(), batch(), batch(), batch()], handoverAfter: 2 });
    // the first batch makes the sketch dense (written whole); the later ones merge, also the new owner's
    expect(mergedCommits - before).toBe(3);
  });

  it('a refused commit leaves the kept sketches as they were', async () => {
    const prefix = partitionPrefix(`tot-fenced-${randomUUID()}`, 1, 0);
    const owner = await claimOf(redis, prefix, 1);
    const batch = (first: number, fold: BatchFold) => ({
      prefix,
      firstOffset: String(first),
      nextOffset: String(first + 1),
      watermark: 0,
      graceMs: 60_000,
      retentionMs: 60_000,
      fold,
    });
    const one = foldOf([{ time: 1, value: 100, group: 'a', user: 'u1' }]);
    const applied = await commitAsOwner(redis, owner, batch(0, one));
    expect(applied.status).toBe('applied');
    owner.windows.applied([]);
    // A zombie's staged sketches are dropped; the next stage starts again from the kept ones.
    await claimOf(redis, prefix, 2);
    const two = foldOf([{ time: 2, value: 100, group: 'b', user: 'u2' }]);
    const fenced = await commitAsOwner(redis, owner, batch(1, two));
    expect(fenced.status).toBe('fenced');
    owner.windows.discard();
    owner.windows.stage(two);
    const again = owner.windows.stageTotals(two)!.get('w:0')!;
    // the bucket of 100 was counted once (batch one), so the zombie's restage says 2, not 3
    expect(again.H).toEqual(['users', 'others']);
    expect(again.D).toEqual(['p90', 2]);
    expect(again.args[3]).toBe('2');
    // topK: score, member of the one member this batch adds to
    expect(again.T).toEqual(['labels', 2]);
    expect(again.args.slice(4)).toEqual(['1', '2']);
  });
});
