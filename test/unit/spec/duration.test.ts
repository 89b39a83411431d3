import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DURATION_PATTERN,
  DurationError,
  formatDuration,
  parseDuration,
} from '../../../processor/src/spec/duration.ts';

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['1m', 60_000],
    ['1h30m', 5_400_000],
    ['7d', 604_800_000],
    ['0s', 0],
    ['1d2h3m4s5ms', 93_784_005],
  ])('%s = %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each([
    '',
    '1',
    '1 minute',
    '1M',
    '30m1h',
    '1m1m',
    '-5s',
    '1.5h',
    ' 1m',
    '1m ',
    'ms',
    '10sec',
    '9999999d',
  ])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow(DurationError);
  });

  it('explains the expected syntax', () => {
    expect(() => parseDuration('1 minute')).toThrow(
      'expected a duration like 500ms, 10s, 1m, 1h30m or 7d, got "1 minute"',
    );
    expect(() => parseDuration(60)).toThrow('a number without a unit; write e.g. 60s');
  });

  it('formats and parses back (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3_000 * 86_400_000 }), (ms) => {
        const text = formatDuration(ms);
        expect(new RegExp(DURATION_PATTERN).test(text)).toBe(true);
        expect(parseDuration(text)).toBe(ms);
      }),
    );
  });

  it('agrees with the CRD pattern on random strings (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9dhms ]{0,8}$/), (s) => {
        let parsed = true;
        try {
          parseDuration(s);
        } catch {
          parsed = false;
        }
        // The CRD pattern may accept over-long values the parser refuses, never the reverse.
        if (parsed) expect(new RegExp(DURATION_PATTERN).test(s) && s.length >= 2).toBe(true);
      }),
    );
  });
});
