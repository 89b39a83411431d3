import type { AggregateShape, WindowShape } from '../model/pipeline.ts';
import type { RedisClient } from './connection.ts';
import { keys } from './keys.ts';

/**
 * What a running pipeline tells readers about itself, in `kf:pipelines`: enough for the query API
 * to find every partition's partial state and to merge it, without reading the spec file.
 */
export interface PipelineRegistration {
  name: string;
  /** the version queries read; a replay writes version N+1 until it catches up, then flips this */
  activeVersion: number;
  topics: string[];
  /** the spec's source topics and start (topics differ for session windows, read via a repartition topic) */
  source?: { topics: string[]; startFrom: 'earliest' | 'latest'; idleTimeoutMs?: number };
  /** partition ids as used in keys (see model/kafka-names.ts partitionIdOf) */
  partitions: string[];
  window: WindowShape;
  groupBy: string[];
  aggregates: AggregateShape[];
  retentionMs: number;
  deadLetterTopic?: string;
  sinkTopic?: string;
  updatedAt: number;
}

export async function registerPipeline(
  redis: RedisClient,
  registration: PipelineRegistration,
): Promise<void> {
  await redis.hset(keys.pipelines(), registration.name, JSON.stringify(registration));
}

export async function readRegistrations(redis: RedisClient): Promise<PipelineRegistration[]> {
  const all = await redis.hgetall(keys.pipelines());
  // "<name>@pending" entries are newer versions still catching up (state/versions.ts), not pipelines.
  return Object.entries(all)
    .filter(([field]) => !field.includes('@'))
    .map(([, json]) => JSON.parse(json) as PipelineRegistration)
    .sort((a, b) => a.name.localeCompare(b.name));
}

export async function readRegistration(
  redis: RedisClient,
  name: string,
): Promise<PipelineRegistration | null> {
  // "<name>@pending" is a replaying version's entry, not a pipeline (names never hold "@")
  if (name.includes('@')) return null;
  const json = await redis.hget(keys.pipelines(), name);
  return json === null ? null : (JSON.parse(json) as PipelineRegistration);
}
