// The query side counts distinct values itself (aggregates/hll-estimate.ts): merging the partials'
// HyperLogLog strings and estimating must give exactly Redis' PFCOUNT over the same strings, for
// sketches PFADD built and ones the partition owner wrote, sparse and dense, overlapping or not.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { countHlls } from '../../../processor/src/aggregates/hll-estimate.ts';
import { addMembers, encodeHll, type Registers } from '../../../processor/src/aggregates/redis-hll.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';

const part = fc.record({
  // up to well past the sparse limit (a few thousand distinct values: Redis turns dense)
  size: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constantFrom(300, 2500, 6000, 20_000)),
  // parts overlap when their ranges do
  from: fc.integer({ min: 0, max: 10_000 }),
  ownerWritten: fc.boolean(),
});

describe('distinct counts computed by the query side', () => {
  let redis: RedisClient;
  beforeAll(() => {
    redis = connectRedis(inject('redisUrl'));
  });
  afterAll(async () => {
    await redis.quit();
  });

  it("equal Redis' PFCOUNT of the same HyperLogLogs (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(part, { minLength: 1, maxLength: 5 }), async (parts) => {
        const id = randomUUID();
        const names = parts.map((_, i) => `t:{hllcount-${id}}:${i}`);
        for (const [i, p] of parts.entries()) {
          const members = Array.from({ length: p.size }, (_, k) => `u${p.from + k}`);
          if (p.ownerWritten) {
            const registers: Registers = new Map();
            addMembers(registers, members);
            if (members.length > 0) await redis.set(names[i]!, encodeHll(registers));
          } else {
            for (let k = 0; k < members.length; k += 5000)
              await redis.pfadd(names[i]!, ...members.slice(k, k + 5000));
          }
        }
        // a part without values has no key: GET gives null, PFCOUNT counts it as empty
        const raws = await Promise.all(names.map((name) => redis.getBuffer(name)));
        const expected = await redis.pfcount(...names);
        expect(countHlls(raws)).toBe(expected);
        // the one-key PFCOUNT too (Redis may answer it from the sketch's cached cardinality)
        expect(countHlls(raws.slice(0, 1))).toBe(await redis.pfcount(names[0]!));
        await redis.del(...names);
      }),
      { numRuns: 60 },
    );
  });
});
