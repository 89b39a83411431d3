// A replica says at start when Redis may evict its keys (maxmemory-policy other than noeviction):
// read from real Redis nodes, a single one and every master of a Cluster, set up each way.
import { type Cluster, Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisDeployment, startRedis } from '../../../harness/redis.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';
import { evictionRisks, logEvictionRisks } from '../../../processor/src/state/eviction-policy.ts';

async function configure(port: number, policy: string, maxmemory: string): Promise<void> {
  const node = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
  await node.connect();
  await node.config('SET', 'maxmemory-policy', policy);
  await node.config('SET', 'maxmemory', maxmemory);
  await node.quit();
}

async function logged(redis: RedisClient): Promise<{ level: number; msg: string; node: string }[]> {
  const lines: { level: number; msg: string; node: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  await logEvictionRisks(redis, logger);
  return lines;
}

describe('the Redis eviction policy check', () => {
  let single: RedisDeployment;
  let cluster: RedisDeployment;
  beforeAll(async () => {
    [single, cluster] = await Promise.all([startRedis(), startRedis({ cluster: true })]);
  }, 180_000);
  afterAll(async () => {
    await Promise.all([single?.stop(), cluster?.stop()]);
  });

  it('finds nothing on a Redis that never evicts, and each policy that may, with its limit', async () => {
    const port = single.nodes[0]!.port;
    const redis = connectRedis(single.url);
    try {
      expect(await evictionRisks(redis)).toEqual([]);
      expect(await logged(redis)).toEqual([]);

      await configure(port, 'allkeys-lru', '1gb');
      expect(await evictionRisks(redis)).toEqual([
        { node: `127.0.0.1:${port}`, policy: 'allkeys-lru', maxmemory: 1024 ** 3 },
      ]);
      const [error] = await logged(redis);
      expect(error?.level).toBe(50);
      expect(error?.msg).toContain('maxmemory-policy allkeys-lru');
      expect(error?.msg).toContain('set maxmemory-policy noeviction');

      // only keys with a TTL (closed windows within their retention) are at risk: still flagged
      await configure(port, 'volatile-ttl', '0');
      expect(await evictionRisks(redis)).toEqual([
        { node: `127.0.0.1:${port}`, policy: 'volatile-ttl', maxmemory: 0 },
      ]);
      // no limit yet: a warning, not an error
      const [warning] = await logged(redis);
      expect(warning?.level).toBe(40);
      expect(warning?.msg).toContain('once maxmemory is set');

      await configure(port, 'noeviction', '1gb');
      expect(await evictionRisks(redis)).toEqual([]);
    } finally {
      await redis.quit();
    }
  });

  it('reads every master of a Cluster', async () => {
    const redis = connectRedis(
      `redis-cluster://${cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    );
    try {
      expect(await evictionRisks(redis)).toEqual([]);
      // (not vacuous: the client knew all three masters when it found nothing)
      expect((redis as Cluster).nodes('master')).toHaveLength(3);
      const risky = cluster.nodes[1]!.port;
      await configure(risky, 'allkeys-lfu', '512mb');
      expect(await evictionRisks(redis)).toEqual([
        { node: `127.0.0.1:${risky}`, policy: 'allkeys-lfu', maxmemory: 512 * 1024 ** 2 },
      ]);
      expect((await logged(redis)).map((line) => line.node)).toEqual([`127.0.0.1:${risky}`]);
    } finally {
      await redis.quit();
    }
  });

  it('logs at debug level and goes on when Redis refuses INFO', async () => {
    const port = single.nodes[0]!.port;
    const admin = new Redis({ port, host: '127.0.0.1' });
    await admin.acl('SETUSER', 'no-info', 'on', '>secret', '~*', '+@all', '-info');
    const redis = connectRedis(single.url, { username: 'no-info', password: 'secret' });
    try {
      const lines = await logged(redis);
      expect(lines).toHaveLength(1);
      expect(lines[0]?.level).toBe(20);
      expect(lines[0]?.msg).toContain('could not read Redis maxmemory-policy');
    } finally {
      await redis.quit();
      await admin.quit();
    }
  });
});
