import { expect } from 'vitest';
import { type SentinelDeployment, startRedisSentinel } from '../../harness/redis-sentinel.ts';
import { waitUntil } from '../../harness/service.ts';
import { keys, partitionPrefix } from '../../processor/src/state/keys.ts';
import { counterValue, runScenario } from '../integration/processor/scenario.ts';
import { logLines } from './log-lines.ts';
import { infoField, withNode, writeAheadOfReplicas } from './redis-cluster.ts';

/** Waits until the Sentinels name a master other than `oldPort` and that node says it is master. */
async function waitForNewMaster(sentinel: SentinelDeployment, oldPort: number): Promise<number> {
  let port = oldPort;
  await waitUntil(
    `Sentinel failover away from port ${oldPort}`,
    async () => {
      port = await sentinel.masterPort();
      return port !== oldPort && (await infoField(port, 'replication', 'role').catch(() => '')) === 'master';
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
  return port;
}

/** Waits until every node but the master is a replica with its link up. */
async function waitForReplicasLinked(sentinel: SentinelDeployment): Promise<void> {
  await waitUntil(
    'every replica linked to the Sentinel-named master',
    async () => {
      const master = await sentinel.masterPort();
      for (const node of sentinel.nodes) {
        if (node.port === master) continue;
        if ((await infoField(node.port, 'replication', 'master_port').catch(() => '')) !== String(master))
          return false;
        if ((await infoField(node.port, 'replication', 'master_link_status').catch(() => '')) !== 'up')
          return false;
      }
      return true;
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
}

const indexOf = (sentinel: SentinelDeployment, port: number) =>
  sentinel.nodes.findIndex((n) => n.port === port);

/** SIGKILLs the master; the Sentinels promote a replica; the old master comes back as its replica. */
export async function killSentinelMaster(sentinel: SentinelDeployment): Promise<void> {
  const old = await sentinel.masterPort();
  await sentinel.stopNode(indexOf(sentinel, old), { kill: true });
  await waitForNewMaster(sentinel, old);
  await sentinel.startNode(indexOf(sentinel, old));
  await waitForReplicasLinked(sentinel);
}

/**
 * A failover that really loses acknowledged writes: every replica is frozen (SIGSTOP) and its link
 * cut, the master keeps acknowledging commits until `checkpointKey` has moved, then the master is
 * frozen and one replica woken: the Sentinels find the master down and promote the only replica
 * that answers. The old master is killed and comes back as a replica (its extra writes discarded).
 */
export async function lossySentinelFailover(
  sentinel: SentinelDeployment,
  checkpointKey: string,
  writeMs = 3000,
): Promise<{ acknowledged: string | null; kept: string | null }> {
  const masterPort = await sentinel.masterPort();
  const master = sentinel.nodes[indexOf(sentinel, masterPort)]!;
  const replicas = sentinel.nodes.filter((n) => n !== master);
  for (const r of replicas) r.process.child.kill('SIGSTOP');
  let acknowledged: string | null = null;
  let kept: string | null = null;
  try {
    acknowledged = await writeAheadOfReplicas(master.port, checkpointKey, writeMs);
    master.process.child.kill('SIGSTOP');
    replicas[0]!.process.child.kill('SIGCONT');
    await new Promise((r) => setTimeout(r, 500));
    kept = await withNode(replicas[0]!.port, (c) => c.hget(checkpointKey, 'offset'));
    await waitForNewMaster(sentinel, master.port);
  } finally {
    for (const r of replicas) r.process.child.kill('SIGCONT');
    master.process.child.kill('SIGCONT');
  }
  await sentinel.stopNode(indexOf(sentinel, master.port), { kill: true });
  await sentinel.startNode(indexOf(sentinel, master.port));
  await waitForReplicasLinked(sentinel);
  return { acknowledged, kept };
}

/**
 * The Sentinel drill: three processor replicas on a Sentinel-watched master; one failover that
 * loses acknowledged commits, then `masterKills` SIGKILLs of the master (a replica promoted each time).
 * The aggregates must equal the ground truth (runScenario checks), and the loss must be noticed.
 */
export async function sentinelDrill(options: {
  records: number;
  brokers: string[];
  replicas: number;
  masterKills: number;
  productionMs: number;
}): Promise<void> {
  const sentinel = await startRedisSentinel({ replicas: options.replicas });
  try {
    let lossy: { acknowledged: string | null; kept: string | null } | undefined;
    let divergenceMetric = 0;
    let logDir = '';
    const report = await runScenario({
      records: options.records,
      brokers: options.brokers,
      redisUrl: sentinel.url,
      minKills: 0,
      productionMs: options.productionMs,
      disrupt: async ({ name, dir }) => {
        logDir = dir;
        // The lossy failover first, while records surely still flow (it needs a commit the replicas
        // never get); the kills after it need no traffic, and a slow one cannot starve it.
        lossy = await lossySentinelFailover(sentinel, keys.checkpoint(partitionPrefix(name, 1, 0)));
        for (let k = 0; k < options.masterKills; k++) await killSentinelMaster(sentinel);
      },
      onMetrics: (texts) => {
        for (const text of texts) divergenceMetric += counterValue(text, 'kappaflow_state_divergences_total');
      },
    });
    expect(lossy?.acknowledged).not.toBeNull();
    expect(lossy?.kept).not.toBe(lossy?.acknowledged);
    const logged = logLines(logDir, 'moved back');
    expect(logged).toBeGreaterThan(0);
    console.log(
      '[drill] redis-sentinel-failover',
      JSON.stringify({
        ...report,
        failovers: options.masterKills + 1,
        lostCheckpoint: lossy,
        divergencesLogged: logged,
        divergenceMetric,
      }),
    );
  } finally {
    await sentinel.stop();
  }
}
