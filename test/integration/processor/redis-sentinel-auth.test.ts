// Sentinels that require a password of their own (`requirepass` in sentinel.conf), as production
// Sentinel installs usually have: the client must AUTH to every Sentinel it asks for the master, and
// then to the master with the Redis password. Real Sentinels and Redis nodes (Debian redis-server).
import { afterAll, describe, expect, it } from 'vitest';
import { type SentinelDeployment, startRedisSentinel } from '../../../harness/redis-sentinel.ts';
import { waitUntil } from '../../../harness/service.ts';
import {
  connectRedis,
  type RedisConnectOptions,
  sentinelAuthHint,
} from '../../../processor/src/state/connection.ts';

const started: SentinelDeployment[] = [];
afterAll(async () => {
  await Promise.all(started.map((d) => d.stop()));
});

/** Writes and reads a key through the master the Sentinels name; the last error seen if it cannot. */
async function roundTrip(url: string, options: RedisConnectOptions, timeoutMs = 30_000) {
  const client = connectRedis(url, options);
  let lastError = '';
  client.on('error', (error: Error) => {
    lastError = error.message;
  });
  try {
    const key = `sentinel-auth-${Date.now()}`;
    const answer = await Promise.race([
      client.set(key, 'ok').then(() => client.get(key)),
      new Promise<null>((r) => setTimeout(() => r(null), timeoutMs)),
    ]);
    return { answer, lastError };
  } finally {
    client.disconnect();
  }
}

describe('Redis Sentinel with a password', () => {
  it('uses the Redis password for the Sentinels by default (Sentinels set up with the same password)', {
    timeout: 120_000,
  }, async () => {
    const d = await startRedisSentinel({ replicas: 0, password: 'data-pw', sentinelPassword: 'data-pw' });
    started.push(d);
    expect((await roundTrip(d.url, { password: 'data-pw' })).answer).toBe('ok');
    // In the URL too (redis+sentinel://:password@...).
    const inUrl = d.url.replace('redis+sentinel://', 'redis+sentinel://:data-pw@');
    expect((await roundTrip(inUrl, {})).answer).toBe('ok');
  });

  it('a Sentinel password of its own: REDIS_SENTINEL_PASSWORD or the option; a wrong one is refused with the reason', {
    timeout: 120_000,
  }, async () => {
    const d = await startRedisSentinel({ replicas: 0, password: 'data-pw', sentinelPassword: 'sentinel-pw' });
    started.push(d);
    expect((await roundTrip(d.url, { password: 'data-pw', sentinelPassword: 'sentinel-pw' })).answer).toBe(
      'ok',
    );
    process.env.REDIS_SENTINEL_PASSWORD = 'sentinel-pw';
    try {
      expect((await roundTrip(d.url, { password: 'data-pw' })).answer).toBe('ok');
    } finally {
      delete process.env.REDIS_SENTINEL_PASSWORD;
    }
    // The Redis password alone does not open these Sentinels: no master, and the error says why.
    let refused = { answer: null as string | null, lastError: '' };
    await waitUntil(
      'the refusal reported',
      async () => {
        refused = await roundTrip(d.url, { password: 'data-pw' }, 8_000);
        return refused.lastError !== '';
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    expect(refused.answer).toBeNull();
    expect(refused.lastError).toMatch(/sentinels are unreachable.*WRONGPASS/i);
    // ...which the replicas' log turns into what to do.
    expect(sentinelAuthHint(refused.lastError)).toMatch(/set REDIS_SENTINEL_PASSWORD/);
    expect(
      sentinelAuthHint('All sentinels are unreachable. Last error: connect ECONNREFUSED'),
    ).toBeUndefined();
  });
});
