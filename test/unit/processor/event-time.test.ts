import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordFailure } from '../../../processor/src/consumer/decode.ts';
import { eventTimeOf, parseEventTime, parseIso8601 } from '../../../processor/src/consumer/event-time.ts';
import type { EventTimeFormat } from '../../../processor/src/spec/source.ts';

const T = Date.UTC(2026, 5, 1, 12, 0, 30, 250);
/** Any millisecond in years 1-9999. */
const instant = fc.integer({ min: -62_135_596_800_000, max: 253_402_300_799_999 });

function failure(value: unknown, format: EventTimeFormat): RecordFailure {
  try {
    eventTimeOf({ ts: value }, { field: 'ts', format }, 0);
  } catch (error) {
    return error as RecordFailure;
  }
  throw new Error(`${JSON.stringify(value)} was accepted as ${format}`);
}

describe('event time formats', () => {
  it('reads each epoch unit from numbers and numeric strings, floored to the millisecond', () => {
    expect(parseEventTime(T, 'epochMillis')).toBe(T);
    expect(parseEventTime(`${T}`, 'epochMillis')).toBe(T);
    expect(parseEventTime(` ${T}\n`, 'epochMillis')).toBe(T);
    expect(parseEventTime(T + 0.9, 'epochMillis')).toBe(T);
    expect(parseEventTime(1_780_315_230.25, 'epochSeconds')).toBe(T);
    expect(parseEventTime('1780315230.25', 'epochSeconds')).toBe(T);
    expect(parseEventTime('1780315230', 'epochSeconds')).toBe(T - 250);
    expect(parseEventTime('1.78031523025e9', 'epochSeconds')).toBe(T);
    expect(parseEventTime(0.1, 'epochSeconds')).toBe(100);
    expect(parseEventTime(T * 1000 + 999, 'epochMicros')).toBe(T);
    expect(parseEventTime(`${T}999`, 'epochMicros')).toBe(T);
    expect(parseEventTime(`${T}999999`, 'epochNanos')).toBe(T);
    // A JSON number of nanoseconds is beyond 2^53: still the right millisecond.
    expect(parseEventTime(JSON.parse(`${T}123456`), 'epochNanos')).toBe(T);
    expect(parseEventTime('-1', 'epochSeconds')).toBe(-1000);
    expect(parseEventTime('-242717175.000', 'epochSeconds')).toBe(-242_717_175_000);
    expect(parseEventTime('-1', 'epochMicros')).toBe(-1); // floored: 1 µs before the epoch
  });

  it('round-trips every instant through every format', () => {
    fc.assert(
      fc.property(instant, fc.integer({ min: 0, max: 999 }), (ms, extra) => {
        const seconds = `${ms < 0 ? '-' : ''}${Math.abs(Math.trunc(ms / 1000))}.${String(Math.abs(ms % 1000)).padStart(3, '0')}`;
        const floorSeconds = ms < 0 && ms % 1000 !== 0 ? null : seconds;
        expect(parseEventTime(ms, 'epochMillis')).toBe(ms);
        expect(parseEventTime(String(ms), 'auto')).toBe(ms);
        if (floorSeconds !== null) expect(parseEventTime(floorSeconds, 'epochSeconds')).toBe(ms);
        const micros = BigInt(ms) * 1000n + BigInt(extra);
        expect(parseEventTime(String(micros), 'epochMicros')).toBe(ms);
        expect(parseEventTime(String(micros * 1000n), 'epochNanos')).toBe(ms);
        const iso = new Date(ms).toISOString();
        if (!iso.startsWith('+') && !iso.startsWith('-')) {
          expect(parseEventTime(iso, 'iso8601')).toBe(ms);
          expect(parseEventTime(iso, 'auto')).toBe(ms);
        }
      }),
    );
  });

  it('reads ISO-8601 with offsets, a space, no seconds, a date alone, and no offset as UTC', () => {
    expect(parseIso8601('2026-06-01T12:00:30.250Z')).toBe(T);
    expect(parseIso8601('2026-06-01T14:00:30.250+02:00')).toBe(T);
    expect(parseIso8601('2026-06-01T07:30:30.250-0430')).toBe(T);
    expect(parseIso8601('2026-06-01 12:00:30.250999')).toBe(T);
    expect(parseIso8601('2026-06-01T12:00Z')).toBe(Date.UTC(2026, 5, 1, 12));
    expect(parseIso8601('2026-06-01')).toBe(Date.UTC(2026, 5, 1));
    expect(parseIso8601('2024-02-29T00:00:00Z')).toBe(Date.UTC(2024, 1, 29));
    expect(parseIso8601('0050-01-01T00:00:00Z')).toBe(new Date('0050-01-01T00:00:00Z').getTime());
  });

  it('refuses what does not match the declared format, with reason event-time', () => {
    const mismatches: [unknown, EventTimeFormat][] = [
      ['2026-06-01T12:00:30Z', 'epochMillis'],
      ['2026-06-01T12:00:30Z', 'epochSeconds'],
      ['2026-06-01T12:00:30Z', 'epochMicros'],
      ['2026-06-01T12:00:30Z', 'epochNanos'],
      [T, 'iso8601'],
      [String(T), 'iso8601'],
      ['June 1, 2026', 'iso8601'],
      ['June 1, 2026', 'auto'],
      ['2026-02-30T00:00:00Z', 'iso8601'],
      ['2026-06-01T24:00:00Z', 'iso8601'],
      ['2026-06-01T12:00:00+25:00', 'iso8601'],
      ['12abc', 'epochMillis'],
      ['', 'epochMillis'],
      ['0x10', 'epochSeconds'],
      [true, 'auto'],
      [{}, 'epochMillis'],
      [[T], 'epochMillis'],
      [Number.NaN, 'epochMillis'],
      // A unit mix-up that lands beyond year 9999: milliseconds declared as seconds, nanos as millis.
      [T, 'epochSeconds'],
      [`${T}000000`, 'epochMillis'],
      [T * 1000, 'auto'],
    ];
    for (const [value, format] of mismatches) {
      const error = failure(value, format);
      expect(error).toBeInstanceOf(RecordFailure);
      expect({ value, format, reason: error.reason }).toEqual({ value, format, reason: 'event-time' });
      expect(error.message).toMatch(/event time field "ts"/);
    }
    expect(failure(undefined, 'auto').message).toMatch(/missing/);
    expect(failure(null, 'epochSeconds').message).toMatch(/missing/);
  });

  it('reads nested fields, and the record timestamp without a field', () => {
    expect(
      eventTimeOf({ meta: { at: '1780315230.25' } }, { field: 'meta.at', format: 'epochSeconds' }, 0),
    ).toBe(T);
    expect(eventTimeOf({ ts: 5 }, undefined, 42)).toBe(42);
  });
});
