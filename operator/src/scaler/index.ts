// The autoscaler: recommend (pure arithmetic), stabilize (when to act), and hot-partition reports.
import {
  explain,
  type Recommendation,
  recommend,
  type ScalingInputs,
  type ScalingSpec,
} from './recommend.ts';
import { type ScaleDecision, type StabilizerState, stabilize } from './stabilize.ts';

export * from './hot.ts';
export * from './recommend.ts';
export * from './stabilize.ts';

export interface AutoscaleResult {
  recommendation: Recommendation;
  decision: ScaleDecision;
  /** human-readable reason, for Events and the Scaling condition */
  message: string;
}

/**
 * One autoscaler step. Bounds are enforced at once (a lowered maxReplicas applies without waiting),
 * otherwise up is immediate and down waits for the stabilization window.
 */
export function autoscale(
  spec: ScalingSpec & { scaleDownStabilizationMs: number },
  inputs: ScalingInputs,
  state: StabilizerState,
  now: number,
): AutoscaleResult {
  const recommendation = recommend(spec, inputs);
  let decision = stabilize(
    state,
    inputs.currentReplicas,
    recommendation.replicas,
    now,
    spec.scaleDownStabilizationMs,
  );
  if (decision.replicas > recommendation.upper || decision.replicas < recommendation.lower) {
    const bounded = Math.min(recommendation.upper, Math.max(recommendation.lower, decision.replicas));
    decision = {
      ...decision,
      replicas: bounded,
      direction: bounded > inputs.currentReplicas ? 'up' : bounded < inputs.currentReplicas ? 'down' : 'none',
    };
  }
  let message = explain(recommendation, inputs);
  if (decision.direction === 'up')
    message = `scale up ${inputs.currentReplicas} -> ${decision.replicas}: ${message}`;
  else if (decision.direction === 'down')
    message = `scale down ${inputs.currentReplicas} -> ${decision.replicas} (stable for ${Math.round(spec.scaleDownStabilizationMs / 1000)}s): ${message}`;
  else if (decision.heldBack)
    message = `holding ${inputs.currentReplicas} replicas within the ${Math.round(spec.scaleDownStabilizationMs / 1000)}s stabilization window: ${message}`;
  else message = `steady at ${inputs.currentReplicas}: ${message}`;
  return { recommendation, decision, message };
}
