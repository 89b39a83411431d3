import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import type { RedisClient } from '../state/connection.ts';
import type { WindowPart } from './read-context.ts';

/**
 * How many groups a window has, exactly, from its parts' group sets (`<hash>:tot:g`, kept by the
 * commit with the rollup totals): one group may be in several partitions and slices, so the count
 * is that of their union. On one Redis node the union is counted inside Redis (SUNIONSTORE into a
 * temporary key, deleted in the same MULTI): no group key leaves Redis. On a Redis Cluster the sets
 * live in different slots, so their members come back and are counted here. Callers make sure every
 * part's set is complete (its totals or its top-N index were kept from its first batch on).
 */
export async function groupCountOf(redis: RedisClient, parts: readonly WindowPart[]): Promise<number> {
  const sets = parts.map((part) => `${part.hash}:tot:g`);
  if (sets.length === 0) return 0;
  if (sets.length === 1) return redis.scard(sets[0]!);
  if (!(redis instanceof Cluster)) {
    const temp = `kf:{query-groups:${randomBytes(6).toString('hex')}}:u`;
    const replies = await redis
      .multi()
      .sunionstore(temp, ...sets)
      .del(temp)
      .exec();
    const [error, count] = replies?.[0] ?? [new Error('MULTI aborted')];
    if (error) throw error;
    return Number(count);
  }
  const all = new Set<string>();
  for (const members of await Promise.all(sets.map((key) => redis.smembers(key))))
    for (const g of members) all.add(g);
  return all.size;
}
