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
  encodeRegister,
  maxInto,
  murmur64a,
  oneRegisterOf,
  type Registers,
  registerOf,
  withMembers,
} from '../../../processor/src/aggregates/redis-hll.ts';

// Members of any Unicode text (multi-byte UTF-8, lone surrogates) as well as ASCII: the hash reads
// ASCII members without encoding them and must give the hash of their UTF-8 bytes all the same.
const anyText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'binary', maxLength: 500 }),
);
const members = fc.array(fc.oneof(anyText, fc.integer().map(String)), { maxLength: 400 });

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

  it("a member's register comes from the MurmurHash64A of its UTF-8 bytes, however long (property)", () => {
    fc.assert(
      fc.property(
        fc.oneof(anyText, fc.string({ unit: 'binary', minLength: 300, maxLength: 1200 })),
        (member) => {
          const [hi, lo] = murmur64a(Buffer.from(member));
          const { index } = registerOf(member);
          expect(index).toBe(lo & 16383);
          const bits = (BigInt(hi) << 32n) | BigInt(lo);
          let value = 1;
          while (value <= 50 && ((bits >> BigInt(13 + value)) & 1n) === 0n) value++;
          expect(registerOf(member).value).toBe(value);
        },
      ),
    );
  });

  it('adding members to stored bytes gives the bytes of the register map (property)', () => {
    fc.assert(
      fc.property(members, fc.array(anyText, { minLength: 1, maxLength: 5 }), (stored, more) => {
        const registers: Registers = new Map();
        addMembers(registers, stored);
        const raw = stored.length > 0 ? encodeHll(registers) : undefined;
        addMembers(registers, more);
        expect(withMembers(raw, new Set(more)).equals(encodeHll(registers))).toBe(true);
        // one member, given as itself
        const one: Registers = new Map();
        addMembers(one, [...stored, more[0]!]);
        expect(withMembers(raw, more[0]!).equals(encodeHll(one))).toBe(true);
      }),
    );
  });

  it('a sketch of one register is written as the register map would be, dense above 32 (property)', () => {
    // Members offering a value above 32 (one in 2^32) need the dense form: checked on the registers.
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 16383 }), fc.integer({ min: 1, max: 51 }), (index, value) => {
        const raw = encodeRegister(index, value);
        expect(raw.equals(encodeHll(new Map([[index, value]])))).toBe(true);
        expect(raw[4]).toBe(value > 32 ? 0 : 1);
        expect(decodeHll(raw)).toEqual(new Map([[index, value]]));
      }),
    );
  });

  it('an owner keeps a one-register sketch as an integer and adds to it as to its bytes (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 16383 }),
        fc.integer({ min: 1, max: 51 }),
        fc.oneof(anyText, fc.array(anyText, { minLength: 1, maxLength: 4 })),
        (index, value, more) => {
          const raw = encodeRegister(index, value);
          const compact = oneRegisterOf(raw);
          expect(compact).toBe(value > 32 ? undefined : index * 64 + value);
          const members = typeof more === 'string' ? more : new Set(more);
          if (compact !== undefined)
            expect(withMembers(compact, members).equals(withMembers(raw, members))).toBe(true);
        },
      ),
    );
    const two = encodeHll(
      new Map([
        [3, 1],
        [9000, 2],
      ]),
    );
    expect(oneRegisterOf(two)).toBeUndefined();
    expect(
      oneRegisterOf(
        encodeHll(
          new Map([
            [3, 1],
            [4, 1],
          ]),
        ),
      ),
    ).toBeUndefined();
    expect(oneRegisterOf(encodeHll(new Map()))).toBeUndefined();
  });

  it('refuses bytes that are not a HyperLogLog, whichever reader reads them', () => {
    const sparse = encodeHll(new Map([[5, 3]]));
    const dense = encodeHll(new Map(Array.from({ length: 4000 }, (_, r) => [r * 4, 1 + (r % 20)])));
    expect(dense[4]).toBe(0);
    const into = (raw: Uint8Array) => maxInto(new Uint8Array(16_384), new Int32Array(64), raw);
    for (const read of [decodeHll, into]) {
      expect(() => read(Buffer.from('hello world, not a sketch'))).toThrow(/HYLL/);
      expect(() => read(sparse.subarray(0, sparse.length - 1))).toThrow(/corrupt/);
      expect(() => read(dense.subarray(0, dense.length - 1))).toThrow(/truncated/);
    }
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
