// The "measure" step: a version's lag from Kafka and its replicas' heartbeats from Redis, and the
// active version from the registry. A failure is reported (Degraded, Scaling=Unknown), never
// thrown: replicas stay as they are.

import type { NormalizedPipeline } from '../../../processor/src/spec/normalize.ts';
import { type LagReading, lagSourceOf, readLag } from '../../../processor/src/state/lag.ts';
import { readRegistration } from '../../../processor/src/state/registry.ts';
import type { ReplicaHeartbeat } from '../../../processor/src/state/replica-status.ts';
import { type RateTracker, readReplicas, withTimeout } from '../inputs.ts';
import type { PipelineObject } from '../resources.ts';
import type { ReconcileContext } from './context.ts';
import { kafkaError, kafkaFor, type PipelineKafka } from './kafka-for.ts';
import { redisFor } from './redis-for.ts';

export interface Measurement {
  lag?: LagReading;
  beats: ReplicaHeartbeat[];
  rate: ReturnType<RateTracker['rate']>;
  error?: string;
}

export async function measure(
  ctx: ReconcileContext,
  p: PipelineObject,
  n: NormalizedPipeline,
  version: number,
  rates: RateTracker,
): Promise<Measurement> {
  const name = p.metadata.name;
  let lag: LagReading | undefined;
  let beats: ReplicaHeartbeat[] = [];
  let error: string | undefined;
  let kafka: PipelineKafka | undefined;
  try {
    kafka = await kafkaFor(ctx, p, n);
    const admin = await kafka.admin();
    // The same reading as the query API's lag: Kafka end offsets minus the version's Redis checkpoints.
    const source = lagSourceOf({
      name,
      version,
      topics: n.source.topics,
      startFrom: n.source.startFrom,
      session: n.window.type === 'session',
    });
    lag = await withTimeout(readLag(admin, await redisFor(ctx, p, n), source), 10_000, 'reading lag');
    rates.add(lag);
  } catch (e) {
    error = `Kafka: ${kafkaError(kafka, e)}`;
    await kafka?.reset();
  }
  try {
    const redis = await redisFor(ctx, p, n);
    beats = await readReplicas(redis, name, version);
  } catch (e) {
    error = `${error ? `${error}; ` : ''}Redis: ${(e as Error).message}`;
  }
  return { ...(lag ? { lag } : {}), beats, rate: rates.rate(), ...(error ? { error } : {}) };
}

/** The version queries read (the registry in Redis): null when none is registered or Redis is unreadable. */
export async function readActiveVersion(
  ctx: ReconcileContext,
  p: PipelineObject,
  n: NormalizedPipeline,
): Promise<{ active: number | null; error?: string }> {
  try {
    const redis = await redisFor(ctx, p, n);
    const registration = await withTimeout(
      readRegistration(redis, p.metadata.name),
      5000,
      'reading the registry',
    );
    return { active: registration?.activeVersion ?? null };
  } catch (e) {
    return { active: null, error: `Redis: ${(e as Error).message}` };
  }
}
