import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addBucket,
  addMember,
  BatchFold,
  type Buckets,
  bucketCounts,
  type Members,
  memberList,
  type WindowDelta,
} from '../../../processor/src/aggregates/fold.ts';
import {
  type AggregateAcc,
  fieldHead,
  hoppingRankModes,
  KIND_NAMES,
  KINDS,
  kindOf,
} from '../../../processor/src/aggregates/kinds.ts';
import type { AggregateShape } from '../../../processor/src/model/pipeline.ts';
import { RANKABLE } from '../../../processor/src/query/merge.ts';
import { AGGREGATE_OPERATOR_NAMES } from '../../../processor/src/spec/aggregates.ts';

const group = '["g"]';

/** The partial one partition would store for `shape`, read back the way the query API reads it. */
function partialOf(shape: AggregateShape, delta: WindowDelta, acc: AggregateAcc): void {
  const kind = kindOf(shape);
  if (kind.form.type === 'fields') {
    const values = kind.form.parts.map((part) => {
      const field = `${fieldHead(shape.name, part)}${group}`;
      // first/last keep their event time in the 't' part
      const timed = delta.firsts.get(`${shape.name}|${group}`) ?? delta.lasts.get(`${shape.name}|${group}`);
      if (timed) return part === 't' ? String(timed.time) : timed.value;
      const n =
        delta.increments.get(field) ??
        delta.sums.get(field) ??
        delta.mins.get(field) ??
        delta.maxs.get(field);
      return n === undefined ? null : String(n);
    });
    kind.mergeFields!(acc, values);
  } else if (kind.form.sketch === 'dd' || kind.form.sketch === 'top') {
    const found = (kind.form.sketch === 'dd' ? delta.sketches : delta.tops).get(`${shape.name}|${group}`);
    const map = found === undefined ? undefined : bucketCounts(found);
    kind.mergeFlat!(acc, map ? [...map].flatMap(([m, n]) => [m, String(n)]) : []);
  } else {
    // HyperLogLogs merge inside Redis; here the exact distinct count stands in for it.
    const members = delta.distinct.get(`${shape.name}|${group}`);
    acc.distinct = members === undefined ? 0 : memberList(members).length;
  }
}

const shapes: AggregateShape[] = [
  { name: 'c', kind: 'count' },
  { name: 's', kind: 'sum' },
  { name: 'lo', kind: 'min' },
  { name: 'hi', kind: 'max' },
  { name: 'a', kind: 'avg' },
  { name: 'f', kind: 'first' },
  { name: 'l', kind: 'last' },
  { name: 'p', kind: 'percentile', q: 0.9, accuracy: 0.01 },
  { name: 't', kind: 'topK', k: 3 },
];

describe('the registry of aggregate kinds', () => {
  it('has one definition per spec operator', () => {
    expect([...KIND_NAMES].sort()).toEqual([...AGGREGATE_OPERATOR_NAMES].sort());
    expect([...RANKABLE].sort()).toEqual(
      ['avg', 'count', 'countDistinct', 'max', 'min', 'percentile', 'sum'].sort(),
    );
    expect(KINDS.count.output(shapes[0]!, undefined)).toBe(0);
    expect(KINDS.sum.output(shapes[1]!, undefined)).toBeNull();
  });

  it('folding records on one partition equals merging the partials of any split of them', () => {
    const record = fc.record({
      value: fc.integer({ min: 1, max: 50 }),
      time: fc.integer({ min: 0, max: 20 }),
      partition: fc.integer({ min: 0, max: 3 }),
    });
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 40 }), (records) => {
        for (const shape of shapes) {
          const kind = kindOf(shape);
          const fold = (list: typeof records) => {
            const batch = new BatchFold([shape]);
            const delta = batch.window(0, 10);
            for (const r of list) {
              const arg = kind.input === 'text' ? `v${r.value}` : r.value;
              batch.add(delta, group, r.time, batch.prepare([arg]));
            }
            return delta;
          };
          const whole: AggregateAcc = {};
          partialOf(shape, fold(records), whole);
          const merged: AggregateAcc = {};
          for (let p = 0; p < 4; p++) {
            const mine = records.filter((r) => r.partition === p);
            if (mine.length > 0) partialOf(shape, fold(mine), merged);
          }
          const expected = kind.output(shape, whole);
          const got = kind.output(shape, merged);
          if (shape.kind === 'first' || shape.kind === 'last') {
            // Ties in event time may pick another record's value: compare the winning time.
            expect(merged.t).toBe(whole.t);
          } else if (typeof expected === 'number') expect(got).toBeCloseTo(expected, 9);
          else expect(got).toEqual(expected);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('distinct members of a batch', () => {
  it('are the distinct values added, one kept without a Set (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', 'c', '', 'a|b')), (values) => {
        const slots: Members[] = [];
        for (const value of values) addMember(slots, 1, value);
        const members = slots[1];
        if (values.length === 0) {
          expect(members).toBeUndefined();
          return;
        }
        expect(new Set(memberList(members!))).toEqual(new Set(values));
        expect(memberList(members!)).toHaveLength(new Set(values).size);
        expect(typeof members === 'string').toBe(new Set(values).size === 1);
      }),
    );
  });
});

describe('DDSketch buckets of a batch', () => {
  it('count every value added, one bucket seen once kept as its name (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('p1', 'p2', 'n3', 'z')), (values) => {
        const slots: Buckets[] = [];
        for (const value of values) addBucket(slots, 1, value);
        const buckets = slots[1] as Buckets | undefined;
        if (values.length === 0) {
          expect(buckets).toBeUndefined();
          return;
        }
        const expected = new Map<string, number>();
        for (const value of values) expected.set(value, (expected.get(value) ?? 0) + 1);
        expect(bucketCounts(buckets!)).toEqual(expected);
        expect(typeof buckets === 'string').toBe(values.length === 1);
      }),
    );
  });
});

describe('hoppingRankModes', () => {
  it('keeps the ranked counts (added), sums, max and min, in spec order', () => {
    const shapes = [
      { name: 'total', kind: 'sum', field: 'v' },
      { name: 'hi', kind: 'max', field: 'v' },
      { name: 'n', kind: 'count' },
      { name: 'lo', kind: 'min', field: 'v' },
      { name: 'm', kind: 'count' },
    ] as unknown as AggregateShape[];
    expect(hoppingRankModes(shapes, ['n', 'total', 'hi', 'lo'])).toEqual([
      ['total', 'sum'],
      ['hi', 'max'],
      ['n', 'add'],
      ['lo', 'min'],
    ]);
    expect(hoppingRankModes(shapes, ['n'])).toEqual([['n', 'add']]);
    expect(hoppingRankModes(shapes, [])).toEqual([]);
  });
});
