import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseQueryString } from '../../../processor/src/http/query-string.ts';

describe('the query-string parser', () => {
  it('keeps every parameter, past the 1,000 a default parser keeps', () => {
    const query = parseQueryString(`${'c=a&'.repeat(1500)}c=z&limit=1&limit=2&version=2`);
    expect(query.c).toHaveLength(1501);
    expect((query.c as string[]).at(-1)).toBe('z');
    expect(query.limit).toEqual(['1', '2']);
    expect(query.version).toBe('2');
  });

  it('gives each key its values in order, a repeat as a list (property)', () => {
    const key = fc.constantFrom('c', 'country', 'limit', 'version');
    fc.assert(
      fc.property(fc.array(fc.tuple(key, fc.string()), { maxLength: 3000 }), (pairs) => {
        const text = pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
        const query = parseQueryString(text);
        const expected = new Map<string, string[]>();
        for (const [k, v] of pairs) expected.set(k, [...(expected.get(k) ?? []), v]);
        for (const [k, values] of expected)
          expect(query[k]).toEqual(values.length === 1 ? values[0] : values);
      }),
      { numRuns: 50 },
    );
  });
});
