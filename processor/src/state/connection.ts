import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../observability/logger.ts';
import { tlsHint } from '../observability/tls-hint.ts';
import { REDIS_TLS_SETTINGS, redisTlsFromEnv } from './redis-tls.ts';
import { parseRedisUrl } from './redis-url.ts';
import { defineCommands, type StateCommands } from './scripts.ts';

export { redactUrl } from './redis-url.ts';

export type RedisClient = (Redis | Cluster) & StateCommands;

export interface RedisConnectOptions {
  password?: string;
  /** Redis 6 ACL user the password belongs to (default: the `default` user); data nodes only, not Sentinels */
  username?: string;
  /**
   * The Sentinels' own password (their `requirepass`). Default: REDIS_SENTINEL_PASSWORD, else the
   * Redis password, as Sentinels set up with the data nodes' password usually are.
   */
  sentinelPassword?: string;
  /** TLS settings (CA, client certificate and key) for rediss:// addresses; default: `redisTlsFromEnv` */
  tls?: ConnectionOptions;
}

/**
 * Connects to a single Redis, a Redis Cluster or the master a Redis Sentinel names, from an
 * address `parseRedisUrl` reads.
 */
export function connectRedis(url: string, options: RedisConnectOptions = {}): RedisClient {
  const target = parseRedisUrl(url);
  const tlsOptions = target.tls ? (options.tls ?? redisTlsFromEnv(process.env) ?? {}) : undefined;
  const tls = tlsOptions ? { tls: tlsOptions } : {};
  const user = options.username ? { username: options.username } : {};
  // Keep commands queued while Redis restarts or fails over rather than failing the batch at once.
  const common: RedisOptions = {
    ...(options.password ? { password: options.password } : {}),
    ...user,
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(100 * times, 2000),
  };
  let client: Redis | Cluster;
  if (target.kind === 'cluster') {
    client = new Cluster(target.nodes, {
      redisOptions: { password: options.password, ...user, ...tls },
      // A node restart or failover must be waited out, not turned into an error per command.
      clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
    });
  } else if (target.kind === 'sentinel') {
    const password = target.password ?? options.password;
    // A Sentinel without a password answers AUTH with an error that ioredis only warns about, so
    // giving it the Redis password by default costs nothing where Sentinels are open.
    const sentinelPassword = options.sentinelPassword ?? (process.env.REDIS_SENTINEL_PASSWORD || password);
    client = new Redis({
      ...common,
      ...(password ? { password } : {}),
      ...(sentinelPassword ? { sentinelPassword } : {}),
      sentinels: target.sentinels,
      name: target.masterName,
      db: target.db,
      ...(target.tls ? { ...tls, enableTLSForSentinelMode: true, sentinelTLS: tlsOptions } : {}),
      sentinelRetryStrategy: (times) => Math.min(100 * times, 2000),
      // Reconnect to the new master as soon as a Sentinel announces the switch, instead of waiting
      // for the old one's connection to fail (a frozen master never closes it).
      failoverDetector: true,
    });
  } else {
    client = new Redis(target.url, { ...common, ...tls });
  }
  defineCommands(client);
  return client as RedisClient;
}

/**
 * Logs a Redis connection error (the client retries on its own): a certificate problem at error
 * level with what to fix, anything else as a warning.
 */
export function logRedisErrors(client: RedisClient, logger: Logger): void {
  client.on('error', (error: Error & { code?: string }) => {
    const tlsFix = tlsHint(error, REDIS_TLS_SETTINGS);
    const fix = tlsFix ?? sentinelAuthHint(error.message);
    if (fix)
      logger.error(
        { error: error.message, fix },
        `Redis refused the ${tlsFix ? 'TLS ' : ''}connection: ${fix}; retrying`,
      );
    else logger.warn({ error: error.message }, 'Redis connection error; retrying');
  });
}

/** What to fix when Sentinels refuse the password given to them (ioredis reports it as their last error). */
export function sentinelAuthHint(message: string): string | undefined {
  if (!/sentinels are unreachable/i.test(message) || !/WRONGPASS|NOAUTH|invalid password/i.test(message))
    return undefined;
  return 'the Sentinels refused the password: set REDIS_SENTINEL_PASSWORD to their requirepass (by default they get the Redis password)';
}
