import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contradicts } from './checkpoint-audit.ts';

describe('checkpoint audit', () => {
  it('accepts the offset before or after a commit that raced the read, and a newer owner', () => {
    expect(contradicts({ epoch: 3 }, '10', '10', { epoch: '3', offset: '10' })).toBe(false);
    expect(contradicts({ epoch: 3 }, '10', '20', { epoch: '3', offset: '20' })).toBe(false);
    expect(contradicts({ epoch: 3 }, '10', '20', { epoch: '3', offset: '10' })).toBe(false);
    expect(contradicts({ epoch: 3 }, '10', '10', { epoch: '4', offset: '2' })).toBe(false);
  });

  it('flags a checkpoint that went back, vanished, or lost this owner’s claim', () => {
    expect(contradicts({ epoch: 3 }, '10', '10', { epoch: '3', offset: '7' })).toBe(true);
    expect(contradicts({ epoch: 3 }, '10', '10', { epoch: null, offset: null })).toBe(true);
    expect(contradicts({ epoch: 3 }, '10', '10', { epoch: '2', offset: '10' })).toBe(true);
  });

  it('never flags the stored state the owner itself wrote', () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.nat(10_000), fc.nat(10_000), fc.boolean(), (epoch, a, b, after) => {
        const before = String(a);
        const now = String(a + b);
        const stored = { epoch: String(epoch), offset: after ? now : before };
        expect(contradicts({ epoch }, before, now, stored)).toBe(false);
      }),
    );
  });
});
