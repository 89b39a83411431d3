import { Cluster, Redis } from 'ioredis';
import { defineCommands, type StateCommands } from './scripts.ts';

export type RedisClient = (Redis | Cluster) & StateCommands;

/**
 * Connects to a single Redis (`redis://[:password@]host:port[/db]`, `rediss://` for TLS) or to a
 * Redis Cluster (`redis-cluster://host:port,host:port`, any node is enough to discover the others).
 */
export function connectRedis(url: string, options: { password?: string } = {}): RedisClient {
  let client: Redis | Cluster;
  if (url.startsWith('redis-cluster://')) {
    const nodes = url
      .slice('redis-cluster://'.length)
      .split(',')
      .filter((n) => n.length > 0)
      .map((node) => {
        const [host, port] = node.split(':');
        return { host: host ?? '127.0.0.1', port: Number(port ?? 6379) };
      });
    if (nodes.length === 0)
      throw new Error(`no nodes in ${url}; expected redis-cluster://host:port,host:port`);
    client = new Cluster(nodes, {
      redisOptions: { password: options.password },
      // A node restart or failover must be waited out, not turned into an error per command.
      clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
    });
  } else {
    client = new Redis(url, {
      password: options.password,
      // Keep commands queued while Redis restarts rather than failing the batch at once.
      maxRetriesPerRequest: null,
      retryStrategy: (times) => Math.min(100 * times, 2000),
    });
  }
  defineCommands(client);
  return client as RedisClient;
}

/** Describes a Redis address for logs without its password. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}
