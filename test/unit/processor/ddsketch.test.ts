import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketOf, quantile, RELATIVE_ACCURACY } from '../../../processor/src/aggregates/ddsketch.ts';

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

  it('is empty for no values', () => {
    expect(quantile(new Map(), 0.5)).toBeNull();
  });
});
