import fc from 'fast-check';
import { Command } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { NumberPairs, plainArguments } from '../../../processor/src/state/number-pairs.ts';
import { encodeCommand } from '../../../processor/src/state/script-command.ts';
import { ValuePairs } from '../../../processor/src/state/value-pairs.ts';

/** ioredis' own encoding of the same command, as bytes (a string when no argument is a Buffer). */
function ioredisBytes(name: string, args: (string | Buffer | number)[]): Buffer {
  const written = new Command(name, args).toWritable({});
  return typeof written === 'string' ? Buffer.from(written, 'utf8') : written;
}

/** Arrays of arguments and blocks of pairs encode as ioredis encodes them written out (plainArguments). */
function encodesAsPlainArguments(pairs: fc.Arbitrary<NumberPairs | ValuePairs>): void {
  fc.assert(
    fc.property(fc.array(fc.array(fc.oneof(argument, pairs), { maxLength: 6 }), { maxLength: 5 }), (args) => {
      const plain = args.map((inner) => plainArguments(inner as never));
      expect(encodeCommand('evalsha', args).equals(ioredisBytes('evalsha', plain as never))).toBe(true);
    }),
    { numRuns: 300 },
  );
}

const argument = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.constant(''),
  fc.string({ minLength: 1000, maxLength: 3000 }),
  // around the length up to which strings are measured and copied in JS
  fc.string({ minLength: 30, maxLength: 34 }),
  fc.string({ unit: 'binary', minLength: 30, maxLength: 34 }),
);

describe('one-Buffer encoding of script calls', () => {
  it('writes the bytes ioredis writes for any strings, Buffers and numbers (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom('evalsha', 'eval'), fc.array(argument, { maxLength: 40 }), (name, args) => {
        expect(encodeCommand(name, args).equals(ioredisBytes(name, args))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('writes array arguments as their elements, as ioredis flattens them (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(argument, fc.array(argument, { maxLength: 8 })), { maxLength: 20 }),
        (args) => {
          expect(encodeCommand('evalsha', args).equals(ioredisBytes('evalsha', args as never))).toBe(true);
        },
      ),
    );
  });

  it('writes a block of numeric pairs as its fields and values as text (property)', () => {
    const value = fc.oneof(
      fc.integer(),
      fc.maxSafeInteger(),
      fc.maxSafeNat().map((n) => -n),
      fc.constantFrom(0, -0, 2 ** 53, -(2 ** 53), 1e21, 1.5e-7, 0.1 + 0.2),
      fc.double({ noNaN: true }),
    );
    const pairs = fc
      .tuple(
        fc.oneof(fc.constantFrom('n|', 'total#s|'), fc.string({ unit: 'grapheme', maxLength: 6 })),
        fc.array(
          fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ minLength: 30, maxLength: 40 })),
          {
            minLength: 1,
            maxLength: 12,
          },
        ),
        fc.array(value, { maxLength: 12 }),
        fc.boolean(),
      )
      .map(([head, groups, values, some]) => {
        if (!some)
          return new NumberPairs(
            head,
            groups,
            groups.map((_, i) => values[i] ?? i),
          );
        const which = values.map((_, i) => i % groups.length);
        return new NumberPairs(head, groups, values, which);
      });
    encodesAsPlainArguments(pairs);
  });

  it('writes a block of sketch pairs as its fields and its texts or bytes (property)', () => {
    const value = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
      fc.string({ minLength: 30, maxLength: 34 }),
    );
    const pairs = fc
      .tuple(
        fc.oneof(fc.constantFrom('users#h|', 'p95#d|'), fc.string({ unit: 'grapheme', maxLength: 6 })),
        fc.array(fc.oneof(fc.string(), fc.string({ unit: 'binary' })), { minLength: 1, maxLength: 12 }),
        fc.array(value, { maxLength: 12 }),
      )
      .map(
        ([head, groups, values]) =>
          new ValuePairs(
            head,
            groups,
            values,
            values.map((_, i) => (i * 7) % groups.length),
          ),
      );
    encodesAsPlainArguments(pairs);
  });

  it('counts the arguments and lengths in decimal past one digit', () => {
    const args = Array.from({ length: 12 }, (_, i) => 'x'.repeat(i * 10));
    const raw = encodeCommand('evalsha', args).toString('latin1');
    expect(raw.startsWith('*13\r\n$7\r\nevalsha\r\n$0\r\n\r\n$10\r\nxxxxxxxxxx\r\n')).toBe(true);
    expect(raw.endsWith(`$110\r\n${'x'.repeat(110)}\r\n`)).toBe(true);
  });
});
