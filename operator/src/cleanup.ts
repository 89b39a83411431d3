// The finalizer's deletion policy. `retain` leaves results and offsets; `delete` removes every Redis
// key of the pipeline (all versions), its registration and its consumer groups.

import type { Admin } from 'kafkajs';
import { versionOfAnyGroup } from '../../processor/src/model/kafka-names.ts';
import type { RedisClient } from '../../processor/src/state/connection.ts';
import { keys } from '../../processor/src/state/keys.ts';
import { unlinkMatching } from '../../processor/src/state/purge.ts';

export type DeletionPolicy = 'retain' | 'delete';

export function parsePolicy(value: string | undefined, fallback: DeletionPolicy): DeletionPolicy {
  return value === 'delete' || value === 'retain' ? value : fallback;
}

/** Removes `kf:{<pipeline>:*` keys (every version) and the registration; returns how many keys. */
export async function deleteRedisState(redis: RedisClient, pipeline: string): Promise<number> {
  // `{` is not a glob metacharacter, `[` would be: pipeline names are [a-z0-9-] only.
  const removed = await unlinkMatching(redis, `kf:{${pipeline}:*`);
  await redis.hdel(keys.pipelines(), pipeline, `${pipeline}@pending`, `${pipeline}@gate`);
  return removed;
}

/** Deletes every consumer group of the pipeline (`kappaflow.<pipeline>.v<n>` and its `.repartition`); returns their ids. */
export async function deleteConsumerGroups(admin: Admin, pipeline: string): Promise<string[]> {
  const { groups } = await admin.listGroups();
  const ids = groups.map((g) => g.groupId).filter((g) => versionOfAnyGroup(pipeline, g) !== undefined);
  if (ids.length > 0) await admin.deleteGroups(ids);
  return ids;
}
