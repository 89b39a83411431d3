// The owner's absolute writes (state/owned-windows.ts: one HSET of computed values) must leave the
// window hashes exactly as the script's own delta arithmetic (HINCRBY, HINCRBYFLOAT, compare and
// set) does, across batches and across a change of owner (a fresh cache reads what is in Redis).
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BatchFold } from '../../../processor/src/aggregates/fold.ts';
import { claimPartition } from '../../../processor/src/consumer/claims.ts';
import type { AggregateShape } from '../../../processor/src/model/pipeline.ts';
import { commitBatch } from '../../../processor/src/state/commit.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';
import { groupKeyOf, keys, partitionPrefix } from '../../../processor/src/state/keys.ts';
import { luaScripts } from '../../../processor/src/state/lua.ts';
import { plainArguments } from '../../../processor/src/state/number-pairs.ts';
import { commandsDir } from '../../../processor/src/state/scripts.ts';
import { commitBothWays } from './owner-vs-deltas.ts';

const aggregates: AggregateShape[] = [
  { name: 'n', kind: 'count' },
  { name: 'total', kind: 'sum' },
  { name: 'mean', kind: 'avg' },
  { name: 'lo', kind: 'min' },
  { name: 'hi', kind: 'max' },
  { name: 'opened', kind: 'first' },
  { name: 'closed', kind: 'last' },
  { name: 'users', kind: 'countDistinct' },
];
const WINDOW = 10_000;

interface Rec {
  time: number;
  value: number;
  group: string;
  label: string;
}
const record = fc.record({
  // a few repeated times, so first/last meet ties across batches
  time: fc.oneof(fc.constantFrom(0, 1, WINDOW), fc.integer({ min: 0, max: 2 * WINDOW - 1 })),
  value: fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.double({ min: -1e6, max: 1e6, noNaN: true })),
  group: fc.constantFrom('a', 'b', 'c'),
  label: fc.constantFrom('x', 'y', 'z'),
});
/** Batches, and after which batch the partition changes owner (a new claim, an empty cache). */
const history = fc.record({
  batches: fc.array(fc.array(record, { minLength: 1, maxLength: 30 }), { minLength: 1, maxLength: 5 }),
  handoverAfter: fc.integer({ min: 0, max: 5 }),
});

function foldOf(records: Rec[]): BatchFold {
  const fold = new BatchFold(aggregates);
  for (const r of records) {
    const start = r.time - (r.time % WINDOW);
    const prepared = fold.prepare([undefined, r.value, r.value, r.value, r.value, r.label, r.label, r.label]);
    fold.add(fold.window(start, start + WINDOW), groupKeyOf([r.group]), r.time, prepared);
    fold.records++;
  }
  return fold;
}

/** Numbers compared as numbers (HINCRBYFLOAT prints long doubles), everything else as text. */
function normalized(hash: Record<string, string>) {
  const out: Record<string, string | number> = {};
  for (const [field, value] of Object.entries(hash)) {
    const n = Number(value);
    out[field] = value.trim() !== '' && Number.isFinite(n) ? n : value;
  }
  return out;
}

describe('absolute window writes', () => {
  let redis: RedisClient;
  beforeAll(() => {
    redis = connectRedis(inject('redisUrl'));
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('leave the same hashes as the delta path, across batches and a change of owner (property)', async () => {
    await fc.assert(
      fc.asyncProperty(history, async ({ batches, handoverAfter }) => {
        const { deltaPrefix, ownerPrefix: absPrefix } = await commitBothWays(redis, {
          name: 'abs',
          batches,
          handoverAfter,
          foldOf,
          claimOwner: (prefix, generation) => claimPartition(redis, prefix, generation),
          commitAsOwner: async (owner, request) => {
            await owner.windows.load(redis, request.prefix, request.fold);
            const absolute = owner.windows.stage(request.fold);
            return commitBatch(redis, { ...request, epoch: owner.epoch, absolute });
          },
        });
        for (const start of [0, WINDOW]) {
          const expected = normalized(await redis.hgetall(keys.window(deltaPrefix, start)));
          const actual = normalized(await redis.hgetall(keys.window(absPrefix, start)));
          expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
          for (const [field, value] of Object.entries(expected)) {
            if (typeof value === 'number') expect(actual[field]).toBeCloseTo(value, 3);
            else expect(actual[field]).toBe(value);
          }
        }
      }),
      { numRuns: 40 },
    );
  });

  it('reach Redis the same through a client whose script calls ioredis encodes (numeric pairs as text)', async () => {
    // The processor's clients encode script calls themselves (state/script-command.ts); a client
    // without that gets the blocks of numeric pairs written out as text by commitBatch.
    const plain = new Redis(inject('redisUrl')) as unknown as RedisClient;
    const commit = luaScripts(commandsDir).find((s) => s.name === 'commitBatch')!;
    plain.defineCommand('commitBatch', { numberOfKeys: commit.numberOfKeys, lua: commit.lua });
    try {
      const records: Rec[] = [
        { time: 1, value: 0.1, group: 'a', label: 'x' },
        { time: 2, value: 0.2, group: 'a', label: 'y' },
        { time: 3, value: -7, group: 'b', label: 'z' },
        { time: WINDOW + 1, value: 1e21, group: 'é', label: 'x' },
      ];
      const hashes: Record<string, string>[] = [];
      for (const client of [redis, plain]) {
        const prefix = partitionPrefix(`abs-plain-${randomUUID()}`, 1, 0);
        const owner = await claimPartition(redis, prefix, 1);
        const fold = foldOf(records);
        await owner.windows.load(redis, prefix, fold);
        const result = await commitBatch(client, {
          prefix,
          epoch: owner.epoch,
          firstOffset: '0',
          nextOffset: String(records.length),
          watermark: 0,
          graceMs: 60_000,
          retentionMs: 60_000,
          fold,
          absolute: owner.windows.stage(fold),
        });
        expect(result.status).toBe('applied');
        hashes.push({
          ...(await redis.hgetall(keys.window(prefix, 0))),
          ...(await redis.hgetall(keys.window(prefix, WINDOW))),
        });
      }
      expect(hashes[0]!['total|["a"]']).toBe(String(0.1 + 0.2));
      expect(hashes[0]!['n|["é"]']).toBe('1');
      expect(hashes[1]).toEqual(hashes[0]);
    } finally {
      await plain.quit();
    }
  });

  it('a commit that is refused leaves the cache as it was', async () => {
    const prefix = partitionPrefix(`abs-fenced-${randomUUID()}`, 1, 0);
    const owner = await claimPartition(redis, prefix, 1);
    const batch = (first: number) => ({
      prefix,
      firstOffset: String(first),
      nextOffset: String(first + 1),
      watermark: 0,
      graceMs: 60_000,
      retentionMs: 60_000,
    });
    const one = foldOf([{ time: 1, value: 5, group: 'a', label: 'x' }]);
    await owner.windows.load(redis, prefix, one);
    const applied = await commitBatch(redis, {
      ...batch(0),
      epoch: owner.epoch,
      fold: one,
      absolute: owner.windows.stage(one),
    });
    expect(applied.status).toBe('applied');
    owner.windows.applied([]);
    // A zombie's staged values are dropped; the next stage starts again from what Redis holds.
    await claimPartition(redis, prefix, 2);
    const two = foldOf([{ time: 2, value: 7, group: 'a', label: 'y' }]);
    await owner.windows.load(redis, prefix, two);
    const fenced = await commitBatch(redis, {
      ...batch(1),
      epoch: owner.epoch,
      fold: two,
      absolute: owner.windows.stage(two),
    });
    expect(fenced.status).toBe('fenced');
    owner.windows.discard();
    const again = owner.windows.stage(two);
    const count = plainArguments(again.get('w:0')!);
    expect(count.slice(0, 2)).toEqual([`n|${groupKeyOf(['a'])}`, '2']);
  });
});
