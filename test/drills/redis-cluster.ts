import { type RedisDeployment, withRedisNode as withNode } from '../../harness/redis.ts';
import { waitUntil } from '../../harness/service.ts';

/** One node as CLUSTER NODES describes it. */
export interface ClusterNode {
  index: number;
  port: number;
  id: string;
  role: 'master' | 'replica';
  masterId: string | null;
  failed: boolean;
  slots: boolean;
}

/** The topology as seen by the node on `viewPort` (a node that is up). */
export async function topology(cluster: RedisDeployment, viewPort: number): Promise<ClusterNode[]> {
  const text = String(await withNode(viewPort, (c) => c.cluster('NODES')));
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, address, flags, master, , , , , ...slots] = line.split(' ');
      const port = Number(address!.split(':')[1]!.split('@')[0]);
      return {
        index: cluster.nodes.findIndex((n) => n.port === port),
        port,
        id: id!,
        role: flags!.includes('master') ? 'master' : 'replica',
        masterId: master === '-' ? null : master!,
        failed: flags!.includes('fail'),
        slots: slots.length > 0,
      } as ClusterNode;
    });
}

export { withNode };

/** A field of INFO <section>, or of CLUSTER INFO for the section `cluster-state`. */
export async function infoField(port: number, section: string, field: string): Promise<string | undefined> {
  const info = String(
    await withNode(port, (c) => (section === 'cluster-state' ? c.cluster('INFO') : c.info(section))),
  );
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/** Waits until every live node agrees: state ok, three masters with slots, each with a linked replica. */
export async function waitForHealthy(cluster: RedisDeployment, live: number[]): Promise<void> {
  await waitUntil(
    'Redis Cluster healthy with a linked replica per master',
    async () => {
      for (const index of live) {
        if (
          (await infoField(cluster.nodes[index]!.port, 'cluster-state', 'cluster_state').catch(() => '')) !==
          'ok'
        )
          return false;
      }
      // Every live node must see the same healthy picture: three masters, each with a linked replica.
      for (const index of live) {
        const nodes = await topology(cluster, cluster.nodes[index]!.port);
        const masters = nodes.filter((n) => n.role === 'master' && n.slots && !n.failed);
        if (masters.length !== 3) return false;
        for (const master of masters) {
          if (!nodes.some((n) => n.masterId === master.id && !n.failed)) return false;
        }
        if (nodes.some((n) => n.failed)) return false;
      }
      for (const index of live) {
        const port = cluster.nodes[index]!.port;
        if ((await infoField(port, 'replication', 'role')) !== 'slave') continue;
        if ((await infoField(port, 'replication', 'master_link_status')) !== 'up') return false;
      }
      return true;
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
}

/**
 * SIGKILLs a master and waits until its replica is promoted, then restarts it (it rejoins as the
 * new master's replica). Acknowledged writes not yet replicated are lost, unless the commit waited
 * for the replica.
 */
export async function killMaster(cluster: RedisDeployment, pick: number): Promise<void> {
  const all = cluster.nodes.map((_, i) => i);
  const nodes = await topology(cluster, cluster.nodes[0]!.port);
  const masters = nodes.filter((n) => n.role === 'master' && n.slots);
  const victim = masters[pick % masters.length]!;
  const replica = nodes.find((n) => n.masterId === victim.id)!;
  await cluster.stopNode(victim.index, { kill: true });
  await waitUntil(
    `replica on port ${replica.port} promoted`,
    async () => (await infoField(replica.port, 'replication', 'role')) === 'master',
    { timeoutMs: 120_000, intervalMs: 500 },
  );
  await cluster.startNode(victim.index);
  await waitForHealthy(cluster, all);
}

/**
 * A failover that really loses acknowledged writes: the replica is frozen (SIGSTOP) and its link
 * cut, the master keeps acknowledging commits for a while, then the master is frozen, the replica
 * woken and promoted with CLUSTER FAILOVER FORCE (TAKEOVER if no vote comes). The old master is
 * killed and restarted as a replica, so its extra writes are discarded. `checkpointKey` picks the
 * master: the one holding that partition checkpoint, which must advance while the replica is cut
 * off (so a commit is surely lost). Returns the checkpoint's offset before and after, as the master
 * had acknowledged it and as the promoted replica has it.
 */
export async function lossyFailover(
  cluster: RedisDeployment,
  checkpointKey: string,
  writeMs = 3000,
): Promise<{ acknowledged: string | null; kept: string | null }> {
  const all = cluster.nodes.map((_, i) => i);
  const nodes = await topology(cluster, cluster.nodes[0]!.port);
  const masters = nodes.filter((n) => n.role === 'master' && n.slots);
  const owners = await Promise.all(
    masters.map((m) =>
      withNode(m.port, (c) => c.hget(checkpointKey, 'offset')).then(
        () => true,
        () => false,
      ),
    ),
  );
  const master = masters[owners.indexOf(true)];
  if (!master) throw new Error(`no master answers for ${checkpointKey}`);
  const replica = nodes.find((n) => n.masterId === master.id)!;
  const replicaProcess = cluster.nodes[replica.index]!.process.child;
  const masterProcess = cluster.nodes[master.index]!.process.child;

  replicaProcess.kill('SIGSTOP');
  let acknowledged: string | null = null;
  let kept: string | null = null;
  try {
    acknowledged = await writeAheadOfReplicas(master.port, checkpointKey, writeMs);
    masterProcess.kill('SIGSTOP');
    replicaProcess.kill('SIGCONT');
    // What the replica got before the cut (it drains its socket first), read before it takes writes.
    await new Promise((r) => setTimeout(r, 500));
    kept = await withNode(replica.port, async (c) => {
      await c.call('READONLY');
      return c.hget(checkpointKey, 'offset');
    });
    await withNode(replica.port, (c) => c.cluster('FAILOVER', 'FORCE'));
    const promoted = async () => (await infoField(replica.port, 'replication', 'role')) === 'master';
    await waitUntil('forced failover', promoted, { timeoutMs: 20_000, intervalMs: 300 }).catch(async () => {
      await withNode(replica.port, (c) => c.cluster('FAILOVER', 'TAKEOVER'));
      await waitUntil('failover takeover', promoted, { timeoutMs: 30_000, intervalMs: 300 });
    });
  } finally {
    replicaProcess.kill('SIGCONT');
    masterProcess.kill('SIGCONT');
  }
  // The old master must not serve its extra writes again: kill it and let it rejoin as a replica.
  await cluster.stopNode(master.index, { kill: true });
  await cluster.startNode(master.index);
  await waitForHealthy(cluster, all);
  return { acknowledged, kept };
}

/**
 * With the master's replicas frozen: cuts their links, so what the master acknowledges next never
 * reaches them, and waits `writeMs` and until `checkpointKey` has moved. Returns the checkpoint's
 * offset the master then acknowledges.
 */
export async function writeAheadOfReplicas(
  masterPort: number,
  checkpointKey: string,
  writeMs: number,
): Promise<string | null> {
  const offset = () => withNode(masterPort, (c) => c.hget(checkpointKey, 'offset'));
  await withNode(masterPort, (c) => c.client('KILL', 'TYPE', 'replica'));
  const cutAt = await offset();
  await new Promise((r) => setTimeout(r, writeMs));
  await waitUntil('a commit the replicas will never get', async () => (await offset()) !== cutAt, {
    timeoutMs: 60_000,
    intervalMs: 200,
  });
  return offset();
}
