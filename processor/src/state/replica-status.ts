import type { RedisClient } from './connection.ts';
import { keys } from './keys.ts';

/** What each replica publishes every few seconds; the query API and the operator's autoscaler read it. */
export interface ReplicaHeartbeat {
  replica: string;
  at: number;
  partitions: string[];
  /** records processed per second over the last interval */
  recordsPerSecond: number;
  /** records behind the end of each owned partition, at its last batch */
  lag: Record<string, number>;
  watermarks: Record<string, number>;
}

export const HEARTBEAT_INTERVAL_MS = 2000;
/** Heartbeats older than this belong to replicas that are gone. */
export const HEARTBEAT_STALE_MS = 10_000;

export async function publishHeartbeat(
  redis: RedisClient,
  pipeline: string,
  version: number,
  beat: ReplicaHeartbeat,
) {
  const key = keys.replicas(pipeline, version);
  await redis.multi().hset(key, beat.replica, JSON.stringify(beat)).pexpire(key, 60_000).exec();
}

export async function readHeartbeats(
  redis: RedisClient,
  pipeline: string,
  version: number,
  now = Date.now(),
) {
  const key = keys.replicas(pipeline, version);
  const all = await redis.hgetall(key);
  const live: ReplicaHeartbeat[] = [];
  const stale: string[] = [];
  for (const [replica, json] of Object.entries(all)) {
    const beat = JSON.parse(json) as ReplicaHeartbeat;
    if (now - beat.at <= HEARTBEAT_STALE_MS) live.push(beat);
    else stale.push(replica);
  }
  if (stale.length > 0) await redis.hdel(key, ...stale);
  return live;
}
