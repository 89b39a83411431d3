// `npm run demo`: real Kafka and Redis on loopback, the page-views pipeline from examples/, a
// generator feeding it, and the live dashboard. Ctrl-C stops everything.
//   --port <n>       dashboard/API port (default 8080, or a free one if taken)
//   --rate <n>       page views per second (default 300)
//   --duration <s>   stop by itself after that many seconds (used by the demo's own test)
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { startKafka } from '../harness/kafka.ts';
import { repoRoot } from '../harness/paths.ts';
import { freePort } from '../harness/ports.ts';
import { startRedis } from '../harness/redis.ts';
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
const [kafkaCluster, redis] = await Promise.all([startKafka(), startRedis()]);
const [valid] = await loadPipelines(join(repoRoot, 'examples', 'page-views.yaml'));
const pipeline = toRuntimePipeline(valid!, 1);
const kafka = new Kafka({ brokers: kafkaCluster.brokers, logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({ topics: [{ topic: 'page-views', numPartitions: 6 }], waitForLeaders: true });
await admin.disconnect();
const producer = kafka.producer();
await producer.connect();
const generator = startGenerator(producer, 'page-views', Number(values.rate));

const port = await portToUse();
const processor = await startProcessor({
  pipeline,
  brokers: kafkaCluster.brokers,
  redisUrl: redis.url,
  replicaId: 'demo-replica',
  http: { port, host: '127.0.0.1' },
  logger: logger.child({}, { level: process.env.LOG_LEVEL ?? 'warn' }),
});

console.log(`
  Dashboard      http://127.0.0.1:${processor.port}/
  Query API      http://127.0.0.1:${processor.port}/api/v1/pipelines/page-views/windows?limit=5
  Top pages      http://127.0.0.1:${processor.port}/api/v1/pipelines/page-views/top?aggregate=views
  Metrics        http://127.0.0.1:${processor.port}/metrics
  Kafka          ${kafkaCluster.brokers.join(',')}   (topic page-views, dead letters in page-views.dlq)
  Redis          ${redis.url}

  Feeding ${values.rate} page views/s from a generator. Ctrl-C stops everything.
`);

let stopping = false;
async function stop(code: number) {
  if (stopping) return;
  stopping = true;
  console.log(`\nstopping (sent ${generator.sent} page views)…`);
  await generator.stop();
  await producer.disconnect();
  await processor.stop();
  await Promise.all([kafkaCluster.stop(), redis.stop()]);
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
if (values.duration) setTimeout(() => void stop(0), Number(values.duration) * 1000);
