/**
 * The set-up every process-level pipeline test repeats: a unique pipeline name and topic, the
 * pipeline YAML in its own run folder (replica logs go beside it), a Kafka client with the topic
 * created, and `kappaflow run` replicas spawned on that file.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Admin, Kafka, type KafkaConfig, logLevel } from 'kafkajs';
import { pino } from 'pino';
import type { RuntimePipeline } from '../processor/src/model/pipeline.ts';
import type { Logger } from '../processor/src/observability/logger.ts';
import { toRuntimePipeline } from '../processor/src/runtime/compile.ts';
import { type RunningProcessor, startProcessor } from '../processor/src/runtime/processor.ts';
import { validateText } from '../processor/src/spec/validate.ts';
import { ensureDir, runDir } from './paths.ts';
import { freePort } from './ports.ts';
import { type ProcessorProcess, spawnProcessor } from './processor.ts';

export interface PipelineFixtureOptions {
  brokers: string[];
  redisUrl: string;
  /** the pipeline is `<prefix>-<id>` */
  prefix: string;
  /** the source topic is `<topicPrefix>-<id>` (default: the pipeline name) */
  topicPrefix?: string;
  partitions: number;
  yaml(name: string, topic: string): string;
  /** topic settings: replication factor, per-topic configs (e.g. min.insync.replicas, max.message.bytes) */
  topicConfig?: { replicationFactor?: number; configEntries?: { name: string; value: string }[] };
  /** kafkajs settings beyond the brokers (e.g. generous retries while a broker restarts) */
  kafka?: Omit<KafkaConfig, 'brokers'>;
}

export interface PipelineFixture {
  name: string;
  topic: string;
  /** the run folder: pipeline.yaml and the replicas' logs */
  dir: string;
  file: string;
  kafka: Kafka;
  /** connected; the topic exists */
  admin: Admin;
  /** a `kappaflow run` replica on the pipeline, named after it and `slot` */
  spawn(slot: number | string, env?: NodeJS.ProcessEnv): Promise<ProcessorProcess>;
}

export async function pipelineFixture(options: PipelineFixtureOptions): Promise<PipelineFixture> {
  const id = randomUUID().slice(0, 8);
  const name = `${options.prefix}-${id}`;
  const topic = options.topicPrefix ? `${options.topicPrefix}-${id}` : name;
  const dir = ensureDir(join(runDir, name));
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, options.yaml(name, topic));
  const kafka = new Kafka({ logLevel: logLevel.NOTHING, ...options.kafka, brokers: options.brokers });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [{ topic, numPartitions: options.partitions, ...options.topicConfig }],
    waitForLeaders: true,
  });
  return {
    name,
    topic,
    dir,
    file,
    kafka,
    admin,
    async spawn(slot, env) {
      return spawnProcessor({
        file,
        brokers: options.brokers,
        redisUrl: options.redisUrl,
        port: await freePort(),
        name: typeof slot === 'string' ? slot : `${name}-r${slot}-${Date.now()}`,
        logDir: dir,
        ...(env ? { env } : {}),
      });
    },
  };
}

/** A pipeline YAML validated and compiled as version 1; throws with every spec error. */
export function compilePipeline(yaml: string): RuntimePipeline {
  const result = validateText(yaml);
  if (result.errors.length > 0 || !result.pipelines[0]) {
    throw new Error(`the test pipeline is invalid: ${JSON.stringify(result.errors)}`);
  }
  return toRuntimePipeline(result.pipelines[0], 1);
}

/** A processor in this process (replica named after the pipeline, HTTP on loopback, logs with KAPPAFLOW_DEBUG). */
export function startInProcess(
  pipeline: RuntimePipeline,
  options: {
    brokers: string[];
    redisUrl: string;
    replicaId?: string;
    port?: number;
    /** where its log goes (default: nowhere, or info to stdout with KAPPAFLOW_DEBUG) */
    logger?: Logger;
  },
): Promise<RunningProcessor> {
  return startProcessor({
    pipeline,
    brokers: options.brokers,
    redisUrl: options.redisUrl,
    replicaId: options.replicaId ?? pipeline.name,
    http: { port: options.port ?? 0, host: '127.0.0.1' },
    logger: options.logger ?? pino({ level: process.env.KAPPAFLOW_DEBUG ? 'info' : 'silent' }),
  });
}
