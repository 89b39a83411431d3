import type { Admin, Kafka } from 'kafkajs';
import { consumerGroupOf, partitionIdOf } from '../consumer/loop.ts';
import type { RedisClient } from '../state/connection.ts';
import { keys, partitionPrefix } from '../state/keys.ts';
import type { PipelineRegistration } from '../state/registry.ts';
import { promoteVersion, retireVersion } from '../state/versions.ts';
import type { Logger } from './logger.ts';
import type { RuntimePipeline } from './pipeline.ts';

/** Total records of lag under which a new version counts as caught up. */
const PROMOTE_MAX_LAG = Number(process.env.KAPPAFLOW_PROMOTE_MAX_LAG ?? 1000);
/** How often a catching-up version measures its lag. */
const PROMOTE_CHECK_MS = Number(process.env.KAPPAFLOW_PROMOTE_CHECK_MS ?? 2000);
/** A replica of the old version may commit one more batch before it notices; the second sweep takes it. */
const SECOND_SWEEP_MS = Number(process.env.KAPPAFLOW_RETIRE_SECOND_SWEEP_MS ?? 30_000);

export interface VersionPromoterOptions {
  redis: RedisClient;
  kafka: Kafka;
  /** the pipeline as the consumer loop runs it (for session windows: reading the repartition topic) */
  pipeline: RuntimePipeline;
  /** the source topics of the repartitioner, for session windows: its lag counts too */
  repartitionSource?: { topics: string[]; groupId: string };
  registration: PipelineRegistration;
  logger: Logger;
  intervalMs?: number;
}

/**
 * Kappa reprocessing: a new version replays the log into its own keys while the active version
 * keeps serving queries. This watches the new version's lag (Kafka end offsets against its Redis
 * checkpoints) and, once it has caught up, makes it the active version in one step
 * (activateVersion-1.lua) and deletes the old version's state and consumer groups.
 */
export class VersionPromoter {
  private timer: NodeJS.Timeout | undefined;
  private admin: Admin | undefined;
  private busy = false;
  private done = false;

  constructor(private readonly options: VersionPromoterOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs ?? PROMOTE_CHECK_MS);
  }

  async stop(): Promise<void> {
    this.done = true;
    if (this.timer) clearInterval(this.timer);
    await this.admin?.disconnect().catch(() => {});
  }

  /** Records the new version still has to process. */
  async lag(): Promise<number> {
    const { pipeline, redis, repartitionSource } = this.options;
    const admin = await this.connect();
    let lag = 0;
    for (const topic of pipeline.source.topics) {
      const ends = await admin.fetchTopicOffsets(topic);
      const pipe = redis.pipeline();
      for (const p of ends) {
        const prefix = partitionPrefix(
          pipeline.name,
          pipeline.version,
          partitionIdOf(pipeline, topic, p.partition),
        );
        pipe.hget(keys.checkpoint(prefix), 'offset');
      }
      const offsets = (await pipe.exec()) ?? [];
      ends.forEach((p, i) => {
        const stored = offsets[i]?.[1] as string | null | undefined;
        const from = stored ?? (pipeline.source.startFrom === 'earliest' ? p.low : p.high);
        lag += Math.max(0, Number(p.high) - Number(from));
      });
    }
    if (repartitionSource) {
      const committed = await admin.fetchOffsets({
        groupId: repartitionSource.groupId,
        topics: repartitionSource.topics,
      });
      for (const topic of repartitionSource.topics) {
        const ends = await admin.fetchTopicOffsets(topic);
        const group = committed.find((c) => c.topic === topic)?.partitions ?? [];
        for (const p of ends) {
          const c = Number(group.find((g) => g.partition === p.partition)?.offset ?? -1);
          lag += Math.max(0, Number(p.high) - (c >= 0 ? c : Number(p.low)));
        }
      }
    }
    return lag;
  }

  private async tick(): Promise<void> {
    if (this.busy || this.done) return;
    this.busy = true;
    const { redis, registration, logger } = this.options;
    try {
      const lag = await this.lag();
      if (lag > PROMOTE_MAX_LAG) {
        logger.debug({ version: registration.activeVersion, lag }, 'new version catching up');
        return;
      }
      const result = await promoteVersion(redis, registration);
      this.done = true;
      if (this.timer) clearInterval(this.timer);
      if (result.state === 'superseded') {
        logger.warn(
          { version: registration.activeVersion, active: result.active },
          'a newer version is active',
        );
        return;
      }
      if (
        result.state !== 'active' ||
        result.previous === null ||
        result.previous >= registration.activeVersion
      )
        return;
      const previous = result.previous;
      logger.info(
        { version: registration.activeVersion, previous, lag },
        'caught up: queries now read this version; deleting the previous one',
      );
      await this.retire(previous);
      setTimeout(() => void this.retire(previous), SECOND_SWEEP_MS).unref();
    } catch (error) {
      logger.warn({ error: (error as Error).message }, 'could not check whether the new version caught up');
      await this.admin?.disconnect().catch(() => {});
      this.admin = undefined;
    } finally {
      this.busy = false;
    }
  }

  private async retire(version: number): Promise<void> {
    const { redis, pipeline, logger } = this.options;
    try {
      const removed = await retireVersion(redis, pipeline.name, version);
      const group = consumerGroupOf(pipeline.name, version);
      const admin = await this.connect();
      // Fails while an old replica is still a member; a later sweep or the finalizer removes it then.
      await admin.deleteGroups([group, `${group}.repartition`]).catch(() => {});
      logger.info({ version, keys: removed }, 'retired the previous version');
    } catch (error) {
      logger.warn({ version, error: (error as Error).message }, 'could not retire the previous version');
    }
  }

  private async connect(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.options.kafka.admin();
      await admin.connect();
      this.admin = admin;
    }
    return this.admin;
  }
}
