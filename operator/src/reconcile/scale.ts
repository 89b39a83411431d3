// The "scale" step: how many processors a version gets. The decision is a pure function of the
// spec, the measurement and the stabilizer's memory (planScaling); the step records it.
import type { NormalizedPipeline } from '../../../processor/src/spec/normalize.ts';
import type { ConditionInput } from '../conditions.ts';
import type { PipelineObject } from '../resources.ts';
import { autoscale, type HotPartition, hotPartitions, type StabilizerState } from '../scaler/index.ts';
import type { ReconcileContext } from './context.ts';
import type { Measurement } from './measure.ts';

export interface ScalingPlan {
  replicas: number;
  condition: ConditionInput;
  hot: HotPartition[];
  /** an Event to record (external scaling changed, metrics unavailable, scaled out/in) */
  event?: { type: 'Normal' | 'Warning'; reason: string; message: string };
  /** auto mode with a lag reading: what the autoscaler recommended and did */
  auto?: { recommended: number; direction: 'up' | 'down' | 'none'; state: StabilizerState };
}

/**
 * Pure: the replicas for `current` (null before the Deployment exists), from the scaling mode, the
 * lag and rates measured, and the stabilizer's history.
 */
export function planScaling(
  n: NormalizedPipeline,
  current: number | null,
  m: Measurement,
  stabilizer: StabilizerState,
  now: number,
): ScalingPlan {
  const scaling = n.scaling;
  const exists = current !== null;
  const cur = current ?? scaling.minReplicas;
  const { lag, rate } = m;
  const hot = lag
    ? hotPartitions(
        lag.partitions.map((q) => ({
          partition: q.id,
          lag: q.lag,
          ...(rate.perPartition.has(q.id) ? { recordsPerSecond: rate.perPartition.get(q.id)! } : {}),
        })),
        { minLag: scaling.lagThreshold },
      )
    : [];
  if (scaling.mode === 'external') {
    const replicas = n.replicas ?? current ?? scaling.minReplicas;
    return {
      replicas,
      hot,
      condition: {
        type: 'Scaling',
        status: 'False',
        reason: 'External',
        message: `scaling.mode is external: replicas follow spec.replicas (${replicas})`,
      },
      ...(exists && replicas !== cur
        ? {
            event: {
              type: 'Normal',
              reason: 'Scaled',
              message: `spec.replicas ${cur} -> ${replicas} (external scaling)`,
            },
          }
        : {}),
    };
  }
  if (!lag) {
    return {
      replicas: cur,
      hot,
      condition: {
        type: 'Scaling',
        status: 'Unknown',
        reason: 'MetricsUnavailable',
        message: m.error ?? 'no lag reading',
      },
      event: {
        type: 'Warning',
        reason: 'MetricsUnavailable',
        message: `cannot measure lag, keeping ${cur} replicas: ${m.error}`,
      },
    };
  }
  const result = autoscale(
    scaling,
    {
      lag: lag.totalLag,
      ...(rate.total === undefined ? {} : { inputRate: rate.total }),
      partitions: lag.partitions.length,
      replicaRates: m.beats.map((b) => b.recordsPerSecond),
      currentReplicas: cur,
    },
    stabilizer,
    now,
  );
  const d = exists ? result.decision.direction : 'none';
  return {
    replicas: exists ? result.decision.replicas : result.recommendation.replicas,
    hot,
    auto: { recommended: result.recommendation.replicas, direction: d, state: result.decision.state },
    condition: {
      type: 'Scaling',
      status: d !== 'none' || result.decision.heldBack ? 'True' : 'False',
      reason:
        d === 'up'
          ? 'ScaledOut'
          : d === 'down'
            ? 'ScaledIn'
            : result.decision.heldBack
              ? 'Stabilizing'
              : 'Steady',
      message: result.message,
    },
    ...(d !== 'none'
      ? { event: { type: 'Normal', reason: d === 'up' ? 'ScaledOut' : 'ScaledIn', message: result.message } }
      : {}),
  };
}

/** What the scale step remembers per pipeline between passes (lost with leadership, on purpose). */
export interface ScaleMemory {
  stabilizer: StabilizerState;
  lastHot: string;
}

/** Plans, records the decision (metrics, Events, log) and returns it. */
export async function scaleStep(
  ctx: ReconcileContext,
  p: PipelineObject,
  n: NormalizedPipeline,
  current: number | null,
  m: Measurement,
  mem: ScaleMemory,
  /** prefix of Event messages ("version 3: " while two versions run) */
  label = '',
): Promise<ScalingPlan> {
  const plan = planScaling(n, current, m, mem.stabilizer, Date.now());
  const labels = { namespace: p.metadata.namespace ?? 'default', pipeline: p.metadata.name };
  if (plan.auto) {
    mem.stabilizer = plan.auto.state;
    ctx.metrics.recommendedReplicas.set(labels, plan.auto.recommended);
    if (plan.auto.direction !== 'none') {
      ctx.metrics.scalingEvents.inc({ ...labels, direction: plan.auto.direction });
    }
  }
  if (plan.event) await ctx.events.record(p, plan.event.type, plan.event.reason, label + plan.event.message);
  if (plan.auto && plan.auto.direction !== 'none') {
    ctx.log('info', 'scaling', {
      pipeline: `${labels.namespace}/${labels.pipeline}`,
      from: current ?? n.scaling.minReplicas,
      to: plan.replicas,
      why: plan.condition.message,
    });
  }
  const hotKey = plan.hot.map((h) => h.partition).join(',');
  if (hotKey !== mem.lastHot) {
    mem.lastHot = hotKey;
    if (plan.hot.length > 0) {
      await ctx.events.record(
        p,
        'Warning',
        'HotPartition',
        `${label}partition(s) ${hotKey} carry far more ${plan.hot[0]!.by} than the others; more replicas cannot split a partition (check the key distribution)`,
      );
    }
  }
  return plan;
}
