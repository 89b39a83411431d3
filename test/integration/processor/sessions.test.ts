import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BatchFold } from '../../../processor/src/aggregates/fold.ts';
import { claimPartition } from '../../../processor/src/consumer/claims.ts';
import type { AggregateShape } from '../../../processor/src/model/pipeline.ts';
import { commitBatch } from '../../../processor/src/state/commit.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';
import { fieldOf, groupKeyOf, keys, partitionPrefix } from '../../../processor/src/state/keys.ts';
import { redisSessionStore } from '../../../processor/src/state/sessions.ts';
import { SessionFolder } from '../../../processor/src/windows/session-folder.ts';

const GAP = 100;
const aggregates: AggregateShape[] = [
  { name: 'clicks', kind: 'count' },
  { name: 'spent', kind: 'sum' },
  { name: 'avg_spent', kind: 'avg' },
  { name: 'biggest', kind: 'max' },
  { name: 'first_page', kind: 'first' },
  { name: 'last_page', kind: 'last' },
  { name: 'pages', kind: 'countDistinct' },
  { name: 'p50', kind: 'percentile', q: 0.5 },
  { name: 'top_pages', kind: 'topK', k: 3 },
];
const kinds = Object.fromEntries(aggregates.map((a) => [a.name, a.kind]));

describe('session windows in Redis', () => {
  let redis: RedisClient;
  beforeAll(() => {
    redis = connectRedis(inject('redisUrl'));
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('merges two stored sessions that a late-arriving event bridges, for every aggregate kind', async () => {
    const prefix = partitionPrefix(`sessions-${randomUUID()}`, 1, 0);
    const claim = await claimPartition(redis, prefix, 1);
    const group = groupKeyOf(['u1']);
    let offset = 0;
    const batch = async (events: { t: number; page: string; amount: number }[], graceMs = 1_000_000) => {
      const fold = new BatchFold(aggregates);
      const stored = await redisSessionStore(redis, prefix).load(
        [group],
        Math.min(...events.map((e) => e.t)) - GAP,
      );
      const folder = new SessionFolder(GAP, graceMs, fold, stored);
      for (const e of events) {
        const prepared = fold.prepare([
          undefined,
          e.amount,
          e.amount,
          e.amount,
          e.page,
          e.page,
          e.page,
          e.amount,
          e.page,
        ]);
        expect(folder.add(group, e.t, 0, prepared)).toBe(true);
        fold.records++;
      }
      const first = String(offset);
      offset += events.length;
      return commitBatch(redis, {
        prefix,
        epoch: claim.epoch,
        firstOffset: first,
        nextOffset: String(offset),
        watermark: Math.max(...events.map((e) => e.t)),
        graceMs,
        retentionMs: 60_000,
        fold,
        sessions: { updates: folder.finish(), gapMs: GAP, kinds },
      });
    };

    await batch([
      { t: 1000, page: '/a', amount: 5 },
      { t: 1180, page: '/b', amount: 7 },
    ]);
    expect(await redis.zrange(keys.sessions(prefix, group), 0, -1, 'WITHSCORES')).toEqual([
      '1000',
      '1000',
      '1180',
      '1180',
    ]);

    // t=1090 is within the gap of both stored sessions: they merge into one starting at 1000.
    expect(await batch([{ t: 1090, page: '/a', amount: 1 }])).toMatchObject({ status: 'applied' });
    expect(await redis.zrange(keys.sessions(prefix, group), 0, -1, 'WITHSCORES')).toEqual(['1000', '1180']);
    const hash = await redis.hgetall(keys.window(prefix, 1000));
    expect(hash[fieldOf('clicks', group)]).toBe('3');
    expect(hash[fieldOf('spent', group)]).toBe('13');
    expect(hash[fieldOf('avg_spent', group, 's')]).toBe('13');
    expect(hash[fieldOf('avg_spent', group, 'n')]).toBe('3');
    expect(hash[fieldOf('biggest', group)]).toBe('7');
    expect(hash[fieldOf('first_page', group)]).toBe('/a');
    expect(hash[fieldOf('last_page', group)]).toBe('/b');
    expect(hash[`@end|${group}`]).toBe('1180');
    expect(await redis.pfcount(keys.sketch(prefix, 1000, 'hll', fieldOf('pages', group)))).toBe(2);
    const buckets = await redis.hgetall(keys.sketch(prefix, 1000, 'dd', fieldOf('p50', group)));
    expect(Object.values(buckets).reduce((a, b) => a + Number(b), 0)).toBe(3);
    expect(await redis.zscore(keys.sketch(prefix, 1000, 'top', fieldOf('top_pages', group)), '/a')).toBe('2');
    // The absorbed session left nothing behind.
    expect(await redis.exists(keys.window(prefix, 1180))).toBe(0);
    expect(await redis.exists(keys.sketch(prefix, 1180, 'hll', fieldOf('pages', group)))).toBe(0);
    expect(await redis.zrange(keys.windows(prefix), 0, -1)).toEqual(['1000']);

    // A far later event closes the merged session: its end (last event + gap) is kept for readers.
    await batch([{ t: 5000, page: '/c', amount: 1 }], 0);
    expect(await redis.hget(keys.ends(prefix), '1000')).toBe(String(1180 + GAP));
    expect(await redis.zscore(keys.open(prefix), '1000')).toBeNull();
  });
});
