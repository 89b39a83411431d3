import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketOf, quantile } from '../../../processor/src/aggregates/ddsketch.ts';
import type { AggregateShape } from '../../../processor/src/model/pipeline.ts';
import {
  Aggregates,
  exactGroupKeys,
  groupMatcher,
  groupObject,
  MAX_EXACT_GROUPS,
  mergeRollup,
  mergeRow,
  type RowSpec,
  rowSpecOf,
  valuesOf,
} from '../../../processor/src/query/merge.ts';
import { decodeCursor, parseLimit, parseTime } from '../../../processor/src/query/params.ts';
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

/**
 * One partition's queryRows row for group `g`, as queryRows-1.lua answers it: the values of the
 * spec's field heads, then a flat [bucket, n, ...] per percentile and [member, n, ...] per topK.
 */
function rowOf(
  spec: RowSpec,
  hash: Record<string, string>,
  sketches: { dd?: Record<string, string[]>; top?: Record<string, string[]> } = {},
): unknown[] {
  const { f, d, t } = JSON.parse(spec.json) as { f: string[]; d: string[]; t: string[] };
  return [
    f.map((head) => hash[`${head}${g}`] ?? null),
    ...d.map((name) => sketches.dd?.[name] ?? []),
    ...t.map((name) => sketches.top?.[name] ?? []),
  ];
}

/** Buckets of a DDSketch holding `xs`, flat as HGETALL gives them. */
const flatSketch = (xs: number[]) =>
  [...new Set(xs.map((x) => bucketOf(x)))].flatMap((b) => [
    b,
    String(xs.filter((x) => bucketOf(x) === b).length),
  ]);

describe('merging partial state of several partitions (the rows the query API reads)', () => {
  it('adds, compares and averages exactly, and first/last follow event time', () => {
    const aggregates = new Aggregates(shapes);
    const spec = rowSpecOf(shapes);
    const group = aggregates.newGroup();
    mergeRow(
      aggregates,
      spec,
      group,
      rowOf(spec, {
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
      }),
    );
    mergeRow(
      aggregates,
      spec,
      group,
      rowOf(spec, {
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
      }),
    );
    // a partition without the group adds nothing
    mergeRow(aggregates, spec, group, rowOf(spec, {}));
    expect(valuesOf(aggregates, group)).toMatchObject({
      n: 5,
      s: 3.75,
      lo: -1,
      hi: 9,
      a: 4,
      f: 'early',
      l: 'y',
    });
  });

  it('sums DDSketch buckets before taking the quantile, and topK member counts', () => {
    const aggregates = new Aggregates(shapes);
    const spec = rowSpecOf(shapes);
    const group = aggregates.newGroup();
    const left = [1, 2, 3, 4];
    const right = [100, 200, 300, 400, 500];
    mergeRow(
      aggregates,
      spec,
      group,
      rowOf(spec, {}, { dd: { p: flatSketch(left) }, top: { t: ['a', '3', 'b', '1'] } }),
    );
    mergeRow(
      aggregates,
      spec,
      group,
      rowOf(spec, {}, { dd: { p: flatSketch(right) }, top: { t: ['b', '5', 'c', '2'] } }),
    );
    const all = new Map<string, number>();
    for (const x of [...left, ...right]) all.set(bucketOf(x), (all.get(bucketOf(x)) ?? 0) + 1);
    expect(valuesOf(aggregates, group).p).toBe(quantile(all, 0.5));
    expect(Math.abs((valuesOf(aggregates, group).p as number) - 100)).toBeLessThanOrEqual(1);
    expect(valuesOf(aggregates, group).t).toEqual([
      { value: 'b', count: 6 },
      { value: 'a', count: 3 },
    ]);
  });

  it('merges rollup partials (queryRollup, Buffer replies) the same way', () => {
    const aggregates = new Aggregates(shapes);
    const group = aggregates.newGroup();
    const b = (...xs: string[]) => xs.map((x) => Buffer.from(x));
    // [groups, then one partial per aggregate in `shapes` order]
    mergeRollup(aggregates, group, [
      [],
      b('3'),
      b('1.5'),
      b('2'),
      b('9'),
      b('6', '3'),
      b('x', '200'),
      b('y', '300'),
      b(...flatSketch([1, 2])),
      b('a', '3'),
    ]);
    mergeRollup(aggregates, group, [
      [],
      b('2'),
      b('2.25'),
      b('-1'),
      b('4'),
      b('14', '2'),
      b('early', '100'),
      b('old', '250'),
      b(...flatSketch([3])),
      b('a', '1', 'c', '5'),
    ]);
    mergeRollup(aggregates, group, [[], [], [], [], [], [], [], [], [], []]);
    expect(valuesOf(aggregates, group)).toMatchObject({
      n: 5,
      s: 3.75,
      lo: -1,
      hi: 9,
      a: 4,
      f: 'early',
      l: 'y',
      t: [
        { value: 'c', count: 5 },
        { value: 'a', count: 4 },
      ],
    });
    expect(Math.abs((valuesOf(aggregates, group).p as number) - 2)).toBeLessThanOrEqual(0.05);
  });

  it('gives the answer of one partition holding everything, however the records are split (property)', () => {
    const numeric: AggregateShape[] = shapes.slice(0, 5);
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 1, maxLength: 20 }), {
          minLength: 1,
          maxLength: 6,
        }),
        (partitions) => {
          const aggregates = new Aggregates(numeric);
          const spec = rowSpecOf(numeric);
          const group = aggregates.newGroup();
          for (const xs of partitions) {
            const sum = xs.reduce((x, y) => x + y, 0);
            mergeRow(
              aggregates,
              spec,
              group,
              rowOf(spec, {
                [`n|${g}`]: String(xs.length),
                [`s|${g}`]: String(sum),
                [`lo|${g}`]: String(Math.min(...xs)),
                [`hi|${g}`]: String(Math.max(...xs)),
                [`a#s|${g}`]: String(sum),
                [`a#n|${g}`]: String(xs.length),
              }),
            );
          }
          const all = partitions.flat();
          const total = all.reduce((x, y) => x + y, 0);
          expect(valuesOf(aggregates, group)).toEqual({
            n: all.length,
            s: total,
            lo: Math.min(...all),
            hi: Math.max(...all),
            a: total / all.length,
          });
        },
      ),
    );
  });

  it('filters groups by group field', () => {
    const match = groupMatcher(['country', 'code'], new Map([['code', ['200', 'null']]]));
    expect(match('["DE",200]')).toBe(true);
    expect(match('["DE",null]')).toBe(true);
    expect(match('["DE",404]')).toBe(false);
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

  // Round trips of the cursors the store emits: test/integration/query/api.test.ts (pagination).
  it('refuses forged cursors', () => {
    const forged = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    expect(() => decodeCursor('bm90IGpzb24')).toThrow(/cursor/);
    expect(() => decodeCursor(forged({ s: 'x', g: null }))).toThrow(/cursor/);
    expect(() => decodeCursor(forged({ s: 1, g: 2 }))).toThrow(/cursor/);
    expect(decodeCursor(forged({ s: 1714564800000, g: '["DE"]' }))).toEqual({
      s: 1714564800000,
      g: '["DE"]',
    });
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
