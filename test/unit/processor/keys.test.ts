import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fieldOf, groupKeyOf, parseField, partitionPrefix } from '../../../processor/src/state/keys.ts';

describe('key layout', () => {
  it('round-trips fields whatever the group values hold', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/),
        fc.array(fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null))),
        fc.constantFrom(undefined, 's', 'n', 't'),
        (aggregate, values, part) => {
          const group = groupKeyOf(values);
          const parsed = parseField(fieldOf(aggregate, group, part as 's' | undefined));
          expect(parsed.aggregate).toBe(aggregate);
          expect(parsed.part).toBe(part);
          expect(JSON.parse(parsed.group)).toEqual(values);
        },
      ),
    );
  });

  it('writes one text value exactly as JSON.stringify does, whatever it holds (property)', () => {
    // one-text keys take a path of their own (no serialiser call): quotes, backslashes, control
    // characters, lone and paired surrogates, U+2028 must come out as JSON.stringify writes them
    const text = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\u0000', '\u2028', '\ud800', '\udc00', 'a', 'é') }),
    );
    fc.assert(
      fc.property(text, (value) => {
        expect(groupKeyOf([value])).toBe(JSON.stringify([value]));
      }),
      { numRuns: 500 },
    );
  });

  it('gives every key of a partition the same hash tag', () => {
    expect(partitionPrefix('page-views', 2, 7)).toBe('kf:{page-views:2:7}');
  });

  it('turns CEL integers (bigint) into JSON numbers', () => {
    expect(groupKeyOf([10n, 'a'])).toBe('[10,"a"]');
  });

  it('writes a missing value as null and a nested value as its JSON text, beside plain ones', () => {
    expect(groupKeyOf([undefined, 'a', 1, true, null])).toBe('[null,"a",1,true,null]');
    expect(groupKeyOf(['a', { x: [1] }])).toBe('["a","{\\"x\\":[1]}"]');
    expect(groupKeyOf([2n ** 64n])).toBe('["18446744073709551616"]');
  });
});
