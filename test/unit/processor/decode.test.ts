import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeValue, RecordFailure } from '../../../processor/src/consumer/decode.ts';

describe('record values', () => {
  it('are refused exactly when their bytes are not valid UTF-8 (property)', () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      // valid text, some of it holding U+FFFD itself, with a byte or two spliced in
      fc
        .tuple(
          fc.string({ unit: 'grapheme' }),
          fc.constantFrom('', '\uFFFD'),
          fc.uint8Array({ maxLength: 2 }),
        )
        .map(([text, mark, extra]) => Buffer.concat([Buffer.from(text + mark), Buffer.from(extra)])),
    );
    fc.assert(
      fc.property(bytes, (raw) => {
        const value = Buffer.from(raw);
        let refused = false;
        try {
          expect(decodeValue(value, 'text')).toBe(value.toString('utf8'));
        } catch (error) {
          expect(error).toBeInstanceOf(RecordFailure);
          expect((error as RecordFailure).message).toMatch(/not valid UTF-8/);
          refused = true;
        }
        expect(refused).toBe(!isUtf8(value));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps a literal U+FFFD of valid text', () => {
    expect(decodeValue(Buffer.from('{"k":"\uFFFD"}'), 'json')).toEqual({ k: '\uFFFD' });
    expect(() => decodeValue(Buffer.from([0x7b, 0xff, 0x7d]), 'json')).toThrow(/not valid UTF-8/);
  });
});
