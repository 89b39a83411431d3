// Query times (?from, ?to, ?window) and ?version: what is read, and what is a 400.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { QueryError } from '../../../processor/src/query/errors.ts';
import { parseTime } from '../../../processor/src/query/params.ts';
import { parseVersion } from '../../../processor/src/query/versions.ts';

/** Any millisecond in years 1-9999 (what ISO-8601 writes with four digits). */
const instant = fc.integer({ min: -62_135_596_800_000, max: 253_402_300_799_999 });
const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Node reads process.env.TZ on every change, so a test can run under another zone. */
const savedTz = process.env.TZ;
function inZone<T>(zone: string, run: () => T): T {
  process.env.TZ = zone;
  try {
    return run();
  } finally {
    if (savedTz === undefined) delete process.env.TZ;
    else process.env.TZ = savedTz;
  }
}
afterEach(() => expect(process.env.TZ).toBe(savedTz));

function error(run: () => unknown): QueryError {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(QueryError);
    return e as QueryError;
  }
  throw new Error('accepted');
}

/** The calendar's own answer: does day d exist in month m of year y? */
function exists(y: number, m: number, d: number): boolean {
  const date = new Date(0);
  date.setUTCFullYear(y, m - 1, d);
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

describe('query times', () => {
  it('reads a date-time without an offset as UTC, whatever the server zone', () => {
    for (const zone of ['UTC', 'America/New_York', 'Asia/Kolkata', 'Pacific/Chatham']) {
      inZone(zone, () => {
        expect(new Date(2024, 4, 1).getTimezoneOffset(), zone).toBe(
          { UTC: 0, 'America/New_York': 240, 'Asia/Kolkata': -330, 'Pacific/Chatham': -765 }[zone],
        );
        expect(parseTime('from', '2024-05-01T12:00:00'), zone).toBe(Date.UTC(2024, 4, 1, 12));
        expect(parseTime('from', '2024-05-01 12:00'), zone).toBe(Date.UTC(2024, 4, 1, 12));
        expect(parseTime('from', '2024-05-01'), zone).toBe(Date.UTC(2024, 4, 1));
      });
    }
  });

  it('round-trips every instant written with Z, without an offset, and with any offset', () => {
    inZone('America/New_York', () =>
      fc.assert(
        fc.property(instant, fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }), (ms, offset) => {
          const iso = new Date(ms).toISOString(); // years 1-9999: always YYYY-MM-DDTHH:MM:SS.sssZ
          expect(parseTime('t', iso)).toBe(ms);
          expect(parseTime('t', iso.slice(0, -1))).toBe(ms);
          // the same instant's wall clock at `offset` minutes east of UTC
          const local = new Date(ms + offset * 60_000).toISOString().slice(0, -1);
          if (!/^\d{4}-/.test(local)) return; // the shift left years 1-9999
          const a = Math.abs(offset);
          const written = `${local}${offset < 0 ? '-' : '+'}${pad(Math.trunc(a / 60))}:${pad(a % 60)}`;
          expect(parseTime('t', written)).toBe(ms);
        }),
      ),
    );
  });

  it('accepts a date exactly when the day exists in its month (no rolling into the next one)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9999 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 31 }),
        fc.constantFrom('', 'T00:00:00Z', 'T23:59:59.999Z', ' 10:00', 'T10:00:00+02:00'),
        (y, m, d, time) => {
          const text = `${pad(y, 4)}-${pad(m)}-${pad(d)}${time}`;
          if (exists(y, m, d)) {
            const ms = parseTime('from', text)!;
            // and it is that day (UTC), not one the overflow landed on
            const offset = time.endsWith('+02:00') ? 2 * 3_600_000 : 0;
            const date = new Date(ms + offset);
            expect([date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()]).toEqual([y, m, d]);
          } else {
            const e = error(() => parseTime('from', text));
            expect([e.status, e.code]).toEqual([400, 'invalid_time']);
            expect(e.message).toContain(JSON.stringify(text));
          }
        },
      ),
    );
  });

  it('refuses impossible dates and times with 400 invalid_time', () => {
    for (const bad of [
      '2024-02-30',
      '2023-02-29',
      '1900-02-29',
      '2024-04-31T10:00Z',
      '2024-06-31T00:00:00Z',
      '2024-00-10',
      '2024-05-00',
      '2024-05-01T24:00:00Z',
      '2024-05-01T23:60:00Z',
      '2024-05-01T23:59:60Z',
      '2024-05-01T12:00:00+24:00',
      '2024-05-01T12:00:00+02:60',
    ]) {
      const e = error(() => parseTime('to', bad));
      expect([e.status, e.code, e.message.startsWith('to: ')], bad).toEqual([400, 'invalid_time', true]);
    }
    expect(parseTime('from', '2024-02-29')).toBe(Date.UTC(2024, 1, 29));
    expect(parseTime('from', '2000-02-29T23:59:59Z')).toBe(Date.UTC(2000, 1, 29, 23, 59, 59));
    // still refused: what is no ISO-8601 date-time at all
    for (const bad of ['tomorrow', '2024-5-1', '01/05/2024', 'May 1, 2024', '2024-05-01T12']) {
      expect(error(() => parseTime('from', bad)).code, bad).toBe('invalid_time');
    }
  });
});

describe('?version', () => {
  it('reads a whole number from 1 up, or nothing', () => {
    expect(parseVersion(undefined)).toBeUndefined();
    expect(parseVersion('1')).toBe(1);
    expect(parseVersion('12')).toBe(12);
  });

  it('refuses malformed values and repeats with 400 invalid_parameter (a well-formed unknown one is a 404 later)', () => {
    for (const bad of [
      '0',
      'abc',
      '',
      '-1',
      '1.0',
      '1e3',
      '99999999999999999999',
      ['1', 'abc'],
      ['abc', '1'],
      ['2', '2'],
      { a: '1' },
    ]) {
      const e = error(() => parseVersion(bad));
      expect([e.status, e.code, e.message.startsWith('version: ')], JSON.stringify(bad)).toEqual([
        400,
        'invalid_parameter',
        true,
      ]);
    }
  });
});
