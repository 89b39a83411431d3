import { afterAll, describe, expect, inject, it } from 'vitest';
import { processStopped, waitUntil } from '../../../harness/service.ts';
import { consumerGroupOf } from '../../../processor/src/model/kafka-names.ts';
import { connectRedis } from '../../../processor/src/state/connection.ts';
import { keys, partitionPrefix } from '../../../processor/src/state/keys.ts';
import { counterValue, killScenarioProcesses, metricsOf, PARTITIONS, runScenario } from './scenario.ts';

const RECORDS = Number(process.env.KAPPAFLOW_ZOMBIE_RECORDS ?? 120_000);
/** Records flow through the whole drill, so the survivors commit to every partition while the zombie is frozen. */
const PRODUCTION_MS = 90_000;
/** The zombie freezes itself just before its 10th commit: claims taken, early in the stream. */
const FREEZE_BEFORE_COMMIT = 10;

afterAll(killScenarioProcesses);

/**
 * A zombie: a replica frozen past its consumer-group session timeout with a batch folded but not yet
 * committed, so the group moves its partitions to the others and their new owners claim them in
 * Redis. Woken (SIGCONT), it still holds its old claims and sends that commit; it must be fenced by
 * the newer epochs, and nothing may be counted twice.
 *
 * The zombie freezes itself at the `before-commit` fault point (observability/fault-points.ts). An
 * outside SIGSTOP timed by the test landed between batches on a busy machine and left nothing to
 * fence (CI, stop 23: three freezes, no fenced commit).
 */
describe('zombie replica drill', () => {
  it('fences the commits of a replica woken after its partitions moved, and counts them', {
    timeout: 900_000,
  }, async () => {
    let fenced = 0;
    const redisUrl = inject('redisUrl');
    const report = await runScenario({
      records: RECORDS,
      brokers: inject('kafkaBrokers'),
      redisUrl,
      minKills: 0,
      productionMs: PRODUCTION_MS,
      env: (slot) => (slot === 0 ? { KAPPAFLOW_FAULT: `before-commit:${FREEZE_BEFORE_COMMIT}:stop` } : {}),
      disrupt: async ({ replicas, admin, name }) => {
        const zombie = replicas.replicas[0]!;
        const redis = connectRedis(redisUrl);
        const checkpoints = async () =>
          Promise.all(
            Array.from({ length: PARTITIONS }, async (_, p) =>
              BigInt((await redis.hget(keys.checkpoint(partitionPrefix(name, 1, p)), 'offset')) ?? -1),
            ),
          );
        try {
          await waitUntil(
            'the zombie to freeze itself before a commit',
            async () => processStopped(zombie.child.pid),
            { timeoutMs: 300_000, intervalMs: 200 },
          );
          const whenFrozen = await checkpoints();
          await waitUntil(
            'the group to move the frozen replica’s partitions to the other two',
            async () => {
              const [described] = (await admin.describeGroups([consumerGroupOf(name, 1)])).groups;
              return described?.state === 'Stable' && described.members.length === 2;
            },
            { timeoutMs: 180_000, intervalMs: 1000 },
          );
          // A commit to a partition after the freeze was made by a new owner, after its claim.
          await waitUntil(
            'the other two to commit to every partition (claiming the zombie’s anew)',
            async () => (await checkpoints()).every((offset, p) => offset > whenFrozen[p]!),
            { timeoutMs: 180_000, intervalMs: 500 },
          );
        } finally {
          redis.disconnect();
          zombie.child.kill('SIGCONT');
        }
        await waitUntil(
          'the woken replica’s commit to be fenced',
          async () =>
            counterValue(await metricsOf(zombie), 'kappaflow_redis_commits_total', 'outcome="fenced"') > 0,
          { timeoutMs: 120_000, intervalMs: 500 },
        );
        fenced = counterValue(await metricsOf(zombie), 'kappaflow_redis_commits_total', 'outcome="fenced"');
      },
    });
    expect(fenced).toBeGreaterThan(0);
    console.log('[drill] zombie', JSON.stringify({ ...report, fencedCommits: fenced }));
  });
});
