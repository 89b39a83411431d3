import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchFold } from '../../../processor/src/aggregates/fold.ts';
import { fieldOf } from '../../../processor/src/state/keys.ts';
import { SessionFolder, type StoredSession } from '../../../processor/src/windows/session-folder.ts';

const GAP = 100;
const BIG_GRACE = 1e12; // nothing is late in these tests

/** Reference: sort each group's events and cut where two neighbours are more than `gap` apart. */
function referenceSessions(events: { group: string; t: number }[]) {
  const byGroup = new Map<string, number[]>();
  for (const e of events) byGroup.set(e.group, [...(byGroup.get(e.group) ?? []), e.t]);
  const out: string[] = [];
  for (const [group, times] of byGroup) {
    times.sort((a, b) => a - b);
    let start = times[0]!;
    let end = start;
    let count = 1;
    for (const t of times.slice(1)) {
      if (t - end > GAP) {
        out.push(`${group}:${start}-${end}:${count}`);
        start = t;
        count = 0;
      }
      end = t;
      count++;
    }
    out.push(`${group}:${start}-${end}:${count}`);
  }
  return out.sort();
}

/** Plays the commit script's session bookkeeping over an in-memory store, batch after batch. */
function runBatches(batches: { group: string; t: number }[][]) {
  const stored = new Map<string, Map<number, { end: number; count: number }>>();
  for (const batch of batches) {
    const fold = new BatchFold([{ name: 'n', kind: 'count' }]);
    const loaded = new Map<string, StoredSession[]>();
    for (const [group, sessions] of stored) {
      loaded.set(
        group,
        [...sessions].map(([start, s]) => ({ start, end: s.end })),
      );
    }
    const folder = new SessionFolder(GAP, BIG_GRACE, fold, loaded);
    for (const e of batch)
      expect(folder.add(e.group, e.t, Number.MIN_SAFE_INTEGER, fold.prepare([undefined]))).toBe(true);
    const updates = folder.finish();
    const counted = new Map<string, number>();
    for (const delta of fold.windows.values()) {
      for (const [field, n] of delta.increments) {
        const group = field.slice('n|'.length);
        const key = `${group}@${delta.start}`;
        counted.set(key, (counted.get(key) ?? 0) + n);
      }
    }
    for (const u of updates) {
      const sessions = stored.get(u.group) ?? new Map();
      stored.set(u.group, sessions);
      let count = (sessions.get(u.start)?.count ?? 0) + (counted.get(`${u.group}@${u.start}`) ?? 0);
      for (const from of u.mergeFrom) {
        count += sessions.get(from)!.count;
        sessions.delete(from);
      }
      sessions.set(u.start, { end: u.end, count });
    }
  }
  const out: string[] = [];
  for (const [group, sessions] of stored)
    for (const [start, s] of sessions) out.push(`${group}:${start}-${s.end}:${s.count}`);
  return out.sort();
}

const events = fc.array(
  fc.record({ group: fc.constantFrom('a', 'b', 'c'), t: fc.integer({ min: 0, max: 2000 }) }),
  { minLength: 1, maxLength: 60 },
);

describe('session windows', () => {
  it('finds the same sessions as sorting and cutting at gaps, in one batch', () => {
    fc.assert(
      fc.property(events, (list) => {
        expect(runBatches([list])).toEqual(referenceSessions(list));
      }),
    );
  });

  it('merges sessions across batches exactly (out-of-order events bridging stored sessions)', () => {
    fc.assert(
      fc.property(events, fc.array(fc.nat(), { maxLength: 5 }), (list, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (list.length + 1)))].sort((a, b) => a - b);
        const batches: (typeof list)[] = [];
        let previous = 0;
        for (const p of [...points, list.length]) {
          batches.push(list.slice(previous, p));
          previous = p;
        }
        expect(runBatches(batches)).toEqual(referenceSessions(list));
      }),
    );
  });

  it('refuses a record whose session has closed at the watermark', () => {
    const fold = new BatchFold([{ name: 'n', kind: 'count' }]);
    const folder = new SessionFolder(GAP, 10, fold, new Map([['a', [{ start: 0, end: 50 }]]]));
    // The stored session closes at 50 + 100 + 10 = 160.
    expect(folder.add('a', 120, 160, fold.prepare([undefined]))).toBe(false);
    expect(folder.add('a', 400, 160, fold.prepare([undefined]))).toBe(true);
    expect(fieldOf('n', 'a')).toBe('n|a');
  });
});
