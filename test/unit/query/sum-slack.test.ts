// The slack of a hopping window's ranked sum (query/global-top.ts): the scan merges a group's parts
// in its own order, the commit script in the order batches came; their float sums may differ, and
// `top` relies on the bound to never miss a group. Checked here against sums in shuffled orders.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sumSlack } from '../../../processor/src/query/global-top.ts';

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const shuffled = (xs: readonly number[], keys: readonly number[]) =>
  xs
    .map((x, i) => [x, keys[i % keys.length]!] as const)
    .sort((a, b) => a[1] - b[1])
    .map(([x]) => x);

describe('sumSlack', () => {
  it('is zero for whole numbers up to 2^46 over up to 128 parts, whose sums are the same in any order (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -(2 ** 46), max: 2 ** 46 }), { minLength: 1, maxLength: 128 }),
        fc.array(fc.double({ noNaN: true }), { minLength: 1, maxLength: 128 }),
        (parts, keys) => {
          const largest = Math.max(...parts.map(Math.abs));
          expect(sumSlack(0, largest, parts.length)).toBe(0);
          expect(sum(shuffled(parts, keys))).toBe(sum(parts));
        },
      ),
    );
  });

  it('covers the difference of any two orders of fractional parts, plus the rounding the commits added (property)', () => {
    const part = fc.oneof(
      fc.double({ min: -1e9, max: 1e9, noNaN: true }),
      fc.constantFrom(0.1, 0.2, 0.3, 0.7, 1.1, -0.1, 1e-9, 1e15 + 0.5),
    );
    fc.assert(
      fc.property(
        fc.array(part, { minLength: 1, maxLength: 60 }),
        fc.array(fc.double({ noNaN: true }), { minLength: 1, maxLength: 60 }),
        fc.double({ min: 1e-300, max: 1, noNaN: true }),
        (parts, keys, rounding) => {
          const largest = Math.max(...parts.map(Math.abs));
          const slack = sumSlack(rounding, largest, parts.length);
          expect(slack).toBeGreaterThanOrEqual(rounding);
          // each order is within the scan's share of the exact sum, so two orders within twice it
          const scanShare = slack - rounding;
          expect(Math.abs(sum(shuffled(parts, keys)) - sum(parts))).toBeLessThanOrEqual(2 * scanShare);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('grows with the rounding bound, the largest magnitude and the number of parts', () => {
    expect(sumSlack(1e-12, 10, 21)).toBeGreaterThan(sumSlack(1e-13, 10, 21));
    expect(sumSlack(1e-12, 1e6, 21)).toBeGreaterThan(sumSlack(1e-12, 10, 21));
    expect(sumSlack(1e-12, 10, 84)).toBeGreaterThan(sumSlack(1e-12, 10, 21));
    // whole numbers whose parts could sum past 2^53 are not exact either
    expect(sumSlack(0, 2 ** 46, 256)).toBeGreaterThan(0);
  });
});
