import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isClosed, oldestWindowStart, windowStarts } from '../../../processor/src/windows/assign.ts';

describe('window assignment', () => {
  it('puts an event in exactly one tumbling window that contains it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1e12, max: 4e12 }),
        fc.integer({ min: 1, max: 86_400_000 }),
        (time, size) => {
          const starts = windowStarts({ type: 'tumbling', sizeMs: size, graceMs: 0 }, time);
          expect(starts).toHaveLength(1);
          expect(starts[0]! <= time && time < starts[0]! + size).toBe(true);
          expect(((starts[0]! % size) + size) % size).toBe(0);
        },
      ),
    );
  });

  it('puts an event in size/advance hopping windows, each containing it, aligned to advance', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4e12 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 60 }),
        (time, advance, factor) => {
          const size = advance * factor;
          const starts = windowStarts(
            { type: 'hopping', sizeMs: size, advanceMs: advance, graceMs: 0 },
            time,
          );
          expect(starts).toHaveLength(factor);
          for (const start of starts) {
            expect(start <= time && time < start + size).toBe(true);
            expect(((start % advance) + advance) % advance).toBe(0);
          }
          expect(new Set(starts).size).toBe(starts.length);
        },
      ),
    );
  });

  it("gives the oldest hopping window's start without listing them (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1e12, max: 4e12 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 60 }),
        (time, advance, factor) => {
          const window = {
            type: 'hopping' as const,
            sizeMs: advance * factor,
            advanceMs: advance,
            graceMs: 0,
          };
          expect(oldestWindowStart(window, time)).toBe(windowStarts(window, time)[0]);
        },
      ),
    );
  });

  it('closes a window only when the watermark reaches end + grace', () => {
    expect(isClosed(60_000, 10_000, 69_999)).toBe(false);
    expect(isClosed(60_000, 10_000, 70_000)).toBe(true);
  });

  it('refuses to assign session windows by time alone', () => {
    expect(() => windowStarts({ type: 'session', gapMs: 1000, graceMs: 0 }, 5)).toThrow(/session/);
  });
});
