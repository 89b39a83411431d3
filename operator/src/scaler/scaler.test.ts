import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  autoscale,
  bounds,
  emptyState,
  hotPartitions,
  recommend,
  type ScalingInputs,
  type ScalingSpec,
  type StabilizerState,
  stabilize,
} from './index.ts';

const spec: ScalingSpec = { minReplicas: 1, maxReplicas: 10, lagThreshold: 1000, catchUpSeconds: 60 };
const inputs = (over: Partial<ScalingInputs>): ScalingInputs => ({
  lag: 0,
  partitions: 12,
  replicaRates: [],
  currentReplicas: 1,
  ...over,
});

describe('recommend', () => {
  it('idles at minReplicas', () => {
    expect(recommend(spec, inputs({})).replicas).toBe(1);
    expect(recommend({ ...spec, minReplicas: 3 }, inputs({})).replicas).toBe(3);
  });
  it('follows lag per replica', () => {
    const r = recommend(spec, inputs({ lag: 4500 }));
    expect(r.lagBased).toBe(5);
    expect(r.replicas).toBe(5);
    expect(r.limitedBy).toBe('lag');
  });
  it('follows the input rate when targetRecordsPerReplica is set', () => {
    const r = recommend({ ...spec, targetRecordsPerReplica: 100 }, inputs({ inputRate: 350 }));
    expect(r.rateBased).toBe(4);
    expect(r.replicas).toBe(4);
    expect(r.limitedBy).toBe('rate');
  });
  it('adds replicas to drain the backlog within catchUpSeconds', () => {
    // 3000 lag / 60 s = 50/s extra, plus 100/s input; replicas measure 30/s each -> 5
    const r = recommend(spec, inputs({ lag: 3000, inputRate: 100, replicaRates: [30, 30] }));
    expect(r.catchUp).toBe(5);
    expect(r.replicas).toBe(5);
    expect(r.limitedBy).toBe('catchUp');
  });
  it('never runs more replicas than partitions', () => {
    const r = recommend(spec, inputs({ lag: 1e9, partitions: 4 }));
    expect(r.replicas).toBe(4);
    expect(r.limitedBy).toBe('partitions');
    expect(recommend(spec, inputs({ lag: 1e9, partitions: 40 })).limitedBy).toBe('maxReplicas');
  });
  it('lets the partition bound win over minReplicas', () => {
    expect(bounds({ ...spec, minReplicas: 5 }, 3)).toEqual({ lower: 3, upper: 3 });
    expect(bounds(spec, undefined)).toEqual({ lower: 1, upper: 10 });
  });
  it('ignores garbage inputs', () => {
    const r = recommend(spec, inputs({ lag: Number.NaN, inputRate: -5, replicaRates: [Number.NaN] }));
    expect(r.replicas).toBe(1);
  });
});

const specArb = fc
  .record({
    minReplicas: fc.integer({ min: 0, max: 20 }),
    extra: fc.integer({ min: 0, max: 30 }),
    lagThreshold: fc.integer({ min: 1, max: 100_000 }),
    target: fc.option(fc.double({ min: 0.1, max: 1e5, noNaN: true }), { nil: undefined }),
    catchUpSeconds: fc.integer({ min: 1, max: 86_400 }),
  })
  .map(
    (s): ScalingSpec => ({
      minReplicas: s.minReplicas,
      maxReplicas: s.minReplicas + s.extra,
      lagThreshold: s.lagThreshold,
      catchUpSeconds: s.catchUpSeconds,
      ...(s.target === undefined ? {} : { targetRecordsPerReplica: s.target }),
    }),
  );
const inputsArb = fc.record({
  lag: fc.integer({ min: 0, max: 1e9 }),
  inputRate: fc.option(fc.double({ min: 0, max: 1e6, noNaN: true }), { nil: undefined }),
  partitions: fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }),
  replicaRates: fc.array(fc.double({ min: 0, max: 1e5, noNaN: true }), { maxLength: 8 }),
  currentReplicas: fc.integer({ min: 0, max: 64 }),
});

describe('scaler properties', () => {
  it('never recommends outside [min(minReplicas, upper), min(maxReplicas, partitions)]', () => {
    fc.assert(
      fc.property(specArb, inputsArb, (s, i) => {
        const r = recommend(s, i);
        const upper = Math.min(s.maxReplicas, i.partitions ?? Number.POSITIVE_INFINITY);
        expect(r.replicas).toBeLessThanOrEqual(upper);
        expect(r.replicas).toBeGreaterThanOrEqual(Math.min(s.minReplicas, upper));
        expect(Number.isInteger(r.replicas)).toBe(true);
      }),
    );
  });
  it('is monotone in lag', () => {
    fc.assert(
      fc.property(specArb, inputsArb, fc.integer({ min: 0, max: 1e9 }), (s, i, more) => {
        const low = recommend(s, i).replicas;
        const high = recommend(s, { ...i, lag: i.lag + more }).replicas;
        expect(high).toBeGreaterThanOrEqual(low);
      }),
    );
  });
  it('autoscale keeps the running count within bounds whatever the history', () => {
    fc.assert(
      fc.property(
        specArb,
        fc.array(inputsArb, { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 0, max: 120_000 }),
        (s, steps, windowMs) => {
          let state = emptyState(0);
          let current = steps[0]!.currentReplicas;
          let now = 0;
          for (const step of steps) {
            now += 1000;
            const out = autoscale(
              { ...s, scaleDownStabilizationMs: windowMs },
              { ...step, currentReplicas: current },
              state,
              now,
            );
            state = out.decision.state;
            current = out.decision.replicas;
            expect(current).toBeLessThanOrEqual(out.recommendation.upper);
            expect(current).toBeGreaterThanOrEqual(out.recommendation.lower);
          }
        },
      ),
    );
  });
  it('does not flap on noisy input: a scale-down never comes within the window after a scale-up', () => {
    const noisyLag = fc.array(fc.integer({ min: 0, max: 20_000 }), { minLength: 10, maxLength: 200 });
    fc.assert(
      fc.property(noisyLag, fc.integer({ min: 1, max: 60 }), (lags, windowSteps) => {
        const s = { ...spec, maxReplicas: 20, scaleDownStabilizationMs: windowSteps * 1000 };
        let state: StabilizerState = emptyState(0);
        let current = 1;
        let lastUp = Number.NEGATIVE_INFINITY;
        let lastChange = Number.NEGATIVE_INFINITY;
        for (let t = 0; t < lags.length; t++) {
          const now = (t + 1) * 1000;
          const out = autoscale(
            s,
            inputs({ lag: lags[t]!, currentReplicas: current, partitions: 20 }),
            state,
            now,
          );
          state = out.decision.state;
          if (out.decision.direction === 'up') {
            lastUp = now;
            lastChange = now;
          } else if (out.decision.direction === 'down') {
            expect(now - lastUp).toBeGreaterThanOrEqual(s.scaleDownStabilizationMs);
            expect(now - lastChange).toBeGreaterThan(0);
            lastChange = now;
          }
          current = out.decision.replicas;
        }
      }),
    );
  });
  it('noise around the threshold ends in one scale-up and no scale-down within the window', () => {
    // lag jitters between 1500 and 2500 (2 or 3 replicas) for 5 minutes with a 5-minute window
    let state = emptyState(0);
    let current = 1;
    const changes: string[] = [];
    for (let t = 1; t <= 300; t++) {
      const lag = t % 2 === 0 ? 2500 : 1500;
      const out = autoscale(
        { ...spec, scaleDownStabilizationMs: 300_000 },
        inputs({ lag, currentReplicas: current }),
        state,
        t * 1000,
      );
      state = out.decision.state;
      if (out.decision.direction !== 'none') changes.push(`${out.decision.direction}@${t}`);
      current = out.decision.replicas;
    }
    expect(changes).toEqual(['up@1', 'up@2']);
    expect(current).toBe(3);
  });
});

describe('stabilize', () => {
  it('scales up at once and down only after the window', () => {
    let d = stabilize(emptyState(0), 1, 5, 0, 10_000);
    expect(d).toMatchObject({ replicas: 5, direction: 'up' });
    d = stabilize(d.state, 5, 2, 5_000, 10_000);
    expect(d).toMatchObject({ replicas: 5, direction: 'none', heldBack: true });
    d = stabilize(d.state, 5, 2, 10_001, 10_000);
    expect(d).toMatchObject({ replicas: 2, direction: 'down' });
  });
  it('a new leader with no history waits a whole window before scaling down', () => {
    let d = stabilize(emptyState(100_000), 6, 1, 100_000, 30_000);
    expect(d.replicas).toBe(6);
    d = stabilize(d.state, 6, 1, 120_000, 30_000);
    expect(d.replicas).toBe(6);
    d = stabilize(d.state, 6, 1, 131_000, 30_000);
    expect(d).toMatchObject({ replicas: 1, direction: 'down' });
  });
  it('scales down only as far as the highest recommendation in the window', () => {
    let state = emptyState(0);
    let d = stabilize(state, 8, 8, 0, 10_000);
    state = d.state;
    d = stabilize(state, 8, 4, 6_000, 10_000);
    state = d.state;
    d = stabilize(state, 8, 2, 12_000, 10_000);
    expect(d.replicas).toBe(4);
    d = stabilize(d.state, 4, 2, 16_500, 10_000);
    expect(d.replicas).toBe(2);
  });
  it('bounds apply at once when maxReplicas is lowered', () => {
    const out = autoscale(
      { ...spec, maxReplicas: 3, scaleDownStabilizationMs: 60_000 },
      inputs({ currentReplicas: 8 }),
      emptyState(0),
      1,
    );
    expect(out.decision).toMatchObject({ replicas: 3, direction: 'down' });
  });
});

describe('hot partitions', () => {
  it('reports one partition with the lag while others idle', () => {
    const hot = hotPartitions(
      [
        { partition: '0', lag: 50_000, recordsPerSecond: 900 },
        { partition: '1', lag: 10, recordsPerSecond: 5 },
        { partition: '2', lag: 0, recordsPerSecond: 4 },
      ],
      { minLag: 1000 },
    );
    expect(hot.map((h) => [h.partition, h.by])).toEqual([['0', 'lag']]);
  });
  it('reports a partition hot by rate', () => {
    const hot = hotPartitions(
      [
        { partition: '0', lag: 0, recordsPerSecond: 10 },
        { partition: '1', lag: 0, recordsPerSecond: 500 },
        { partition: '2', lag: 0, recordsPerSecond: 10 },
      ],
      { minLag: 1000 },
    );
    expect(hot.map((h) => [h.partition, h.by])).toEqual([['1', 'rate']]);
  });
  it('reports nothing for even load, small lag or a single partition', () => {
    expect(
      hotPartitions(
        [
          { partition: '0', lag: 5000 },
          { partition: '1', lag: 4000 },
        ],
        { minLag: 100 },
      ),
    ).toEqual([]);
    expect(
      hotPartitions(
        [
          { partition: '0', lag: 50 },
          { partition: '1', lag: 0 },
        ],
        { minLag: 100 },
      ),
    ).toEqual([]);
    expect(hotPartitions([{ partition: '0', lag: 1e6 }], { minLag: 100 })).toEqual([]);
  });
});
