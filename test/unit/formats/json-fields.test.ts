import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonFieldReader } from '../../../processor/src/consumer/formats/json-fields.ts';
import { jsonFieldsDecoder } from '../../../processor/src/consumer/formats/value-decoder.ts';

const NAMES = ['ts', 'k', 'v', 'a', 'constructor'];
const reader = new JsonFieldReader(NAMES);

/** What JSON.parse gives for the named fields: own fields holding a string, number, boolean or null. */
function expected(text: string): Record<string, unknown> {
  const event = JSON.parse(text) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const name of NAMES) if (Object.hasOwn(event, name)) out[name] = event[name];
  return out;
}

const parses = (text: string) => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

// Objects whose keys are often the read names, with any JSON values (nested, escaped, non-ASCII).
const key = fc.oneof(fc.constantFrom(...NAMES, 'u', '__proto__', 'k\\u0000'), fc.string({ maxLength: 4 }));
const documents = fc
  .array(fc.tuple(key, fc.jsonValue({ maxDepth: 3 })), { maxLength: 8 })
  .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
// Any text near JSON: documents with characters replaced, dropped or spliced in, and spacing.
const mangled = fc
  .tuple(
    documents,
    fc.nat(),
    fc.constantFrom(
      '',
      ' ',
      '\n',
      '"',
      ',',
      ':',
      '{',
      '}',
      '[',
      ']',
      '\\',
      '0',
      '-',
      '.',
      'e',
      'é',
      '\u0001',
      'tru',
    ),
    fc.boolean(),
  )
  .map(([text, at, piece, replace]) => {
    const i = text.length === 0 ? 0 : at % text.length;
    return text.slice(0, i) + piece + text.slice(replace ? i + 1 : i);
  });

describe('reading only the fields a pipeline uses from JSON bytes', () => {
  it('gives what JSON.parse gives for those fields, or leaves the record to it (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          documents,
          mangled,
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        (text) => {
          const read = reader.read(Buffer.from(text));
          if (read === undefined) return; // the caller decodes the value whole
          expect(parses(text)).toBe(true);
          expect(read).toStrictEqual(expected(text));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('answers for plain ASCII records, which are most records (property)', () => {
    const plain = fc.oneof(
      fc
        .string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) })
        .filter((s) => !/["\\]/.test(s)),
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.boolean(),
      fc.constant(null),
    );
    const nested = fc.jsonValue({ maxDepth: 3 }).filter((v) => /^[\x20-\x7e]*$/.test(JSON.stringify(v)));
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('ts', 'k', 'v'), plain),
        fc.dictionary(fc.constantFrom('u', 'lat', 'st', 'nested'), nested),
        fc.constantFrom('', ' ', '\n\t'),
        (read, skipped, space) => {
          const text = JSON.stringify({ ...skipped, ...read }, null, space);
          expect(reader.read(Buffer.from(text))).toStrictEqual(expected(text));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('leaves to JSON.parse what only it can judge', () => {
    for (const text of [
      '{"k":"é"}', // non-ASCII: UTF-8 checks and U+FFFD (decode.ts)
      '{"k":"a\\"b"}', // an escape in a read value
      '{"\\u006b":"x"}', // an escape in a key (this one is "k")
      '{"k":{"x":1}}', // a read field holding an object
      '{"k":[1]}',
      '[1]',
      '"k"',
      '{"k":1',
      '{"k":1}x',
      '{"k":01}',
      '{"k":1.}',
      '{"k":-}',
      '{"k":tru}',
      '{"u":"\u0001"}',
      '{"u":[1,]}',
      '{"u":{"a":1,}}',
      '{"k":1,}',
      '',
    ])
      expect(reader.read(Buffer.from(text)), text).toBeUndefined();
    expect(
      reader.read(Buffer.from(' {"u":{"x":[1,{"y":"\\n"}]},"k":"a","k":"b","v":-0.5e2} ')),
    ).toStrictEqual({
      k: 'b',
      v: -50,
    });
    expect(Object.is(reader.read(Buffer.from('{"v":-0}'))?.v, -0)).toBe(true);
    expect(reader.read(Buffer.from('{"v":12345678901234567890}'))).toStrictEqual({
      v: Number('12345678901234567890'),
    });
    expect(() => new JsonFieldReader(['__proto__'])).toThrow(/__proto__/);
  });

  it('decodes the record whole when the reader cannot, with the same errors', () => {
    const decoder = jsonFieldsDecoder(['k']);
    expect(decoder.decode(Buffer.from('{"k":"a","u":1}'))).toStrictEqual({ k: 'a' });
    expect(decoder.decode(Buffer.from('{"k":{"x":1},"u":1}'))).toStrictEqual({ k: { x: 1 }, u: 1 });
    expect(() => decoder.decode(Buffer.from('{"k":'))).toThrow(/not JSON/);
    expect(() => decoder.decode(Buffer.from([0x7b, 0xff, 0x7d]))).toThrow(/not valid UTF-8/);
    expect(() => decoder.decode(null)).toThrow(/tombstone/);
  });
});
