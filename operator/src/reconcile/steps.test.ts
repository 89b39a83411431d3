// The pure parts of the reconcile steps: the scaling plan, rollout and status/condition builders.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { NormalizedPipeline } from '../../../processor/src/spec/normalize.ts';
import { validatePipelineObject } from '../../../processor/src/spec/validate.ts';
import type { LagReading } from '../../../processor/src/state/lag.ts';
import type { PipelineObject } from '../resources.ts';
import { emptyState } from '../scaler/index.ts';
import type { Measurement } from './measure.ts';
import { promotionGate } from './promotion.ts';
import { planScaling } from './scale.ts';
import {
  buildStatus,
  readyCondition,
  replayCondition,
  reprocessingCondition,
  rolloutOf,
  versionEntry,
} from './status.ts';
import { nextStatus } from './write-status.ts';

const normalized = (scaling: Record<string, unknown>, replicas?: number): NormalizedPipeline => {
  const p: PipelineObject = {
    apiVersion: 'kappaflow.io/v1alpha1',
    kind: 'Pipeline',
    metadata: { name: 'views', namespace: 'team' },
    spec: {
      source: { topic: 'page-views' },
      window: { type: 'tumbling', size: '1m' },
      aggregates: { n: { count: {} } },
      scaling,
      ...(replicas === undefined ? {} : { replicas }),
    },
  };
  const v = validatePipelineObject(p);
  if (!v.ok) throw new Error('test spec invalid');
  return v.normalized;
};
const lagOf = (lags: number[]): LagReading => ({
  at: 0,
  partitions: lags.map((lag, i) => ({
    id: String(i),
    topic: 't',
    partition: i,
    end: lag,
    checkpoint: 0,
    lag,
    records: 0,
    deadLettered: 0,
  })),
  repartitionLag: 0,
  totalLag: lags.reduce((a, b) => a + b, 0),
  endSum: lags.reduce((a, b) => a + b, 0),
});
const measured = (lags?: number[]): Measurement => ({
  ...(lags ? { lag: lagOf(lags) } : {}),
  beats: [],
  rate: { perPartition: new Map() },
  ...(lags ? {} : { error: 'Kafka: down' }),
});

describe('planScaling', () => {
  it('stays within [minReplicas, min(maxReplicas, partitions)] for any lag (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1e7 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 20 }),
        fc.option(fc.integer({ min: 1, max: 20 }), { nil: null }),
        (lags, min, extra, current) => {
          const n = normalized({ minReplicas: min, maxReplicas: min + extra });
          const plan = planScaling(n, current, measured(lags), emptyState(0), 1000);
          const upper = Math.min(min + extra, lags.length);
          expect(plan.replicas).toBeLessThanOrEqual(Math.max(upper, Math.min(min, upper)));
          expect(plan.replicas).toBeGreaterThanOrEqual(Math.min(min, upper));
        },
      ),
    );
  });

  it('keeps the replicas when lag cannot be read, with a Warning and Scaling=Unknown', () => {
    const plan = planScaling(normalized({ maxReplicas: 4 }), 3, measured(), emptyState(0), 0);
    expect(plan.replicas).toBe(3);
    expect(plan.condition).toMatchObject({
      status: 'Unknown',
      reason: 'MetricsUnavailable',
      message: 'Kafka: down',
    });
    expect(plan.event).toMatchObject({ type: 'Warning', reason: 'MetricsUnavailable' });
  });

  it('external mode follows spec.replicas; an Event only when it changes an existing Deployment', () => {
    const n = normalized({ mode: 'external', maxReplicas: 4 }, 3);
    expect(planScaling(n, 1, measured([0]), emptyState(0), 0)).toMatchObject({
      replicas: 3,
      condition: { reason: 'External' },
      event: { reason: 'Scaled', message: 'spec.replicas 1 -> 3 (external scaling)' },
    });
    expect(planScaling(n, null, measured([0]), emptyState(0), 0).event).toBeUndefined();
  });

  it('a first pass (no Deployment) takes the recommendation without an Event', () => {
    const n = normalized({ maxReplicas: 4, lagThreshold: 10 });
    const plan = planScaling(n, null, measured([100, 100, 100, 100]), emptyState(0), 0);
    expect(plan.replicas).toBe(4);
    expect(plan.event).toBeUndefined();
    expect(plan.auto?.direction).toBe('none');
  });
});

describe('status builders', () => {
  it('Ready only when the Deployment observed its generation and every replica is available', () => {
    const dep = (g: number, og: number, avail: number) => ({
      metadata: { name: 'd', generation: g },
      status: { observedGeneration: og, replicas: 2, updatedReplicas: 2, availableReplicas: avail },
    });
    expect(rolloutOf(dep(2, 2, 2), 2).ready).toBe(true);
    expect(rolloutOf(dep(3, 2, 2), 2).ready).toBe(false);
    expect(rolloutOf(dep(2, 2, 1), 2).ready).toBe(false);
    expect(readyCondition(rolloutOf(dep(2, 2, 1), 2), 2, 4)).toMatchObject({
      status: 'False',
      message: '1/2 processors available (version 4)',
    });
  });

  it('reprocessing is True exactly while a newer version than the active one runs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 100 }), (active, latest) => {
        expect(reprocessingCondition(active, latest).status).toBe(active < latest ? 'True' : 'False');
      }),
    );
  });

  it('status: lowest watermark, rounded rates, hot partitions named by topic', () => {
    const m: Measurement = {
      lag: lagOf([5, 7]),
      beats: [
        { watermarks: { '0': 2000, '1': 0 }, recordsPerSecond: 1 } as never,
        { watermarks: { '1': 1000 }, recordsPerSecond: 1 } as never,
      ],
      rate: { total: 1.234, perPartition: new Map() },
    };
    const s = buildStatus({
      running: 2,
      selector: 'a=b',
      activeVersion: 2,
      latestVersion: 3,
      m,
      hot: [{ partition: '1', lag: 7, by: 'lag' } as never],
    });
    expect(s).toEqual({
      replicas: 2,
      selector: 'a=b',
      activeVersion: 2,
      latestVersion: 3,
      lag: 12,
      inputRate: 1.23,
      watermark: new Date(1000).toISOString(),
      hotPartitions: [{ topic: 't', partition: 1, lag: 7 }],
    });
  });

  it('the next status keeps fields it does not set and stamps observedGeneration on conditions', () => {
    const p = {
      metadata: { name: 'x', generation: 5 },
      spec: {},
      status: { lag: 3, activeVersion: 1 },
    } as PipelineObject;
    const next = nextStatus(p, { activeVersion: 2 }, [reprocessingCondition(2, 2)], new Date(0));
    expect(next).toMatchObject({ lag: 3, activeVersion: 2, observedGeneration: 5 });
    expect(next.conditions?.[0]).toMatchObject({ type: 'Reprocessing', observedGeneration: 5 });
  });
});

describe('promotion gate', () => {
  const auto = { promotion: 'auto' as const, maxRestarts: 3 };
  const manual = { promotion: 'manual' as const, maxRestarts: 3 };
  it('auto allows; manual waits for the annotation naming this version; a crash loop holds both', () => {
    expect(promotionGate(auto, 4, { restarts: 0 }, undefined)).toMatchObject({ allow: true, failing: false });
    expect(promotionGate(manual, 4, { restarts: 0 }, undefined)).toMatchObject({
      allow: false,
      failing: false,
    });
    expect(promotionGate(manual, 4, { restarts: 0 }, '3')).toMatchObject({ allow: false });
    expect(promotionGate(manual, 4, { restarts: 0 }, ' 4 ')).toMatchObject({ allow: true });
    expect(promotionGate(auto, 4, { restarts: 3 }, undefined)).toMatchObject({ allow: true });
    for (const policy of [auto, manual]) {
      expect(promotionGate(policy, 4, { restarts: 4 }, '4')).toMatchObject({ allow: false, failing: true });
    }
  });
});

describe('status.versions entries', () => {
  it('ETA = lag / (replay rate - input rate), absent while the replay does not gain', () => {
    const m = (lag: number, rates: number[]): Measurement => ({
      lag: lagOf([lag]),
      beats: rates.map((r) => ({ recordsPerSecond: r, watermarks: {} }) as never),
      rate: { perPartition: new Map() },
    });
    expect(
      versionEntry({ version: 3, role: 'replaying', running: 2, m: m(9000, [400, 600]), inputRate: 100 }),
    ).toEqual({
      version: 3,
      role: 'replaying',
      replicas: 2,
      lag: 9000,
      recordsPerSecond: 1000,
      etaSeconds: 10,
    });
    expect(
      versionEntry({ version: 3, role: 'replaying', running: 1, m: m(9000, [50]), inputRate: 100 })
        .etaSeconds,
    ).toBeUndefined();
    expect(
      versionEntry({ version: 3, role: 'replaying', running: 1, m: m(0, []), inputRate: 100 }).etaSeconds,
    ).toBe(0);
    expect(
      versionEntry({ version: 2, role: 'active', running: 1, m: m(10, [5]) }).etaSeconds,
    ).toBeUndefined();
  });

  it('Reprocessing says why a caught-up replay waits, or that it fails', () => {
    const held = { allow: false, failing: false, reason: 'promotion is manual' };
    expect(replayCondition(2, 3, held, true)).toMatchObject({
      status: 'True',
      reason: 'WaitingForPromotion',
    });
    expect(replayCondition(2, 3, held, false)).toMatchObject({ status: 'True', reason: 'CatchingUp' });
    expect(replayCondition(2, 3, { ...held, failing: true }, false)).toMatchObject({
      reason: 'ReplayFailing',
    });
    expect(replayCondition(3, 3, held, true)).toMatchObject({ status: 'False', reason: 'UpToDate' });
  });
});
