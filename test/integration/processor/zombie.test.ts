import { afterAll, describe, expect, inject, it } from 'vitest';
import { waitUntil } from '../../../harness/service.ts';
import { consumerGroupOf } from '../../../processor/src/model/kafka-names.ts';
import { counterValue, killScenarioProcesses, metricsOf, runScenario } from './scenario.ts';

const RECORDS = Number(process.env.KAPPAFLOW_ZOMBIE_RECORDS ?? 120_000);

afterAll(killScenarioProcesses);

/**
 * A zombie: a replica frozen (SIGSTOP) past its consumer-group session timeout, so the group moves
 * its partitions to the others and their new owners claim them in Redis. When it wakes (SIGCONT) it
 * still holds its old claims and a batch in flight; its commits must be fenced by the newer epochs,
 * and nothing may be counted twice.
 */
describe('zombie replica drill', () => {
  it('fences the commits of a replica woken after its partitions moved, and counts them', {
    timeout: 900_000,
  }, async () => {
    let fenced = 0;
    let cycles = 0;
    const report = await runScenario({
      records: RECORDS,
      brokers: inject('kafkaBrokers'),
      redisUrl: inject('redisUrl'),
      minKills: 0,
      // A burst: the replicas are still working through a backlog of large batches when the zombie
      // is frozen, so it is frozen in the middle of one (between reading and committing it). Woken
      // up, kafkajs finds the member gone at its next heartbeat, but the batch already in flight
      // goes on to its commit, which is the write that must be fenced.
      productionMs: 8000,
      disrupt: async ({ replicas, admin, name }) => {
        const group = consumerGroupOf(name, 1);
        // Usually the first freeze catches a batch in flight; a replica frozen while idle between
        // fetches may have nothing to commit, so it is frozen again (at most three times).
        while (fenced === 0 && cycles < 3) {
          cycles++;
          const zombie = replicas.replicas[0]!;
          zombie.child.kill('SIGSTOP');
          try {
            await waitUntil(
              'the group to move the frozen replica’s partitions to the other two',
              async () => {
                const [described] = (await admin.describeGroups([group])).groups;
                return described?.state === 'Stable' && described.members.length === 2;
              },
              { timeoutMs: 180_000, intervalMs: 1000 },
            );
          } finally {
            zombie.child.kill('SIGCONT');
          }
          await waitUntil(
            'the woken replica’s commits to be fenced',
            async () =>
              counterValue(await metricsOf(zombie), 'kappaflow_redis_commits_total', 'outcome="fenced"') > 0,
            { timeoutMs: 30_000, intervalMs: 500 },
          ).catch(() => {});
          fenced = counterValue(await metricsOf(zombie), 'kappaflow_redis_commits_total', 'outcome="fenced"');
        }
      },
    });
    expect(fenced).toBeGreaterThan(0);
    console.log('[drill] zombie', JSON.stringify({ ...report, freezes: cycles, fencedCommits: fenced }));
  });
});
