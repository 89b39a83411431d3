import { describe, expect, it } from 'vitest';
import { operatorConfigFrom } from '../../../processor/src/cli/operator.ts';

describe('kappaflow operator: settings from its flags (operatorConfigFrom)', () => {
  it('fills the documented defaults', () => {
    expect(operatorConfigFrom({ identity: 'me' })).toMatchObject({
      namespaces: [],
      kafkaBrokers: '127.0.0.1:9092',
      redisUrl: 'redis://127.0.0.1:6379',
      leaderElect: true,
      leaseName: 'kappaflow-operator',
      leaseDurationMs: 15_000,
      port: 8081,
      resyncMs: 60_000,
      deletionPolicy: 'retain',
      workers: 2,
      identity: 'me',
    });
  });

  it('names secrets with their default keys, and turns seconds into milliseconds', () => {
    const config = operatorConfigFrom({
      identity: 'me',
      kafkaConfigSecret: 'kafka',
      redisPasswordSecret: 'redis',
      redisPasswordSecretKey: 'pw',
      redisTlsSecret: 'redis-tls',
      leaderElect: 'false',
      scaleInterval: '3',
      workers: '0',
    });
    expect(config.kafkaConfigSecret).toEqual({ name: 'kafka', key: 'kafka.yaml' });
    expect(config.redisPasswordSecret).toEqual({ name: 'redis', key: 'pw' });
    expect(config.redisTlsSecret).toBe('redis-tls');
    expect(config.leaderElect).toBe(false);
    expect(config.scaleIntervalMs).toBe(3000);
    expect(config.workers).toBe(1);
  });

  it("the Sentinels' own password is a key of the Redis password Secret, refused without that Secret", () => {
    const config = operatorConfigFrom({
      redisPasswordSecret: 'redis',
      redisSentinelPasswordSecretKey: 'sentinel-pw',
    });
    expect(config.redisSentinelPasswordSecret).toEqual({ name: 'redis', key: 'sentinel-pw' });
    expect(operatorConfigFrom({ redisPasswordSecret: 'redis' }).redisSentinelPasswordSecret).toBeUndefined();
    expect(() => operatorConfigFrom({ redisSentinelPasswordSecretKey: 'sentinel-pw' })).toThrow(
      /REDIS_PASSWORD_SECRET too/,
    );
  });

  it('refuses a processor port that is not a port number', () => {
    expect(() => operatorConfigFrom({ processorPort: '70000' })).toThrow(/--processor-port/);
  });
});
