// `kappaflow run <pipeline.yaml>`: runs one processor replica of a pipeline.
import { hostname } from 'node:os';
import { Command, Option } from 'commander';
import { logger } from '../observability/logger.ts';
import { toRuntimePipeline } from '../runtime/compile.ts';
import { startProcessor } from '../runtime/processor.ts';
import { SpecValidationError } from '../spec/errors.ts';
import { loadPipelines } from '../spec/load.ts';
import {
  brokersFor,
  DEFAULT_BROKERS,
  DEFAULT_REDIS_URL,
  kafkaSettingsFor,
  redisUrlFor,
} from './connection-targets.ts';
import { addHttpOptions, type HttpCliOptions, httpSettings } from './http-options.ts';
import { redisOption } from './redis-option.ts';
import { untilSignal } from './signals.ts';
import { tuningFromEnv } from './tuning.ts';

export function runCommand(): Command {
  return (
    addHttpOptions(new Command('run'))
      .description(
        'run one processor replica of a pipeline: consume, aggregate into Redis, serve the query API',
      )
      .argument('<file>', 'pipeline YAML (the same file you kubectl apply)')
      .addOption(
        new Option(
          '--brokers <list>',
          `Kafka bootstrap brokers, comma-separated (default: the spec's kafka.brokers, else ${DEFAULT_BROKERS})`,
        ).env('KAFKA_BROKERS'),
      )
      // no default here: without --redis or REDIS_URL the spec's redis.url applies (connection-targets.ts)
      .addOption(redisOption({ defaulted: false }))
      .addOption(
        new Option('--kafka-config <file>', 'YAML with Kafka TLS/SASL settings (see docs)').env(
          'KAFKA_CONFIG_FILE',
        ),
      )
      .addOption(
        new Option('--pipeline-version <n>', 'pipeline version (a replay writes a new version)')
          .env('KAPPAFLOW_VERSION')
          .default('1'),
      )
      .addOption(
        new Option('--replica-id <id>', "this replica's name in heartbeats").env('KAPPAFLOW_REPLICA_ID'),
      )
      .addOption(new Option('--name <name>', 'which pipeline of a multi-document file to run'))
      .addHelpText(
        'after',
        `
Examples:
  $ kappaflow run examples/page-views.yaml --brokers 127.0.0.1:9092 --redis redis://127.0.0.1:6379
  $ KAFKA_BROKERS=kafka:9092 REDIS_URL=redis-cluster://redis-0:6379 kappaflow run /etc/kappaflow/pipeline.yaml

Without --brokers/KAFKA_BROKERS and --redis/REDIS_URL, the spec's kafka.brokers and redis.url (with
redis.cluster) are used, else ${DEFAULT_BROKERS} and ${DEFAULT_REDIS_URL}.
Redis credentials come from REDIS_USERNAME and REDIS_PASSWORD (Sentinels' own: REDIS_SENTINEL_PASSWORD, default the same), Redis TLS files (rediss://) from REDIS_TLS_CA_FILE, REDIS_TLS_CERT_FILE
and REDIS_TLS_KEY_FILE (or REDIS_TLS_DIR with ca.crt, tls.crt, tls.key). Kafka: the spec's kafka.clientId, tls and sasl say
what to use, their files and credentials come from KAFKA_TLS_CA_FILE, KAFKA_TLS_CERT_FILE, KAFKA_TLS_KEY_FILE,
KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD, or all of it from --kafka-config. Secrets never come from the spec.
SIGTERM drains: the batch in flight commits, the replica leaves the group, the process exits 0.`,
      )
      .action(async (file: string, options: RunOptions) => {
        process.exitCode = await run(file, options);
      })
  );
}

interface RunOptions extends HttpCliOptions {
  brokers?: string;
  redis?: string;
  kafkaConfig?: string;
  pipelineVersion: string;
  replicaId?: string;
  name?: string;
}

async function run(file: string, options: RunOptions): Promise<number> {
  let pipelines: Awaited<ReturnType<typeof loadPipelines>>;
  try {
    pipelines = await loadPipelines(file);
  } catch (error) {
    if (error instanceof SpecValidationError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }
  const chosen = options.name ? pipelines.filter((p) => p.normalized.name === options.name) : pipelines;
  if (chosen.length !== 1) {
    console.error(
      `${file} holds ${pipelines.length} pipelines (${pipelines.map((p) => p.normalized.name).join(', ')}); pick one with --name`,
    );
    return 1;
  }
  const version = Number(options.pipelineVersion);
  if (!Number.isInteger(version) || version < 1) {
    console.error(`--pipeline-version must be a positive integer, got ${options.pipelineVersion}`);
    return 1;
  }
  const pipeline = toRuntimePipeline(chosen[0]!, version);
  const processor = await startProcessor({
    pipeline,
    brokers: brokersFor(options.brokers, chosen[0]!.normalized),
    redisUrl: redisUrlFor(options.redis, chosen[0]!.normalized),
    ...kafkaSettingsFor(options.brokers, chosen[0]!.normalized),
    ...(process.env.REDIS_PASSWORD ? { redisPassword: process.env.REDIS_PASSWORD } : {}),
    ...(options.kafkaConfig ? { kafkaConfigFile: options.kafkaConfig } : {}),
    replicaId: options.replicaId ?? hostname() + (process.env.KAPPAFLOW_REPLICA_SUFFIX ?? `-${process.pid}`),
    http: httpSettings(options),
    logger,
    tuning: tuningFromEnv(process.env),
  });
  return await untilSignal(() => processor.stop());
}
