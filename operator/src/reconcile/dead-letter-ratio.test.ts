import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type DeadLetterCounts,
  deadLetterExcess,
  deadLetterRatio,
  judgedCounts,
  totalCounts,
} from './dead-letter-ratio.ts';
import { promotionGate, startsFailing } from './promotion.ts';

const count = fc.nat({ max: 1_000_000_000 });
const counts = fc.record({ records: count, deadLettered: count });
const ratio = fc.double({ min: 0, max: 1, noNaN: true });

describe('dead-letter ratio', () => {
  it('dead-lettered over consumed, summed over partitions; 0 before any record', () => {
    expect(deadLetterRatio({ records: 0, deadLettered: 0 })).toBe(0);
    expect(deadLetterRatio({ records: 90, deadLettered: 10 })).toBe(0.1);
    expect(deadLetterRatio({ records: 0, deadLettered: 3 })).toBe(1);
    expect(
      totalCounts([
        { records: 5, deadLettered: 1 },
        { records: 45, deadLettered: 0 },
        { records: 0, deadLettered: 0 },
      ]),
    ).toEqual({ records: 50, deadLettered: 1 });
  });

  it('the reason names the counts, the ratio and the limit; none at or under the limit, none without one', () => {
    expect(deadLetterExcess({ records: 98, deadLettered: 2 }, 0.01)).toBe(
      'dead-lettered 2 of 100 records (2%, more than reprocessing.maxDeadLetterRatio 0.01 = 1%)',
    );
    expect(deadLetterExcess({ records: 99, deadLettered: 1 }, 0.01)).toBeUndefined();
    expect(deadLetterExcess({ records: 0, deadLettered: 100 }, undefined)).toBeUndefined();
    expect(deadLetterExcess({ records: 0, deadLettered: 0 }, 0)).toBeUndefined();
    expect(deadLetterExcess({ records: 1000, deadLettered: 1 }, 0)).toContain('1 of 1001 records');
  });

  it('property: the ratio is in [0, 1], exceeds the limit exactly when dead > max * consumed', () => {
    fc.assert(
      fc.property(counts, ratio, (c, max) => {
        const r = deadLetterRatio(c);
        expect(r).toBeGreaterThanOrEqual(0);
        expect(r).toBeLessThanOrEqual(1);
        const consumed = c.records + c.deadLettered;
        // an independent statement of the rule, without the division
        const over = consumed > 0 && c.deadLettered > max * consumed;
        const excess = deadLetterExcess(c, max);
        // float rounding at the exact boundary aside
        if (Math.abs(c.deadLettered - max * consumed) > 1e-6 * Math.max(1, consumed))
          expect(excess !== undefined).toBe(over);
        if (excess) expect(excess).toContain(`dead-lettered ${c.deadLettered} of ${consumed} records`);
      }),
    );
  });

  it('property: summing is order-independent and adds up each count', () => {
    fc.assert(
      fc.property(fc.array(counts, { maxLength: 64 }), (parts: DeadLetterCounts[]) => {
        const t = totalCounts(parts);
        expect(t).toEqual(totalCounts([...parts].reverse()));
        expect(t.records).toBe(parts.reduce((a, p) => a + p.records, 0));
        expect(t.deadLettered).toBe(parts.reduce((a, p) => a + p.deadLettered, 0));
      }),
    );
  });
});

describe('promotion gate with reprocessing.maxDeadLetterRatio', () => {
  const policy = { promotion: 'auto' as const, maxRestarts: 3, maxDeadLetterRatio: 0.01 };

  it('holds and fails a replay above the ratio, naming it; holds without failing before a measurement', () => {
    const failing = promotionGate(policy, 4, { restarts: 0, counts: { records: 90, deadLettered: 10 } }, '4');
    expect(failing).toMatchObject({ version: 4, allow: false, failing: true });
    expect(failing.reason).toContain('dead-lettered 10 of 100 records (10%');
    expect(failing.reason).toContain('maxDeadLetterRatio 0.01');
    expect(promotionGate(policy, 4, { restarts: 0 }, undefined)).toMatchObject({
      allow: false,
      failing: false,
    });
    expect(
      promotionGate(policy, 4, { restarts: 0, counts: { records: 100, deadLettered: 1 } }, undefined),
    ).toMatchObject({ allow: true, failing: false });
    // without a limit the counts do not matter, nor does their absence
    const { maxDeadLetterRatio: _, ...unlimited } = policy;
    expect(
      promotionGate(unlimited, 4, { restarts: 0, counts: { records: 0, deadLettered: 9 } }, undefined),
    ).toMatchObject({ allow: true });
    expect(promotionGate(unlimited, 4, { restarts: 0 }, undefined)).toMatchObject({ allow: true });
  });

  it('property: an allowed gate never has restarts or a ratio over the limits; a failing one never allows', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('auto' as const, 'manual' as const),
        fc.nat({ max: 10 }),
        fc.option(ratio, { nil: undefined }),
        fc.option(counts, { nil: undefined }),
        fc.option(fc.constantFrom('4', '3', ' 4 '), { nil: undefined }),
        (promotion, restarts, max, c, annotation) => {
          const p = { promotion, maxRestarts: 3, ...(max === undefined ? {} : { maxDeadLetterRatio: max }) };
          const gate = promotionGate(p, 4, { restarts, ...(c ? { counts: c } : {}) }, annotation);
          if (gate.failing) expect(gate.allow).toBe(false);
          if (gate.allow) {
            expect(restarts).toBeLessThanOrEqual(3);
            if (max !== undefined) {
              expect(c).toBeDefined();
              expect(deadLetterRatio(c!)).toBeLessThanOrEqual(max);
            }
          }
          if (max !== undefined && c && deadLetterRatio(c) > max) expect(gate.failing).toBe(true);
        },
      ),
    );
  });

  it('a Warning Event only when a replay starts failing, not on every pass while it fails', () => {
    const failing = { failing: true };
    expect(startsFailing(failing, undefined)).toBe(true);
    expect(startsFailing(failing, [{ type: 'Degraded', status: 'False', reason: 'AsExpected' }])).toBe(true);
    expect(startsFailing(failing, [{ type: 'Degraded', status: 'True', reason: 'MetricsUnavailable' }])).toBe(
      true,
    );
    expect(startsFailing(failing, [{ type: 'Degraded', status: 'True', reason: 'ReplayFailing' }])).toBe(
      false,
    );
    expect(startsFailing({ failing: false }, undefined)).toBe(false);
  });
});

describe('counts the gate judges', () => {
  it('none while nothing is counted and records wait; zero counts once nothing is left to read', () => {
    const zero = [{ records: 0, deadLettered: 0 }];
    expect(judgedCounts({ partitions: zero, totalLag: 500 })).toBeUndefined();
    expect(judgedCounts({ partitions: zero, totalLag: 0 })).toEqual({ records: 0, deadLettered: 0 });
    expect(judgedCounts({ partitions: [{ records: 0, deadLettered: 3 }], totalLag: 500 })).toEqual({
      records: 0,
      deadLettered: 3,
    });
    // the hole it closes: a 0/0 reading would have allowed a replay that dead-letters everything
    const policy = { promotion: 'auto' as const, maxRestarts: 3, maxDeadLetterRatio: 0.1 };
    const counts = judgedCounts({ partitions: zero, totalLag: 500 });
    expect(promotionGate(policy, 2, { restarts: 0, ...(counts ? { counts } : {}) }, undefined).allow).toBe(
      false,
    );
  });
});
