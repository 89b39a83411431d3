import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bucketOf,
  bucketValue,
  quantile,
  RELATIVE_ACCURACY,
  upperQuantile,
} from '../../../processor/src/aggregates/ddsketch.ts';

function sketch(values: number[]): Map<string, number> {
  const buckets = new Map<string, number>();
  for (const value of values) buckets.set(bucketOf(value), (buckets.get(bucketOf(value)) ?? 0) + 1);
  return buckets;
}

function exactQuantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

describe('DDSketch buckets', () => {
  it('answers any quantile within the stated relative error', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 300 }),
        fc.double({ min: 0.01, max: 0.99, noNaN: true }),
        (values, q) => {
          const expected = exactQuantile(values, q);
          const actual = quantile(sketch(values), q)!;
          expect(Math.abs(actual - expected)).toBeLessThanOrEqual(
            Math.abs(expected) * RELATIVE_ACCURACY + 1e-9,
          );
        },
      ),
    );
  });

  it('merges by adding bucket counts: the merged sketch equals the sketch of all values', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.001, max: 1e5, noNaN: true })),
        fc.array(fc.double({ min: 0.001, max: 1e5, noNaN: true })),
        (a, b) => {
          const merged = sketch(a);
          for (const [bucket, count] of sketch(b)) merged.set(bucket, (merged.get(bucket) ?? 0) + count);
          expect(merged).toEqual(sketch([...a, ...b]));
        },
      ),
    );
  });

  it('honours the accuracy a pipeline asks for (0.001 to 0.1)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 300 }),
        fc.double({ min: 0.01, max: 0.99, noNaN: true }),
        fc.constantFrom(0.001, 0.005, 0.05, 0.1),
        (values, q, accuracy) => {
          const buckets = new Map<string, number>();
          for (const v of values)
            buckets.set(bucketOf(v, accuracy), (buckets.get(bucketOf(v, accuracy)) ?? 0) + 1);
          const expected = exactQuantile(values, q);
          const actual = quantile(buckets, q, accuracy)!;
          expect(Math.abs(actual - expected)).toBeLessThanOrEqual(Math.abs(expected) * accuracy + 1e-9);
        },
      ),
    );
    // coarser sketches use fewer buckets: what the accuracy trades
    const values = Array.from({ length: 2000 }, (_, i) => 1 + i * 3.7);
    const count = (a: number) => new Set(values.map((v) => bucketOf(v, a))).size;
    expect(count(0.1)).toBeLessThan(count(0.01));
    expect(count(0.01)).toBeLessThan(count(0.001));
  });

  it('answers exactly as sorting every bucket by its value does (property)', () => {
    // the definition: every bucket's value computed, sorted by value, walked up to the rank
    const byValue = (buckets: Map<string, number>, q: number, accuracy: number) => {
      const entries = [...buckets.entries()]
        .filter(([, count]) => count > 0)
        .map(([bucket, count]) => ({ value: bucketValue(bucket, accuracy), count }))
        .sort((a, b) => a.value - b.value);
      const total = entries.reduce((sum, e) => sum + e.count, 0);
      if (total === 0) return null;
      let seen = 0;
      for (const entry of entries) {
        seen += entry.count;
        if (seen > q * (total - 1)) return entry.value;
      }
      return entries[entries.length - 1]!.value;
    };
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.oneof(
              fc.constant('z'),
              fc
                .tuple(fc.constantFrom('p', 'n'), fc.integer({ min: -3000, max: 3000 }))
                .map(([s, i]) => `${s}${i}`),
            ),
            fc.integer({ min: -2, max: 50 }),
          ),
          { maxLength: 200 },
        ),
        fc.double({ min: 0.001, max: 0.999, noNaN: true }),
        fc.constantFrom(0.001, 0.01, 0.1),
        (pairs, q, accuracy) => {
          const buckets = new Map(pairs);
          expect(quantile(buckets, q, accuracy)).toBe(byValue(buckets, q, accuracy));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("bounds the quantile of any merge of parts by the largest of the parts' upper quantiles (property)", () => {
    // Few distinct values (ties, small parts), zero and negatives, q from the spec's whole range.
    const value = fc.oneof(fc.integer({ min: -5, max: 30 }), fc.double({ min: -1e4, max: 1e4, noNaN: true }));
    fc.assert(
      fc.property(
        fc.array(fc.array(value, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 6 }),
        fc.double({ min: 0.001, max: 0.999, noNaN: true }),
        fc.constantFrom(0.001, 0.01, 0.1),
        (parts, q, accuracy) => {
          const of = (values: number[]) => {
            const buckets = new Map<string, number>();
            for (const v of values)
              buckets.set(bucketOf(v, accuracy), (buckets.get(bucketOf(v, accuracy)) ?? 0) + 1);
            return buckets;
          };
          const merged = quantile(of(parts.flat()), q, accuracy)!;
          const bounds = parts.map((values) => upperQuantile(of(values), q, accuracy)!);
          expect(merged).toBeLessThanOrEqual(Math.max(...bounds));
          // and each part's bound is at least its own quantile
          parts.forEach((values, i) => {
            expect(bounds[i]!).toBeGreaterThanOrEqual(quantile(of(values), q, accuracy)!);
          });
        },
      ),
      { numRuns: 3000 },
    );
    // The part's own quantile is not such a bound: two parts of {1, 100} have p90 1, their merge 100.
    const part = sketch([1, 100]);
    expect(quantile(part, 0.9)).toBeCloseTo(1, 1);
    expect(quantile(sketch([1, 100, 1, 100]), 0.9)).toBeCloseTo(100, -1);
    expect(upperQuantile(part, 0.9)).toBeCloseTo(100, -1);
    expect(upperQuantile(new Map(), 0.9)).toBeNull();
  });

  it('is empty for no values', () => {
    expect(quantile(new Map(), 0.5)).toBeNull();
  });
});

describe('bucket names', () => {
  it('are the sign and the index, whether the index is among the names made once or not (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer({ min: -5000, max: 5000 })),
        fc.constantFrom(0.0001, 0.001, 0.01, 0.05),
        (value, accuracy) => {
          const magnitude = Math.abs(value);
          const index = Math.ceil(Math.log(magnitude) / Math.log((1 + accuracy) / (1 - accuracy)));
          const expected = magnitude < 1e-9 ? 'z' : `${value < 0 ? 'n' : 'p'}${index}`;
          expect(bucketOf(value, accuracy)).toBe(expected);
          expect(bucketOf(value, accuracy)).toBe(expected);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
