// The promotion policy (spec.reprocessing): whether a replaying version may take over once caught
// up. The decision is pure (promotionGate); the step writes it where the processors' switch
// (activateVersion-1.lua) reads it, and counts the replay's restarts (a crash loop holds it); a
// replay dead-lettering more than reprocessing.maxDeadLetterRatio of its records holds it too.
import type { NormalizedPipeline } from '../../../processor/src/spec/normalize.ts';
import type { PromotionGate } from '../../../processor/src/state/versions.ts';
import type { KubeObject } from '../kube/client.ts';
import { paths } from '../kube/client.ts';
import { type PipelineObject, selectorString, VERSION_LABEL } from '../resources.ts';
import type { ReconcileContext } from './context.ts';
import { type DeadLetterCounts, deadLetterExcess } from './dead-letter-ratio.ts';

/** Set on a Pipeline to promote a replaying version under `reprocessing.promotion: manual`: its number. */
export const PROMOTE_ANNOTATION = 'kappaflow.io/promote';

export interface ReplayHealth {
  restarts: number;
  /** the version's checkpoint counts (last measurement); absent before the first one */
  counts?: DeadLetterCounts;
}

/** Pure: the gate for replaying `version`; the reason explains a hold (Reprocessing/Degraded conditions). */
export function promotionGate(
  policy: NormalizedPipeline['reprocessing'],
  version: number,
  health: ReplayHealth,
  promoteAnnotation: string | undefined,
): PromotionGate & { failing: boolean } {
  if (health.restarts > policy.maxRestarts) {
    return {
      version,
      allow: false,
      failing: true,
      reason: `version ${version}'s processors restarted ${health.restarts} times (more than reprocessing.maxRestarts ${policy.maxRestarts}): it is not promoted; fix the spec or revert it to abort the replay`,
    };
  }
  const excess = health.counts && deadLetterExcess(health.counts, policy.maxDeadLetterRatio);
  if (excess) {
    return {
      version,
      allow: false,
      failing: true,
      reason: `version ${version}'s processors ${excess}: it is not promoted; fix the spec or the input (see the dead-letter topic), or revert the spec to abort the replay`,
    };
  }
  if (!health.counts && policy.maxDeadLetterRatio !== undefined) {
    return {
      version,
      allow: false,
      failing: false,
      reason: `version ${version} takes over once its dead-letter ratio is measured (reprocessing.maxDeadLetterRatio ${policy.maxDeadLetterRatio})`,
    };
  }
  if (policy.promotion === 'manual' && promoteAnnotation?.trim() !== String(version)) {
    return {
      version,
      allow: false,
      failing: false,
      reason: `promotion is manual: version ${version} takes over once caught up and annotated ${PROMOTE_ANNOTATION}=${version}`,
    };
  }
  return {
    version,
    allow: true,
    failing: false,
    reason:
      policy.promotion === 'manual'
        ? `${PROMOTE_ANNOTATION}=${version}: version ${version} takes over once caught up`
        : `version ${version} takes over once caught up`,
  };
}

/** Pure: whether a failing gate is news (an Event): Degraded did not already say ReplayFailing. */
export function startsFailing(
  gate: { failing: boolean },
  conditions: readonly { type: string; status: string; reason?: string }[] | undefined,
): boolean {
  const degraded = conditions?.find((c) => c.type === 'Degraded');
  return gate.failing && !(degraded?.status === 'True' && degraded.reason === 'ReplayFailing');
}

interface PodObject extends KubeObject {
  status?: { containerStatuses?: { restartCount?: number }[] };
}

/** Restarts of a version's processor containers (the kubelet's count). */
export async function replayHealth(
  ctx: ReconcileContext,
  p: PipelineObject,
  version: number,
): Promise<ReplayHealth> {
  const pods = await ctx.client.list<PodObject>(paths.pods(p.metadata.namespace ?? 'default'), {
    labelSelector: `${selectorString(p.metadata.name)},${VERSION_LABEL}=${version}`,
  });
  let restarts = 0;
  for (const pod of pods.items)
    for (const c of pod.status?.containerStatuses ?? []) restarts += c.restartCount ?? 0;
  return { restarts };
}
