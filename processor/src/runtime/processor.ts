import type { Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import { ConsumerLoop } from '../consumer/loop.ts';
import { Repartitioner } from '../consumer/repartition.ts';
import { sinkEncoderFor } from '../consumer/sink-avro.ts';
import { createHttpApp, type RunningServer, startHttpServer } from '../http/app.ts';
import { createKafka, KAFKA_TLS_SETTINGS } from '../kafka/client.ts';
import { pipelineKafkaSettings } from '../kafka/pipeline-settings.ts';
import { partitionIdOf } from '../model/kafka-names.ts';
import type { RuntimePipeline } from '../model/pipeline.ts';
import type { Logger } from '../observability/logger.ts';
import { createProcessorMetrics } from '../observability/metrics.ts';
import { tlsHint } from '../observability/tls-hint.ts';
import type { KafkaSpec } from '../spec/schema.ts';
import { connectRedis, logRedisErrors, type RedisClient } from '../state/connection.ts';
import { logEvictionRisks } from '../state/eviction-policy.ts';
import { type RegistrationLag, registrationLag } from '../state/lag.ts';
import { type PipelineRegistration, readRegistration } from '../state/registry.ts';
import { offerVersion } from '../state/versions.ts';
import { type PromotionTiming, VersionPromoter } from './version-promoter.ts';

/** Timings and limits that tests and operators tune (`kappaflow run` reads them from the environment: cli/tuning.ts). */
export interface ProcessorTuning {
  /** no fetch from Kafka for this long is a stall: the replica exits (60 s) */
  stallAfterMs?: number;
  /** how often a replica checks that its version is still the newest one (5 s) */
  supersededCheckMs?: number;
  /** most window-hash fields a replica caches per partition (500,000) */
  maxCachedFields?: number;
  /** when a new version takes over and the old one's state goes */
  promotion?: Partial<PromotionTiming>;
}

export interface ProcessorConfig {
  pipeline: RuntimePipeline;
  brokers: string[];
  redisUrl: string;
  redisPassword?: string;
  /** Redis ACL username (spec.redis.secretRef.usernameKey); default: REDIS_USERNAME */
  redisUsername?: string;
  kafkaConfigFile?: string;
  /**
   * The Pipeline's spec.kafka: its clientId, and TLS/SASL whose files and credentials come from
   * KAFKA_TLS_* and KAFKA_SASL_* (kafka/pipeline-settings.ts). Without it those variables alone
   * (set by the operator from the same spec) say the same.
   */
  kafka?: KafkaSpec;
  replicaId: string;
  /** the query API, dashboard, /metrics and probes; `auth` and `cors` as in http/app.ts */
  http: { port: number; host: string; auth?: { tokens: Set<string> }; cors?: { origins: string[] } };
  logger: Logger;
  tuning?: ProcessorTuning;
}

export interface RunningProcessor {
  port: number;
  stop(): Promise<void>;
}

/** Starts one replica: Redis, Kafka, the HTTP endpoints, the pipeline's registration, then the consumer loop. */
export async function startProcessor(config: ProcessorConfig): Promise<RunningProcessor> {
  const { pipeline, logger } = config;
  const tuning = config.tuning ?? {};
  const { redis, kafka } = connect(config);
  const metrics = createProcessorMetrics(pipeline.name);
  // Session windows aggregate from the repartition topic, where each group's events share a partition.
  const repartitioner =
    pipeline.window.type === 'session' ? new Repartitioner(pipeline, kafka, logger) : undefined;
  const aggregating: RuntimePipeline = repartitioner
    ? {
        ...pipeline,
        source: { ...pipeline.source, topics: [repartitioner.topic], startFrom: 'earliest', rekeyed: true },
      }
    : pipeline;
  const loop = new ConsumerLoop({
    pipeline: aggregating,
    kafka,
    redis,
    metrics,
    logger,
    replicaId: config.replicaId,
    ...(tuning.stallAfterMs !== undefined ? { stallAfterMs: tuning.stallAfterMs } : {}),
    ...(tuning.maxCachedFields !== undefined ? { maxCachedFields: tuning.maxCachedFields } : {}),
  });
  const lag = registrationLag(kafka, redis);
  const server = await serveHttp(
    config,
    redis,
    lag,
    metrics.registry,
    () => loop.ready && redis.status === 'ready',
  );
  const registration = await untilKafkaAnswers(
    () => prepareTopics(kafka, pipeline, aggregating, repartitioner, logger),
    logger,
  );
  // Kappa reprocessing: a newer version than the one queries read replays into its own keys and
  // takes over once caught up; an older one has nothing left to do.
  const activation = await offerVersion(redis, registration);
  await logEvictionRisks(redis, logger);
  if (activation.state === 'superseded') {
    await server.close();
    await lag.close();
    await redis.quit().catch(() => redis.disconnect());
    throw new Error(
      `version ${pipeline.version} of pipeline ${pipeline.name} is older than the active version ${activation.active}: run the current spec (a change of logic makes a new version; versions never go back)`,
    );
  }
  let promoter: VersionPromoter | undefined;
  if (activation.state === 'catching-up') {
    logger.info(
      { version: pipeline.version, active: activation.active },
      'new version: replaying the log into its own keys; queries keep reading the active version until it catches up',
    );
    promoter = new VersionPromoter({
      redis,
      kafka,
      pipeline: aggregating,
      ...(repartitioner
        ? { repartitionSource: { topics: pipeline.source.topics, groupId: repartitioner.groupId } }
        : {}),
      registration,
      logger,
      ...(tuning.promotion ? { timing: tuning.promotion } : {}),
    });
    promoter.start();
  }
  // Before consuming, so the replica stays not ready while the registry is down.
  loop.sinkEncoder = await sinkEncoderFor(pipeline, logger);
  await repartitioner?.start();
  await loop.start();
  logger.info({ replicaId: config.replicaId }, 'consuming');
  const consuming = new Consuming(async () => {
    await repartitioner?.stop();
    await loop.stop();
  });
  const supersededWatch = watchSuperseded(
    redis,
    pipeline,
    logger,
    consuming,
    tuning.supersededCheckMs ?? 5000,
  );

  return {
    port: server.port,
    async stop() {
      clearInterval(supersededWatch);
      await promoter?.stop();
      await consuming.stop();
      await server.close();
      await lag.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/**
 * Runs `step` until Kafka answers: a broker that cannot be reached (down, or refusing this
 * replica's TLS settings) keeps the replica running and not ready, saying what fails, instead of
 * exiting into a crash loop. Other errors are thrown.
 */
async function untilKafkaAnswers<T>(step: () => Promise<T>, logger: Logger): Promise<T> {
  for (;;) {
    try {
      return await step();
    } catch (error) {
      const e = error as Error & { originalError?: Error; retriable?: boolean };
      const cause = e.originalError ?? e;
      if (
        !/KafkaJS(NumberOfRetriesExceeded|Connection|RequestTimeout|BrokerNotFound)/.test(
          `${e.name} ${cause.name}`,
        )
      )
        throw error;
      const fix = tlsHint(cause.message, KAFKA_TLS_SETTINGS);
      logger.error(
        { error: cause.message, ...(fix ? { fix } : {}) },
        `cannot reach Kafka${fix ? `: ${fix}` : ''}; not ready, retrying in 5 s`,
      );
      await new Promise((r) => setTimeout(r, 5000));
    }
  }
}

/** The Redis and Kafka clients of the replica. */
function connect(config: ProcessorConfig): { redis: RedisClient; kafka: Kafka } {
  const { pipeline, logger } = config;
  // First: a spec asking for Kafka credentials nobody gave fails here, before any connection opens.
  const own = pipelineKafkaSettings(config.kafka, process.env);
  // `kappaflow run` passes REDIS_PASSWORD; the username is read here so the operator's
  // REDIS_USERNAME (from spec.redis.secretRef.usernameKey) reaches every replica.
  const username = config.redisUsername ?? (process.env.REDIS_USERNAME || undefined);
  const redis = connectRedis(config.redisUrl, {
    ...(config.redisPassword ? { password: config.redisPassword } : {}),
    ...(username ? { username } : {}),
  });
  logRedisErrors(redis, logger);
  const kafka = createKafka({
    brokers: config.brokers,
    clientId: own.clientId ?? `kappaflow-${pipeline.name}`,
    logger,
    ...(config.kafkaConfigFile ? { configFile: config.kafkaConfigFile } : {}),
    security: own.security,
  });
  return { redis, kafka };
}

/** Every replica also answers queries: the state is in Redis, so any pod gives the same answer. */
async function serveHttp(
  config: ProcessorConfig,
  redis: RedisClient,
  lag: RegistrationLag,
  registry: Registry,
  readiness: () => boolean,
): Promise<RunningServer> {
  const { pipeline, logger } = config;
  const app = createHttpApp({
    lag: lag.lag,
    idle: lag.idle,
    redis,
    registry,
    readiness,
    logger,
    ...(config.http.auth ? { auth: config.http.auth } : {}),
    ...(config.http.cors ? { cors: config.http.cors } : {}),
  });
  const server = await startHttpServer(app, config.http.port, config.http.host);
  logger.info(
    { port: server.port, pipeline: pipeline.name, version: pipeline.version },
    'HTTP endpoints listening',
  );
  return server;
}

/**
 * Waits for the source topics, creates the output and repartition topics when missing, and returns
 * the registration of this version (what the query API reads: the aggregated topics and partitions).
 */
async function prepareTopics(
  kafka: Kafka,
  pipeline: RuntimePipeline,
  aggregating: RuntimePipeline,
  repartitioner: Repartitioner | undefined,
  logger: Logger,
): Promise<PipelineRegistration> {
  const sourcePartitions = await waitForTopics(kafka, pipeline, logger);
  await ensureOutputTopics(kafka, pipeline, logger);
  if (repartitioner) await ensureTopic(kafka, repartitioner.topic, sourcePartitions.length, logger);
  const partitions = repartitioner ? await waitForTopics(kafka, aggregating, logger) : sourcePartitions;
  return {
    name: pipeline.name,
    activeVersion: pipeline.version,
    topics: aggregating.source.topics,
    source: {
      topics: pipeline.source.topics,
      startFrom: pipeline.source.startFrom,
      ...(pipeline.source.idleTimeoutMs === undefined
        ? {}
        : { idleTimeoutMs: pipeline.source.idleTimeoutMs }),
    },
    partitions,
    window: pipeline.window,
    groupBy: pipeline.groupNames,
    aggregates: pipeline.aggregates,
    retentionMs: pipeline.retentionMs,
    ...(pipeline.deadLetterTopic ? { deadLetterTopic: pipeline.deadLetterTopic } : {}),
    ...(pipeline.sinkTopic ? { sinkTopic: pipeline.sinkTopic } : {}),
    updatedAt: Date.now(),
  };
}

/** Whether the replica still consumes; stopping happens once, whoever asks first. */
class Consuming {
  private active = true;
  constructor(private readonly stopConsuming: () => Promise<void>) {}

  async stop(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    await this.stopConsuming();
  }
}

/** A replica of a version that a newer one replaced stops writing (its keys are being deleted). */
function watchSuperseded(
  redis: RedisClient,
  pipeline: RuntimePipeline,
  logger: Logger,
  consuming: Consuming,
  intervalMs: number,
): NodeJS.Timeout {
  const watch = setInterval(() => {
    void readRegistration(redis, pipeline.name)
      .then(async (active) => {
        if (!active || active.activeVersion <= pipeline.version) return;
        clearInterval(watch);
        logger.error(
          { version: pipeline.version, active: active.activeVersion },
          'this version was replaced by a newer one; this replica stops consuming (queries still work)',
        );
        await consuming.stop();
      })
      .catch((error: Error) =>
        logger.warn(
          { error: error.message },
          'could not check whether a newer version replaced this one, or stop consuming after it did; retrying',
        ),
      );
  }, intervalMs);
  watch.unref();
  return watch;
}

/** Waits for the source topics instead of crashing: a pipeline may be deployed before its producers. */
async function waitForTopics(kafka: Kafka, pipeline: RuntimePipeline, logger: Logger): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (let attempt = 0; ; attempt++) {
      const existing = new Set(await admin.listTopics());
      const missing = pipeline.source.topics.filter((t) => !existing.has(t));
      if (missing.length === 0) break;
      if (attempt % 15 === 0)
        logger.warn(
          { missing },
          'waiting for the source topics to exist; create them or start the producers',
        );
      await new Promise((r) => setTimeout(r, 2000));
    }
    const metadata = await admin.fetchTopicMetadata({ topics: pipeline.source.topics });
    return metadata.topics.flatMap((topic) =>
      topic.partitions
        .map((p) => partitionIdOf(pipeline, topic.name, p.partitionId))
        .sort((a, b) => a.localeCompare(b, 'en', { numeric: true })),
    );
  } finally {
    await admin.disconnect();
  }
}

async function ensureOutputTopics(kafka: Kafka, pipeline: RuntimePipeline, logger: Logger): Promise<void> {
  const wanted = [pipeline.deadLetterTopic, pipeline.sinkTopic].filter((t): t is string => t !== undefined);
  if (wanted.length === 0) return;
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const metadata = await admin.fetchTopicMetadata({ topics: pipeline.source.topics });
    const partitions = Math.max(1, ...metadata.topics.map((t) => t.partitions.length));
    const missing = wanted.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await admin.createTopics({
        topics: missing.map((topic) => ({ topic, numPartitions: partitions })),
        waitForLeaders: true,
      });
      logger.info({ topics: missing }, 'created output topics');
    }
  } finally {
    await admin.disconnect();
  }
}

/** Creates an internal topic when it is missing (the repartition topic gets the source's partition count). */
async function ensureTopic(kafka: Kafka, topic: string, partitions: number, logger: Logger): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if ((await admin.listTopics()).includes(topic)) return;
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    logger.info({ topic, partitions }, 'created the repartition topic');
  } catch (error) {
    // Another replica created it at the same moment.
    if (!(await admin.listTopics()).includes(topic)) throw error;
  } finally {
    await admin.disconnect();
  }
}
