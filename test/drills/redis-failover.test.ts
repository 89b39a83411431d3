import { afterAll, describe, expect, inject, it } from 'vitest';
import { startRedis } from '../../harness/redis.ts';
import { keys, partitionPrefix } from '../../processor/src/state/keys.ts';
import { counterValue, killScenarioProcesses, runScenario } from '../integration/processor/scenario.ts';
import { logLines } from './log-lines.ts';
import { killMaster, lossyFailover, waitForHealthy } from './redis-cluster.ts';

const RECORDS = Number(process.env.KAPPAFLOW_DRILL_RECORDS ?? 60_000);
const MASTER_KILLS = Number(process.env.KAPPAFLOW_DRILL_MASTER_KILLS ?? 3);

afterAll(killScenarioProcesses);

/**
 * Redis Cluster with replicas (3 masters + 3 replicas) under three processor replicas: one forced
 * failover to a replica that was cut off while its master acknowledged commits, so acknowledged
 * writes are really lost, then masters SIGKILLed so their replicas are promoted, several times.
 * The aggregates must still equal the ground truth: the owners see their checkpoints go back
 * (commit script or audit), count it, and replay the gap from Kafka.
 */
describe('Redis Cluster failover drill', () => {
  it('stays exact through master kills and a failover that loses acknowledged writes', async () => {
    const cluster = await startRedis({ cluster: true, replicas: 1 });
    const all = cluster.nodes.map((_, i) => i);
    try {
      await waitForHealthy(cluster, all);
      const url = `redis-cluster://${cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;
      let lossy: { acknowledged: string | null; kept: string | null } | undefined;
      let divergenceMetric = 0;
      let logDir = '';
      const report = await runScenario({
        records: RECORDS,
        brokers: inject('kafkaBrokers'),
        redisUrl: url,
        minKills: 0,
        productionMs: 150_000,
        disrupt: async ({ name, dir }) => {
          logDir = dir;
          // The lossy step first: it needs commits still flowing, and slow master kills on a busy
          // machine could let production end before it (the Sentinel drill's flake).
          lossy = await lossyFailover(cluster, keys.checkpoint(partitionPrefix(name, 1, 0)));
          for (let k = 0; k < MASTER_KILLS; k++) await killMaster(cluster, k);
        },
        onMetrics: (texts) => {
          for (const text of texts)
            divergenceMetric += counterValue(text, 'kappaflow_state_divergences_total');
        },
      });
      // The forced failover really lost a commit the master had acknowledged...
      expect(lossy?.acknowledged).not.toBeNull();
      expect(lossy?.kept).not.toBe(lossy?.acknowledged);
      // ...the owners noticed (logged and counted) and replayed: runScenario compared every
      // aggregate with the ground truth.
      const logged = logLines(logDir, 'moved back');
      expect(logged).toBeGreaterThan(0);
      console.log(
        '[drill] redis-cluster-failover',
        JSON.stringify({
          ...report,
          failovers: MASTER_KILLS + 1,
          lostCheckpoint: lossy,
          divergencesLogged: logged,
          divergenceMetric,
        }),
      );
    } finally {
      await cluster.stop();
    }
  });
});
