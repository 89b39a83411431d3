import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketOf } from '../../../processor/src/aggregates/ddsketch.ts';
import {
  addBuckets,
  decodeBuckets,
  encodeBuckets,
  flatBuckets,
} from '../../../processor/src/aggregates/packed-buckets.ts';
import {
  addMembers,
  decodeHll,
  encodeHll,
  type Registers,
} from '../../../processor/src/aggregates/redis-hll.ts';

const members = fc.array(fc.oneof(fc.string(), fc.integer().map(String)), { maxLength: 400 });

describe('HyperLogLogs in Redis format', () => {
  it('read back the registers they were written with, sparse or dense (property)', () => {
    fc.assert(
      fc.property(members, fc.boolean(), (list, many) => {
        const registers: Registers = new Map();
        // `many`: enough members for the dense encoding (more than fit in 3,000 sparse bytes)
        addMembers(registers, many ? [...list, ...Array.from({ length: 3000 }, (_, i) => `x${i}`)] : list);
        const raw = encodeHll(registers);
        expect(raw.subarray(0, 4).toString('latin1')).toBe('HYLL');
        expect(raw[4]).toBe(many ? 0 : 1);
        expect(decodeHll(raw)).toEqual(registers);
      }),
      { numRuns: 60 },
    );
  });

  it('folding members in two steps gives the sketch of the union', () => {
    fc.assert(
      fc.property(members, members, (a, b) => {
        const once: Registers = new Map();
        addMembers(once, [...a, ...b]);
        const first: Registers = new Map();
        addMembers(first, a);
        const twice = decodeHll(encodeHll(first));
        addMembers(twice, b);
        expect(encodeHll(twice).equals(encodeHll(once))).toBe(true);
      }),
    );
  });

  it('refuses bytes that are not a HyperLogLog', () => {
    expect(() => decodeHll(Buffer.from('hello world, not a sketch'))).toThrow(/HYLL/);
    const sparse = encodeHll(new Map([[5, 3]]));
    expect(() => decodeHll(sparse.subarray(0, sparse.length - 1))).toThrow(/corrupt/);
  });
});

describe('DDSketch buckets packed as text', () => {
  it('round-trip and add like the bucket maps they stand for (property)', () => {
    const values = fc.array(fc.double({ min: -1e9, max: 1e9, noNaN: true }), { maxLength: 200 });
    fc.assert(
      fc.property(values, values, (a, b) => {
        const sketch = (list: number[]) => {
          const counts = new Map<string, number>();
          for (const v of list) counts.set(bucketOf(v), (counts.get(bucketOf(v)) ?? 0) + 1);
          return counts;
        };
        const stored = decodeBuckets(encodeBuckets(sketch(a)));
        addBuckets(stored, sketch(b));
        const expected = sketch([...a, ...b]);
        expect(new Map([...stored].filter(([, n]) => n > 0))).toEqual(expected);
        expect(flatBuckets(encodeBuckets(expected))).toEqual(
          [...expected].flatMap(([k, n]) => [k, String(n)]),
        );
      }),
    );
  });

  it('reads an empty or missing value as an empty sketch and refuses a corrupt one', () => {
    expect(decodeBuckets(undefined).size).toBe(0);
    expect(decodeBuckets('').size).toBe(0);
    expect(() => decodeBuckets('p3:1,garbage')).toThrow(/corrupt/);
  });
});
