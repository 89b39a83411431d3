// Status conditions, merged the Kubernetes way: lastTransitionTime changes only when status does.
import type { PipelineCondition } from '../../processor/src/spec/status.ts';

export type ConditionType = 'Ready' | 'Progressing' | 'Degraded' | 'Scaling' | 'Reprocessing';

export interface ConditionInput {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

export function mergeConditions(
  existing: PipelineCondition[] | undefined,
  updates: ConditionInput[],
  generation: number,
  now: Date,
): PipelineCondition[] {
  const out = new Map<string, PipelineCondition>();
  for (const c of existing ?? []) out.set(c.type, c);
  for (const u of updates) {
    const old = out.get(u.type);
    out.set(u.type, {
      type: u.type,
      status: u.status,
      reason: u.reason,
      message: u.message.slice(0, 32_000),
      lastTransitionTime:
        old && old.status === u.status && old.lastTransitionTime
          ? old.lastTransitionTime
          : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      observedGeneration: generation,
    });
  }
  const order = ['Ready', 'Progressing', 'Degraded', 'Scaling', 'Reprocessing'];
  return [...out.values()].sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type)).slice(0, 16);
}
