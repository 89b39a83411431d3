import { afterAll, describe, inject, it } from 'vitest';
import { killScenarioProcesses } from '../integration/processor/scenario.ts';
import { sentinelDrill } from './redis-sentinel.ts';

afterAll(killScenarioProcesses);

describe('Redis Sentinel failover drill', () => {
  it('stays exact through master kills and a failover that loses acknowledged writes (2 replicas)', async () => {
    await sentinelDrill({
      records: Number(process.env.KAPPAFLOW_DRILL_RECORDS ?? 60_000),
      brokers: inject('kafkaBrokers'),
      replicas: 2,
      masterKills: Number(process.env.KAPPAFLOW_DRILL_MASTER_KILLS ?? 3),
      productionMs: 150_000,
    });
  });
});
