// `kappaflow serve`: the query API and dashboard without consuming, to scale reads apart from processing.
import { Command, Option } from 'commander';
import { createHttpApp, startHttpServer } from '../http/app.ts';
import { createKafka } from '../kafka/client.ts';
import { logger } from '../observability/logger.ts';
import { createProcessorMetrics } from '../observability/metrics.ts';
import { connectRedis, logRedisErrors, redactUrl } from '../state/connection.ts';
import { registrationLag } from '../state/lag.ts';
import { addHttpOptions, type HttpCliOptions, httpSettings } from './http-options.ts';
import { redisOption } from './redis-option.ts';
import { untilSignal } from './signals.ts';

export function serveCommand(): Command {
  return addHttpOptions(new Command('serve'))
    .description('serve the query API and live dashboard from Redis, without consuming from Kafka')
    .addOption(redisOption())
    .addOption(
      new Option(
        '--brokers <list>',
        "Kafka bootstrap brokers, comma-separated: the API's lag (end offsets minus checkpoints); without them lag is null",
      ).env('KAFKA_BROKERS'),
    )
    .addOption(
      new Option('--kafka-config <file>', 'YAML with Kafka TLS/SASL settings (see docs)').env(
        'KAFKA_CONFIG_FILE',
      ),
    )
    .addHelpText(
      'after',
      `
Examples:
  $ kappaflow serve --redis redis://127.0.0.1:6379 --port 8080      then open http://127.0.0.1:8080/
  $ kappaflow serve --auth-token-file /var/run/secrets/kappaflow/tokens --cors-origins https://grafana.example.com`,
    )
    .action(async (options: HttpCliOptions & { redis: string; brokers?: string; kafkaConfig?: string }) => {
      const redis = connectRedis(
        options.redis,
        process.env.REDIS_PASSWORD ? { password: process.env.REDIS_PASSWORD } : {},
      );
      logRedisErrors(redis, logger);
      const settings = httpSettings(options);
      const lag = options.brokers
        ? registrationLag(
            createKafka({
              brokers: options.brokers.split(',').map((b) => b.trim()),
              clientId: 'kappaflow-query',
              logger,
              ...(options.kafkaConfig ? { configFile: options.kafkaConfig } : {}),
            }),
            redis,
          )
        : undefined;
      const app = createHttpApp({
        ...(lag ? { lag: lag.lag, idle: lag.idle } : {}),
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
        await lag?.close();
        await redis.quit().catch(() => redis.disconnect());
      });
    });
}
