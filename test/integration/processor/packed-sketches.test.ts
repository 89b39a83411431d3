// Sketches the partition owner writes whole (state/owned-windows.ts with packedSketches): Redis must
// read the owner's HyperLogLogs exactly as the ones PFADD builds, and the query API must give the
// same answers for a pipeline whose slices hold packed sketches as for one with per-group sketch keys.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  addMembers,
  decodeHll,
  encodeHll,
  type Registers,
} from '../../../processor/src/aggregates/redis-hll.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';

const members = fc.array(
  fc.oneof(
    fc.string(),
    fc.integer().map((n) => `u${n}`),
  ),
  { maxLength: 300 },
);

describe('packed sketches', () => {
  let redis: RedisClient;
  beforeAll(() => {
    redis = connectRedis(inject('redisUrl'));
  });
  afterAll(async () => {
    await redis.quit();
  });

  it("the owner's HyperLogLogs are Redis' own: same registers, PFCOUNT and PFMERGE as PFADD (property)", async () => {
    await fc.assert(
      fc.asyncProperty(members, members, fc.boolean(), async (a, b, large) => {
        const id = randomUUID();
        const [viaRedis, viaOwner, merged] = [
          `t:{hll-${id}}:redis`,
          `t:{hll-${id}}:owner`,
          `t:{hll-${id}}:m`,
        ];
        const first = large ? [...a, ...Array.from({ length: 4000 }, (_, i) => `big${i}`)] : a;
        for (let i = 0; i < first.length; i += 500) await redis.pfadd(viaRedis, ...first.slice(i, i + 500));
        await redis.pfadd(viaRedis);
        const registers: Registers = new Map();
        addMembers(registers, first);
        await redis.set(viaOwner, encodeHll(registers), 'PX', 60_000);
        expect(decodeHll(await redis.getBuffer(viaRedis))).toEqual(registers);
        expect(await redis.pfcount(viaOwner)).toBe(await redis.pfcount(viaRedis));
        // merged with a sketch PFADD built from other members: the count of the union
        if (b.length > 0) await redis.pfadd(merged, ...b);
        await redis.pfmerge(merged, merged, viaOwner);
        await redis.pfadd(viaRedis, ...(b.length > 0 ? b : ['']));
        if (b.length === 0) await redis.pfadd(merged, '');
        expect(await redis.pfcount(merged)).toBe(await redis.pfcount(viaRedis));
        await redis.del(viaRedis, viaOwner, merged);
      }),
      { numRuns: 40 },
    );
  });
});
