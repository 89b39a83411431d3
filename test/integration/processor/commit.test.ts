import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RedisDeployment, startRedis } from '../../../harness/redis.ts';
import { BatchFold } from '../../../processor/src/aggregates/fold.ts';
import { claimPartition } from '../../../processor/src/consumer/claims.ts';
import type { AggregateShape } from '../../../processor/src/model/pipeline.ts';
import { commitBatch } from '../../../processor/src/state/commit.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';
import { fieldOf, groupKeyOf, keys, partitionPrefix } from '../../../processor/src/state/keys.ts';

const aggregates: AggregateShape[] = [
  { name: 'views', kind: 'count' },
  { name: 'bytes', kind: 'sum' },
  { name: 'slowest', kind: 'max' },
  { name: 'fastest', kind: 'min' },
  { name: 'first_page', kind: 'first' },
  { name: 'visitors', kind: 'countDistinct' },
];

function foldOf(records: { time: number; bytes: number; page: string; user: string }[], windowStart = 0) {
  const fold = new BatchFold(aggregates);
  for (const r of records) {
    const prepared = fold.prepare([undefined, r.bytes, r.bytes, r.bytes, r.page, r.user]);
    fold.add(fold.window(windowStart, windowStart + 60_000), groupKeyOf(['home']), r.time, prepared);
    fold.records++;
  }
  return fold;
}

function suite(name: string, connect: () => RedisClient) {
  describe(`atomic batch commit on ${name}`, () => {
    let redis: RedisClient;
    beforeAll(() => {
      redis = connect();
    });
    afterAll(async () => {
      await redis.quit();
    });

    const commit = (
      prefix: string,
      epoch: number,
      first: string,
      next: string,
      fold: BatchFold,
      watermark = 1000,
      windowSizeMs?: number,
    ) =>
      commitBatch(redis, {
        prefix,
        epoch,
        firstOffset: first,
        nextOffset: next,
        watermark,
        graceMs: 0,
        retentionMs: 60_000,
        ...(windowSizeMs === undefined ? {} : { windowSizeMs }),
        fold,
      });

    it('applies deltas and the checkpoint together, and refuses to apply a batch twice', async () => {
      const prefix = partitionPrefix(`commit-${randomUUID()}`, 1, 0);
      const claim = await claimPartition(redis, prefix, 1);
      expect(claim.nextOffset).toBeNull();
      const fold = foldOf([
        { time: 10, bytes: 5, page: '/a', user: 'u1' },
        { time: 5, bytes: 7, page: '/b', user: 'u2' },
        { time: 20, bytes: 1, page: '/c', user: 'u1' },
      ]);
      expect(await commit(prefix, claim.epoch, '0', '3', fold)).toEqual({
        status: 'applied',
        closedWindows: [],
      });
      const hash = await redis.hgetall(keys.window(prefix, 0));
      const g = groupKeyOf(['home']);
      expect(hash[fieldOf('views', g)]).toBe('3');
      expect(hash[fieldOf('bytes', g)]).toBe('13');
      expect(hash[fieldOf('slowest', g)]).toBe('7');
      expect(hash[fieldOf('fastest', g)]).toBe('1');
      expect(hash[fieldOf('first_page', g)]).toBe('/b');
      expect(await redis.pfcount(keys.sketch(prefix, 0, 'hll', fieldOf('visitors', g)))).toBe(2);
      expect(await redis.hget(keys.checkpoint(prefix), 'offset')).toBe('3');

      // The same batch again (a replay after a crash between commit and Kafka offset commit).
      expect(await commit(prefix, claim.epoch, '0', '3', fold)).toEqual({
        status: 'duplicate',
        storedOffset: '3',
      });
      expect(await redis.hget(keys.window(prefix, 0), fieldOf('views', g))).toBe('3');
    });

    it('refuses a batch when the checkpoint is not where the owner left it (Redis lost writes)', async () => {
      const prefix = partitionPrefix(`diverged-${randomUUID()}`, 1, 1);
      const claim = await claimPartition(redis, prefix, 1);
      const one = foldOf([{ time: 1, bytes: 1, page: '/', user: 'x' }]);
      const request = (first: string, next: string, expectedOffset: string | null) => ({
        prefix,
        epoch: claim.epoch,
        expectedOffset,
        firstOffset: first,
        nextOffset: next,
        watermark: 1000,
        graceMs: 0,
        retentionMs: 60_000,
        fold: one,
      });
      expect(await commitBatch(redis, request('0', '10', null))).toMatchObject({ status: 'applied' });
      expect(await commitBatch(redis, request('10', '20', '10'))).toMatchObject({ status: 'applied' });
      // A failover to a replica without the second commit: the checkpoint is back at 10.
      await redis.hset(keys.checkpoint(prefix), 'offset', '10');
      expect(await commitBatch(redis, request('20', '30', '20'))).toEqual({
        status: 'diverged',
        storedOffset: '10',
      });
      expect(await redis.hget(keys.checkpoint(prefix), 'offset')).toBe('10');
      // An owner that saw no checkpoint, where one appeared, is refused too.
      expect(await commitBatch(redis, request('30', '40', null))).toEqual({
        status: 'diverged',
        storedOffset: '10',
      });
      expect(await redis.hget(keys.window(prefix, 0), fieldOf('views', groupKeyOf(['home'])))).toBe('2');
    });

    it('refuses a batch as diverged when the owner epoch went back (Redis lost the claim itself)', async () => {
      const prefix = partitionPrefix(`lost-claim-${randomUUID()}`, 1, 5);
      const before = await claimPartition(redis, prefix, 1);
      const fold = foldOf([{ time: 1, bytes: 1, page: '/', user: 'x' }]);
      expect(await commit(prefix, before.epoch, '0', '1', fold)).toMatchObject({ status: 'applied' });
      const owner = await claimPartition(redis, prefix, 1);
      // A failover to a replica that never got the second claim: the stored epoch is the old one.
      await redis.hset(keys.checkpoint(prefix), 'epoch', String(before.epoch));
      expect(await commit(prefix, owner.epoch, '1', '2', fold)).toEqual({
        status: 'diverged',
        storedOffset: '1',
      });
      expect(await redis.hget(keys.window(prefix, 0), fieldOf('views', groupKeyOf(['home'])))).toBe('1');
      // Claiming again moves past every epoch Redis still knows, and writes go on.
      const again = await claimPartition(redis, prefix, 1);
      expect(await commit(prefix, again.epoch, '1', '2', fold)).toMatchObject({ status: 'applied' });
    });

    it('fences a zombie: once a new owner claims the partition, the old epoch cannot write', async () => {
      const prefix = partitionPrefix(`fence-${randomUUID()}`, 1, 4);
      const zombie = await claimPartition(redis, prefix, 1);
      const owner = await claimPartition(redis, prefix, 1);
      expect(owner.epoch).toBe(zombie.epoch + 1);
      const fold = foldOf([{ time: 1, bytes: 1, page: '/', user: 'x' }]);
      expect(await commit(prefix, zombie.epoch, '0', '1', fold)).toEqual({
        status: 'fenced',
        storedEpoch: owner.epoch,
      });
      expect(await redis.exists(keys.window(prefix, 0))).toBe(0);
      expect(await commit(prefix, owner.epoch, '0', '1', fold)).toMatchObject({ status: 'applied' });
    });

    it('closes windows the watermark passed and gives them the retention TTL', async () => {
      const prefix = partitionPrefix(`close-${randomUUID()}`, 1, 2);
      const claim = await claimPartition(redis, prefix, 1);
      await commit(prefix, claim.epoch, '0', '1', foldOf([{ time: 1, bytes: 1, page: '/', user: 'x' }]), 1);
      expect(await redis.pttl(keys.window(prefix, 0))).toBe(-1);
      const later = foldOf([{ time: 70_000, bytes: 1, page: '/', user: 'x' }], 60_000);
      expect(await commit(prefix, claim.epoch, '1', '2', later, 70_000)).toEqual({
        status: 'applied',
        closedWindows: [0],
      });
      const ttl = await redis.pttl(keys.window(prefix, 0));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
      expect(
        await redis.pttl(keys.sketch(prefix, 0, 'hll', fieldOf('visitors', groupKeyOf(['home'])))),
      ).toBeGreaterThan(0);
      expect(await redis.pttl(keys.window(prefix, 60_000))).toBe(-1);
    });

    it('keeps a window in the index for the retention after its end, not its start (spec.retention)', async () => {
      // retention 60 s = size + grace, the least the spec allows: the window must stay listed once closed
      const prefix = partitionPrefix(`retain-${randomUUID()}`, 1, 3);
      const claim = await claimPartition(redis, prefix, 1);
      const row = (time: number) => [{ time, bytes: 1, page: '/', user: 'x' }];
      await commit(prefix, claim.epoch, '0', '1', foldOf(row(1)), 1, 60_000);
      const listed = async () => (await redis.zrange(keys.windows(prefix), 0, -1)).map(Number);
      // closes window 0 (end 60 s) at watermark 70 s: 70 s is past start + retention, not end + retention
      expect(
        await commit(prefix, claim.epoch, '1', '2', foldOf(row(70_000), 60_000), 70_000, 60_000),
      ).toEqual({
        status: 'applied',
        closedWindows: [0],
      });
      expect(await listed()).toEqual([0, 60_000]);
      await commit(prefix, claim.epoch, '2', '3', foldOf(row(119_000), 60_000), 119_000, 60_000);
      expect(await listed()).toEqual([0, 60_000]);
      // past end + retention (120 s): it goes
      await commit(prefix, claim.epoch, '3', '4', foldOf(row(120_001), 120_000), 120_001, 60_000);
      expect(await listed()).toEqual([60_000, 120_000]);
    });
  });
}

suite('a single Redis', () => connectRedis(inject('redisUrl')));

let cluster: RedisDeployment;
beforeAll(async () => {
  cluster = await startRedis({ cluster: true });
});
afterAll(async () => {
  await cluster?.stop();
});
suite('a three-node Redis Cluster', () =>
  connectRedis(`redis-cluster://${cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`));
