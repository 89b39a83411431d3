// spec.source.idleTimeout on the writing side. The query API stops waiting for a partition that has
// nothing in Kafka and no commit for idleTimeout (state/lag.ts), so windows become final without it.
// When records reach that partition again, they must not change those windows: the batch starts
// from the watermark of the partitions that kept going.
import type { RedisClient } from '../state/connection.ts';
import { keys } from '../state/keys.ts';

/**
 * Whether a partition was idle before this batch: its first new record was stamped (Kafka record
 * timestamp) at least idleTimeout after the partition's last commit. Never for a partition without
 * a commit: the API does not wait for those anyway.
 */
export function resumedAfterIdle(
  lastCommitAt: number | null,
  firstRecordAt: number,
  idleTimeoutMs: number,
): boolean {
  return lastCommitAt !== null && firstRecordAt - lastCommitAt >= idleTimeoutMs;
}

/**
 * The watermark a resumed partition starts from: the lowest watermark of the other partitions
 * committed within idleTimeout (they are the ones a final window waited for), or, when none is, the
 * highest of them (a window may have become final while one of them still moved). Null: no other
 * committed partition.
 */
export async function idleFloor(
  redis: RedisClient,
  otherCheckpoints: string[],
  now: number,
  idleTimeoutMs: number,
): Promise<number | null> {
  const pipe = redis.pipeline();
  for (const key of otherCheckpoints) pipe.hmget(key, 'watermark', 'updatedAt');
  const replies = (await pipe.exec()) ?? [];
  const active: number[] = [];
  const all: number[] = [];
  for (const [error, reply] of replies) {
    if (error) throw error;
    const [watermark, updatedAt] = reply as [string | null, string | null];
    if (watermark === null || Number(watermark) <= Number.MIN_SAFE_INTEGER) continue;
    all.push(Number(watermark));
    if (updatedAt !== null && now - Number(updatedAt) < idleTimeoutMs) active.push(Number(watermark));
  }
  if (active.length > 0) return Math.min(...active);
  return all.length > 0 ? Math.max(...all) : null;
}

/** The last commit time of a partition (its checkpoint's updatedAt), or null before its first commit. */
export async function lastCommitOf(redis: RedisClient, prefix: string): Promise<number | null> {
  const at = await redis.hget(keys.checkpoint(prefix), 'updatedAt');
  return at === null ? null : Number(at);
}
