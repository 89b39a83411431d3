import type { Redis } from 'ioredis';
import { Cluster } from 'ioredis';
import type { RedisClient } from './connection.ts';

/**
 * Calls `each` with every batch of keys matching a SCAN pattern, on every master (a Redis Cluster
 * spreads them over nodes). For whole key spaces (a deleted pipeline, a retired version), never
 * for the hot path.
 */
export async function scanMatching(
  redis: RedisClient,
  match: string,
  each: (node: Redis, keys: string[]) => Promise<void> | void,
): Promise<void> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      if (found.length > 0) await each(node, found);
    } while (cursor !== '0');
  }
}

/** Removes the keys matching a SCAN pattern with UNLINK; returns how many. */
export async function unlinkMatching(redis: RedisClient, match: string): Promise<number> {
  let removed = 0;
  await scanMatching(redis, match, async (node, found) => {
    // One UNLINK per key: on a cluster the keys of one batch live in different slots.
    const pipe = node.pipeline();
    for (const k of found) pipe.unlink(k);
    await pipe.exec();
    removed += found.length;
  });
  return removed;
}
