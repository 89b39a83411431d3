import { kindOf } from '../aggregates/kinds.ts';
import type { AggregateShape } from '../model/pipeline.ts';
import type { WindowPart } from './read-context.ts';
import { queryCommands } from './scripts.ts';
import { type RankSource, type ThresholdTop, thresholdTop } from './threshold-top.ts';

/**
 * `top` from the top-N index: each part of the window (a partition's window hash or slice) keeps a
 * sorted set of its groups by its own value of each aggregate whose kind combines monotonically
 * (KindDefinition.rankIndex: counts and sums add, max and min compare), written by the fenced
 * commit (state/commands/commitBatch-1.lua, applyRanks). The exact top-k across parts comes from
 * the threshold algorithm (threshold-top.ts): O(k) entries per part for a clear ranking, deeper
 * reads when values are close. Undefined when some part has state but no index (written before
 * its pipeline kept one): the caller scans then.
 */
export async function indexedTop(
  ctx: { redis: Parameters<typeof queryCommands>[0] },
  parts: readonly WindowPart[],
  shape: AggregateShape,
  k: number,
): Promise<(ThresholdTop & { perPartition: Map<string, string[]> }) | undefined> {
  const kind = kindOf(shape);
  const bounded = kind.rankBound !== undefined;
  const combine = bounded ? 'max' : kind.rankIndex;
  if (!combine) return undefined;
  const commands = queryCommands(ctx.redis);
  let unindexed = false;
  const lists: RankSource[] = parts.map((part) => {
    const key = `${part.hash}:tot:rk:${shape.name}`;
    let checked = false;
    return {
      async read(from, count, members) {
        // Some part cannot answer: every list reads as exhausted, so the algorithm ends now.
        if (unindexed) return { entries: [], values: members.map(() => null) };
        let range: string[];
        let scores: (string | null)[];
        if (!checked) {
          // The first read also tells whether the part has an index (a script, so it is one step).
          checked = true;
          const reply = (await commands.queryRank(
            part.hash,
            shape.name,
            String(from),
            String(count),
            bounded ? `tot:rq:${shape.name}` : '',
            ...members,
          )) as [number, string[], (string | null)[]];
          if (Number(reply[0]) < 0) unindexed = true;
          [, range, scores] = reply;
        } else {
          // Later reads are plain commands: Lua would copy every entry of a deep read once more.
          const pipeline = ctx.redis.pipeline();
          if (count > 0) pipeline.zrange(key, from, from + count - 1, 'WITHSCORES');
          if (members.length > 0) pipeline.zmscore(key, ...members);
          const replies = (await pipeline.exec()) ?? [];
          for (const [error] of replies) if (error) throw error;
          range = count > 0 ? (replies[0]![1] as string[]) : [];
          scores = members.length > 0 ? (replies[replies.length - 1]![1] as (string | null)[]) : [];
        }
        const entries = [];
        for (let i = 0; i + 1 < range.length; i += 2)
          entries.push({ member: range[i]!, value: -Number(range[i + 1]) });
        return { entries, values: members.map((_, i) => (scores[i] == null ? null : -Number(scores[i]))) };
      },
    };
  });
  // An unindexed part answers empty, so the algorithm ends at once; its answer is dropped.
  const result = await thresholdTop(lists, {
    k,
    combine,
    exactSums: shape.kind === 'count',
    ...(bounded
      ? {
          resolve: (members: readonly string[], entries: readonly (number | null)[][]) =>
            unindexed
              ? Promise.resolve(members.map(() => null))
              : sketchValues(ctx, parts, shape, members, entries),
        }
      : { merge: (entries: readonly (number | null)[]) => rankedValueOf(shape, entries) }),
  });
  if (unindexed) return undefined;
  const perPartition = new Map<string, string[]>(parts.map((part) => [part.id, []]));
  for (const [member, entries] of result.entries)
    entries.forEach((x, i) => {
      if (x !== null) perPartition.get(parts[i]!.id)!.push(member);
    });
  return { ...result, perPartition };
}

/** A group's value from its parts' index entries (null: absent), merged as the scan merges the hash fields. */
export function rankedValueOf(shape: AggregateShape, entries: readonly (number | null)[]): number | null {
  const kind = kindOf(shape);
  const acc = {};
  for (const x of entries) if (x !== null) kind.mergeFields!(acc, [String(x)]);
  return kind.output(shape, acc) as number | null;
}

/**
 * The exact values of a sketch aggregate (a percentile) for `members`, merged as the scan merges
 * them: per part, one queryRows call for the members its index holds (`entries[i][p]` not null).
 */
async function sketchValues(
  ctx: { redis: Parameters<typeof queryCommands>[0] },
  parts: readonly WindowPart[],
  shape: AggregateShape,
  members: readonly string[],
  entries: readonly (number | null)[][],
): Promise<(number | null)[]> {
  const kind = kindOf(shape);
  const commands = queryCommands(ctx.redis);
  const spec = JSON.stringify({ f: [], d: [shape.name], t: [] });
  const accs = members.map(() => ({}));
  await Promise.all(
    parts.map(async (part, p) => {
      const at = members.flatMap((_, i) => (entries[i]![p] === null ? [] : [i]));
      if (at.length === 0) return;
      const rows = (await commands.queryRows(part.hash, spec, ...at.map((i) => members[i]!))) as unknown[][];
      rows.forEach((row, j) => {
        kind.mergeFlat!(accs[at[j]!]!, row[1] as string[]);
      });
    }),
  );
  return accs.map((acc) => kind.output(shape, acc) as number | null);
}
