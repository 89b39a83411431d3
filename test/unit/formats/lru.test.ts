import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LruCache } from '../../../processor/src/consumer/formats/schema-cache.ts';

describe('LruCache', () => {
  it('never holds more than its capacity and keeps the most recently used entries', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 9 })), { maxLength: 60 }),
        (capacity, ops) => {
          const cache = new LruCache<number, string>(capacity);
          const order: number[] = []; // model: least recent first
          for (const [isSet, key] of ops) {
            if (isSet) {
              cache.set(key, `v${key}`);
              const at = order.indexOf(key);
              if (at >= 0) order.splice(at, 1);
              order.push(key);
              while (order.length > capacity) order.shift();
            } else {
              const hit = cache.get(key);
              expect(hit).toBe(order.includes(key) ? `v${key}` : undefined);
              if (order.includes(key)) {
                order.splice(order.indexOf(key), 1);
                order.push(key);
              }
            }
            expect(cache.size).toBe(order.length);
            expect(cache.size).toBeLessThanOrEqual(capacity);
          }
          for (const key of order) expect(cache.has(key)).toBe(true);
        },
      ),
    );
  });
});
