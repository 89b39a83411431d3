import { Cluster } from 'ioredis';
import type { RedisClient } from './connection.ts';

/**
 * Removes the keys matching a SCAN pattern with SCAN + UNLINK on every master (a Redis Cluster
 * spreads them over nodes); returns how many. For whole key spaces (a deleted pipeline, a retired
 * version), never for the hot path.
 */
export async function unlinkMatching(redis: RedisClient, match: string): Promise<number> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  let removed = 0;
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      // One UNLINK per key: on a cluster the keys of one batch live in different slots.
      if (found.length > 0) {
        const pipe = node.pipeline();
        for (const k of found) pipe.unlink(k);
        await pipe.exec();
        removed += found.length;
      }
    } while (cursor !== '0');
  }
  return removed;
}
