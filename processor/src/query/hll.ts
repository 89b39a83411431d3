import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../state/connection.ts';

/**
 * Distinct counts across partitions. The partials live under different hash tags (so in different
 * Redis Cluster slots), and PFCOUNT over several keys needs them in one slot: each partial's raw
 * HyperLogLog string is copied to a temporary key under ONE fresh hash tag, counted together with
 * PFCOUNT (Redis merges them exactly as PFMERGE would) and deleted, all in a single pipelined round
 * trip for every distinct count of the query. The temporary keys also expire on their own in case
 * the query dies halfway.
 */
export async function countDistinct(
  redis: RedisClient,
  sets: readonly (readonly Buffer[])[],
): Promise<number[]> {
  const results = new Array<number>(sets.length).fill(0);
  const work = sets.map((parts, i) => ({ parts, i })).filter(({ parts }) => parts.length > 0);
  if (work.length === 0) return results;
  const tag = `kf:{query-hll:${randomBytes(6).toString('hex')}}`;
  // Large queries go in slices so one pipeline stays a few MB (a dense HLL is 12 KB).
  const SLICE = 2000;
  for (let from = 0; from < work.length; from += SLICE) {
    const slice = work.slice(from, from + SLICE);
    const pipeline = redis.pipeline();
    const pfcountAt: number[] = [];
    let n = 0;
    for (const { parts, i } of slice) {
      const names = parts.map((_, j) => `${tag}:${i}:${j}`);
      parts.forEach((raw, j) => {
        pipeline.set(names[j]!, raw, 'PX', 60_000);
        n++;
      });
      pipeline.pfcount(...(names as [string, ...string[]]));
      pfcountAt.push(n++);
      pipeline.del(...(names as [string, ...string[]]));
      n++;
    }
    const replies = (await pipeline.exec()) ?? [];
    slice.forEach(({ i }, k) => {
      const [error, count] = replies[pfcountAt[k]!] ?? [new Error('no reply')];
      if (error) throw error;
      results[i] = Number(count);
    });
  }
  return results;
}
