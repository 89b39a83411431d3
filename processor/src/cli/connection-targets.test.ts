import { describe, expect, it } from 'vitest';
import { clusterUrl } from '../state/redis-url.ts';
import {
  brokersFor,
  DEFAULT_BROKERS,
  DEFAULT_REDIS_URL,
  kafkaSettingsFor,
  redisUrlFor,
} from './connection-targets.ts';

describe('where `kappaflow run` connects', () => {
  const spec = {
    kafka: { brokers: ['kafka-0:9092', 'kafka-1:9092'] },
    redis: { url: 'redis://redis:6379', cluster: false },
  };

  it('takes the flag or environment first, then the spec, then loopback', () => {
    expect(brokersFor('a:1, b:2', spec)).toEqual(['a:1', 'b:2']);
    expect(brokersFor(undefined, spec)).toEqual(['kafka-0:9092', 'kafka-1:9092']);
    expect(brokersFor(undefined, {})).toEqual([DEFAULT_BROKERS]);
    expect(redisUrlFor('redis://given:1', spec)).toBe('redis://given:1');
    expect(redisUrlFor(undefined, spec)).toBe('redis://redis:6379');
    expect(redisUrlFor(undefined, {})).toBe(DEFAULT_REDIS_URL);
  });

  it('reads spec.redis.cluster as the cluster scheme, keeping TLS', () => {
    const cluster = (url: string) => ({ redis: { ...spec.redis, url, cluster: true } });
    expect(redisUrlFor(undefined, cluster('redis://node:7000'))).toBe('redis-cluster://node:7000');
    expect(redisUrlFor(undefined, cluster('rediss://node:7000'))).toBe('rediss-cluster://node:7000');
    // without a url: the default address as it is (a standalone Redis that ran before stays reachable)
    expect(redisUrlFor(undefined, { redis: { cluster: true } })).toBe(DEFAULT_REDIS_URL);
    // a Sentinel URL names one master: cluster changes nothing there
    const sentinel = 'redis+sentinel://s-0:26379,s-1:26379/main';
    expect(redisUrlFor(undefined, cluster(sentinel))).toBe(sentinel);
    expect(clusterUrl(sentinel)).toBe(sentinel);
  });

  it("applies the spec's Kafka TLS and SASL only to the spec's brokers; its client id always", () => {
    const kafka = {
      brokers: ['kafka-0:9093'],
      clientId: 'orders-app',
      sasl: {
        mechanism: 'plain' as const,
        secretRef: { name: 'kafka-user', usernameKey: 'u', passwordKey: 'p' },
      },
    };
    expect(kafkaSettingsFor(undefined, { kafka })).toEqual({ kafka });
    expect(kafkaSettingsFor('127.0.0.1:9092', { kafka })).toEqual({ kafka: { clientId: 'orders-app' } });
    expect(kafkaSettingsFor('127.0.0.1:9092', { kafka: { brokers: ['k:1'] } })).toEqual({});
    expect(kafkaSettingsFor(undefined, {})).toEqual({});
  });
});
