/**
 * A processor replica for the benchmark: the same startProcessor() as `kappaflow run` (which serves
 * the query API on <port>), plus, when <queryPort> is given, the same query API again on a second
 * port in this process without the per-IP rate limit (600/min by default), so freshness probes that
 * poll every 20 ms are not throttled. SIGTERM drains and exits 0.
 *
 *   node --import tsx bench/processor-entry.ts <pipeline.yaml> <port> [queryPort]
 *   (KAFKA_BROKERS, REDIS_URL, KAPPAFLOW_REPLICA_ID, KAPPAFLOW_PIPELINE_VERSION; KAPPAFLOW_BENCH_PROFILE=<file> for a CPU profile)
 */
// First: the read_committed filter must be in place before kafkajs loads (see the module).
import '../processor/src/kafka/read-committed.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { Registry } from 'prom-client';
import { tuningFromEnv } from '../processor/src/cli/tuning.ts';
import { createHttpApp, startHttpServer } from '../processor/src/http/app.ts';
import { logger } from '../processor/src/observability/logger.ts';
import { toRuntimePipeline } from '../processor/src/runtime/compile.ts';
import { startProcessor } from '../processor/src/runtime/processor.ts';
import { validateText } from '../processor/src/spec/validate.ts';
import { connectRedis } from '../processor/src/state/connection.ts';

const [file, port, queryPort] = process.argv.slice(2);
const result = validateText(readFileSync(file!, 'utf8'), file);
if (!Number.isInteger(Number(process.env.KAPPAFLOW_PIPELINE_VERSION))) {
  console.error(
    'KAPPAFLOW_PIPELINE_VERSION must be the pipeline version to run (bench/options.ts PIPELINE_VERSION)',
  );
  process.exit(2);
}
if (!result.ok || result.pipelines.length !== 1) {
  console.error(JSON.stringify(result.errors));
  process.exit(2);
}
const processor = await startProcessor({
  pipeline: toRuntimePipeline(result.pipelines[0]!, Number(process.env.KAPPAFLOW_PIPELINE_VERSION)),
  brokers: process.env.KAFKA_BROKERS!.split(','),
  redisUrl: process.env.REDIS_URL!,
  replicaId: process.env.KAPPAFLOW_REPLICA_ID ?? `bench-${process.pid}`,
  http: { port: Number(port), host: '127.0.0.1' },
  logger,
  tuning: tuningFromEnv(process.env),
});
if (queryPort) {
  const redis = connectRedis(process.env.REDIS_URL!);
  const app = createHttpApp({
    redis,
    registry: new Registry(),
    readiness: () => true,
    logger,
    rateLimit: false,
  });
  await startHttpServer(app, Number(queryPort), '127.0.0.1');
}
// KAPPAFLOW_BENCH_PROFILE=<file>: a V8 CPU profile of the consuming phase only (start-up and
// module loading excluded), written when SIGTERM arrives.
const profileFile = process.env.KAPPAFLOW_BENCH_PROFILE;
let session: Session | undefined;
if (profileFile) {
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
}
let stopping = false;
process.on('SIGTERM', async () => {
  if (stopping) return;
  stopping = true;
  try {
    if (session) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(profileFile!, JSON.stringify(profile));
    }
    await processor.stop();
    process.exit(0);
  } catch {
    process.exit(1);
  }
});
