/**
 * A processor replica for the benchmark: the same startProcessor() as `kappaflow run`, with the
 * query API mounted on the processor's port (rate limit off, so freshness probes are not throttled).
 * SIGTERM drains and exits 0 (so `--cpu-prof` writes its profile).
 *
 *   node --import tsx bench/processor-entry.ts <pipeline.yaml> <port>   (KAFKA_BROKERS, REDIS_URL, KAPPAFLOW_REPLICA_ID)
 */
import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { createHttpApp } from '../processor/src/http/app.ts';
import { toRuntimePipeline } from '../processor/src/runtime/compile.ts';
import { logger } from '../processor/src/runtime/logger.ts';
import { startProcessor } from '../processor/src/runtime/processor.ts';
import { validateText } from '../processor/src/spec/validate.ts';

const [file, port] = process.argv.slice(2);
const result = validateText(readFileSync(file!, 'utf8'), file);
if (!result.ok || result.pipelines.length !== 1) {
  console.error(JSON.stringify(result.errors));
  process.exit(2);
}
const processor = await startProcessor({
  pipeline: toRuntimePipeline(result.pipelines[0]!, 1),
  brokers: process.env.KAFKA_BROKERS!.split(','),
  redisUrl: process.env.REDIS_URL!,
  replicaId: process.env.KAPPAFLOW_REPLICA_ID ?? `bench-${process.pid}`,
  http: { port: Number(port), host: '127.0.0.1' },
  logger,
  mountRoutes: (app, { redis, ready }) => {
    app.use(
      createHttpApp({ redis, registry: new Registry(), readiness: ready, logger, rateLimit: false }),
    );
  },
});
let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  processor.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
