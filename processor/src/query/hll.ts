import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../state/connection.ts';
import { queryCommands } from './scripts.ts';

/**
 * Distinct counts across partitions. The partials live under different hash tags (so in different
 * Redis Cluster slots), and PFCOUNT over several keys needs them in one slot: each partial's raw
 * HyperLogLog string goes to a temporary key under ONE fresh hash tag, counted together with PFCOUNT
 * (Redis merges them exactly as PFMERGE would) and deleted, inside one script call (queryDistinct)
 * for up to SLICE counts. The temporary keys also expire on their own in case the script dies.
 */
export async function countDistinct(
  redis: RedisClient,
  sets: readonly (readonly Buffer[])[],
): Promise<number[]> {
  const results = new Array<number>(sets.length).fill(0);
  const work = sets.map((parts, i) => ({ parts, i })).filter(({ parts }) => parts.length > 0);
  if (work.length === 0) return results;
  const commands = queryCommands(redis);
  // Large queries go in slices so one call stays a few MB (a dense HLL is 12 KB).
  const SLICE = 2000;
  const calls: Promise<void>[] = [];
  for (let from = 0; from < work.length; from += SLICE) {
    const slice = work.slice(from, from + SLICE);
    const args: (string | Buffer)[] = [];
    for (const { parts } of slice) args.push(String(parts.length), ...parts);
    const tag = `kf:{query-hll:${randomBytes(6).toString('hex')}}:t`;
    calls.push(
      commands.queryDistinct(tag, ...args).then((counts) => {
        slice.forEach(({ i }, k) => {
          results[i] = Number(counts[k]);
        });
      }),
    );
  }
  await Promise.all(calls);
  return results;
}
