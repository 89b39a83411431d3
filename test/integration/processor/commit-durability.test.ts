import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisDeployment, startRedis } from '../../../harness/redis.ts';
import { BatchFold } from '../../../processor/src/aggregates/fold.ts';
import { claimPartition } from '../../../processor/src/consumer/claims.ts';
import { commitBatch } from '../../../processor/src/state/commit.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';
import { groupKeyOf, keys, partitionPrefix } from '../../../processor/src/state/keys.ts';
import { topology, waitForHealthy, withNode } from '../../drills/redis-cluster.ts';

/** spec.redis.waitForReplicas: the commit and a WAIT on the partition's master, in one round trip. */
describe('commit with waitForReplicas on a Redis Cluster with replicas', () => {
  let cluster: RedisDeployment;
  let redis: RedisClient;
  beforeAll(async () => {
    cluster = await startRedis({ cluster: true, replicas: 1 });
    await waitForHealthy(
      cluster,
      cluster.nodes.map((_, i) => i),
    );
    redis = connectRedis(`redis-cluster://${cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`);
  });
  afterAll(async () => {
    redis?.disconnect();
    await cluster?.stop();
  });

  const fold = () => {
    const f = new BatchFold([{ name: 'views', kind: 'count' }]);
    f.add(f.window(0, 60_000), groupKeyOf(['/']), 1, f.prepare([undefined]));
    f.records++;
    return f;
  };

  it('reports how many replicas have the commit, and 0 when the replica cannot get it in time', async () => {
    const prefix = partitionPrefix(`durable-${randomUUID()}`, 1, 0);
    const claim = await claimPartition(redis, prefix, 1);
    const request = (first: string, next: string) => ({
      prefix,
      epoch: claim.epoch,
      firstOffset: first,
      nextOffset: next,
      watermark: 1,
      graceMs: 0,
      retentionMs: 60_000,
      fold: fold(),
      waitForReplicas: { replicas: 1, timeoutMs: 2000 },
    });
    expect(await commitBatch(redis, request('0', '1'))).toMatchObject({ status: 'applied', replicated: 1 });

    // Freeze the replica of the partition's master: the commit applies, WAIT times out with 0.
    const nodes = await topology(cluster, cluster.nodes[0]!.port);
    const masters = nodes.filter((n) => n.role === 'master');
    const owns = await Promise.all(
      masters.map((m) =>
        withNode(m.port, (c) => c.hget(keys.checkpoint(prefix), 'offset')).then(
          () => true,
          () => false,
        ),
      ),
    );
    const master = masters[owns.indexOf(true)]!;
    const replica = nodes.find((n) => n.masterId === master.id)!;
    const frozen = cluster.nodes[replica.index]!.process.child;
    frozen.kill('SIGSTOP');
    try {
      const request2 = { ...request('1', '2'), waitForReplicas: { replicas: 1, timeoutMs: 300 } };
      expect(await commitBatch(redis, request2)).toMatchObject({ status: 'applied', replicated: 0 });
    } finally {
      frozen.kill('SIGCONT');
    }
    expect(await redis.hget(keys.checkpoint(prefix), 'offset')).toBe('2');
    // Once the replica is back, the next commit's WAIT covers the earlier one too.
    expect(await commitBatch(redis, request('2', '3'))).toMatchObject({ status: 'applied', replicated: 1 });
  });
});
