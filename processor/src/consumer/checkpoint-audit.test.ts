import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contradicts } from './checkpoint-audit.ts';

describe('checkpoint audit', () => {
  it('accepts the offset before the read, any later one of the same owner, and a newer owner', () => {
    expect(contradicts({ epoch: 3 }, '10', { epoch: '3', offset: '10' })).toBe(false);
    // commits that landed while the read was in flight, or whose reply had not arrived yet
    expect(contradicts({ epoch: 3 }, '10', { epoch: '3', offset: '20' })).toBe(false);
    expect(contradicts({ epoch: 3 }, '184', { epoch: '3', offset: '551' })).toBe(false);
    expect(contradicts({ epoch: 3 }, '10', { epoch: '4', offset: '2' })).toBe(false);
  });

  it('flags a checkpoint that went back, vanished, or lost this owner’s claim', () => {
    expect(contradicts({ epoch: 3 }, '10', { epoch: '3', offset: '7' })).toBe(true);
    // compared as numbers, not as text ('9' > '10' as text)
    expect(contradicts({ epoch: 3 }, '10', { epoch: '3', offset: '9' })).toBe(true);
    expect(contradicts({ epoch: 3 }, '100', { epoch: '3', offset: '99' })).toBe(true);
    expect(contradicts({ epoch: 3 }, '10', { epoch: '3', offset: null })).toBe(true);
    expect(contradicts({ epoch: 3 }, '10', { epoch: null, offset: null })).toBe(true);
    expect(contradicts({ epoch: 3 }, '10', { epoch: '2', offset: '10' })).toBe(true);
  });

  it('flags exactly the stored offsets of the same owner below the one it had before the read', () => {
    fc.assert(
      fc.property(
        fc.nat(1000),
        fc.bigInt({ min: 0n, max: 2n ** 62n }),
        fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n }),
        (epoch, before, moved) => {
          const stored = before + moved < 0n ? 0n : before + moved;
          const found = contradicts({ epoch }, String(before), {
            epoch: String(epoch),
            offset: String(stored),
          });
          expect(found).toBe(stored < before);
        },
      ),
    );
  });
});
