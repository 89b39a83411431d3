/**
 * The query API alone, as the chart deploys it with `query.server.enabled` (query pods running
 * `kappaflow serve` apart from the processors), for the freshness probes of `--query-server`: the
 * same app as `kappaflow serve` without the per-IP rate limit (the probes poll every 50 ms).
 * SIGTERM exits 0.
 *
 *   node --import tsx bench/query-entry.ts <port>      (REDIS_URL)
 */
import { Registry } from 'prom-client';
import { createHttpApp, startHttpServer } from '../processor/src/http/app.ts';
import { logger } from '../processor/src/observability/logger.ts';
import { connectRedis } from '../processor/src/state/connection.ts';

const [port] = process.argv.slice(2);
const redis = connectRedis(process.env.REDIS_URL!);
const app = createHttpApp({
  redis,
  registry: new Registry(),
  readiness: () => redis.status === 'ready',
  logger,
  rateLimit: false,
});
await startHttpServer(app, Number(port), '127.0.0.1');
process.on('SIGTERM', () => {
  redis.disconnect();
  process.exit(0);
});
