// The finalizer's deletion policy. `retain` leaves results and offsets; `delete` removes every Redis
// key of the pipeline (all versions), its registration and its consumer groups.

import { Cluster } from 'ioredis';
import type { Admin } from 'kafkajs';
import type { RedisClient } from '../../processor/src/state/connection.ts';
import { keys } from '../../processor/src/state/keys.ts';

export type DeletionPolicy = 'retain' | 'delete';

export function parsePolicy(value: string | undefined, fallback: DeletionPolicy): DeletionPolicy {
  return value === 'delete' || value === 'retain' ? value : fallback;
}

/** Removes `kf:{<pipeline>:*` keys with SCAN + UNLINK on every master; returns how many. */
export async function deleteRedisState(redis: RedisClient, pipeline: string): Promise<number> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  let removed = 0;
  // `{` is not a glob metacharacter, `[` would be: pipeline names are [a-z0-9-] only.
  const match = `kf:{${pipeline}:*`;
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
  await redis.hdel(keys.pipelines(), pipeline);
  return removed;
}

/** Deletes every consumer group of the pipeline (`kappaflow.<pipeline>.v<n>`); returns their ids. */
export async function deleteConsumerGroups(admin: Admin, pipeline: string): Promise<string[]> {
  const { groups } = await admin.listGroups();
  const prefix = `kappaflow.${pipeline}.v`;
  const ids = groups
    .map((g) => g.groupId)
    .filter((g) => g.startsWith(prefix) && /^\d+$/.test(g.slice(prefix.length)));
  if (ids.length > 0) await admin.deleteGroups(ids);
  return ids;
}
