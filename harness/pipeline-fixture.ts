/**
 * The set-up every process-level pipeline test repeats: a unique pipeline name and topic, the
 * pipeline YAML in its own run folder (replica logs go beside it), a Kafka client with the topic
 * created, and `kappaflow run` replicas spawned on that file.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Admin, Kafka, type KafkaConfig, logLevel } from 'kafkajs';
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
  await admin.createTopics({ topics: [{ topic, numPartitions: options.partitions }], waitForLeaders: true });
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
