import type { Admin, Kafka } from 'kafkajs';
import { CAUGHT_UP_LAG } from '../model/caught-up.ts';
import { consumerGroupOf, repartitionGroupOf, sinkGroupOf } from '../model/kafka-names.ts';
import type { RuntimePipeline } from '../model/pipeline.ts';
import type { Logger } from '../observability/logger.ts';
import type { RedisClient } from '../state/connection.ts';
import { keys, partitionPrefix } from '../state/keys.ts';
import { readLag } from '../state/lag.ts';
import { type PipelineRegistration, readRegistration } from '../state/registry.ts';
import { olderVersions, promoteVersion, retireVersion } from '../state/versions.ts';

/** When a new version switches over and when the old one's state goes. */
export interface PromotionTiming {
  /** total records of lag under which a new version counts as caught up (CAUGHT_UP_LAG, 1000) */
  maxLag: number;
  /** how often a catching-up version measures its lag (2 s) */
  intervalMs: number;
  /** queries that read the old registration just before the switch finish before its keys go (10 s) */
  firstSweepMs: number;
  /** a replica of the old version may commit one more batch before it notices; the second sweep takes it (30 s) */
  secondSweepMs: number;
}

export const DEFAULT_PROMOTION_TIMING: PromotionTiming = {
  maxLag: CAUGHT_UP_LAG,
  intervalMs: 2000,
  firstSweepMs: 10_000,
  secondSweepMs: 30_000,
};

export interface VersionPromoterOptions {
  redis: RedisClient;
  kafka: Kafka;
  /** the pipeline as the consumer loop runs it (for session windows: reading the repartition topic) */
  pipeline: RuntimePipeline;
  /** the source topics of the repartitioner, for session windows: its lag counts too */
  repartitionSource?: { topics: string[]; groupId: string };
  registration: PipelineRegistration;
  logger: Logger;
  timing?: Partial<PromotionTiming>;
}

/**
 * Kappa reprocessing: a new version replays the log into its own keys while the active version
 * keeps serving queries. This watches the new version's progress and, once it is near the end of
 * the log (Kafka ends against its Redis checkpoints) and no partition is behind the active
 * version's checkpoint (so no answer loses records at the switch), makes it the active version in
 * one step (activateVersion-1.lua); a little later it deletes the older versions' state and groups.
 */
export class VersionPromoter {
  private timer: NodeJS.Timeout | undefined;
  private admin: Admin | undefined;
  private busy = false;
  private done = false;

  private readonly timing: PromotionTiming;

  constructor(private readonly options: VersionPromoterOptions) {
    this.timing = { ...DEFAULT_PROMOTION_TIMING, ...options.timing };
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.timing.intervalMs);
  }

  async stop(): Promise<void> {
    this.done = true;
    if (this.timer) clearInterval(this.timer);
    await this.admin?.disconnect().catch(() => {});
  }

  /**
   * How far the new version is: records behind the end of the log, and whether some partition is
   * still behind the active version's checkpoint (then queries would lose records by switching).
   * A partition without a checkpoint is never ahead of anything.
   */
  async progress(active: number | null): Promise<{ lag: number; behindActive: string[] }> {
    const { pipeline, redis, repartitionSource } = this.options;
    const admin = await this.connect();
    // the lag as the operator and the query API read it (state/lag.ts): the same number everywhere
    const reading = await readLag(admin, redis, {
      pipeline: pipeline.name,
      version: pipeline.version,
      topics: pipeline.source.topics,
      startFrom: pipeline.source.startFrom,
      ...(repartitionSource ? { repartition: repartitionSource } : {}),
    });
    const behindActive: string[] = [];
    if (active !== null) {
      const pipe = redis.pipeline();
      for (const p of reading.partitions)
        pipe.hget(keys.checkpoint(partitionPrefix(pipeline.name, active, p.id)), 'offset');
      const replies = (await pipe.exec()) ?? [];
      reading.partitions.forEach((p, i) => {
        const [error, theirs] = replies[i] ?? [null, null];
        if (error) throw error;
        if (typeof theirs === 'string' && (p.checkpoint === null || p.checkpoint < Number(theirs)))
          behindActive.push(p.id);
      });
    }
    return { lag: reading.totalLag, behindActive };
  }

  private async tick(): Promise<void> {
    if (this.busy || this.done) return;
    this.busy = true;
    const { redis, registration, logger, pipeline } = this.options;
    try {
      const current = await readRegistration(redis, pipeline.name);
      const active =
        current && current.activeVersion < registration.activeVersion ? current.activeVersion : null;
      const { lag, behindActive } = await this.progress(active);
      if (lag > this.timing.maxLag || behindActive.length > 0) {
        logger.debug({ version: registration.activeVersion, lag, behindActive }, 'new version catching up');
        return;
      }
      const result = await promoteVersion(redis, registration);
      if (result.state === 'catching-up') {
        // The operator's gate holds it (manual promotion, or a failing replay): ask again later.
        logger.debug({ version: registration.activeVersion, lag }, 'caught up; promotion held by the gate');
        return;
      }
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
      logger.info(
        { version: registration.activeVersion, previous: result.previous, lag },
        'caught up: queries now read this version; the previous one is deleted shortly',
      );
      const { firstSweepMs, secondSweepMs } = this.timing;
      setTimeout(() => void this.retire(), firstSweepMs).unref();
      setTimeout(() => void this.retire(), firstSweepMs + secondSweepMs).unref();
    } catch (error) {
      logger.warn({ error: (error as Error).message }, 'could not check whether the new version caught up');
      await this.admin?.disconnect().catch(() => {});
      this.admin = undefined;
    } finally {
      this.busy = false;
    }
  }

  /** Deletes the state and consumer groups of every version older than this one. */
  private async retire(): Promise<void> {
    const { redis, pipeline, logger, registration } = this.options;
    try {
      for (const version of await olderVersions(redis, pipeline.name, registration.activeVersion)) {
        const removed = await retireVersion(redis, pipeline.name, version);
        const groups = [
          consumerGroupOf(pipeline.name, version),
          repartitionGroupOf(pipeline.name, version),
          sinkGroupOf(pipeline.name, version),
        ];
        const admin = await this.connect();
        // Fails while an old replica is still a member; a later sweep or the finalizer removes it then.
        await admin.deleteGroups(groups).catch(() => {});
        logger.info({ version, keys: removed }, 'retired an older version');
      }
    } catch (error) {
      logger.warn({ error: (error as Error).message }, 'could not retire the older versions');
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
