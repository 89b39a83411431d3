// The threshold algorithm of the top-N index (query/threshold-top.ts) must return exactly what
// ranking every member does, ties included (value descending, then key in code-unit order), for
// random lists: members in several lists or one, few distinct values (many ties), negative values,
// keys whose byte order and code-unit order differ.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketOf, quantile, upperQuantile } from '../../../processor/src/aggregates/ddsketch.ts';
import { KINDS } from '../../../processor/src/aggregates/kinds.ts';
import type { AggregateShape } from '../../../processor/src/model/pipeline.ts';
import {
  type Combine,
  type RankedEntry,
  type RankSource,
  rankOrder,
  thresholdTop,
} from '../../../processor/src/query/threshold-top.ts';
import { rankedValueOf } from '../../../processor/src/query/top-index.ts';

const byteOrder = (a: RankedEntry, b: RankedEntry) =>
  b.value - a.value || Buffer.compare(Buffer.from(a.member), Buffer.from(b.member));

/** In-memory lists in the index's order (largest first, ties in byte order), counting reads. */
function sourcesOf(lists: Map<string, number>[]): { sources: RankSource[]; read: () => number } {
  let read = 0;
  const sorted = lists.map((list) => [...list].map(([member, value]) => ({ member, value })).sort(byteOrder));
  return {
    sources: sorted.map((entries, i) => ({
      async read(from, count, members) {
        read += count;
        return {
          entries: entries.slice(from, from + count),
          values: members.map((m) => lists[i]!.get(m) ?? null),
        };
      },
    })),
    read: () => read,
  };
}

const kindFor: Record<Combine, AggregateShape> = {
  sum: { name: 'x', kind: 'sum' },
  max: { name: 'x', kind: 'max' },
  min: { name: 'x', kind: 'min' },
};

/** A member's value as the scan merges it: the kind's merge over its entries in list order. */
const mergedValue = rankedValueOf;

// Keys with characters whose UTF-8 byte order and UTF-16 order disagree (U+FFFD vs U+1F600).
const keys = ['a', 'b', 'ab', 'b0', '["DE"]', '["FR"]', 'z', '\uFFFD', '\u{1F600}', 'é', 'aa', 'c'];

const scenario = fc.record({
  combine: fc.constantFrom<Combine>('sum', 'max', 'min'),
  count: fc.boolean(),
  k: fc.integer({ min: 1, max: 8 }),
  lists: fc.integer({ min: 1, max: 6 }),
  members: fc.uniqueArray(fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 3 })), {
    minLength: 0,
    maxLength: 40,
  }),
  seed: fc.integer(),
  spread: fc.constantFrom(2, 5, 1000),
  negative: fc.boolean(),
});

function build(s: ScenarioValue) {
  let state = s.seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const counting = s.combine === 'sum' && s.count;
  const lists = Array.from({ length: s.lists }, () => new Map<string, number>());
  for (const member of s.members) {
    // in one list or several, never in none
    const home = Math.floor(next() * s.lists);
    lists.forEach((list, i) => {
      if (i !== home && next() < 0.5) return;
      const whole = 1 + Math.floor(next() * s.spread);
      const value = counting
        ? whole
        : s.negative
          ? whole - s.spread / 2
          : s.spread > 5
            ? whole + next() / 3
            : whole;
      list.set(member, value);
    });
  }
  return { lists, shape: counting ? ({ name: 'x', kind: 'count' } as AggregateShape) : kindFor[s.combine] };
}
type ScenarioValue = {
  combine: Combine;
  count: boolean;
  k: number;
  lists: number;
  members: string[];
  seed: number;
  spread: number;
  negative: boolean;
};

describe('threshold algorithm (top-N index)', () => {
  it('returns the exact top-k of ranking every member, ties and all (property)', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const { lists, shape } = build(s);
        const all = new Set(lists.flatMap((l) => [...l.keys()]));
        const expected = [...all]
          .map((member) => ({
            member,
            value: mergedValue(
              shape,
              lists.map((l) => l.get(member) ?? null),
            )!,
          }))
          .sort(rankOrder)
          .slice(0, s.k);
        const { sources } = sourcesOf(lists);
        const got = await thresholdTop(sources, {
          k: s.k,
          combine: KINDS[shape.kind].rankIndex!,
          exactSums: shape.kind === 'count',
          merge: (entries) => mergedValue(shape, entries),
        });
        expect(got.top).toEqual(expected);
        for (const e of got.top)
          expect(got.entries.get(e.member)).toEqual(lists.map((l) => l.get(e.member) ?? null));
      }),
      { numRuns: 2000 },
    );
  }, 60_000);

  it('returns the exact top-k by a percentile from lists of upper bounds, resolving candidates (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          k: fc.integer({ min: 1, max: 8 }),
          lists: fc.integer({ min: 1, max: 5 }),
          members: fc.uniqueArray(fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 3 })), {
            maxLength: 40,
          }),
          seed: fc.integer(),
          spread: fc.constantFrom(3, 50, 100_000),
          q: fc.constantFrom(0.5, 0.9, 0.99),
        }),
        async ({ k, lists: n, members, seed, spread, q }) => {
          let state = seed >>> 0;
          const next = () => {
            state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
            return state / 2 ** 32;
          };
          // per list, each member's sketch there (bucket -> count); in one list or several
          const sketches = Array.from({ length: n }, () => new Map<string, Map<string, number>>());
          for (const member of members) {
            const home = Math.floor(next() * n);
            sketches.forEach((list, i) => {
              if (i !== home && next() < 0.5) return;
              const buckets = new Map<string, number>();
              for (let j = Math.floor(next() * 6); j >= 0; j--) {
                const bucket = bucketOf(Math.floor(next() * spread) - spread / 10);
                buckets.set(bucket, (buckets.get(bucket) ?? 0) + 1);
              }
              list.set(member, buckets);
            });
          }
          const mergedOf = (member: string) => {
            const all = new Map<string, number>();
            for (const list of sketches)
              for (const [b, c] of list.get(member) ?? []) all.set(b, (all.get(b) ?? 0) + c);
            return quantile(all, q)!;
          };
          const expected = members
            .map((member) => ({ member, value: mergedOf(member) }))
            .sort(rankOrder)
            .slice(0, k);
          const bounds = sketches.map(
            (list) => new Map([...list].map(([m, buckets]) => [m, upperQuantile(buckets, q)!])),
          );
          const { sources } = sourcesOf(bounds);
          let resolved = 0;
          const got = await thresholdTop(sources, {
            k,
            combine: 'max',
            exactSums: false,
            resolve: async (asked, entries) => {
              resolved += asked.length;
              asked.forEach((m, i) => {
                expect(entries[i]).toEqual(bounds.map((b) => b.get(m) ?? null));
              });
              return asked.map(mergedOf);
            },
          });
          expect(got.top).toEqual(expected);
          expect(resolved).toBeLessThanOrEqual(members.length);
        },
      ),
      { numRuns: 1500 },
    );
  }, 60_000);

  it('reads O(k) entries of each list when the ranking is clear or all values tie', async () => {
    const members = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
    // every member once in each of 3 lists with count 1: all tie, ranked by key
    const ties = [0, 1, 2].map(() => new Map(members.map((m) => [m, 1])));
    const tied = sourcesOf(ties);
    const count: AggregateShape = { name: 'n', kind: 'count' };
    const got = await thresholdTop(tied.sources, {
      k: 10,
      combine: 'sum',
      exactSums: true,
      merge: (entries) => mergedValue(count, entries),
    });
    expect(got.top.map((e) => e.member)).toEqual([...members].sort().slice(0, 10));
    expect(got.top.every((e) => e.value === 3)).toBe(true);
    expect(tied.read()).toBe(30);
    // a clear ranking: member i has value i in every list
    const clear = sourcesOf([0, 1, 2].map(() => new Map(members.map((m, i) => [m, i]))));
    const top = await thresholdTop(clear.sources, {
      k: 10,
      combine: 'sum',
      exactSums: true,
      merge: (entries) => mergedValue(count, entries),
    });
    expect(top.top.map((e) => e.value)).toEqual(Array.from({ length: 10 }, (_, i) => 3 * (9_999 - i)));
    expect(clear.read()).toBeLessThanOrEqual(3 * 40);
  });
});
