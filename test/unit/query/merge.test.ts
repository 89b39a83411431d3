import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketOf, quantile } from '../../../processor/src/aggregates/ddsketch.ts';
import type { AggregateShape } from '../../../processor/src/model/pipeline.ts';
import {
  Aggregates,
  exactGroupKeys,
  type GroupAcc,
  groupMatcher,
  groupObject,
  MAX_EXACT_GROUPS,
  mergeBuckets,
  mergeHash,
  mergeMembers,
  valuesOf,
} from '../../../processor/src/query/merge.ts';
import { decodeCursor, encodeCursor, parseLimit, parseTime } from '../../../processor/src/query/params.ts';
import { groupKeyOf } from '../../../processor/src/state/keys.ts';

const shapes: AggregateShape[] = [
  { name: 'n', kind: 'count' },
  { name: 's', kind: 'sum' },
  { name: 'lo', kind: 'min' },
  { name: 'hi', kind: 'max' },
  { name: 'a', kind: 'avg' },
  { name: 'f', kind: 'first' },
  { name: 'l', kind: 'last' },
  { name: 'p', kind: 'percentile', q: 0.5 },
  { name: 't', kind: 'topK', k: 2 },
];
const g = '["DE"]';

describe('merging partial state of several partitions', () => {
  it('adds, compares and averages exactly, and first/last follow event time', () => {
    const aggregates = new Aggregates(shapes);
    const groups = new Map<string, GroupAcc>();
    const same = (x: string) => x;
    mergeHash(
      aggregates,
      groups,
      {
        [`n|${g}`]: '3',
        [`s|${g}`]: '1.5',
        [`lo|${g}`]: '2',
        [`hi|${g}`]: '9',
        [`a#s|${g}`]: '6',
        [`a#n|${g}`]: '3',
        [`f|${g}`]: 'x',
        [`f#t|${g}`]: '200',
        [`l|${g}`]: 'y',
        [`l#t|${g}`]: '300',
      },
      same,
    );
    mergeHash(
      aggregates,
      groups,
      {
        [`n|${g}`]: '2',
        [`s|${g}`]: '2.25',
        [`lo|${g}`]: '-1',
        [`hi|${g}`]: '4',
        [`a#s|${g}`]: '14',
        [`a#n|${g}`]: '2',
        [`f|${g}`]: 'early',
        [`f#t|${g}`]: '100',
        [`l|${g}`]: 'old',
        [`l#t|${g}`]: '250',
      },
      same,
    );
    const values = valuesOf(aggregates, groups.get(g));
    expect(values).toMatchObject({ n: 5, s: 3.75, lo: -1, hi: 9, a: 4, f: 'early', l: 'y' });
  });

  it('sums DDSketch buckets before taking the quantile, and topK member counts', () => {
    const aggregates = new Aggregates(shapes);
    const groups = new Map<string, GroupAcc>([[g, aggregates.newGroup()]]);
    const acc = groups.get(g)!;
    const left = [1, 2, 3, 4];
    const right = [100, 200, 300, 400, 500];
    const sketch = (xs: number[]) =>
      Object.fromEntries(
        [...new Set(xs.map((x) => bucketOf(x)))].map((b) => [
          b,
          String(xs.filter((x) => bucketOf(x) === b).length),
        ]),
      );
    mergeBuckets(acc[7]!, sketch(left));
    mergeBuckets(acc[7]!, sketch(right));
    const all = new Map<string, number>();
    for (const x of [...left, ...right]) all.set(bucketOf(x), (all.get(bucketOf(x)) ?? 0) + 1);
    expect(valuesOf(aggregates, acc).p).toBe(quantile(all, 0.5));
    expect(Math.abs((valuesOf(aggregates, acc).p as number) - 100)).toBeLessThanOrEqual(1);
    mergeMembers(acc[8]!, ['a', '3', 'b', '1']);
    mergeMembers(acc[8]!, ['b', '5', 'c', '2']);
    expect(valuesOf(aggregates, acc).t).toEqual([
      { value: 'b', count: 6 },
      { value: 'a', count: 3 },
    ]);
  });

  it('rolls groups up and filters them by group field', () => {
    const aggregates = new Aggregates(shapes);
    const groups = new Map<string, GroupAcc>();
    const match = groupMatcher(['country', 'code'], new Map([['code', ['200', 'null']]]));
    expect(match('["DE",200]')).toBe(true);
    expect(match('["DE",null]')).toBe(true);
    expect(match('["DE",404]')).toBe(false);
    mergeHash(aggregates, groups, { 'n|["DE",200]': '1', 'n|["FR",200]': '2', 'n|["FR",404]': '4' }, (x) =>
      match(x) ? '*' : null,
    );
    expect(valuesOf(aggregates, groups.get('*')).n).toBe(3);
    expect(groupObject(['country', 'code'], '["DE",200]')).toEqual({ country: 'DE', code: 200 });
  });
});

describe('query parameters', () => {
  it('takes epoch ms and ISO-8601 and refuses the rest', () => {
    expect(parseTime('from', '1714564800000')).toBe(1714564800000);
    expect(parseTime('from', '2024-05-01T12:00:00Z')).toBe(Date.UTC(2024, 4, 1, 12));
    expect(parseTime('from', '2024-05-01T14:00:00+02:00')).toBe(Date.UTC(2024, 4, 1, 12));
    expect(parseTime('from', undefined)).toBeUndefined();
    for (const bad of ['tomorrow', '2024-13-01T00:00:00Z', '1e3', '', '99999999999999999999']) {
      expect(() => parseTime('from', bad)).toThrow(/from/);
    }
    expect(() => parseLimit('0', 10, 100)).toThrow();
    expect(() => parseLimit('101', 10, 100)).toThrow();
    expect(parseLimit(undefined, 10, 100)).toBe(10);
  });

  it('round-trips cursors and refuses forged ones', () => {
    const c = { s: 1714564800000, g: '["DE"]' };
    expect(decodeCursor(encodeCursor(c))).toEqual(c);
    expect(() => decodeCursor('bm90IGpzb24')).toThrow(/cursor/);
    expect(() => decodeCursor(encodeCursor({ s: 'x', g: null } as never))).toThrow(/cursor/);
  });
});

describe('exactGroupKeys', () => {
  it('lists the group keys a filter on every dimension can match, as the processor writes them', () => {
    const filters = new Map([
      ['country', ['DE', 'FR']],
      ['page', ['/a']],
    ]);
    expect(exactGroupKeys(['country', 'page'], filters)).toEqual([
      groupKeyOf(['DE', '/a']),
      groupKeyOf(['FR', '/a']),
    ]);
    expect(exactGroupKeys(['page'], new Map([['page', ['x', 'x']]]))).toEqual([groupKeyOf(['x'])]);
  });

  it('leaves the scan to queries with an unfiltered dimension or too many combinations', () => {
    expect(exactGroupKeys(['country', 'page'], new Map([['country', ['DE']]]))).toBeUndefined();
    expect(exactGroupKeys([], new Map())).toBeUndefined();
    const many = Array.from({ length: MAX_EXACT_GROUPS + 1 }, (_, i) => `k${i}`);
    expect(exactGroupKeys(['k'], new Map([['k', many]]))).toBeUndefined();
  });

  it('agrees with groupMatcher: every listed key matches, and matching keys are listed (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.constantFrom('a', 'b', 'null', '1', 'é"'), { minLength: 1, maxLength: 3 }), {
          minLength: 1,
          maxLength: 3,
        }),
        fc.array(fc.constantFrom('a', 'b', 'null', '1', 'é"', 'c'), { minLength: 1, maxLength: 3 }),
        (values, group) => {
          const names = values.map((_, i) => `g${i}`);
          const filters = new Map(values.map((v, i) => [names[i]!, v]));
          const keys = exactGroupKeys(names, filters)!;
          const matches = groupMatcher(names, filters);
          for (const k of keys) expect(matches(k)).toBe(true);
          const candidate = groupKeyOf(names.map((_, i) => group[i % group.length]));
          expect(keys.includes(candidate)).toBe(matches(candidate));
        },
      ),
    );
  });
});
