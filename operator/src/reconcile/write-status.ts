// Writes status only when it changed (a no-op pass writes nothing: no watch churn, no loops).
import type { PipelineCondition, PipelineStatus } from '../../../processor/src/spec/status.ts';
import { type ConditionInput, mergeConditions } from '../conditions.ts';
import { paths } from '../kube/client.ts';
import type { PipelineObject } from '../resources.ts';
import type { ReconcileContext } from './context.ts';

/** The next status: the old one, this pass's fields, merged conditions, observedGeneration (pure). */
export function nextStatus(
  p: PipelineObject,
  status: PipelineStatus,
  conditions: ConditionInput[],
  now: Date,
): PipelineStatus {
  const old = (p.status ?? {}) as PipelineStatus;
  const generation = p.metadata.generation ?? 0;
  const merged = mergeConditions(
    old.conditions as PipelineCondition[] | undefined,
    conditions,
    generation,
    now,
  );
  return { ...old, ...status, observedGeneration: generation, conditions: merged };
}

export async function writeStatus(
  ctx: ReconcileContext,
  p: PipelineObject,
  status: PipelineStatus,
  conditions: ConditionInput[],
): Promise<void> {
  const next = nextStatus(p, status, conditions, new Date());
  if (JSON.stringify(next) === JSON.stringify(p.status ?? {})) return;
  await ctx.client.mergePatch(
    `${paths.pipeline(p.metadata.namespace ?? 'default', p.metadata.name)}/status`,
    {
      status: next,
    },
  );
}
