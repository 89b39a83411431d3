import { describe, expect, it } from 'vitest';
import { BoundedCache } from '../../../processor/src/query/cache.ts';
import { filterTexts, groupMatcher, probeOf } from '../../../processor/src/query/merge.ts';

describe('query caches and read helpers', () => {
  it('evicts the least recently used entries past the weight bound', () => {
    const cache = new BoundedCache(10);
    cache.set('a', 1, 4);
    cache.set('b', 2, 4);
    expect(cache.get('a')).toBe(1); // a is now the most recent
    cache.set('c', 3, 4); // 12 > 10: b goes
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(1);
    expect(cache.get('c')).toBe(3);
    expect(cache.weight).toBe(8);
    cache.set('huge', 4, 11); // heavier than the bound: not kept
    expect(cache.get('huge')).toBeUndefined();
    expect(new BoundedCache(0).weight).toBe(0);
  });

  it('finds groups from one aggregate, a hash one when there is one', () => {
    expect(
      probeOf([
        { name: 'u', kind: 'countDistinct' },
        { name: 'a', kind: 'avg' },
      ]),
    ).toEqual({
      mode: 'h',
      prefix: 'a#n|',
    });
    expect(probeOf([{ name: 'p', kind: 'percentile', q: 0.5 }])).toEqual({ mode: 's', prefix: 'dd:p|' });
  });

  it('derives filter texts that every matching group key holds', () => {
    const names = ['country', 'status'];
    const keys = [JSON.stringify(['DE', 200]), JSON.stringify(['FR', null]), JSON.stringify(['a"b', 1])];
    const cases: [string, string[]][] = [
      ['country', ['DE', 'FR']],
      ['status', ['200']],
      ['status', ['null']],
      ['country', ['a"b']],
    ];
    for (const [name, values] of cases) {
      const filters = new Map([[name, values]]);
      const texts = filterTexts(filters);
      const matches = groupMatcher(names, filters);
      for (const key of keys) {
        if (!matches(key) || texts === '') continue;
        for (const list of JSON.parse(texts) as string[][])
          expect(list.some((t) => key.includes(t))).toBe(true);
      }
    }
    expect(filterTexts(new Map([['status', ['null']]]))).toBe('');
    expect(filterTexts(new Map([['country', ['a"b']]]))).toBe('');
    expect(filterTexts(new Map([['country', ['DE']]]))).toBe('[["DE"]]');
  });
});
