// `npm run demo`: real Kafka and Redis on loopback, the page-views pipeline from examples/, a
// generator feeding it, and the live dashboard. Ctrl-C stops everything.
//   --port <n>       dashboard/API port (default 8080, or a free one if taken)
//   --rate <n>       page views per second (default 300)
//   --duration <s>   stop by itself after that many seconds (used by the demo's own test)
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../harness/paths.ts';
import { freePort } from '../harness/ports.ts';
import { startKafkaAndRedis } from '../harness/services.ts';
import { tuningFromEnv } from '../processor/src/cli/tuning.ts';
import { logger } from '../processor/src/observability/logger.ts';
import { toRuntimePipeline } from '../processor/src/runtime/compile.ts';
import { startProcessor } from '../processor/src/runtime/processor.ts';
import { loadPipelines } from '../processor/src/spec/load.ts';
import { startGenerator } from './demo/page-view-generator.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    rate: { type: 'string', default: '300' },
    duration: { type: 'string' },
  },
});

async function portToUse(): Promise<number> {
  if (values.port) return Number(values.port);
  const { createServer } = await import('node:net');
  const free = await new Promise<boolean>((resolve) => {
    const probe = createServer().once('error', () => resolve(false));
    probe.listen(8080, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
  return free ? 8080 : freePort();
}

console.log(
  'Kappaflow demo: starting a real Kafka broker and Redis on loopback (first run downloads Kafka, ~1 min)…',
);
const services = await startKafkaAndRedis();
const [valid] = await loadPipelines(join(repoRoot, 'examples', 'page-views.yaml'));
const pipeline = toRuntimePipeline(valid!, 1);
await services.createTopics([{ topic: 'page-views', partitions: 6 }]);
const generator = startGenerator(services.producer, 'page-views', Number(values.rate));

const port = await portToUse();
const processor = await startProcessor({
  pipeline,
  brokers: services.brokers,
  redisUrl: services.redisUrl,
  replicaId: 'demo-replica',
  http: { port, host: '127.0.0.1' },
  logger: logger.child({}, { level: process.env.LOG_LEVEL ?? 'warn' }),
  tuning: tuningFromEnv(process.env),
});

console.log(`
  Dashboard      http://127.0.0.1:${processor.port}/
  Query API      http://127.0.0.1:${processor.port}/api/v1/pipelines/page-views/windows?limit=5
  Top pages      http://127.0.0.1:${processor.port}/api/v1/pipelines/page-views/top?aggregate=views
  Metrics        http://127.0.0.1:${processor.port}/metrics
  Kafka          ${services.brokers.join(',')}   (topic page-views, dead letters in page-views.dlq)
  Redis          ${services.redisUrl}

  Feeding ${values.rate} page views/s from a generator. Ctrl-C stops everything.
`);

let stopping = false;
async function stop(code: number) {
  if (stopping) return;
  stopping = true;
  console.log(`\nstopping (sent ${generator.sent} page views)…`);
  await generator.stop();
  await processor.stop();
  await services.stop();
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
if (values.duration) setTimeout(() => void stop(0), Number(values.duration) * 1000);
