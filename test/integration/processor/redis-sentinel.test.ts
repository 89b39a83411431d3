import { afterAll, describe, inject, it } from 'vitest';
import { sentinelDrill } from '../../drills/redis-sentinel.ts';
import { killScenarioProcesses } from './scenario.ts';

afterAll(killScenarioProcesses);

/** The CI-sized Sentinel drill (the long one is test/drills/redis-sentinel.test.ts). */
describe('Redis Sentinel failover', () => {
  it('stays exact through a master kill and a failover that loses acknowledged writes', {
    timeout: 240_000,
  }, async () => {
    await sentinelDrill({
      records: 20_000,
      brokers: inject('kafkaBrokers'),
      replicas: 1,
      masterKills: 1,
      productionMs: 50_000,
    });
  });
});
