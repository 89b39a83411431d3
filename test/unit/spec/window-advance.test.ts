import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../../processor/src/spec/duration.ts';
import { validateText } from '../../../processor/src/spec/validate.ts';
import { largestDivisorUpTo } from '../../../processor/src/spec/window.ts';

const spec = (size: string, advance: string) => `apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: hop }
spec:
  source: { topic: t, eventTime: { field: ts } }
  window: { type: hopping, size: ${size}, advance: ${advance} }
  aggregates: { n: { count: {} } }
`;

describe("a hopping window's advance that does not divide its size", () => {
  it('gets the longest advance below it that does (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 5000 }), (size, advance) => {
        fc.pre(advance <= size);
        const d = largestDivisorUpTo(size, advance);
        expect(size % d).toBe(0);
        expect(d).toBeLessThanOrEqual(advance);
        for (let longer = d + 1; longer <= advance; longer++) expect(size % longer).not.toBe(0);
      }),
    );
  });

  it('answers at once for the longest sizes, primes included', () => {
    // 316,223,999,981 ms (a prime just under the longest duration, 3660d): no divisor but 1
    expect(largestDivisorUpTo(316_223_999_981, 600_000_000)).toBe(1);
    expect(largestDivisorUpTo(316_224_000_000, 7_000)).toBe(6_912);
    expect(
      validateText(spec('316223999981ms', '10m'))
        .errors.map((e) => e.message)
        .join('\n'),
    ).toContain('(try 1ms)');
  });

  it('suggests an advance the validation accepts', () => {
    for (const [size, advance, suggested] of [
      ['1m', '7s', '6s'],
      ['15m', '7m', '5m'],
      ['10s', '3s', '2s500ms'],
      ['1h', '7m', '6m40s'],
    ] as const) {
      const refused = validateText(spec(size, advance));
      expect(refused.errors.map((e) => e.message).join('\n')).toContain(`(try ${suggested})`);
      expect(validateText(spec(size, suggested)).errors).toEqual([]);
    }
  });

  it('suggests whole milliseconds even for sizes of odd lengths', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 10_000_000 }),
        fc.integer({ min: 1, max: 10_000_000 }),
        (size, advance) => {
          fc.pre(advance < size && size % advance !== 0);
          const suggested = formatDuration(largestDivisorUpTo(size, advance));
          // (it may still be refused for another reason: more than 1,000 windows per event)
          const errors = validateText(spec(`${size}ms`, suggested)).errors.map((e) => e.message);
          expect(errors.filter((m) => m.includes('divide size evenly'))).toEqual([]);
        },
      ),
      { numRuns: 40 },
    );
  });
});
