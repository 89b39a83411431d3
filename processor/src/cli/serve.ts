// `kappaflow serve`: the query API and dashboard without consuming, to scale reads apart from processing.
import { Command, Option } from 'commander';
import { createHttpApp, startHttpServer } from '../http/app.ts';
import { logger } from '../observability/logger.ts';
import { createProcessorMetrics } from '../observability/metrics.ts';
import { connectRedis, redactUrl } from '../state/connection.ts';
import { addHttpOptions, type HttpCliOptions, httpSettings } from './http-options.ts';
import { untilSignal } from './signals.ts';

export function serveCommand(): Command {
  return addHttpOptions(new Command('serve'))
    .description('serve the query API and live dashboard from Redis, without consuming from Kafka')
    .addOption(
      new Option(
        '--redis <url>',
        'redis://host:port, rediss:// for TLS, or redis-cluster://host:port,host:port',
      )
        .env('REDIS_URL')
        .default('redis://127.0.0.1:6379'),
    )
    .addHelpText(
      'after',
      `
Examples:
  $ kappaflow serve --redis redis://127.0.0.1:6379 --port 8080      then open http://127.0.0.1:8080/
  $ kappaflow serve --auth-token-file /var/run/secrets/kappaflow/tokens --cors-origins https://grafana.example.com`,
    )
    .action(async (options: HttpCliOptions & { redis: string }) => {
      const redis = connectRedis(
        options.redis,
        process.env.REDIS_PASSWORD ? { password: process.env.REDIS_PASSWORD } : {},
      );
      redis.on('error', (error) => logger.warn({ error: error.message }, 'Redis connection error; retrying'));
      const settings = httpSettings(options);
      const app = createHttpApp({
        redis,
        registry: createProcessorMetrics('query').registry,
        readiness: () => redis.status === 'ready',
        logger,
        ...(settings.auth ? { auth: settings.auth } : {}),
        ...(settings.cors ? { cors: settings.cors } : {}),
      });
      const server = await startHttpServer(app, settings.port, settings.host);
      logger.info({ url: server.url, redis: redactUrl(options.redis) }, 'query API listening');
      process.exitCode = await untilSignal(async () => {
        await server.close();
        await redis.quit().catch(() => redis.disconnect());
      });
    });
}
